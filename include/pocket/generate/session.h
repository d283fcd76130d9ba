// The one generation loop of libpocket. A Session owns one sequence of a Context and turns a
// prompt (token ids or text) into generated text, streamed piece by piece through a callback.
// The CLI, the server, RAG answers, the router and the C API all generate through it.
//
// What a generation does, in order:
//   1. prefix reuse: the sequence keeps the longest common prefix of what it already holds and
//      the new prompt, and only the rest is evaluated (a chat turn costs its new tokens only);
//   2. a fresh Sampler from the options (constraints cloned from the given prototypes); prompt
//      tokens feed its repetition penalties but never advance a constraint;
//   3. one token at a time: sample, record logprobs if asked, stop at an end-of-generation token
//      (finish "eos"), at a stop string (finish "stop"; the stop string and anything after it is
//      never emitted, also when it spans several tokens), at max_tokens or a full context
//      (finish "length") or when cancelled (finish "cancelled");
//   4. text is emitted as complete UTF-8 only, minus any tail that might still become a stop
//      string.
// Speculative decoding (a draft model or prompt lookup) changes how many tokens are verified per
// forward pass, never which tokens come out under greedy decoding.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/token.h"
#include "pocket/generate/sampling.h"
#include "pocket/generate/speculative.h"
#include "pocket/model/context.h"

namespace pocket {

enum class FinishReason { Stop, Length, Eos, Cancelled };

// The prompt (or a chat's last message) does not fit in the context with room to generate.
class ContextOverflow : public Error {
  public:
    using Error::Error;
};
// "stop", "length", "eos", "cancelled".
std::string_view finish_reason_name(FinishReason reason);

struct TokenAlternative {
    TokenId token = 0;
    float logprob = 0.0f;
};

// The model's log-probability of a generated token (log-softmax of the raw logits, before any
// penalty, bias, constraint or temperature) and the most likely alternatives, best first.
struct TokenLogprob {
    TokenId token = 0;
    float logprob = 0.0f;
    std::vector<TokenAlternative> top;
};

struct GenerateOptions {
    SamplingParams sampling = {};
    // Tokens to generate at most; < 0: until the context is full.
    int64_t max_tokens = -1;
    // Generation ends where the output contains one of these; it and what follows are not
    // emitted. Empty strings are ignored.
    std::vector<std::string> stop;
    // Keep going after end-of-generation tokens (they are masked out instead).
    bool ignore_eos = false;
    // < 0: no logprobs; 0: the chosen token's only; n > 0: with the n best alternatives (<= 20).
    int32_t top_logprobs = -1;
    // Render control tokens in the output as their text ("<|im_end|>") instead of nothing.
    bool render_special = false;
    // Cloned at the start of each generation, so one prototype serves many requests.
    std::vector<std::shared_ptr<const SamplingConstraint>> constraints;
    // Optional speculative decoding (pocket/generate/speculative.h).
    SpeculativeOptions speculative = {};
};

struct GenerateResult {
    std::string text;  // everything emitted, stop string excluded
    FinishReason finish = FinishReason::Length;
    std::string stop_string;  // the stop string that matched (finish == Stop)
    int64_t prompt_tokens = 0;
    int64_t reused_tokens = 0;  // prompt tokens whose KV entries were already in the sequence
    int64_t completion_tokens = 0;
    std::vector<TokenId> tokens;         // the generated tokens (the EOG token excluded)
    std::vector<TokenLogprob> logprobs;  // one per generated token when asked for
    double prompt_ms = 0.0;              // evaluating the prompt (what was not reused)
    double generate_ms = 0.0;            // sampling and evaluating the generated tokens
    uint64_t seed = 0;                   // the seed used (to reproduce a random run)
    SpeculativeStats speculative = {};   // drafted/accepted counts when speculation was on
};

// Receives each piece of text as soon as it is final. Return false to stop (finish "cancelled").
using TextCallback = std::function<bool(std::string_view piece)>;

class Session {
  public:
    // The session owns sequence `seq` of `ctx` (nothing else may change it) and starts from
    // whatever the cache holds for it: nothing, for a new context.
    explicit Session(model::Context& ctx, model::SeqId seq = 0);
    // A fork: a session on sequence `seq` of the same context that starts holding what `source`
    // holds, its KV pages shared copy-on-write (n completions of one prompt evaluate it once).
    // Whatever `seq` held is dropped.
    Session(const Session& source, model::SeqId seq);

    // Generates from a prompt of token ids. Throws pocket::Error when the prompt is empty or
    // does not fit in the context with room for one more token.
    GenerateResult generate(std::span<const TokenId> prompt, const GenerateOptions& options,
                            const TextCallback& on_text = {});
    // Tokenizes `prompt` (BOS added as the vocabulary asks; special-token text parsed only with
    // parse_special) and generates.
    GenerateResult generate(std::string_view prompt, const GenerateOptions& options,
                            const TextCallback& on_text = {}, bool parse_special = false);

    // Stops the generation running now, from any thread; it ends with finish "cancelled" after
    // the token in flight. A call while nothing runs has no effect on the next generation.
    void cancel() { cancel_.store(true, std::memory_order_relaxed); }

    // Forgets the sequence (clears its KV entries).
    void reset();
    // The tokens whose keys and values the sequence holds, in order.
    std::span<const TokenId> cached_tokens() const { return cached_; }

    model::Context& context() { return ctx_; }
    const model::Context& context() const { return ctx_; }
    model::SeqId seq() const { return seq_; }

  private:
    friend class GenerationLoop;
    model::Context& ctx_;
    model::SeqId seq_;
    std::vector<TokenId> cached_;
    std::atomic<bool> cancel_{false};
};

}  // namespace pocket
