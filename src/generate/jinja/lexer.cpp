#include "generate/jinja/lexer.h"

#include <cstdint>

#include "generate/jinja/value.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::jinja {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class Lexer {
  public:
    Lexer(const std::string& src, size_t& error_offset) : s_(src), err_(error_offset) {}

    std::vector<Token> run() {
        bool line_starting = true;
        while (pos_ < s_.size()) {
            const size_t tag = find_tag(pos_);
            std::string text = s_.substr(pos_, tag - pos_);
            if (tag == s_.size()) {
                emit_text(std::move(text), pos_);
                break;
            }
            const char kind = s_[tag + 1];  // '{', '%' or '#'
            const char mod = tag + 2 < s_.size() ? s_[tag + 2] : '\0';
            if (mod == '-') {
                while (!text.empty() && is_space(text.back())) text.pop_back();
            } else if (mod != '+' && kind != '{') {
                // lstrip_blocks: a block or comment tag alone on its line loses its indentation.
                const size_t nl = text.rfind('\n');
                const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
                if (l_pos > 0 || line_starting) {
                    bool blank = true;
                    for (size_t i = l_pos; i < text.size(); ++i)
                        if (text[i] != ' ' && text[i] != '\t') blank = false;
                    if (blank) text.resize(l_pos);
                }
            }
            emit_text(std::move(text), pos_);
            pos_ = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
            if (kind == '#') {
                close_comment(tag);
            } else {
                tokens_.push_back({kind == '{' ? Tok::VarBegin : Tok::BlockBegin, "", tag});
                lex_expression(kind == '{' ? '}' : '%', tag);
            }
            line_starting = pos_ > 0 && s_[pos_ - 1] == '\n';
        }
        tokens_.push_back({Tok::Eof, "", s_.size()});
        return std::move(tokens_);
    }

  private:
    [[noreturn]] void error(size_t at, std::string message) {
        err_ = at;
        fault("TemplateSyntaxError", std::move(message));
    }

    size_t find_tag(size_t from) const {
        for (size_t i = from; i + 1 < s_.size(); ++i)
            if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#'))
                return i;
        return s_.size();
    }

    void emit_text(std::string text, size_t at) {
        if (!text.empty()) tokens_.push_back({Tok::Text, std::move(text), at});
    }

    // After a closing delimiter ending at pos_: `-` strips all following whitespace; a plain
    // block/comment end drops one newline (trim_blocks); `+` keeps everything.
    void after_close(char mod, bool block) {
        if (mod == '-') {
            while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
        } else if (mod != '+' && block && pos_ < s_.size() && s_[pos_] == '\n') {
            ++pos_;
        }
    }

    void close_comment(size_t tag) {
        const size_t end = s_.find("#}", pos_);
        if (end == std::string::npos) error(tag, "missing end of comment tag");
        const char mod = end > pos_ && (s_[end - 1] == '-' || s_[end - 1] == '+') ? s_[end - 1] : 0;
        pos_ = end + 2;
        after_close(mod, true);
    }

    void lex_expression(char close, size_t tag) {
        int depth = 0;  // brackets: a `}}` inside a dict literal does not end the tag
        while (true) {
            while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
            if (pos_ >= s_.size())
                error(tag, close == '}' ? "unexpected end of template, expected '}}'"
                                        : "unexpected end of template, expected '%}'");
            const char c = s_[pos_];
            if (depth == 0) {
                // `-}}`, `+%}` or a bare closing delimiter
                size_t p = pos_;
                char mod = 0;
                if ((c == '-' || c == '+') && p + 1 < s_.size() && s_[p + 1] == close) {
                    mod = c;
                    ++p;
                }
                if (p + 1 < s_.size() && s_[p] == close && s_[p + 1] == '}') {
                    tokens_.push_back({close == '}' ? Tok::VarEnd : Tok::BlockEnd, "", pos_});
                    pos_ = p + 2;
                    after_close(mod, close == '%');
                    return;
                }
            }
            const size_t start = pos_;
            if (is_name_start(c)) {
                while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
                tokens_.push_back({Tok::Name, s_.substr(start, pos_ - start), start});
            } else if (is_digit(c)) {
                lex_number();
            } else if (c == '\'' || c == '"') {
                lex_string();
            } else {
                static const char* const ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                                  "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                                  "]",  "{",  "}",  ".",  ",",  ":",  "|", ";"};
                std::string op;
                for (const char* o : ops) {
                    if (s_.compare(pos_, std::char_traits<char>::length(o), o) == 0) {
                        op = o;
                        break;
                    }
                }
                if (op.empty()) error(pos_, cat("unexpected char '", c, "'"));
                if (op == "(" || op == "[" || op == "{") ++depth;
                if (op == ")" || op == "]" || op == "}") {
                    if (depth == 0) error(pos_, cat("unexpected '", op, "'"));
                    --depth;
                }
                pos_ += op.size();
                tokens_.push_back({Tok::Op, op, start});
            }
        }
    }

    void lex_number() {
        const size_t start = pos_;
        auto digits = [&] {
            while (pos_ < s_.size() && (is_digit(s_[pos_]) || s_[pos_] == '_')) ++pos_;
        };
        digits();
        bool is_float = false;
        if (pos_ + 1 < s_.size() && s_[pos_] == '.' && is_digit(s_[pos_ + 1])) {
            ++pos_;
            digits();
            is_float = true;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            size_t p = pos_ + 1;
            if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
            if (p < s_.size() && is_digit(s_[p])) {
                pos_ = p;
                digits();
                is_float = true;
            }
        }
        std::string text;
        for (size_t i = start; i < pos_; ++i)
            if (s_[i] != '_') text += s_[i];
        tokens_.push_back({is_float ? Tok::Float : Tok::Int, text, start});
    }

    // Python string literal escapes (Jinja2 decodes with "unicode-escape").
    void lex_string() {
        const size_t start = pos_;
        const char quote = s_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= s_.size()) error(start, "unexpected end of string");
            const char c = s_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) error(start, "unexpected end of string");
            const char e = s_[pos_++];
            switch (e) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '\'':
                    out += '\'';
                    break;
                case '"':
                    out += '"';
                    break;
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case '\n':
                    break;  // line continuation
                case 'x':
                case 'u':
                case 'U': {
                    const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    uint32_t cp = 0;
                    for (int i = 0; i < n; ++i) {
                        const int h = pos_ < s_.size() ? hex_value(s_[pos_]) : -1;
                        if (h < 0) error(start, cat("truncated \\", e, " escape in string"));
                        cp = cp * 16 + static_cast<uint32_t>(h);
                        ++pos_;
                    }
                    tokenizer::utf8::append(out, static_cast<char32_t>(cp));
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t cp = static_cast<uint32_t>(e - '0');
                        for (int i = 0;
                             i < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++i)
                            cp = cp * 8 + static_cast<uint32_t>(s_[pos_++] - '0');
                        tokenizer::utf8::append(out, static_cast<char32_t>(cp));
                    } else {  // unknown escapes stay as written
                        out += '\\';
                        out += e;
                    }
            }
        }
        tokens_.push_back({Tok::String, std::move(out), start});
    }

    const std::string& s_;
    size_t& err_;
    size_t pos_ = 0;
    std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_source(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
    return out;
}

std::vector<Token> tokenize(const std::string& source, size_t& error_offset) {
    return Lexer(source, error_offset).run();
}

void line_column(std::string_view source, size_t offset, int& line, int& column) {
    line = 1;
    column = 1;
    for (size_t i = 0; i < offset && i < source.size(); ++i) {
        if (source[i] == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
            ++column;
        }
    }
}

}  // namespace pocket::jinja
