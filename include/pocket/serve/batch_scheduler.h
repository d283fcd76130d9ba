// Continuous batching: many generations share one model and one context.
//
// A BatchScheduler owns a Context with `n_slots` sequences and one thread. Requests (prompt token
// ids plus GenerateOptions) wait in a bounded queue until a slot is free; each step of the thread
// evaluates ONE batch that mixes the next token of every generating slot with chunks of the
// prompts being read, so a new request joins at the next step and a long prompt never stalls the
// others' generation for more than one chunk.
//
// Prompt cache: a slot keeps what it evaluated after its request ends. A new request goes to the
// idle slot holding the longest common prefix with its prompt, and when another slot (busy or
// not) holds a longer one, the new slot forks it (KV pages shared copy-on-write), so a system
// prompt or the earlier turns of a conversation are evaluated once. A request whose prompt shares
// a long prefix with one that is still being read waits for that reading to pass the shared part
// and then forks it, so sixteen clients that arrive together with one long system prompt
// evaluate it once, not sixteen times.
//
// Output goes through a GenerationStream per request, which the caller reads from its own
// thread (an HTTP handler) at its own pace; the scheduler never blocks on a reader. Cancelling a
// stream (a client that went away) frees its slot at the next step.
//
// Every generation is exactly what Session::generate produces for the same prompt and options
// when served alone (greedy decoding; sampling draws from the request's own seeded generator),
// up to floating-point differences between batch shapes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/session.h"
#include "pocket/model/context.h"

namespace pocket::serve {

struct SchedulerOptions {
    int32_t n_slots = 4;  // generations that run at once
    // Positions one sequence may hold (prompt and generated tokens); 0: the model's training
    // context, at most 4096. The context holds n_slots * slot_ctx positions; KV pages are
    // touched only as sequences grow, so memory follows use.
    int64_t slot_ctx = 0;
    int64_t n_batch = 512;  // tokens evaluated per step at most
    size_t max_queue = 64;  // requests waiting for a slot; beyond that submit() throws QueueFull
    // Forking a prefix that another request is still reading is worth a wait when at least this
    // many tokens are shared.
    int64_t min_shared_prefix = 32;
    // How the context's KV cache stores keys and values (model::ContextParams::type_k/type_v).
    DType type_k = DType::F16;
    DType type_v = DType::F16;
    // LoRA adapters every generation of this model applies (model::ContextParams::loras).
    std::vector<model::AppliedLora> loras{};
};

// The queue is full; try again later (HTTP 503 with Retry-After).
class QueueFull : public Error {
  public:
    using Error::Error;
};

// The prompt does not fit in a slot with room for one generated token.
class ContextLengthExceeded : public Error {
  public:
    ContextLengthExceeded(int64_t prompt_tokens, int64_t slot_ctx);
    int64_t prompt_tokens() const { return prompt_tokens_; }
    int64_t slot_ctx() const { return slot_ctx_; }

  private:
    int64_t prompt_tokens_;
    int64_t slot_ctx_;
};

// What one request produced since the last read.
struct StreamEvent {
    std::string text;
    std::vector<TokenLogprob> logprobs;  // of the tokens generated since the last event
    int64_t tokens = 0;                  // tokens generated since the last event
};

// One request's output channel: the scheduler writes, one reader reads. Thread-safe.
class GenerationStream {
  public:
    using Clock = std::chrono::steady_clock;

    // Waits until there is output or the generation ended; nullopt once everything has been
    // read and it ended (then result() holds the outcome). With a timeout, an empty event means
    // nothing happened in time.
    std::optional<StreamEvent> next();
    std::optional<StreamEvent> next_for(std::chrono::milliseconds timeout);
    // Waits for the end and returns the outcome; rethrows what failed the generation.
    const GenerateResult& wait();
    // The outcome, once next() returned nullopt or wait() returned.
    const GenerateResult& result() const;

    // Ends the generation at the next step (finish "cancelled") or drops it from the queue.
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
    bool done() const;

    Clock::time_point submitted() const { return submitted_; }
    // When the first generated token was produced (nullopt before that).
    std::optional<Clock::time_point> first_token_time() const;

  private:
    friend class BatchScheduler;
    void push(StreamEvent event);
    void finish(GenerateResult result);
    void fail(std::exception_ptr error);

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    StreamEvent pending_;
    bool has_pending_ = false;
    bool done_ = false;
    GenerateResult result_;
    std::exception_ptr error_;
    std::atomic<bool> cancelled_{false};
    Clock::time_point submitted_ = Clock::now();
    std::optional<Clock::time_point> first_token_;
};

struct SchedulerStats {
    int32_t slots_total = 0;
    int32_t slots_busy = 0;
    size_t queue_depth = 0;
    int64_t prompt_tokens = 0;     // prompt tokens of all requests
    int64_t cached_tokens = 0;     // of those, taken from the prompt cache
    int64_t evaluated_tokens = 0;  // prompt tokens actually evaluated
    int64_t generated_tokens = 0;
    int64_t steps = 0;  // batches evaluated
};

class BatchScheduler {
  public:
    BatchScheduler(const model::Model& model, const SchedulerOptions& options = {});
    ~BatchScheduler();  // cancels everything and joins the thread
    BatchScheduler(const BatchScheduler&) = delete;
    BatchScheduler& operator=(const BatchScheduler&) = delete;

    // Queues a generation. Throws ContextLengthExceeded, QueueFull, or pocket::Error for a bad
    // request (empty prompt, token ids outside the vocabulary, bad options); never blocks on
    // the generation itself. Speculative options are ignored (batching is the faster path).
    std::shared_ptr<GenerationStream> submit(std::vector<TokenId> prompt, GenerateOptions options);

    // Ends every running and queued generation (finish "cancelled") at the next step; later
    // submissions run as usual.
    void cancel_all();

    SchedulerStats stats() const;
    int64_t slot_ctx() const { return slot_ctx_; }
    int32_t n_slots() const { return options_.n_slots; }
    const model::Model& model() const { return model_; }
    // True while nothing is queued or running.
    bool idle() const;

  private:
    struct Request;
    struct Slot;
    void run();
    bool step();  // one batch; false when there was nothing to do
    void admit(std::unique_lock<std::mutex>& lock);
    void start(Slot& slot, std::unique_ptr<Request> request);
    void start_prompt(Slot& slot);
    void after_logits(Slot& slot, std::span<const float> logits);
    void finish(Slot& slot);
    void fail_slot(Slot& slot, std::exception_ptr error);
    bool make_room(std::vector<model::BatchEntry>& batch);

    const model::Model& model_;
    SchedulerOptions options_;
    int64_t slot_ctx_;
    model::Context ctx_;
    std::vector<std::unique_ptr<Slot>> slots_;
    uint64_t clock_ = 0;  // orders admissions and slot use (the thread's own)

    mutable std::mutex mutex_;  // guards queue_, stop_, stats_ (the slots belong to the thread)
    std::condition_variable wake_;
    std::deque<std::unique_ptr<Request>> queue_;
    bool stop_ = false;
    bool cancel_all_ = false;
    SchedulerStats stats_;
    std::atomic<int32_t> busy_{0};
    std::thread thread_;
};

}  // namespace pocket::serve
