// The router built into pocket (Router::builtin):
// data/router/default-router.gguf, made by scripts/train-default-router,
// assembled into libpocket (core/embedded_file.h says how and why).
// CMakeLists.txt passes the file's absolute path and makes this source depend
// on it, so retraining the router rebuilds it.
#include <cstdint>
#include <span>

#include "core/embedded_file.h"
#include "pocket/route/router.h"

#ifndef POCKET_DEFAULT_ROUTER_PATH
#error                                                                         \
    "POCKET_DEFAULT_ROUTER_PATH (the absolute path of data/router/default-router.gguf) comes from CMakeLists.txt"
#endif

POCKET_EMBED_FILE(router, POCKET_DEFAULT_ROUTER_PATH)

namespace pocket::route {

std::span<const uint8_t> Router::builtin_bytes() {
  return POCKET_EMBEDDED_BYTES(router);
}

Router Router::builtin() {
  return from_bytes(builtin_bytes(), "built-in router");
}

} // namespace pocket::route
