// Training data for `pocket finetune`: a file read into token sequences with a loss weight on each
// token, in one of three formats.
//   text        the whole file tokenized once (parse_special off: the text is data), then cut into
//               windows of --ctx predictions: with a BOS-adding vocabulary each window is BOS +
//               ctx text tokens, all ctx of them targets; otherwise ctx + 1 text tokens overlapping
//               the previous window by one, the last ctx of them targets. Either way every text
//               token after the first is a target exactly once.
//   chat        JSONL, one {"messages": [{"role": ..., "content": ...}, ...]} per line, rendered
//               with the model's chat template; weight 1 on the tokens of assistant turns (from the
//               first token after the generation prompt to the end of the turn as the template
//               closes it, end-of-turn token included), 0 elsewhere.
//   completion  JSONL, one {"prompt": ..., "completion": ...} per line: BOS (when the vocabulary
//               adds one) + prompt + completion + EOS, weight 1 on completion and EOS.
// Lines holding only white space are allowed and skipped; any other line that is not a valid
// record is an error naming the file and line. Sequences longer than ctx + 1 tokens are cut to
// ctx + 1 (counted in Dataset::n_truncated); a record left without any weighted target is not
// kept (counted in Dataset::n_empty). Chat spans are found by rendering the conversation up to
// each assistant turn (with the generation prompt) and up to its end, which must be prefixes of the
// whole rendering (an error otherwise); where a token straddles such a boundary, the span follows
// the tokens the whole conversation shares with the prefix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/token.h"
#include "pocket/generate/chat_template.h"

namespace pocket::tokenizer {
class Tokenizer;
}

namespace pocket::train {

enum class DataFormat { Text, Chat, Completion };
std::string_view data_format_name(DataFormat format);  // "text", "chat", "completion"
DataFormat parse_data_format(std::string_view name);   // throws pocket::Error listing the names

// One training sequence. The model reads tokens[0 .. n-1) and row t predicts tokens[t + 1] with
// weight weights[t + 1]; weights[0] is always 0 (nothing predicts the first token).
struct Example {
    std::vector<TokenId> tokens;
    std::vector<float> weights;

    int64_t n_inputs() const {
        return tokens.empty() ? 0 : static_cast<int64_t>(tokens.size()) - 1;
    }
    double total_weight() const;
};

struct Dataset {
    std::vector<Example> examples;
    int64_t n_truncated = 0;  // records cut to ctx + 1 tokens
    int64_t n_empty = 0;      // records left with nothing to learn after the cut (not kept)

    int64_t n_tokens() const;     // model inputs in all (Σ n_inputs)
    double total_weight() const;  // targets that count (Σ weights)
    // A fingerprint of the tokens and weights, so a checkpoint is resumed on the same data only.
    uint64_t fingerprint() const;
};

struct DatasetOptions {
    DataFormat format = DataFormat::Text;
    int64_t ctx = 256;  // predictions per sequence at most
    // The template of chat data (chat_template_for(model)); required for DataFormat::Chat.
    const ModelChatTemplate* chat_template = nullptr;
};

// Reads and tokenizes `path`. Throws pocket::Error naming the file (and line, for JSONL).
Dataset read_dataset(const std::filesystem::path& path, const tokenizer::Tokenizer& tokenizer,
                     const DatasetOptions& options);
// The same from text in memory; `name` stands for the file in error messages.
Dataset parse_dataset(std::string_view content, std::string_view name,
                      const tokenizer::Tokenizer& tokenizer, const DatasetOptions& options);

// One chat conversation (a JSON array of messages) as an Example, before cutting: the rendering
// and weighting of DataFormat::Chat. Throws pocket::Error (the template's own TemplateError when
// rendering fails).
Example chat_example(const nlohmann::ordered_json& messages, const tokenizer::Tokenizer& tokenizer,
                     const ModelChatTemplate& chat_template);

// Moves the last `fraction` of the examples (at least one when fraction > 0) out of `data` into
// the returned held-out set. The tail, not a random sample: text windows next to each other share
// their subject, so a random split would leak the held-out text into training. Throws when
// nothing would be left to train on.
Dataset split_validation(Dataset& data, double fraction);

}  // namespace pocket::train
