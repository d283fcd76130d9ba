// The pieces of a Hugging Face tokenizer.json pipeline pocket implements: normalizers,
// pre-tokenizers, post-processors and decoders, each built from its JSON object. Anything else is
// rejected with a pocket::Error naming the component, so a tokenizer never silently differs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "regex_split.h"

namespace pocket::tokenizer::hf {

// ----- normalizers: text -> text

class Normalizer {
  public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& text) const = 0;
};

// null gives nullptr (no normalization).
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

// ----- pre-tokenizers: list of pieces -> list of pieces

class PreTokenizer {
  public:
    virtual ~PreTokenizer() = default;
    // `first` tells whether the text is the first segment of the input (Metaspace "first").
    virtual void pre_tokenize(std::vector<std::string>& pieces, bool first) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

// How a regex or literal split keeps what it matched (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Cuts `text` at the given matches ([begin, end) byte ranges, ascending, non-overlapping).
std::vector<std::string> split_by_matches(std::string_view text,
                                          const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert);

// ----- decoders: token strings -> token strings (concatenated at the end)

class Decoder {
  public:
    virtual ~Decoder() = default;
    virtual void decode(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

// A token id read from the file: a JSON integer from 0 to INT32_MAX, else pocket::Error naming
// `what`. (nlohmann's get<int>() converts a float such as 1e300 with undefined behaviour.)
int32_t token_id_of(const nlohmann::json& j, std::string_view what);

// ----- post-processors: which special tokens add_special puts around the ids

struct PostProcessor {
    std::vector<int32_t> prefix;  // token ids before the sequence
    std::vector<int32_t> suffix;  // token ids after it
};

PostProcessor make_post_processor(const nlohmann::json& j);

// transformers' clean_up_tokenization: " ." -> "." and friends.
std::string clean_up_tokenization(std::string text);

}  // namespace pocket::tokenizer::hf
