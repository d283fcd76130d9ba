// Splits template source into text and tag tokens, applying Jinja2's whitespace rules as
// transformers configures them: trim_blocks (drop the newline after a block tag), lstrip_blocks
// (drop the indentation before one), `-`/`+` modifiers on every delimiter, and no trailing newline.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pocket::jinja {

enum class Tok {
    Text,        // template data, whitespace control already applied
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,  // value already unescaped
    Int,
    Float,
    Op,  // operator or punctuation: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } . , : |
    Eof,
};

struct Token {
    Tok type;
    std::string text;
    size_t offset;  // into the normalized source
};

// Newlines normalized to "\n" and one trailing newline dropped, as Jinja2 does before lexing.
std::string normalize_source(std::string_view source);

// Throws Fault ("TemplateSyntaxError") with the offset in `error_offset`.
std::vector<Token> tokenize(const std::string& source, size_t& error_offset);

// 1-based line and column of a byte offset.
void line_column(std::string_view source, size_t offset, int& line, int& column);

}  // namespace pocket::jinja
