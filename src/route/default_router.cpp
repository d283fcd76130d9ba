// The router built into pocket (Router::builtin): data/router/default-router.gguf, made by
// scripts/train-default-router, assembled into libpocket with the assembler's .incbin. GCC 12 has
// no #embed, and a generated source spelling 1.1 MB as a byte array takes seconds to compile on
// every change; .incbin costs nothing. CMakeLists.txt passes the file's absolute path and makes
// this source depend on the file (OBJECT_DEPENDS), so retraining the router rebuilds it. (ccache
// never caches a translation unit holding .incbin, so it cannot serve a stale copy either.)
#include <cstdint>
#include <span>

#include "pocket/route/router.h"

#ifndef POCKET_DEFAULT_ROUTER_PATH
#error \
    "POCKET_DEFAULT_ROUTER_PATH (the absolute path of data/router/default-router.gguf) comes from CMakeLists.txt"
#endif

// Read-only data, 16-byte aligned; hidden, so the symbols never leave the binary's own objects.
// .pushsection/.popsection leave the compiler's current section as it was.
asm(".pushsection .rodata\n"
    ".balign 16\n"
    ".globl pocket_builtin_router_begin\n"
    ".hidden pocket_builtin_router_begin\n"
    ".type pocket_builtin_router_begin, STT_OBJECT\n"
    "pocket_builtin_router_begin:\n"
    ".incbin \"" POCKET_DEFAULT_ROUTER_PATH
    "\"\n"
    ".globl pocket_builtin_router_end\n"
    ".hidden pocket_builtin_router_end\n"
    "pocket_builtin_router_end:\n"
    ".size pocket_builtin_router_begin, pocket_builtin_router_end - pocket_builtin_router_begin\n"
    ".popsection\n");

extern "C" {
extern const unsigned char pocket_builtin_router_begin[];
extern const unsigned char pocket_builtin_router_end[];
}

namespace pocket::route {

std::span<const uint8_t> Router::builtin_bytes() {
    // Two symbols of one assembled block: their distance is its size.
    const auto size = reinterpret_cast<uintptr_t>(pocket_builtin_router_end) -
                      reinterpret_cast<uintptr_t>(pocket_builtin_router_begin);
    return {pocket_builtin_router_begin, static_cast<size_t>(size)};
}

Router Router::builtin() {
    return from_bytes(builtin_bytes(), "built-in router");
}

}  // namespace pocket::route
