// The classifier built into pocket (builtin_classifier):
// data/guard/default-guard.gguf, made by scripts/train-default-guard, assembled
// into libpocket as the built-in router is (core/embedded_file.h says how and
// why). CMakeLists.txt passes the file's absolute path and makes this source
// depend on it, so retraining rebuilds it.
#include <cstdint>
#include <span>

#include "core/embedded_file.h"
#include "safety/classifier.h"

#ifndef POCKET_DEFAULT_GUARD_PATH
#error                                                                         \
    "POCKET_DEFAULT_GUARD_PATH (the absolute path of data/guard/default-guard.gguf) comes from CMakeLists.txt"
#endif

POCKET_EMBED_FILE(guard, POCKET_DEFAULT_GUARD_PATH)

namespace pocket::safety {

std::span<const uint8_t> builtin_classifier_bytes() {
  return POCKET_EMBEDDED_BYTES(guard);
}

} // namespace pocket::safety
