#include "printable.h"

#include <algorithm>

namespace pocket::gguf::detail {
namespace {

void append_printable(std::string& out, std::string_view text, size_t max_bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    const size_t n = std::min(text.size(), max_bytes);
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\' || c == '\'') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('\\');
            out.push_back('x');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    if (text.size() > n) out.append(3, '.');
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
    std::string out;
    append_printable(out, text, max_bytes);
    return out;
}

std::string quoted(std::string_view text) {
    std::string out(1, '\'');
    append_printable(out, text, 96);
    out.push_back('\'');
    return out;
}

}  // namespace pocket::gguf::detail
