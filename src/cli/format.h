// Text helpers for the command-line output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pocket/core/error.h"

namespace pocket::cli {

std::string human_bytes(uint64_t bytes);  // "1.13 MiB"
std::string human_count(uint64_t count);  // "292.80 K", "1.24 B"
// Escapes control characters and invalid UTF-8 (as \xNN) and shortens to max_chars with "...".
std::string printable(std::string_view text, size_t max_chars);
std::string quoted(std::string_view text, size_t max_chars);  // "printable"
// Replaces invalid UTF-8 by U+FFFD so the text can go into JSON.
std::string lossy_utf8(std::string_view text);
// Writes text to stdout and flushes, so streamed tokens appear as they come.
void write_out(std::string_view text);

}  // namespace pocket::cli
