// Fuzz target: a hostile tokenizer.json. The input is the file's text, optionally followed by a
// NUL byte and a tokenizer_config.json. parse_hf_tokenizer reads the vocabulary and the merges
// with its own JSON reader (src/tokenizer/json_reader.h) and the rest with nlohmann; whatever
// the bytes, the load must succeed or throw pocket::Error. A tokenizer that loads then encodes
// and decodes a fixed text with special-token parsing on, and its ids must lie in the vocabulary.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "pocket/tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input = pocket::fuzz::as_text(data, size);
    const size_t nul = input.find('\0');
    const std::string_view json = input.substr(0, nul);
    const std::string_view config =
        nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    try {
        const auto tok = pocket::tokenizer::parse_hf_tokenizer(json, config, "fuzz.json");
        const auto ids = tok->encode("Hello <s> w\xC3\xB6rld 123 \xF0\x9F\x98\x80\n", true, true);
        for (const auto id : ids)
            if (id < 0 || static_cast<size_t>(id) >= tok->n_vocab()) __builtin_trap();
        (void)tok->decode(ids, false, true);
    } catch (const pocket::Error&) {
        // A file pocket cannot take is refused with a clear error, never a crash.
    }
    return 0;
}
