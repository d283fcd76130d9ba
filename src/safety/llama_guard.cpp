#include "safety/llama_guard.h"

#include <algorithm>
#include <cmath>

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"
#include "pocket/tokenizer/utf8.h"
#include "safety/jailbreak.h"

namespace pocket::safety {

namespace {

// The category lines exactly as Llama Guard 3's chat template writes them: the short names the
// model was trained on, which differ from the model card's ("Sex Crimes" vs "Sex-Related Crimes").
constexpr std::string_view kPromptHead =
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in '";
constexpr std::string_view kPromptCategories =
    "' messages in conversations according our safety policy with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
    "S1: Violent Crimes.\n"
    "S2: Non-Violent Crimes.\n"
    "S3: Sex Crimes.\n"
    "S4: Child Exploitation.\n"
    "S5: Defamation.\n"
    "S6: Specialized Advice.\n"
    "S7: Privacy.\n"
    "S8: Intellectual Property.\n"
    "S9: Indiscriminate Weapons.\n"
    "S10: Hate.\n"
    "S11: Self-Harm.\n"
    "S12: Sexual Content.\n"
    "S13: Elections.\n"
    "S14: Code Interpreter Abuse.\n"
    "<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n";
constexpr std::string_view kPromptEndConversation =
    "<END CONVERSATION>\n\nProvide your safety assessment for ONLY THE LAST ";
constexpr std::string_view kPromptTail =
    " message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";

// Python's str.strip() on the ASCII whitespace it knows (the template strips every turn).
std::string_view strip(std::string_view s) {
    constexpr std::string_view ws = " \t\n\r\v\f";
    const size_t begin = s.find_first_not_of(ws);
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

// Keeps the start and the end of an over-long text (a harmful request can sit at either end).
std::string shorten(std::string_view text, size_t keep) {
    if (text.size() <= keep) return std::string(text);
    const size_t half = keep / 2;
    return tokenizer::utf8::sanitize(std::string(text.substr(0, half)) + "\n[...]\n" +
                                     std::string(text.substr(text.size() - (keep - half))));
}

TokenId first_token(const tokenizer::Tokenizer& tok, std::string_view word) {
    const auto ids = tok.encode(word, /*add_special=*/false, /*parse_special=*/false);
    if (ids.empty()) fail("the guard model's tokenizer gives no token for '", word, "'");
    return ids.front();
}

GuardVerdict guard_error() {
    GuardVerdict v;
    v.safe = false;
    v.score = 1.0;
    v.flags.push_back("guard_error");
    return v;
}

}  // namespace

std::string render_llama_guard_prompt(const GuardInput& input) {
    const std::string_view role = input.response ? "Agent" : "User";
    std::string out;
    out.reserve(1024 + input.prompt.size() + (input.response ? input.response->size() : 0));
    out += kPromptHead;
    out += role;
    out += kPromptCategories;
    out += "User: ";
    out += strip(input.prompt);
    out += "\n\n";
    if (input.response) {
        out += "Agent: ";
        out += strip(*input.response);
        out += "\n\n";
    }
    out += kPromptEndConversation;
    out += role;
    out += kPromptTail;
    return out;
}

std::optional<LlamaGuardOutput> parse_llama_guard_output(std::string_view text) {
    text = strip(text);
    const size_t nl = text.find('\n');
    const std::string_view first = strip(text.substr(0, nl));
    LlamaGuardOutput out;
    if (first == "safe") {
        if (nl != std::string_view::npos && !strip(text.substr(nl)).empty()) return std::nullopt;
        return out;
    }
    if (first != "unsafe") return std::nullopt;
    out.safe = false;
    if (nl == std::string_view::npos) return out;  // no category line: unsafe, none named
    std::string_view rest = strip(text.substr(nl + 1));
    rest = rest.substr(0, rest.find('\n'));
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const auto code = parse_category_code(strip(rest.substr(0, comma)));
        if (!code) return std::nullopt;
        out.categories.push_back(*code);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    std::sort(out.categories.begin(), out.categories.end());
    out.categories.erase(std::unique(out.categories.begin(), out.categories.end()),
                         out.categories.end());
    return out;
}

LlamaGuard::LlamaGuard(std::unique_ptr<model::Model> model, std::string name,
                       LlamaGuardOptions options)
    : model_(std::move(model)), name_(std::move(name)), options_(std::move(options)) {
    set_threshold(options_.threshold);
    if (options_.max_tokens < 1) fail("guard max_tokens must be at least 1");
    safe_token_ = first_token(model_->tokenizer(), "safe");
    unsafe_token_ = first_token(model_->tokenizer(), "unsafe");
    model::ContextParams params;
    params.n_ctx = options_.n_ctx;
    ctx_ = std::make_unique<model::Context>(*model_, params);
    session_ = std::make_unique<Session>(*ctx_);
}

LlamaGuard::~LlamaGuard() = default;

void LlamaGuard::set_threshold(double threshold) {
    if (!(threshold >= 0.0 && threshold <= 1.0))
        fail("guard threshold ", threshold, " is outside [0, 1]");
    options_.threshold = threshold;
}

std::string LlamaGuard::last_output() const {
    std::lock_guard lock(mutex_);
    return last_output_;
}

GuardVerdict LlamaGuard::check(const GuardInput& input) const {
    try {
        return run(input);
    } catch (const std::exception&) {
        // The interface promises no throw for any input; a guard that cannot answer must not
        // wave the text through.
        return guard_error();
    }
}

GuardVerdict LlamaGuard::run(const GuardInput& input) const {
    std::lock_guard lock(mutex_);
    const auto& tok = model_->tokenizer();
    // Invalid UTF-8 would not survive tokenization as the template's text; U+FFFD stands in.
    std::string prompt = tokenizer::utf8::sanitize(input.prompt);
    std::optional<std::string> response;
    if (input.response) response = tokenizer::utf8::sanitize(*input.response);

    const auto limit = static_cast<size_t>(ctx_->n_ctx() - options_.max_tokens - 1);
    std::vector<TokenId> tokens;
    for (int attempt = 0;; ++attempt) {
        const GuardInput in{prompt,
                            response ? std::optional<std::string_view>(*response) : std::nullopt};
        // parse_special: <|begin_of_text|>, <|eot_id|>, ... are the model's control tokens.
        tokens = tok.encode(render_llama_guard_prompt(in), /*add_special=*/false,
                            /*parse_special=*/true);
        if (tokens.size() <= limit) break;
        if (attempt == 12) fail("the conversation does not fit the guard model's context");
        // Shrink the longer turn by the overflow's share of it, plus a margin.
        std::string& longer = response && response->size() > prompt.size() ? *response : prompt;
        const double factor = std::min(0.9, static_cast<double>(limit) / tokens.size());
        longer = shorten(longer, static_cast<size_t>(longer.size() * factor));
    }

    // The first sampling step sees the model's own logits (greedy, no penalties, no bias) before
    // any test constraint masks them: that is where P(unsafe) is read.
    struct Probe {
        bool seen = false;
        float safe_logit = 0, unsafe_logit = 0;
    };
    auto probe = std::make_shared<Probe>();
    const TokenId safe_id = safe_token_, unsafe_id = unsafe_token_;
    GenerateOptions gen;
    gen.sampling = SamplingParams::greedy();
    gen.max_tokens = options_.max_tokens;
    gen.constraints.push_back(std::make_shared<CallbackConstraint>([=](CandidateList& c) {
        if (probe->seen) return;
        probe->seen = true;
        for (const Candidate& cand : c.items()) {
            if (cand.id == safe_id) probe->safe_logit = cand.logit;
            if (cand.id == unsafe_id) probe->unsafe_logit = cand.logit;
        }
    }));
    for (const auto& c : options_.constraints) gen.constraints.push_back(c);
    const GenerateResult result = session_->generate(tokens, gen);
    last_output_ = result.text;

    const auto parsed = parse_llama_guard_output(result.text);
    GuardVerdict v;
    if (options_.score_from_logits && probe->seen) {
        // softmax over the two first tokens = logistic of their logit difference
        v.score = 1.0 / (1.0 + std::exp(static_cast<double>(probe->safe_logit) -
                                        static_cast<double>(probe->unsafe_logit)));
    } else {
        if (!parsed) return guard_error();
        v.score = parsed->safe ? 0.0 : 1.0;
    }
    v.safe = v.score < options_.threshold;
    if (!v.safe && parsed) v.categories = parsed->categories;
    // The guard model reads the conversation as written (it was trained on raw text); the
    // jailbreak signals are reported beside its verdict.
    v.flags = unwrap_jailbreak(prompt).flags;
    if (response) {
        for (auto& f : unwrap_jailbreak(*response).flags)
            if (std::find(v.flags.begin(), v.flags.end(), f) == v.flags.end())
                v.flags.push_back(std::move(f));
    }
    if (!parsed) v.flags.push_back("guard_output_invalid");
    return v;
}

std::unique_ptr<LlamaGuard> load_llama_guard(const std::filesystem::path& path,
                                             LlamaGuardOptions options) {
    std::unique_ptr<model::Model> model;
    try {
        model = model::Model::load(path);
    } catch (const FormatError&) {
        throw;
    } catch (const std::exception& e) {
        fail("cannot load guard model ", path.string(), ": ", e.what());
    }
    return std::make_unique<LlamaGuard>(std::move(model), path.filename().string(),
                                        std::move(options));
}

}  // namespace pocket::safety
