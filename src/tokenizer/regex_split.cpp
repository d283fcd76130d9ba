#include "regex_split.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pocket/core/error.h"

namespace pocket::tokenizer {

struct Regex::Impl {
    pcre2_code* code = nullptr;
    ~Impl() { pcre2_code_free(code); }
};

Regex::Regex(std::string pattern, bool caseless)
    : pattern_(std::move(pattern)), impl_(std::make_unique<Impl>()) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    // MATCH_INVALID_UTF: text with invalid UTF-8 is matched (invalid bytes never match a
    // character) instead of being rejected; DOLLAR_ENDONLY: `\s+$` must not stop before a final
    // newline (ECMAScript and Oniguruma semantics).
    uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    if (caseless) options |= PCRE2_CASELESS;
    impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                                options, &error, &error_offset, nullptr);
    if (impl_->code == nullptr) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof(message));
        fail("cannot compile the pre-tokenizer regex '", pattern_, "' at offset ", error_offset,
             ": ", reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> matches;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
    if (data == nullptr) fail("out of memory running the regex '", pattern_, "'");
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;
    while (start <= text.size()) {
        const int rc = pcre2_match(impl_->code, subject, text.size(), start, 0, data, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            pcre2_match_data_free(data);
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof(message));
            fail("the pre-tokenizer regex '", pattern_,
                 "' failed: ", reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
        const size_t begin = ovector[0];
        const size_t end = ovector[1];
        if (end > begin) {
            matches.emplace_back(begin, end);
            start = end;
        } else {
            // An empty match: move on by one whole character.
            start = end + 1;
            while (start < text.size() && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) {
                ++start;
            }
        }
    }
    pcre2_match_data_free(data);
    return matches;
}

void split_isolated(const Regex& regex, std::vector<std::string_view>& pieces) {
    std::vector<std::string_view> out;
    out.reserve(pieces.size() * 2);
    for (const std::string_view piece : pieces) {
        size_t last = 0;
        for (const auto& [begin, end] : regex.find_all(piece)) {
            if (begin > last) out.push_back(piece.substr(last, begin - last));
            out.push_back(piece.substr(begin, end - begin));
            last = end;
        }
        if (last < piece.size()) out.push_back(piece.substr(last));
    }
    pieces = std::move(out);
}

}  // namespace pocket::tokenizer
