#include "pocket/serve/batch_scheduler.h"

namespace pocket::serve {

ContextLengthExceeded::ContextLengthExceeded(int64_t prompt_tokens, int64_t slot_ctx)
    : Error(cat("the prompt has ", prompt_tokens, " tokens but the context holds ", slot_ctx,
                " (one more is needed to generate anything)")),
      prompt_tokens_(prompt_tokens),
      slot_ctx_(slot_ctx) {}

void GenerationStream::push(StreamEvent event) {
    if (event.text.empty() && event.logprobs.empty() && event.tokens == 0) return;
    {
        std::lock_guard lock(mutex_);
        if (event.tokens > 0 && !first_token_) first_token_ = Clock::now();
        pending_.text += event.text;
        pending_.tokens += event.tokens;
        for (auto& lp : event.logprobs) pending_.logprobs.push_back(std::move(lp));
        has_pending_ = true;
    }
    changed_.notify_all();
}

void GenerationStream::finish(GenerateResult result) {
    {
        std::lock_guard lock(mutex_);
        result_ = std::move(result);
        done_ = true;
    }
    changed_.notify_all();
}

void GenerationStream::fail(std::exception_ptr error) {
    {
        std::lock_guard lock(mutex_);
        error_ = std::move(error);
        done_ = true;
    }
    changed_.notify_all();
}

std::optional<StreamEvent> GenerationStream::next() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return has_pending_ || done_; });
    if (has_pending_) {
        has_pending_ = false;
        return std::exchange(pending_, StreamEvent{});
    }
    return std::nullopt;
}

std::optional<StreamEvent> GenerationStream::next_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return has_pending_ || done_; }))
        return StreamEvent{};
    if (has_pending_) {
        has_pending_ = false;
        return std::exchange(pending_, StreamEvent{});
    }
    return std::nullopt;
}

const GenerateResult& GenerationStream::wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
    return result_;
}

const GenerateResult& GenerationStream::result() const {
    std::lock_guard lock(mutex_);
    if (!done_) pocket::fail("generation stream: result() before the generation ended");
    if (error_) std::rethrow_exception(error_);
    return result_;
}

bool GenerationStream::done() const {
    std::lock_guard lock(mutex_);
    return done_;
}

std::optional<GenerationStream::Clock::time_point> GenerationStream::first_token_time() const {
    std::lock_guard lock(mutex_);
    return first_token_;
}

}  // namespace pocket::serve
