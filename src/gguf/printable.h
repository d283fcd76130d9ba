// Making untrusted names safe to print: keys and tensor names come from the file and may hold
// control bytes, invalid UTF-8 or megabytes of text.
#pragma once

#include <string>
#include <string_view>

namespace pocket::gguf::detail {

// Printable ASCII is kept, every other byte becomes \xNN (quote and backslash are escaped), and
// anything past `max_bytes` input bytes is cut and marked with "...".
std::string printable(std::string_view text, size_t max_bytes = 96);

// 'printable(text)' in single quotes.
std::string quoted(std::string_view text);

}  // namespace pocket::gguf::detail
