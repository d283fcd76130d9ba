// A validating JSON scanner that also says whether a truncated value could still become valid.
// nlohmann's parser cannot tell "ends too early" from "wrong" cheaply, nor say where a value ends
// when text follows it, and both are what parsing a call out of running text needs.
#include <algorithm>
#include <cstdint>

#include "tool_call_scan.h"

namespace pocket::tool_scan {

namespace {

// Deeper nesting is treated as malformed: model output must not be able to exhaust the stack.
constexpr int kMaxDepth = 128;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

class JsonScanner {
  public:
    JsonScanner(std::string_view text, size_t pos) : text_(text), pos_(pos) {}
    size_t pos() const { return pos_; }

    Res value(int depth) {
        if (depth > kMaxDepth) return Res::Bad;
        if (end()) return Res::More;
        switch (text_[pos_]) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return (text_[pos_] == '-' || is_digit(text_[pos_])) ? number() : Res::Bad;
        }
    }

  private:
    bool end() const { return pos_ >= text_.size(); }
    char peek() const { return text_[pos_]; }
    void ws() {
        while (!end() && is_json_ws(peek())) ++pos_;
    }

    Res literal(std::string_view lit) {
        for (char c : lit) {
            if (end()) return Res::More;
            if (peek() != c) return Res::Bad;
            ++pos_;
        }
        return Res::Ok;
    }

    Res string() {
        ++pos_;  // the opening quote
        while (!end()) {
            auto c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++pos_;
                return Res::Ok;
            }
            if (c < 0x20) return Res::Bad;
            ++pos_;
            if (c == '\\') {
                Res r = escape();
                if (r != Res::Ok) return r;
            }
        }
        return Res::More;
    }

    Res escape() {
        if (end()) return Res::More;
        char c = peek();
        ++pos_;
        if (c == 'u') {
            for (int i = 0; i < 4; ++i) {
                if (end()) return Res::More;
                if (!is_hex(peek())) return Res::Bad;
                ++pos_;
            }
            return Res::Ok;
        }
        return std::string_view("\"\\/bfnrt").find(c) != std::string_view::npos ? Res::Ok
                                                                                : Res::Bad;
    }

    // At least one digit; More when the text ends (a digit may still follow).
    Res digits() {
        if (end()) return Res::More;
        if (!is_digit(peek())) return Res::Bad;
        while (!end() && is_digit(peek())) ++pos_;
        return end() ? Res::More : Res::Ok;
    }

    Res number() {
        if (peek() == '-') ++pos_;
        if (end()) return Res::More;
        if (peek() == '0') {
            ++pos_;
            if (end()) return Res::More;
        } else if (Res r = digits(); r != Res::Ok) {
            return r;
        }
        if (peek() == '.') {
            ++pos_;
            if (Res r = digits(); r != Res::Ok) return r;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (end()) return Res::More;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (Res r = digits(); r != Res::Ok) return r;
        }
        return Res::Ok;
    }

    // The separator after a member or element: `close` ends the container, ',' continues it.
    Res after_item(char close, bool& done) {
        ws();
        if (end()) return Res::More;
        if (peek() == close) {
            ++pos_;
            done = true;
            return Res::Ok;
        }
        if (peek() != ',') return Res::Bad;
        ++pos_;
        ws();
        return Res::Ok;
    }

    Res object(int depth) {
        ++pos_;
        ws();
        if (end()) return Res::More;
        if (peek() == '}') {
            ++pos_;
            return Res::Ok;
        }
        for (bool done = false; !done;) {
            if (end()) return Res::More;
            if (peek() != '"') return Res::Bad;
            if (Res r = string(); r != Res::Ok) return r;
            ws();
            if (end()) return Res::More;
            if (peek() != ':') return Res::Bad;
            ++pos_;
            ws();
            if (Res r = value(depth + 1); r != Res::Ok) return r;
            if (Res r = after_item('}', done); r != Res::Ok) return r;
        }
        return Res::Ok;
    }

    Res array(int depth) {
        ++pos_;
        ws();
        if (end()) return Res::More;
        if (peek() == ']') {
            ++pos_;
            return Res::Ok;
        }
        for (bool done = false; !done;) {
            if (Res r = value(depth + 1); r != Res::Ok) return r;
            if (Res r = after_item(']', done); r != Res::Ok) return r;
        }
        return Res::Ok;
    }

    std::string_view text_;
    size_t pos_;
};

}  // namespace

bool is_json_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

Res scan_json_value(std::string_view text, size_t pos, size_t& end) {
    JsonScanner scanner(text, pos);
    Res r = scanner.value(0);
    end = scanner.pos();
    return r;
}

size_t utf8_complete_prefix(std::string_view text) {
    // Look back at most 3 bytes for the lead byte of an unfinished sequence.
    size_t n = text.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        auto c = static_cast<uint8_t>(text[n - back]);
        if ((c & 0xc0) == 0x80) continue;  // continuation byte: keep looking for the lead
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

void Cursor::skip_ws() {
    while (!at_end() && is_json_ws(text[pos])) ++pos;
}

Res Cursor::literal(std::string_view lit) {
    size_t n = std::min(lit.size(), text.size() - pos);
    if (text.substr(pos, n) != lit.substr(0, n)) return Res::Bad;
    if (n < lit.size()) return Res::More;
    pos += n;
    return Res::Ok;
}

Res Cursor::json_value(size_t& begin) {
    begin = pos;
    return scan_json_value(text, pos, pos);
}

}  // namespace pocket::tool_scan
