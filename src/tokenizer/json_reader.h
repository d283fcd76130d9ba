// A strict, allocation-light JSON reader (RFC 8259) for the large parts of tokenizer.json: the
// vocabulary object and the merges array hold hundreds of thousands of short strings, and
// building a DOM of them (nlohmann::json) cost most of a load. The reader walks the text with a
// cursor; callers pull objects, arrays, strings and integers in the order they expect them, and
// hand any other value to nlohmann as its raw text (raw_value()).
//
// Every malformed input (truncated text, wrong types, bad escapes, invalid UTF-8, nesting deeper
// than kMaxDepth, trailing garbage) throws pocket::Error naming the origin and the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pocket::tokenizer {

class JsonReader {
  public:
    // Deeper nesting is refused: nothing in a tokenizer file nests more than a few levels, and
    // the components built from these values recurse over them.
    static constexpr int kMaxDepth = 128;

    JsonReader(std::string_view text, std::string_view origin) : text_(text), origin_(origin) {}

    // The next value's first character after whitespace ('{', '[', '"', 't', 'f', 'n', a digit
    // or '-'); throws when the text ends.
    char peek();

    // Objects: begin_object() consumes '{'; next_member() consumes ',' between members, reads the
    // key and the ':' and returns true, or consumes '}' and returns false.
    void begin_object(std::string_view what);
    bool next_member(bool& first, std::string& scratch, std::string_view& key);

    // Arrays: begin_array() consumes '['; next_item() returns true before each item.
    void begin_array(std::string_view what);
    bool next_item(bool& first);

    // A string value, decoded. The view points into the text when the string has no escapes, or
    // into `scratch` otherwise (valid until scratch changes).
    std::string_view string(std::string& scratch, std::string_view what);

    // A number that must be an integer in [-2^53, 2^53].
    int64_t integer(std::string_view what);

    // Skips one value of any type (checked as strictly as the rest) and returns its text.
    std::string_view raw_value();

    // Throws unless only whitespace is left.
    void expect_end();

    size_t offset() const { return pos_; }
    // "ORIGIN: byte N (line L, column C): MESSAGE" as a pocket::Error; syntax() prefixes the
    // message with "not valid JSON: ".
    [[noreturn]] void error(std::string_view message) const;
    [[noreturn]] void syntax(std::string_view message) const;

  private:
    void skip_ws();
    void expect(char c, std::string_view what);
    void skip_value(int depth);
    void skip_number();
    void skip_literal(std::string_view word);
    // Validates one UTF-8 sequence starting at pos_ (a byte >= 0x80) and steps over it.
    void step_utf8();
    uint32_t hex4();

    std::string_view text_;
    std::string_view origin_;
    size_t pos_ = 0;
};

}  // namespace pocket::tokenizer
