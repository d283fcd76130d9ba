#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer::utf8 {

size_t lead_length(uint8_t lead) {
    if (lead < 0xC0) return 1;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    return 4;
}

namespace {

bool is_continuation(uint8_t byte) {
    return (byte & 0xC0) == 0x80;
}

// The range the second byte must fall in, which is where strict UTF-8 excludes overlong forms,
// surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..).
struct SecondByteRange {
    uint8_t low;
    uint8_t high;
};

SecondByteRange second_byte_range(uint8_t lead) {
    switch (lead) {
        case 0xE0:
            return {0xA0, 0xBF};
        case 0xED:
            return {0x80, 0x9F};
        case 0xF0:
            return {0x90, 0xBF};
        case 0xF4:
            return {0x80, 0x8F};
        default:
            return {0x80, 0xBF};
    }
}

// Expected length for a strictly valid lead byte, 0 when the byte cannot lead a sequence.
size_t strict_length(uint8_t lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

}  // namespace

Decoded decode(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
    const uint8_t lead = byte(0);
    const size_t need = strict_length(lead);
    if (need == 0) return {};
    if (need == 1) return {Status::Complete, lead, 1};

    const size_t available = text.size() - pos;
    const SecondByteRange range = second_byte_range(lead);
    char32_t cp = lead & (0xFF >> (need + 1));
    for (size_t i = 1; i < need; ++i) {
        if (i >= available) return {Status::Incomplete, kReplacement, available};
        const uint8_t b = byte(i);
        const bool ok = i == 1 ? (b >= range.low && b <= range.high) : is_continuation(b);
        if (!ok) return {};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {Status::Complete, cp, need};
}

bool is_valid(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        const Decoded d = decode(text, pos);
        if (d.status != Status::Complete) return false;
        pos += d.length;
    }
    return true;
}

void append(std::string& out, char32_t cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = kReplacement;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string encode(char32_t code_point) {
    std::string out;
    append(out, code_point);
    return out;
}

std::string sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Decoded d = decode(text, pos);
        if (d.status == Status::Complete) {
            out.append(text.substr(pos, d.length));
            pos += d.length;
        } else {
            out += kReplacementUtf8;
            pos += 1;
        }
    }
    return out;
}

}  // namespace pocket::tokenizer::utf8
