// Fuzz target: every tokenizer kind libpocket has, on hostile text and hostile token ids.
//   byte 0: which tokenizer (GGUF vocabularies: SPM, byte-level BPE with each pre-tokenizer
//           preset, WordPiece; Hugging Face tokenizer.json files: BPE with byte fallback,
//           byte-level BPE, Metaspace; see kTokenizers)
//   byte 1: flags: add_special, parse_special, remove_special, unparse_special, and whether the
//           rest is text (encode, then decode the ids, stream-decode them) or token ids
//   rest:   the text, or ids as 3-byte little-endian numbers (some past the vocabulary or
//           negative, which must be refused with pocket::Error)
// The vocabularies come from the shared data (loaded once each, on first use).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "pocket/core/text_range.h"
#include "pocket/gguf/gguf.h"
#include "pocket/tokenizer/hf_tokenizer.h"
#include "pocket/tokenizer/stream_decoder.h"
#include "pocket/tokenizer/tokenizer.h"

namespace {

using pocket::tokenizer::Tokenizer;

struct Source {
    const char* path;  // relative to the shared folder
    bool hf;           // tokenizer.json (else a GGUF file's vocabulary)
};

constexpr std::array kTokenizers = {
    Source{"tokenizers/ggml-vocab-llama-spm.gguf", false},  // SPM
    Source{"tokenizers/ggml-vocab-phi-3.gguf", false},      // SPM
    Source{"tokenizers/ggml-vocab-baichuan.gguf", false},   // SPM
    Source{"models/tiny/tiny-gemma2.gguf", false},          // SPM, gemma
    Source{"tokenizers/ggml-vocab-bert-bge.gguf", false},   // WordPiece
    Source{"models/tiny/tiny-bert.gguf", false},            // WordPiece
    Source{"tokenizers/ggml-vocab-gpt-2.gguf", false},      // BPE presets from here on
    Source{"tokenizers/ggml-vocab-falcon.gguf", false},
    Source{"tokenizers/ggml-vocab-deepseek-coder.gguf", false},
    Source{"tokenizers/ggml-vocab-deepseek-llm.gguf", false},
    Source{"tokenizers/ggml-vocab-gpt-neox.gguf", false},
    Source{"tokenizers/ggml-vocab-mpt.gguf", false},
    Source{"tokenizers/ggml-vocab-refact.gguf", false},
    Source{"tokenizers/ggml-vocab-starcoder.gguf", false},
    Source{"models/tiny/tiny-llama-bpe.gguf", false},     // llama 3 preset
    Source{"models/tiny/tiny-qwen2.gguf", false},         // qwen2 preset
    Source{"tokenizers/hf/llama2/tokenizer.json", true},  // HF: BPE + byte fallback
    Source{"tokenizers/hf/llama3/tokenizer.json", true},  // HF: byte-level BPE
    Source{"tokenizers/hf/qwen3/tokenizer.json", true},
    Source{"tokenizers/hf/smollm2/tokenizer.json", true},
    Source{"tokenizers/hf/gemma3/tokenizer.json", true},  // HF: gemma 3 (262k pieces)
};

const Tokenizer& tokenizer(size_t index) {
    static std::array<std::unique_ptr<Tokenizer>, kTokenizers.size()> loaded;
    auto& slot = loaded[index];
    if (!slot) {
        const Source& s = kTokenizers[index];
        const auto path = pocket::fuzz::shared_path(s.path);
        if (s.hf) {
            slot = pocket::tokenizer::load_hf_tokenizer(path);
        } else {
            const auto file = pocket::gguf::File::open(path);
            slot = pocket::tokenizer::load_tokenizer(file);
        }
    }
    return *slot;
}

void stream_decode(const Tokenizer& tok, const std::vector<pocket::TokenId>& ids, bool special) {
    pocket::tokenizer::StreamDecoder decoder(tok, special);
    std::string out;
    for (const auto id : ids) out += decoder.feed(id);
    out += decoder.flush();
}

void run(const Tokenizer& tok, uint8_t flags, std::string_view rest) {
    const bool add_special = flags & 1, parse_special = flags & 2;
    const bool remove_special = flags & 4, unparse_special = flags & 8;
    if ((flags & 16) == 0) {
        // Encode (with bit 5, the second half of the text verbatim, as a chat prompt's user
        // part is), decode, and stream-decode what came out.
        const pocket::TextRange verbatim{rest.size() / 2, rest.size()};
        const auto ids = tok.encode(
            rest, add_special, parse_special,
            (flags & 32) ? std::span(&verbatim, 1) : std::span<const pocket::TextRange>());
        for (const auto id : ids)
            if (id < 0 || static_cast<size_t>(id) >= tok.n_vocab()) __builtin_trap();
        (void)tok.decode(ids, remove_special, unparse_special);
        stream_decode(tok, ids, unparse_special);
        return;
    }
    // Arbitrary ids: in range they decode; out of range they must be refused with pocket::Error.
    std::vector<pocket::TokenId> ids;
    for (size_t i = 0; i + 3 <= rest.size(); i += 3) {
        const uint32_t raw = uint32_t(uint8_t(rest[i])) | uint32_t(uint8_t(rest[i + 1])) << 8 |
                             uint32_t(uint8_t(rest[i + 2])) << 16;
        // 0xFFxxxx are negative; with bit 5 the others may lie past the vocabulary.
        int64_t id = raw >= 0xFF0000 ? -int64_t(raw & 0xFFFF) - 1 : raw;
        if ((flags & 32) == 0 && id >= 0) id %= static_cast<int64_t>(tok.n_vocab());
        ids.push_back(static_cast<pocket::TokenId>(id));
    }
    try {
        (void)tok.decode(ids, remove_special, unparse_special);
    } catch (const pocket::Error&) {
    }
    stream_decode(tok, ids, unparse_special);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    // Loading is outside the try: a missing vocabulary must stop the fuzzer, not be skipped.
    const Tokenizer& tok = tokenizer(data[0] % kTokenizers.size());
    try {
        run(tok, data[1], pocket::fuzz::as_text(data + 2, size - 2));
    } catch (const pocket::Error&) {
        // Input the tokenizer cannot take is refused with a clear error, never a crash.
    }
    return 0;
}
