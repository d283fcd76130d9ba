#include "json_reader.h"

#include <cstring>

#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer {

namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

void JsonReader::error(std::string_view message) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
        if (text_[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    fail(origin_, ": byte ", pos_, " (line ", line, ", column ", column, "): ", message);
}

void JsonReader::syntax(std::string_view message) const {
    error(cat("not valid JSON: ", message));
}

void JsonReader::skip_ws() {
    while (pos_ < text_.size() && is_ws(text_[pos_])) ++pos_;
}

char JsonReader::peek() {
    skip_ws();
    if (pos_ >= text_.size()) syntax("the text ends where a value should be");
    return text_[pos_];
}

void JsonReader::expect(char c, std::string_view what) {
    skip_ws();
    if (pos_ >= text_.size()) syntax(cat("the text ends where ", what, " should be"));
    if (text_[pos_] != c) syntax(cat("expected ", what));
    ++pos_;
}

void JsonReader::expect_end() {
    skip_ws();
    if (pos_ != text_.size()) syntax("unexpected text after the end of the document");
}

void JsonReader::begin_object(std::string_view what) {
    if (peek() != '{') error(cat(what, " must be an object"));
    ++pos_;
}

bool JsonReader::next_member(bool& first, std::string& scratch, std::string_view& key) {
    if (peek() == '}') {
        ++pos_;
        return false;
    }
    if (!first) expect(',', "',' or '}' after an object member");
    first = false;
    if (peek() != '"') syntax("expected a string key");
    key = string(scratch, "an object key");
    expect(':', "':' after an object key");
    return true;
}

void JsonReader::begin_array(std::string_view what) {
    if (peek() != '[') error(cat(what, " must be an array"));
    ++pos_;
}

bool JsonReader::next_item(bool& first) {
    if (peek() == ']') {
        ++pos_;
        return false;
    }
    if (!first) expect(',', "',' or ']' after an array item");
    first = false;
    return true;
}

uint32_t JsonReader::hex4() {
    if (text_.size() - pos_ < 4) {
        pos_ = text_.size();
        syntax("the text ends inside a \\u escape");
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        const char c = text_[pos_];
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = static_cast<uint32_t>(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = static_cast<uint32_t>(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = static_cast<uint32_t>(c - 'A' + 10);
        } else {
            syntax("a \\u escape needs four hexadecimal digits");
        }
        v = v * 16 + d;
        ++pos_;
    }
    return v;
}

void JsonReader::step_utf8() {
    // Well-formed UTF-8 (Unicode table 3-7): no overlong forms, no surrogates, at most U+10FFFF.
    const auto byte = [&](size_t i) -> uint8_t {
        return pos_ + i < text_.size() ? static_cast<uint8_t>(text_[pos_ + i]) : 0;
    };
    const uint8_t b0 = byte(0);
    const auto cont = [&](size_t i, uint8_t lo, uint8_t hi) {
        const uint8_t b = byte(i);
        return b >= lo && b <= hi;
    };
    size_t n = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = cont(1, 0x80, 0xBF) ? 2 : 0;
    } else if (b0 == 0xE0) {
        n = cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
        n = cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
    } else if (b0 == 0xED) {
        n = cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
    } else if (b0 == 0xF0) {
        n = cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
        n = cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
    } else if (b0 == 0xF4) {
        n = cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (n == 0) syntax("a string holds invalid UTF-8");
    pos_ += n;
}

std::string_view JsonReader::string(std::string& scratch, std::string_view what) {
    if (peek() != '"') error(cat(what, " must be a string"));
    const size_t begin = ++pos_;
    // Fast path: no escapes, so the string is a slice of the text.
    for (;;) {
        if (pos_ >= text_.size()) syntax("the text ends inside a string");
        const auto c = static_cast<uint8_t>(text_[pos_]);
        if (c == '"') {
            return text_.substr(begin, pos_++ - begin);
        }
        if (c == '\\') break;
        if (c < 0x20) syntax("a string holds an unescaped control character");
        if (c < 0x80) {
            ++pos_;
        } else {
            step_utf8();
        }
    }
    scratch.assign(text_.substr(begin, pos_ - begin));
    for (;;) {
        if (pos_ >= text_.size()) syntax("the text ends inside a string");
        const auto c = static_cast<uint8_t>(text_[pos_]);
        if (c == '"') {
            ++pos_;
            return scratch;
        }
        if (c < 0x20) syntax("a string holds an unescaped control character");
        if (c >= 0x80) {
            const size_t start = pos_;
            step_utf8();
            scratch.append(text_.substr(start, pos_ - start));
            continue;
        }
        if (c != '\\') {
            scratch += static_cast<char>(c);
            ++pos_;
            continue;
        }
        if (++pos_ >= text_.size()) syntax("the text ends inside a string escape");
        const char e = text_[pos_++];
        switch (e) {
            case '"':
            case '\\':
            case '/':
                scratch += e;
                break;
            case 'b':
                scratch += '\b';
                break;
            case 'f':
                scratch += '\f';
                break;
            case 'n':
                scratch += '\n';
                break;
            case 'r':
                scratch += '\r';
                break;
            case 't':
                scratch += '\t';
                break;
            case 'u': {
                uint32_t cp = hex4();
                if (cp >= 0xDC00 && cp <= 0xDFFF) syntax("a \\u escape is a lone low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (text_.substr(pos_, 2) != "\\u") {
                        syntax("a high surrogate \\u escape is not followed by a low one");
                    }
                    pos_ += 2;
                    const uint32_t low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF) {
                        syntax("a high surrogate \\u escape is not followed by a low one");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                utf8::append(scratch, static_cast<char32_t>(cp));  // a scalar value here
                break;
            }
            default:
                --pos_;
                syntax("unknown string escape");
        }
    }
}

int64_t JsonReader::integer(std::string_view what) {
    const char c = peek();
    if (c != '-' && !is_digit(c)) error(cat(what, " must be an integer"));
    const size_t begin = pos_;
    const bool negative = c == '-';
    if (negative) ++pos_;
    if (pos_ >= text_.size() || !is_digit(text_[pos_])) syntax("a number needs digits");
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
        syntax("a number has a leading zero");
    }
    int64_t v = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
        if (pos_ - begin > 16) error(cat(what, " is out of range"));
        v = v * 10 + (text_[pos_] - '0');
        ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
        error(cat(what, " must be an integer"));
    }
    return negative ? -v : v;
}

void JsonReader::skip_number() {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size() || !is_digit(text_[pos_])) syntax("a number needs digits");
    if (text_[pos_] == '0') {
        ++pos_;
    } else {
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        if (pos_ >= text_.size() || !is_digit(text_[pos_]))
            syntax("a number needs digits after '.'");
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        if (pos_ >= text_.size() || !is_digit(text_[pos_]))
            syntax("a number needs exponent digits");
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    }
}

void JsonReader::skip_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) syntax("unexpected character");
    pos_ += word.size();
}

void JsonReader::skip_value(int depth) {
    if (depth > kMaxDepth) error(cat("values are nested more than ", kMaxDepth, " deep"));
    std::string scratch;
    const char c = peek();
    switch (c) {
        case '{': {
            ++pos_;
            bool first = true;
            std::string_view key;
            while (next_member(first, scratch, key)) skip_value(depth + 1);
            return;
        }
        case '[': {
            ++pos_;
            bool first = true;
            while (next_item(first)) skip_value(depth + 1);
            return;
        }
        case '"':
            string(scratch, "a value");
            return;
        case 't':
            return skip_literal("true");
        case 'f':
            return skip_literal("false");
        case 'n':
            return skip_literal("null");
        default:
            if (c == '-' || is_digit(c)) return skip_number();
            syntax("unexpected character");
    }
}

std::string_view JsonReader::raw_value() {
    const size_t begin = (peek(), pos_);
    skip_value(1);
    return text_.substr(begin, pos_ - begin);
}

}  // namespace pocket::tokenizer
