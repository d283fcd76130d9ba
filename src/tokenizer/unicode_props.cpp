#include "unicode_props.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "pocket/core/error.h"
#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer::unicode {

uint32_t flags(char32_t cp) {
    const auto c = static_cast<UChar32>(cp);
    uint32_t f = 0;
    switch (u_charType(c)) {
        case U_UPPERCASE_LETTER:
        case U_LOWERCASE_LETTER:
        case U_TITLECASE_LETTER:
        case U_MODIFIER_LETTER:
        case U_OTHER_LETTER:
            f |= kLetter;
            break;
        case U_DECIMAL_DIGIT_NUMBER:
        case U_LETTER_NUMBER:
        case U_OTHER_NUMBER:
            f |= kNumber;
            break;
        case U_NON_SPACING_MARK:
            f |= kMark | kNonspacingMark;
            break;
        case U_ENCLOSING_MARK:
        case U_COMBINING_SPACING_MARK:
            f |= kMark;
            break;
        case U_CONNECTOR_PUNCTUATION:
        case U_DASH_PUNCTUATION:
        case U_START_PUNCTUATION:
        case U_END_PUNCTUATION:
        case U_INITIAL_PUNCTUATION:
        case U_FINAL_PUNCTUATION:
        case U_OTHER_PUNCTUATION:
            f |= kPunctuation;
            break;
        case U_MATH_SYMBOL:
        case U_CURRENCY_SYMBOL:
        case U_MODIFIER_SYMBOL:
        case U_OTHER_SYMBOL:
            f |= kSymbol;
            break;
        case U_SPACE_SEPARATOR:
        case U_LINE_SEPARATOR:
        case U_PARAGRAPH_SEPARATOR:
            f |= kSeparator;
            break;
        case U_CONTROL_CHAR:
        case U_FORMAT_CHAR:
        case U_PRIVATE_USE_CHAR:
        case U_SURROGATE:
            f |= kControl;
            break;
        default:
            break;
    }
    if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) f |= kWhitespace;
    return f;
}

char32_t to_lower(char32_t cp) {
    return static_cast<char32_t>(u_tolower(static_cast<UChar32>(cp)));
}

namespace {

const icu::Normalizer2& normalizer(Form form) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    switch (form) {
        case Form::NFC:
            n = icu::Normalizer2::getNFCInstance(status);
            break;
        case Form::NFD:
            n = icu::Normalizer2::getNFDInstance(status);
            break;
        case Form::NFKC:
            n = icu::Normalizer2::getNFKCInstance(status);
            break;
        case Form::NFKD:
            n = icu::Normalizer2::getNFKDInstance(status);
            break;
    }
    if (U_FAILURE(status) || n == nullptr) {
        fail("ICU could not provide a Unicode normalizer: ", u_errorName(status));
    }
    return *n;
}

}  // namespace

char32_t nfd_first(char32_t cp) {
    icu::UnicodeString decomposition;
    if (!normalizer(Form::NFD).getDecomposition(static_cast<UChar32>(cp), decomposition)) {
        return cp;
    }
    return static_cast<char32_t>(decomposition.char32At(0));
}

std::vector<char32_t> decode_utf8(std::string_view text) {
    std::vector<char32_t> cps;
    cps.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const utf8::Decoded d = utf8::decode(text, pos);
        if (d.status == utf8::Status::Complete) {
            cps.push_back(d.code_point);
            pos += d.length;
        } else {
            cps.push_back(utf8::kReplacement);
            pos += 1;
        }
    }
    return cps;
}

std::string encode_utf8(const std::vector<char32_t>& cps) {
    std::string out;
    out.reserve(cps.size());
    for (const char32_t cp : cps) utf8::append(out, cp);
    return out;
}

std::string normalize(std::string_view text, Form form) {
    const std::string valid = utf8::sanitize(text);
    const icu::UnicodeString source = icu::UnicodeString::fromUTF8(
        icu::StringPiece(valid.data(), static_cast<int32_t>(valid.size())));
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString result = normalizer(form).normalize(source, status);
    if (U_FAILURE(status)) fail("Unicode normalization failed: ", u_errorName(status));
    std::string out;
    result.toUTF8String(out);
    return out;
}

}  // namespace pocket::tokenizer::unicode
