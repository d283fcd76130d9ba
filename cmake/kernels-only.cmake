# POCKET_KERNELS_ONLY: builds only what the kernels need (src/core, src/gguf, src/kernels) and the
# kernel tests, without CLI11, PCRE2 or ICU. Meant for cross builds (cmake/aarch64-toolchain.cmake),
# where those libraries would need target-architecture packages; the tests run under the
# toolchain's CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64).
file(GLOB_RECURSE POCKET_LIB_SOURCES CONFIGURE_DEPENDS src/core/*.cpp src/gguf/*.cpp src/kernels/*.cpp)
pocket_select_kernel_sources(POCKET_LIB_SOURCES)
add_library(pocket_lib STATIC ${POCKET_LIB_SOURCES})
set_target_properties(pocket_lib PROPERTIES OUTPUT_NAME pocket)
target_include_directories(pocket_lib PUBLIC include PRIVATE src)
target_link_libraries(pocket_lib PUBLIC Threads::Threads)

if(NOT POCKET_BUILD_TESTS)
    return()
endif()
enable_testing()

# nlohmann-json is header-only: when cross-compiling, use the build machine's copy through a
# folder holding only it (adding all of /usr/include would mix in the host's C library headers).
find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
    set(POCKET_HOST_JSON_DIR "/usr/include/nlohmann" CACHE PATH "nlohmann-json headers to use when cross-compiling")
    if(NOT EXISTS "${POCKET_HOST_JSON_DIR}/json.hpp")
        message(FATAL_ERROR "nlohmann/json.hpp not found in ${POCKET_HOST_JSON_DIR} (install nlohmann-json3-dev)")
    endif()
    set(shim "${CMAKE_BINARY_DIR}/header-shim")
    file(MAKE_DIRECTORY "${shim}")
    file(CREATE_LINK "${POCKET_HOST_JSON_DIR}" "${shim}/nlohmann" SYMBOLIC)
    add_library(nlohmann_json_shim INTERFACE)
    target_include_directories(nlohmann_json_shim SYSTEM INTERFACE "${shim}")
    add_library(nlohmann_json::nlohmann_json ALIAS nlohmann_json_shim)
endif()

# GoogleTest: a cross build compiles it from the sources Debian's libgtest-dev ships.
if(CMAKE_CROSSCOMPILING)
    set(POCKET_GTEST_SOURCE_DIR "/usr/src/googletest" CACHE PATH "GoogleTest sources for cross builds")
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory("${POCKET_GTEST_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL SYSTEM)
    if(NOT TARGET GTest::gtest_main)
        add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
else()
    find_package(GTest REQUIRED)
endif()
include(GoogleTest)

file(GLOB kernel_tests CONFIGURE_DEPENDS tests/kernels/*.cpp)
add_executable(test_kernels ${kernel_tests} tests/support/test_support.cpp tests/support/corrupt_corpus.cpp)
set_target_properties(test_kernels PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")
target_include_directories(test_kernels PRIVATE src tests)
target_link_libraries(test_kernels PRIVATE pocket_lib GTest::gtest_main nlohmann_json::nlohmann_json)
target_compile_definitions(test_kernels PRIVATE
    POCKET_SHARED_DIR_DEFAULT="${POCKET_SHARED_DIR}"
    POCKET_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    POCKET_BINARY_PATH="pocket-cli-not-built-in-kernels-only-mode")
# Discovery and the tests run under the emulator when cross-compiling: allow for its slowness.
gtest_discover_tests(test_kernels DISCOVERY_TIMEOUT 300 PROPERTIES TIMEOUT 1200 LABELS kernels)
