# Cross-compiles pocket for 64-bit Arm Linux with Debian's GNU cross toolchain
# (g++-aarch64-linux-gnu) and runs what it builds under user-mode QEMU (qemu-user), so ctest and
# gtest_discover_tests work on an x86-64 build machine. Used by scripts/test-arm, e.g.
#   cmake -S . -B build-neon -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-toolchain.cmake -DPOCKET_KERNELS_ONLY=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(POCKET_CROSS_PREFIX "aarch64-linux-gnu" CACHE STRING "GNU triplet of the cross toolchain")
set(CMAKE_C_COMPILER "${POCKET_CROSS_PREFIX}-gcc")
set(CMAKE_CXX_COMPILER "${POCKET_CROSS_PREFIX}-g++")

# The target's C library and libstdc++ live here (Debian's libc6-dev-arm64-cross).
set(POCKET_CROSS_SYSROOT "/usr/${POCKET_CROSS_PREFIX}" CACHE PATH "Target libraries for the emulator")
set(CMAKE_FIND_ROOT_PATH "${POCKET_CROSS_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# qemu-aarch64 emulates the "max" CPU by default (dot-product instructions included); set
# QEMU_CPU=cortex-a53 in the environment to run the plain-NEON fallbacks instead.
find_program(POCKET_QEMU_AARCH64 qemu-aarch64)
if(POCKET_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR "${POCKET_QEMU_AARCH64};-L;${POCKET_CROSS_SYSROOT}")
endif()
