#include "pocket/train/dataset.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "pocket/core/error.h"
#include "pocket/core/read_file.h"
#include "pocket/generate/chat.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::train {
namespace {

// Tokens the two sequences share at their start.
size_t common_prefix(std::span<const TokenId> a, std::span<const TokenId> b) {
    const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    return static_cast<size_t>(ia - a.begin());
}

bool has_target(const Example& e) {
    return std::any_of(e.weights.begin(), e.weights.end(), [](float w) { return w != 0.0f; });
}

// Cuts an example to ctx + 1 tokens and adds it to `out` when anything is left to learn.
void keep(Dataset& out, Example e, int64_t ctx) {
    if (static_cast<int64_t>(e.tokens.size()) > ctx + 1) {
        e.tokens.resize(static_cast<size_t>(ctx + 1));
        e.weights.resize(static_cast<size_t>(ctx + 1));
        ++out.n_truncated;
    }
    if (!e.weights.empty()) e.weights[0] = 0.0f;
    if (!has_target(e)) {
        ++out.n_empty;
        return;
    }
    out.examples.push_back(std::move(e));
}

Dataset text_windows(std::string_view content, const tokenizer::Tokenizer& tok, int64_t ctx) {
    const std::vector<TokenId> text = tok.encode(content, /*add_special=*/false,
                                                 /*parse_special=*/false);
    const bool bos = tok.add_bos() && tok.bos() != kNoToken;
    Dataset out;
    const auto n = static_cast<int64_t>(text.size());
    const auto uctx = static_cast<size_t>(ctx);
    for (int64_t begin = bos ? 0 : 1; begin < n; begin += ctx) {
        // Targets text[begin, end); the window starts one token earlier (BOS or the previous text
        // token), which is read but not predicted.
        const int64_t end = std::min(n, begin + ctx);
        Example e;
        e.tokens.reserve(uctx + 1);
        e.tokens.push_back(bos ? tok.bos() : text[static_cast<size_t>(begin - 1)]);
        e.tokens.insert(e.tokens.end(), text.begin() + begin, text.begin() + end);
        e.weights.assign(e.tokens.size(), 1.0f);
        e.weights[0] = 0.0f;
        out.examples.push_back(std::move(e));
    }
    return out;
}

Example completion_example(const nlohmann::ordered_json& record, const tokenizer::Tokenizer& tok) {
    if (!record.is_object()) fail("expected an object {\"prompt\": ..., \"completion\": ...}");
    const auto prompt = record.find("prompt");
    const auto completion = record.find("completion");
    if (prompt == record.end() || !prompt->is_string()) fail("\"prompt\" must be a string");
    if (completion == record.end() || !completion->is_string())
        fail("\"completion\" must be a string");
    const auto& p = prompt->get_ref<const std::string&>();
    const auto& c = completion->get_ref<const std::string&>();
    if (c.empty()) fail("\"completion\" is empty");
    // Tokenized together, as the model will read them; the prompt alone tells where the
    // completion starts (a token merged across the boundary counts as completion).
    Example e;
    e.tokens = tok.encode(p + c, /*add_special=*/true, /*parse_special=*/false);
    const std::vector<TokenId> prompt_tokens =
        tok.encode(p, /*add_special=*/true, /*parse_special=*/false);
    const size_t start = common_prefix(prompt_tokens, e.tokens);
    if (tok.eos() != kNoToken && (e.tokens.empty() || e.tokens.back() != tok.eos()))
        e.tokens.push_back(tok.eos());
    e.weights.assign(e.tokens.size(), 0.0f);
    for (size_t i = std::max<size_t>(start, 1); i < e.tokens.size(); ++i) e.weights[i] = 1.0f;
    return e;
}

Dataset jsonl_records(std::string_view content, std::string_view name,
                      const tokenizer::Tokenizer& tok, const DatasetOptions& options) {
    if (options.format == DataFormat::Chat && options.chat_template == nullptr)
        fail("chat data needs the model's chat template");
    Dataset out;
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < content.size()) {
        size_t eol = content.find('\n', pos);
        if (eol == std::string_view::npos) eol = content.size();
        std::string_view line = content.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r\f\v") == std::string_view::npos) continue;
        try {
            nlohmann::ordered_json record;
            try {
                record = nlohmann::ordered_json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                fail("invalid JSON: ", e.what());
            }
            Example e;
            if (options.format == DataFormat::Chat) {
                if (!record.is_object() || !record.contains("messages"))
                    fail("expected an object {\"messages\": [...]}");
                e = chat_example(record["messages"], tok, *options.chat_template);
            } else {
                e = completion_example(record, tok);
            }
            keep(out, std::move(e), options.ctx);
        } catch (const std::exception& e) {
            fail(name, ":", line_no, ": ", e.what());
        }
    }
    if (out.examples.empty() && out.n_empty == 0) fail(name, ": no records");
    return out;
}

}  // namespace

std::string_view data_format_name(DataFormat format) {
    switch (format) {
        case DataFormat::Text:
            return "text";
        case DataFormat::Chat:
            return "chat";
        case DataFormat::Completion:
            return "completion";
    }
    return "?";
}

DataFormat parse_data_format(std::string_view name) {
    for (const DataFormat f : {DataFormat::Text, DataFormat::Chat, DataFormat::Completion})
        if (data_format_name(f) == name) return f;
    fail("unknown data format '", name, "' (expected text, chat or completion)");
}

double Example::total_weight() const {
    double sum = 0.0;
    for (const float w : weights) sum += w;
    return sum;
}

int64_t Dataset::n_tokens() const {
    int64_t n = 0;
    for (const Example& e : examples) n += e.n_inputs();
    return n;
}

double Dataset::total_weight() const {
    double sum = 0.0;
    for (const Example& e : examples) sum += e.total_weight();
    return sum;
}

uint64_t Dataset::fingerprint() const {
    // FNV-1a over every example's length, tokens and weight bits.
    uint64_t h = 0xcbf29ce484222325ULL;
    const auto mix = [&h](uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    };
    mix(examples.size());
    for (const Example& e : examples) {
        mix(e.tokens.size());
        for (const TokenId t : e.tokens) mix(static_cast<uint32_t>(t));
        for (const float w : e.weights) mix(std::bit_cast<uint32_t>(w));
    }
    return h;
}

Example chat_example(const nlohmann::ordered_json& messages, const tokenizer::Tokenizer& tok,
                     const ModelChatTemplate& chat_template) {
    if (!messages.is_array() || messages.empty()) fail("\"messages\" must be a non-empty array");
    for (size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            fail("message ", i, " needs a string \"role\"");
        if (!m.contains("content") || !(m["content"].is_string() || m["content"].is_array()))
            fail("message ", i, " needs a \"content\" (a string or an array of parts)");
    }
    const auto render = [&](size_t n_messages, bool generation_prompt) {
        ChatTemplateInputs in = chat_template.inputs();
        in.messages = nlohmann::ordered_json::array();
        for (size_t i = 0; i < n_messages; ++i) in.messages.push_back(messages[i]);
        in.add_generation_prompt = generation_prompt;
        return chat_template.tmpl.render(in);
    };
    const RenderedPrompt whole = render(messages.size(), false);
    Example e;
    e.tokens = tokenize_rendered(tok, whole);
    e.weights.assign(e.tokens.size(), 0.0f);
    bool any_assistant = false;
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i]["role"] != "assistant") continue;
        any_assistant = true;
        const RenderedPrompt before = render(i, true);
        const RenderedPrompt through = render(i + 1, false);
        if (!whole.text.starts_with(before.text) || !whole.text.starts_with(through.text) ||
            through.text.size() < before.text.size())
            fail("the chat template renders the conversation before message ", i,
                 " (an assistant turn) differently from the whole conversation, so its tokens "
                 "cannot be found");
        const size_t begin = common_prefix(tokenize_rendered(tok, before), e.tokens);
        const size_t end = common_prefix(tokenize_rendered(tok, through), e.tokens);
        for (size_t t = begin; t < end; ++t) e.weights[t] = 1.0f;
    }
    if (!any_assistant) fail("the conversation has no assistant message to learn from");
    if (!e.weights.empty()) e.weights[0] = 0.0f;
    return e;
}

Dataset parse_dataset(std::string_view content, std::string_view name,
                      const tokenizer::Tokenizer& tokenizer, const DatasetOptions& options) {
    if (options.ctx < 1) fail("context of ", options.ctx, " tokens: must be at least 1");
    if (options.format == DataFormat::Text) {
        Dataset d = text_windows(content, tokenizer, options.ctx);
        if (d.examples.empty()) fail(name, ": no text to train on (under two tokens)");
        return d;
    }
    return jsonl_records(content, name, tokenizer, options);
}

Dataset read_dataset(const std::filesystem::path& path, const tokenizer::Tokenizer& tokenizer,
                     const DatasetOptions& options) {
    const std::string content = read_file(path);
    return parse_dataset(content, path.string(), tokenizer, options);
}

Dataset split_validation(Dataset& data, double fraction) {
    if (!(fraction >= 0.0 && fraction < 1.0))
        fail("held-out fraction ", fraction, ": must be in [0, 1)");
    Dataset val;
    if (fraction == 0.0) return val;
    const auto n = static_cast<int64_t>(data.examples.size());
    const auto n_val =
        std::max<int64_t>(1, static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))));
    if (n_val >= n)
        fail("a held-out fraction of ", fraction, " leaves none of the ", n,
             " sequences to train on");
    val.examples.assign(std::make_move_iterator(data.examples.end() - n_val),
                        std::make_move_iterator(data.examples.end()));
    data.examples.resize(static_cast<size_t>(n - n_val));
    return val;
}

}  // namespace pocket::train
