#include "printable.h"

#include <algorithm>

namespace pocket::gguf::detail {

std::string printable(std::string_view text, size_t max_bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    const size_t n = std::min(text.size(), max_bytes);
    out.reserve(n + 8);
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\' || c == '\'') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    if (text.size() > n) out += "...";
    return out;
}

std::string quoted(std::string_view text) {
    return "'" + printable(text) + "'";
}

}  // namespace pocket::gguf::detail
