#include "pocket/generate/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "generate/generation_loop.h"
#include "generate/logprobs.h"
#include "generate/speculative_loop.h"
#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

constexpr int32_t kMaxTopLogprobs = 20;
// Prompt tokens evaluated per call, so a cancel request is seen between chunks of a long prompt.
constexpr size_t kPromptChunk = 256;

void validate(const GenerateOptions& o) {
    if (o.top_logprobs > kMaxTopLogprobs)
        fail("generate: top_logprobs is at most ", kMaxTopLogprobs, ", got ", o.top_logprobs);
    for (const auto& c : o.constraints) {
        if (!c) fail("generate: a null constraint");
    }
}

// Masks end-of-generation tokens (ignore_eos).
class NoEndOfGeneration final : public SamplingConstraint {
  public:
    explicit NoEndOfGeneration(const tokenizer::Tokenizer& tok) : tok_(tok) {}
    void apply(CandidateList& candidates) override {
        const auto& eog = tok_.vocab().eog_ids();  // ascending; usually one to three ids
        if (eog.empty()) return;
        // A range test first: a lookup per candidate over a 150k vocabulary showed in profiles.
        const TokenId lo = eog.front(), hi = eog.back();
        for (Candidate& c : candidates.mutable_items()) {
            if (c.id >= lo && c.id <= hi && tok_.is_eog(c.id)) c.logit = -INFINITY;
        }
    }
    std::unique_ptr<SamplingConstraint> clone() const override {
        return std::make_unique<NoEndOfGeneration>(tok_);
    }

  private:
    const tokenizer::Tokenizer& tok_;
};

Sampler make_sampler(const GenerateOptions& o, const tokenizer::Tokenizer& tok) {
    Sampler sampler(o.sampling);
    for (const auto& c : o.constraints) sampler.add_constraint(c->clone());
    if (o.ignore_eos) sampler.add_constraint(std::make_unique<NoEndOfGeneration>(tok));
    return sampler;
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::Eos:
            return "eos";
        case FinishReason::Cancelled:
            return "cancelled";
    }
    return "unknown";
}

GenerationLoop::GenerationLoop(Session& session, const GenerateOptions& options,
                               const TextCallback& on_text, int64_t max_length)
    : session_(session),
      options_((validate(options), options)),
      on_text_(on_text),
      tok_(session.ctx_.model().tokenizer()),
      sampler_(make_sampler(options, tok_)),
      decoder_(tok_, options.render_special),
      stops_(options.stop),
      max_length_(max_length > 0 ? std::min(max_length, session.ctx_.n_ctx())
                                 : session.ctx_.n_ctx()),
      started_(Clock::now()) {
    result_.seed = sampler_.seed();
}

bool GenerationLoop::cancelled() const {
    return session_.cancel_.load(std::memory_order_relaxed);
}

size_t GenerationLoop::begin_prompt(std::span<const TokenId> prompt) {
    if (prompt.empty()) fail("generate: the prompt is empty");
    const auto n = static_cast<int64_t>(prompt.size());
    if (n >= max_length_) {
        throw ContextOverflow(cat("generate: the prompt has ", n, " tokens but the context holds ",
                                  max_length_, " (one more is needed to generate anything)"));
    }
    for (const TokenId t : prompt) {
        if (t < 0 || static_cast<size_t>(t) >= tok_.n_vocab())
            fail("generate: token id ", t, " outside a vocabulary of ", tok_.n_vocab());
    }
    std::vector<TokenId>& cached = session_.cached_;
    size_t common = 0;
    while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common])
        ++common;
    // The last prompt token is always evaluated: its logits start the generation.
    common = std::min(common, prompt.size() - 1);
    session_.ctx_.kv().truncate(session_.seq_, static_cast<int64_t>(common));
    cached.resize(common);
    result_.prompt_tokens = n;
    result_.reused_tokens = static_cast<int64_t>(common);

    for (const TokenId t : prompt) sampler_.accept_prompt(t);
    started_ = Clock::now();
    return common;
}

void GenerationLoop::prompt_evaluated(std::span<const TokenId> tokens) {
    session_.cached_.insert(session_.cached_.end(), tokens.begin(), tokens.end());
}

void GenerationLoop::prompt_done() {
    const auto now = Clock::now();
    result_.prompt_ms = ms_between(started_, now);
    started_ = now;
}

std::span<const float> GenerationLoop::evaluate_prompt(std::span<const TokenId> prompt) {
    const size_t first = begin_prompt(prompt);
    std::span<const float> logits;
    for (size_t at = first; at < prompt.size(); at += kPromptChunk) {
        if (cancelled()) {
            end(FinishReason::Cancelled);
            break;
        }
        const auto chunk = prompt.subspan(at, std::min(kPromptChunk, prompt.size() - at));
        logits = session_.ctx_.eval(chunk, session_.seq_);
        prompt_evaluated(chunk);
    }
    prompt_done();
    return logits;
}

int64_t GenerationLoop::room() const {
    const int64_t ctx_room = max_length_ - static_cast<int64_t>(session_.cached_.size());
    if (options_.max_tokens < 0) return ctx_room;
    return std::min(ctx_room, options_.max_tokens - result_.completion_tokens);
}

void GenerationLoop::emit(std::string_view text) {
    if (text.empty() || finish_) return;
    const std::string out = stops_.feed(text);
    if (!out.empty()) {
        result_.text += out;
        if (on_text_ && !on_text_(out)) end(FinishReason::Cancelled);
    }
    if (stops_.matched()) {
        result_.stop_string = stops_.matched_string();
        end(FinishReason::Stop);
    }
}

void GenerationLoop::end(FinishReason reason) {
    if (!finish_) finish_ = reason;
}

bool GenerationLoop::take(TokenId token, std::span<const float> logits) {
    if (finish_) return false;
    if (options_.top_logprobs >= 0)
        result_.logprobs.push_back(token_logprob(logits, token, options_.top_logprobs));
    sampler_.accept(token);
    if (tok_.is_eog(token) && !options_.ignore_eos) {
        result_.logprobs.resize(std::min(result_.logprobs.size(), result_.tokens.size()));
        end(FinishReason::Eos);
        return false;
    }
    result_.tokens.push_back(token);
    ++result_.completion_tokens;
    emit(decoder_.feed(token));
    if (finish_) return false;
    if (cancelled()) {
        end(FinishReason::Cancelled);
        return false;
    }
    // The token is generated; the next one needs it evaluated, and room for itself.
    if (room() <= 0) {
        end(FinishReason::Length);
        return false;
    }
    return true;
}

std::span<const float> GenerationLoop::evaluate_one(TokenId token) {
    std::span<const float> logits =
        session_.ctx_.eval(std::span<const TokenId>(&token, 1), session_.seq_);
    token_evaluated(token);
    return logits;
}

void GenerationLoop::token_evaluated(TokenId token) {
    session_.cached_.push_back(token);
}

GenerateResult GenerationLoop::finish() {
    // Bytes of an unfinished character and a held-back partial stop string end the output.
    emit(decoder_.flush());
    if (!finish_ || *finish_ != FinishReason::Stop) {
        const std::string rest = stops_.flush();
        if (!rest.empty()) {
            result_.text += rest;
            if (on_text_) on_text_(rest);
        }
    }
    result_.finish = finish_.value_or(FinishReason::Length);
    result_.generate_ms = ms_between(started_, Clock::now());
    session_.cancel_.store(false, std::memory_order_relaxed);
    return std::move(result_);
}

Session::Session(model::Context& ctx, model::SeqId seq) : ctx_(ctx), seq_(seq) {
    if (ctx.kv().length(seq) != 0)
        fail("session: sequence ", seq, " already holds ", ctx.kv().length(seq),
             " positions of unknown tokens; clear it first");
}

Session::Session(const Session& source, model::SeqId seq)
    : ctx_(source.ctx_), seq_(seq), cached_(source.cached_) {
    if (seq == source.seq_) fail("session: a fork needs a sequence of its own, not ", seq);
    ctx_.kv().fork(source.seq_, seq);
}

void Session::reset() {
    ctx_.kv().clear(seq_);
    cached_.clear();
}

GenerateResult Session::generate(std::span<const TokenId> prompt, const GenerateOptions& options,
                                 const TextCallback& on_text) {
    cancel_.store(false, std::memory_order_relaxed);
    GenerationLoop loop(*this, options, on_text);
    std::span<const float> logits = loop.evaluate_prompt(prompt);
    if (loop.stopped()) return loop.finish();
    if (loop.room() <= 0) return loop.finish();  // max_tokens == 0
    if (options.speculative.enabled()) {
        run_speculative(loop, options.speculative, logits);
        return loop.finish();
    }
    for (;;) {
        const TokenId next = loop.sample(logits);
        if (!loop.take(next, logits)) break;
        logits = loop.evaluate_one(next);
    }
    return loop.finish();
}

GenerateResult Session::generate(std::string_view prompt, const GenerateOptions& options,
                                 const TextCallback& on_text, bool parse_special) {
    const std::vector<TokenId> ids =
        ctx_.model().tokenizer().encode(prompt, /*add_special=*/true, parse_special);
    if (ids.empty())
        fail(
            "generate: the prompt is empty and the model adds no BOS token: nothing to start from");
    return generate(std::span<const TokenId>(ids), options, on_text);
}

}  // namespace pocket
