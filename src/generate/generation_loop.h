// The state of one generation while it runs: the sampler, the output filters (UTF-8 completion,
// stop strings), the accounting and the finish reason. Session::generate drives it one token at
// a time; the speculative path drives it several tokens per target pass. Internal to
// src/generate.
#pragma once

#include <chrono>
#include <optional>
#include <span>

#include "generate/stop_strings.h"
#include "pocket/generate/session.h"
#include "pocket/tokenizer/stream_decoder.h"

namespace pocket {

class GenerationLoop {
  public:
    // max_length: positions the sequence may hold (prompt and generated tokens); 0 = the
    // context's n_ctx. A batch scheduler gives each of its sequences a share of the context.
    GenerationLoop(Session& session, const GenerateOptions& options, const TextCallback& on_text,
                   int64_t max_length = 0);

    // Brings the sequence to hold `prompt` (reusing the common prefix) and returns the logits of
    // its last token.
    std::span<const float> evaluate_prompt(std::span<const TokenId> prompt);

    // The same in steps, for a caller that evaluates batches itself (the batch scheduler):
    // begin_prompt validates the prompt, drops what the sequence holds beyond the common prefix
    // and returns the index of the first prompt token still to evaluate (the last one always is);
    // prompt_evaluated records tokens the caller has evaluated, in order; prompt_done closes the
    // prompt's timing.
    size_t begin_prompt(std::span<const TokenId> prompt);
    void prompt_evaluated(std::span<const TokenId> tokens);
    void prompt_done();

    // Picks the next token from the target's logits (constraints and penalties applied).
    TokenId sample(std::span<const float> logits) { return sampler_.sample(logits); }
    Sampler& sampler() { return sampler_; }

    // Takes a chosen token: records it, emits its text, and says whether generation goes on.
    // When it returns true the token must be evaluated next (evaluate_one or a batch).
    bool take(TokenId token, std::span<const float> logits);
    // Evaluates one taken token and returns its logits.
    std::span<const float> evaluate_one(TokenId token);
    // Records a taken token that the caller evaluated.
    void token_evaluated(TokenId token);
    // Tokens generated so far still allowed before max_tokens or the context's end.
    int64_t room() const;

    GenerateResult finish();
    GenerateResult& result() { return result_; }
    std::vector<TokenId>& cached() { return session_.cached_; }
    model::Context& ctx() { return session_.ctx_; }
    model::SeqId seq() const { return session_.seq_; }
    bool stopped() const { return finish_.has_value(); }
    bool cancelled() const;
    // Ends the generation with `reason` (the first reason given wins).
    void end(FinishReason reason);

  private:
    void emit(std::string_view text);

    Session& session_;
    // Copies: a loop may outlive the caller's temporaries (a default `{}` callback, say).
    const GenerateOptions options_;
    const TextCallback on_text_;
    const tokenizer::Tokenizer& tok_;
    Sampler sampler_;
    tokenizer::StreamDecoder decoder_;
    StopStrings stops_;
    GenerateResult result_;
    std::optional<FinishReason> finish_;
    int64_t max_length_;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace pocket
