#include "byte_level.h"

#include <array>

#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer::byte_level {

namespace {

bool maps_to_itself(int byte) {
    return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
           (byte >= 0xAE && byte <= 0xFF);
}

struct Tables {
    std::array<char32_t, 256> code_point{};
    std::array<std::string, 256> text;
    std::array<int16_t, 512> byte_of{};  // indexed by code point (all are below U+0200)

    Tables() {
        byte_of.fill(-1);
        int next = 0;
        for (int byte = 0; byte < 256; ++byte) {
            const char32_t cp = maps_to_itself(byte) ? static_cast<char32_t>(byte)
                                                     : static_cast<char32_t>(256 + next++);
            code_point[byte] = cp;
            text[byte] = utf8::encode(cp);
            byte_of[cp] = static_cast<int16_t>(byte);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& byte_to_text(uint8_t byte) {
    return tables().text[byte];
}

std::string encode(std::string_view bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) out += t.text[static_cast<uint8_t>(c)];
    return out;
}

int code_point_to_byte(char32_t cp) {
    return cp < 512 ? tables().byte_of[cp] : -1;
}

}  // namespace pocket::tokenizer::byte_level
