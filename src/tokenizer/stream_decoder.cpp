#include "pocket/tokenizer/stream_decoder.h"

#include "pocket/tokenizer/utf8.h"

namespace pocket::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool special)
    : tokenizer_(&tokenizer), special_(special) {}

std::string StreamDecoder::feed(TokenId id) {
    return feed_bytes(tokenizer_->token_to_piece(id, special_));
}

std::string StreamDecoder::feed_bytes(std::string_view bytes) {
    pending_.append(bytes);
    std::string out;
    size_t pos = 0;
    while (pos < pending_.size()) {
        const utf8::Decoded d = utf8::decode(pending_, pos);
        if (d.status == utf8::Status::Incomplete) break;  // wait for the rest of the character
        if (d.status == utf8::Status::Complete) {
            out.append(pending_, pos, d.length);
            pos += d.length;
        } else {
            out += utf8::kReplacementUtf8;
            pos += 1;
        }
    }
    pending_.erase(0, pos);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    for (size_t i = 0; i < pending_.size(); ++i) out += utf8::kReplacementUtf8;
    pending_.clear();
    return out;
}

}  // namespace pocket::tokenizer
