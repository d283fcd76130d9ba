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
    GenerationLoop(Session& session, const GenerateOptions& options, const TextCallback& on_text);

    // Brings the sequence to hold `prompt` (reusing the common prefix) and returns the logits of
    // its last token.
    std::span<const float> evaluate_prompt(std::span<const TokenId> prompt);

    // Picks the next token from the target's logits (constraints and penalties applied).
    TokenId sample(std::span<const float> logits) { return sampler_.sample(logits); }
    Sampler& sampler() { return sampler_; }

    // Takes a chosen token: records it, emits its text, and says whether generation goes on.
    // When it returns true the token must be evaluated next (evaluate_one or a batch).
    bool take(TokenId token, std::span<const float> logits);
    // Evaluates one taken token and returns its logits.
    std::span<const float> evaluate_one(TokenId token);
    // Tokens generated so far still allowed before max_tokens or the context's end.
    int64_t room() const;

    GenerateResult finish();
    GenerateResult& result() { return result_; }
    std::vector<TokenId>& cached() { return session_.cached_; }
    model::Context& ctx() { return session_.ctx_; }
    model::SeqId seq() const { return session_.seq_; }
    bool stopped() const { return finish_.has_value(); }
    bool cancelled() const;

  private:
    void emit(std::string_view text);
    void end(FinishReason reason);

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
    std::chrono::steady_clock::time_point started_;
};

}  // namespace pocket
