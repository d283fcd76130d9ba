// Helpers shared by the fuzz targets (fuzz/*.cpp): where the shared data lives, and reading a
// file once for a target's fixed inputs (vocabularies, a tiny model).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pocket/core/error.h"

namespace pocket::fuzz {

// $POCKET_SHARED_DIR, else the folder CMake was configured with (../shared by default).
inline std::filesystem::path shared_path(std::string_view relative) {
    const char* env = std::getenv("POCKET_SHARED_DIR");
    const std::filesystem::path dir = env && *env ? env : POCKET_SHARED_DIR_DEFAULT;
    return dir / relative;
}

// The target's fixed inputs must be there: a fuzzer that silently skips them finds nothing.
inline std::string read_required(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("fuzz target: cannot read " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

inline std::span<const std::byte> as_bytes(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const std::byte*>(data), size};
}

// Splits the input at the first occurrence of `sep` (both halves fuzzed): a target with two
// inputs (a template and a message, a grammar and a text) gets both from one byte string.
inline std::pair<std::string_view, std::string_view> split(std::string_view input,
                                                           std::string_view sep) {
    const size_t at = input.find(sep);
    if (at == std::string_view::npos) return {input, {}};
    return {input.substr(0, at), input.substr(at + sep.size())};
}

}  // namespace pocket::fuzz

namespace pocket::fuzz {

// A broken invariant: say which, then abort so libFuzzer (or the replay test) reports it.
[[noreturn]] inline void invariant_failed(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz invariant failed: %.*s %.*s\n", int(what.size()), what.data(),
                 int(detail.size()), detail.data());
    std::abort();
}

}  // namespace pocket::fuzz
