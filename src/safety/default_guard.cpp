// The classifier built into pocket (builtin_classifier): data/guard/default-guard.gguf, made by
// scripts/train-default-guard, assembled into libpocket with the assembler's .incbin exactly as
// the built-in router is (src/route/default_router.cpp says why .incbin). CMakeLists.txt passes
// the file's absolute path and makes this source depend on it, so retraining rebuilds it.
#include <cstdint>
#include <span>

#include "safety/classifier.h"

#ifndef POCKET_DEFAULT_GUARD_PATH
#error \
    "POCKET_DEFAULT_GUARD_PATH (the absolute path of data/guard/default-guard.gguf) comes from CMakeLists.txt"
#endif

asm(".pushsection .rodata\n"
    ".balign 16\n"
    ".globl pocket_builtin_guard_begin\n"
    ".hidden pocket_builtin_guard_begin\n"
    ".type pocket_builtin_guard_begin, STT_OBJECT\n"
    "pocket_builtin_guard_begin:\n"
    ".incbin \"" POCKET_DEFAULT_GUARD_PATH
    "\"\n"
    ".globl pocket_builtin_guard_end\n"
    ".hidden pocket_builtin_guard_end\n"
    "pocket_builtin_guard_end:\n"
    ".size pocket_builtin_guard_begin, pocket_builtin_guard_end - pocket_builtin_guard_begin\n"
    ".popsection\n");

extern "C" {
extern const unsigned char pocket_builtin_guard_begin[];
extern const unsigned char pocket_builtin_guard_end[];
}

namespace pocket::safety {

std::span<const uint8_t> builtin_classifier_bytes() {
    const auto size = reinterpret_cast<uintptr_t>(pocket_builtin_guard_end) -
                      reinterpret_cast<uintptr_t>(pocket_builtin_guard_begin);
    return {pocket_builtin_guard_begin, static_cast<size_t>(size)};
}

}  // namespace pocket::safety
