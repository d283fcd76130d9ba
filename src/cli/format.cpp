#include "cli/format.h"

#include <cstdio>

#include "pocket/tokenizer/utf8.h"

namespace pocket::cli {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not valid.
size_t utf8_sequence(std::string_view text, size_t i) {
    const auto d = tokenizer::utf8::decode(text, i);
    return d.status == tokenizer::utf8::Status::Complete ? d.length : 0;
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

std::string human_count(uint64_t count) {
    const char* units[] = {"", " K", " M", " B", " T"};
    double v = static_cast<double>(count);
    int u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", v, units[u]);
    return buf;
}

std::string printable(std::string_view text, size_t max_chars) {
    std::string out;
    size_t chars = 0;
    for (size_t i = 0; i < text.size();) {
        if (chars >= max_chars) return out + "...";
        const auto c = static_cast<unsigned char>(text[i]);
        const size_t len = utf8_sequence(text, i);
        if (len == 1 && c >= 0x20 && c != 0x7f && c != '\\' && c != '"') {
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\' || c == '"') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (len > 1) {
            out.append(text.substr(i, len));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
        i += len ? len : 1;
        ++chars;
    }
    return out;
}

std::string quoted(std::string_view text, size_t max_chars) {
    return "\"" + printable(text, max_chars) + "\"";
}

std::string lossy_utf8(std::string_view text) {
    return tokenizer::utf8::sanitize(text);
}

void write_out(std::string_view text) {
    if (text.empty()) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

}  // namespace pocket::cli
