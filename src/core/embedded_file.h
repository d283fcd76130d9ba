// A data file assembled into libpocket with the assembler's .incbin (the built-in router and the
// built-in guard classifier). GCC 12 has no #embed, and a generated source spelling a megabyte as
// a byte array takes seconds to compile on every change; .incbin costs nothing. The path comes
// from CMakeLists.txt as an absolute path in a string literal, with OBJECT_DEPENDS on the file so
// that retraining it rebuilds the source that embeds it (ccache never caches a translation unit
// holding .incbin, so it cannot serve a stale copy either).
//
//   POCKET_EMBED_FILE(router, POCKET_DEFAULT_ROUTER_PATH)   // at file scope, once per file
//   std::span<const uint8_t> bytes = POCKET_EMBEDDED_BYTES(router);
//
// Internal to libpocket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

// Read-only data, 16-byte aligned, between the symbols pocket_builtin_NAME_begin and _end; hidden,
// so they never leave the binary's own objects. .pushsection/.popsection leave the compiler's
// current section as it was.
// clang-format off
#define POCKET_EMBED_FILE(name, path)                                           \
    asm(".pushsection .rodata\n"                                                \
        ".balign 16\n"                                                          \
        ".globl pocket_builtin_" #name "_begin\n"                               \
        ".hidden pocket_builtin_" #name "_begin\n"                              \
        ".type pocket_builtin_" #name "_begin, STT_OBJECT\n"                    \
        "pocket_builtin_" #name "_begin:\n"                                     \
        ".incbin \"" path "\"\n"                                                \
        ".globl pocket_builtin_" #name "_end\n"                                 \
        ".hidden pocket_builtin_" #name "_end\n"                                \
        "pocket_builtin_" #name "_end:\n"                                       \
        ".size pocket_builtin_" #name "_begin, "                                \
            "pocket_builtin_" #name "_end - pocket_builtin_" #name "_begin\n"   \
        ".popsection\n");                                                       \
    extern "C" {                                                                \
    extern const unsigned char pocket_builtin_##name##_begin[];                 \
    extern const unsigned char pocket_builtin_##name##_end[];                   \
    }
// clang-format on

// The embedded bytes: two symbols of one assembled block, whose distance is its size.
#define POCKET_EMBEDDED_BYTES(name) \
    ::pocket::embedded_bytes(pocket_builtin_##name##_begin, pocket_builtin_##name##_end)

namespace pocket {

inline std::span<const uint8_t> embedded_bytes(const unsigned char* begin,
                                               const unsigned char* end) {
    const auto size = reinterpret_cast<uintptr_t>(end) - reinterpret_cast<uintptr_t>(begin);
    return {begin, static_cast<size_t>(size)};
}

}  // namespace pocket
