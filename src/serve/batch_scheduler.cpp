#include "pocket/serve/batch_scheduler.h"

#include <algorithm>
#include <span>

#include "generate/generation_loop.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::serve {
namespace {

constexpr int32_t kMaxTopLogprobs = 20;

size_t common_prefix(std::span<const TokenId> a, std::span<const TokenId> b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

int64_t default_slot_ctx(const model::Model& model) {
    const int64_t train = model.hparams().n_ctx_train;
    return train > 0 ? std::min<int64_t>(train, 4096) : 4096;
}

}  // namespace

struct BatchScheduler::Request {
    std::vector<TokenId> prompt;
    GenerateOptions options;
    std::shared_ptr<GenerationStream> stream;
};

struct BatchScheduler::Slot {
    enum class Phase { Idle, Waiting, Prompt, Generate };

    model::SeqId seq = 0;
    std::unique_ptr<Session> session;
    Phase phase = Phase::Idle;
    std::unique_ptr<Request> request;
    std::unique_ptr<GenerationLoop> loop;
    uint64_t admitted = 0;        // admission order: prompts are read first come, first served
    uint64_t last_used = 0;       // for evicting the least recently used cache
    size_t next_prompt = 0;       // first prompt token not yet evaluated (Prompt)
    TokenId pending = 0;          // taken token awaiting evaluation (Generate)
    Slot* fork_source = nullptr;  // Waiting: the slot reading the shared prefix
    size_t fork_until = 0;        // Waiting: how much of it to wait for
    StreamEvent out;              // output gathered during this step
    size_t logprobs_sent = 0;
    // This step's batch entries: [batch_first, batch_first + batch_count); output row or -1.
    size_t batch_first = 0;
    size_t batch_count = 0;
    int64_t output = -1;

    std::span<const TokenId> cached() const { return session->cached_tokens(); }
    bool active() const { return phase != Phase::Idle; }
};

BatchScheduler::BatchScheduler(const model::Model& model, const SchedulerOptions& options)
    : model_(model),
      options_(options),
      slot_ctx_(options.slot_ctx > 0 ? options.slot_ctx : default_slot_ctx(model)),
      ctx_(model, model::ContextParams{.n_ctx = slot_ctx_ * std::max<int64_t>(options.n_slots, 1),
                                       .n_batch = std::max<int64_t>(options.n_batch, 1),
                                       .type_k = options.type_k,
                                       .type_v = options.type_v,
                                       .loras = options.loras}) {
    if (options.n_slots < 1) fail("scheduler: n_slots must be at least 1, got ", options.n_slots);
    if (options.n_batch < 1) fail("scheduler: n_batch must be at least 1, got ", options.n_batch);
    for (int32_t i = 0; i < options.n_slots; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->seq = i;
        slot->session = std::make_unique<Session>(ctx_, i);
        slots_.push_back(std::move(slot));
    }
    stats_.slots_total = options.n_slots;
    thread_ = std::thread([this] { run(); });
}

BatchScheduler::~BatchScheduler() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::shared_ptr<GenerationStream> BatchScheduler::submit(std::vector<TokenId> prompt,
                                                         GenerateOptions options) {
    if (prompt.empty()) fail("generate: the prompt is empty");
    const auto n = static_cast<int64_t>(prompt.size());
    if (n >= slot_ctx_) throw ContextLengthExceeded(n, slot_ctx_);
    const size_t n_vocab = model_.tokenizer().n_vocab();
    for (const TokenId t : prompt) {
        if (t < 0 || static_cast<size_t>(t) >= n_vocab)
            fail("generate: token id ", t, " outside a vocabulary of ", n_vocab);
    }
    if (options.top_logprobs > kMaxTopLogprobs)
        fail("generate: top_logprobs is at most ", kMaxTopLogprobs, ", got ", options.top_logprobs);
    for (const auto& c : options.constraints) {
        if (!c) fail("generate: a null constraint");
    }
    options.speculative = {};

    auto request = std::make_unique<Request>();
    request->prompt = std::move(prompt);
    request->options = std::move(options);
    request->stream = std::make_shared<GenerationStream>();
    auto stream = request->stream;
    {
        std::lock_guard lock(mutex_);
        if (stop_) fail("scheduler: shutting down");
        // Queued requests that free slots will take at the scheduler's next step are not waiting:
        // only the rest count against max_queue, so a burst that arrives before the scheduler
        // thread wakes is admitted as if its requests had come one by one. (busy_ is raised
        // under this lock when a request leaves the queue, so none is counted twice or missed.)
        const size_t free_slots =
            slots_.size() - static_cast<size_t>(busy_.load(std::memory_order_relaxed));
        if (queue_.size() >= options_.max_queue + free_slots)
            throw QueueFull(
                cat("scheduler: ", queue_.size() - free_slots, " requests are already waiting"));
        queue_.push_back(std::move(request));
        stats_.queue_depth = queue_.size();
    }
    wake_.notify_all();
    return stream;
}

void BatchScheduler::cancel_all() {
    {
        std::lock_guard lock(mutex_);
        cancel_all_ = true;
    }
    wake_.notify_all();
}

SchedulerStats BatchScheduler::stats() const {
    std::lock_guard lock(mutex_);
    SchedulerStats s = stats_;
    s.slots_busy = busy_.load(std::memory_order_relaxed);
    return s;
}

bool BatchScheduler::idle() const {
    std::lock_guard lock(mutex_);
    return queue_.empty() && busy_.load(std::memory_order_relaxed) == 0;
}

void BatchScheduler::run() {
    for (;;) {
        const bool any_active =
            std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->active(); });
        {
            std::unique_lock lock(mutex_);
            // Sleeps (no CPU) until there is work: an idle server costs nothing.
            if (!any_active) wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) break;
            if (std::exchange(cancel_all_, false)) {
                for (auto& r : queue_) r->stream->cancel();
                for (auto& slot : slots_) {
                    if (slot->request) slot->request->stream->cancel();
                }
            }
            admit(lock);
        }
        step();
    }
    // Shutting down: whatever runs or waits ends as cancelled.
    for (auto& slot : slots_) {
        if (slot->active()) {
            slot->request->stream->cancel();
            if (slot->loop) {
                slot->loop->end(FinishReason::Cancelled);
                finish(*slot);
            } else {
                GenerateResult r;
                r.finish = FinishReason::Cancelled;
                slot->request->stream->finish(std::move(r));
            }
        }
    }
    std::lock_guard lock(mutex_);
    for (auto& request : queue_) {
        GenerateResult r;
        r.finish = FinishReason::Cancelled;
        request->stream->finish(std::move(r));
    }
    queue_.clear();
}

// Moves queued requests into idle slots, choosing for each the slot (and fork source) that
// leaves the least of its prompt to evaluate.
void BatchScheduler::admit(std::unique_lock<std::mutex>& lock) {
    // Cancelled requests leave the queue without taking a slot.
    for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->stream->cancelled()) {
            GenerateResult r;
            r.finish = FinishReason::Cancelled;
            (*it)->stream->finish(std::move(r));
            it = queue_.erase(it);
        } else {
            ++it;
        }
    }
    while (!queue_.empty()) {
        std::span<const TokenId> prompt = queue_.front()->prompt;
        Slot* target = nullptr;
        size_t target_common = 0;
        Slot* lru_idle = nullptr;
        Slot* best_any = nullptr;
        size_t best_any_common = 0;
        for (auto& s : slots_) {
            const size_t common = common_prefix(s->cached(), prompt);
            if (common > best_any_common) {
                best_any = s.get();
                best_any_common = common;
            }
            if (s->active()) continue;
            if (!lru_idle || s->last_used < lru_idle->last_used) lru_idle = s.get();
            if (!target || common > target_common ||
                (common == target_common && s->last_used < target->last_used)) {
                target = s.get();
                target_common = common;
            }
        }
        if (!target) break;  // every slot is busy
        Slot* fork_from = nullptr;
        if (best_any_common > target_common) {
            // A busy slot holds more of this prompt: fork it into the least valuable idle cache.
            fork_from = best_any;
            target = lru_idle;
            target_common = best_any_common;
        }
        // A prompt still being read that shares much more is worth waiting for.
        Slot* wait_for = nullptr;
        size_t wait_until = 0;
        for (auto& s : slots_) {
            if (s->phase != Slot::Phase::Prompt) continue;
            const size_t shared = common_prefix(s->request->prompt, prompt);
            const auto gain = static_cast<int64_t>(shared) - static_cast<int64_t>(target_common);
            if (gain >= options_.min_shared_prefix && shared > wait_until) {
                wait_for = s.get();
                wait_until = shared;
            }
        }

        std::unique_ptr<Request> request = std::move(queue_.front());
        queue_.pop_front();
        stats_.queue_depth = queue_.size();
        busy_.fetch_add(1, std::memory_order_relaxed);  // with the pop, under the lock (submit)
        lock.unlock();
        target->request = std::move(request);
        target->admitted = ++clock_;
        try {
            if (fork_from)
                target->session = std::make_unique<Session>(*fork_from->session, target->seq);
            if (wait_for) {
                target->phase = Slot::Phase::Waiting;
                target->fork_source = wait_for;
                target->fork_until = wait_until;
            } else {
                start_prompt(*target);
            }
        } catch (...) {
            fail_slot(*target, std::current_exception());
        }
        lock.lock();
    }
}

void BatchScheduler::start_prompt(Slot& slot) {
    slot.out = {};
    slot.logprobs_sent = 0;
    Slot* self = &slot;
    const auto on_text = [self](std::string_view piece) {
        self->out.text += piece;
        return !self->request->stream->cancelled();
    };
    slot.loop =
        std::make_unique<GenerationLoop>(*slot.session, slot.request->options, on_text, slot_ctx_);
    slot.next_prompt = slot.loop->begin_prompt(slot.request->prompt);
    slot.phase = Slot::Phase::Prompt;
    std::lock_guard lock(mutex_);
    stats_.prompt_tokens += static_cast<int64_t>(slot.request->prompt.size());
    stats_.cached_tokens += static_cast<int64_t>(slot.next_prompt);
}

void BatchScheduler::fail_slot(Slot& slot, std::exception_ptr error) {
    if (slot.request) slot.request->stream->fail(std::move(error));
    slot.request.reset();
    slot.loop.reset();
    // What the sequence holds may not match its token list after a failure: forget both.
    slot.session->reset();
    slot.phase = Slot::Phase::Idle;
    busy_.fetch_sub(1, std::memory_order_relaxed);
}

void BatchScheduler::finish(Slot& slot) {
    GenerateResult result = slot.loop->finish();
    StreamEvent& out = slot.out;
    for (size_t i = slot.logprobs_sent; i < result.logprobs.size(); ++i)
        out.logprobs.push_back(result.logprobs[i]);
    slot.request->stream->push(std::exchange(slot.out, StreamEvent{}));
    {
        std::lock_guard lock(mutex_);
        stats_.generated_tokens += result.completion_tokens;
    }
    slot.request->stream->finish(std::move(result));
    slot.request.reset();
    slot.loop.reset();
    slot.phase = Slot::Phase::Idle;
    slot.fork_source = nullptr;
    slot.last_used = ++clock_;
    busy_.fetch_sub(1, std::memory_order_relaxed);
}

// The logits of the slot's last evaluated token are ready: pick the next token and pass on
// what it produced.
void BatchScheduler::after_logits(Slot& slot, std::span<const float> logits) {
    GenerationLoop& loop = *slot.loop;
    if (slot.request->stream->cancelled()) loop.end(FinishReason::Cancelled);
    if (loop.stopped() || loop.room() <= 0) {
        finish(slot);
        return;
    }
    const int64_t before = loop.result().completion_tokens;
    const TokenId next = loop.sample(logits);
    const bool more = loop.take(next, logits);
    slot.out.tokens += loop.result().completion_tokens - before;
    const auto& lps = loop.result().logprobs;
    for (; slot.logprobs_sent < lps.size(); ++slot.logprobs_sent)
        slot.out.logprobs.push_back(lps[slot.logprobs_sent]);
    if (!more) {
        finish(slot);
        return;
    }
    slot.request->stream->push(std::exchange(slot.out, StreamEvent{}));
    slot.pending = next;
    slot.phase = Slot::Phase::Generate;
}

// Frees cache space for the batch: first the caches of idle slots (least recently used first),
// then by holding prompt chunks back, and as a last resort by ending the longest generation.
bool BatchScheduler::make_room(std::vector<model::BatchEntry>& batch) {
    for (;;) {
        std::vector<std::pair<model::SeqId, int64_t>> targets;
        for (auto& s : slots_) {
            if (s->batch_count == 0) continue;
            targets.emplace_back(s->seq, static_cast<int64_t>(s->cached().size() + s->batch_count));
        }
        if (targets.empty()) return false;
        try {
            ctx_.kv().check_grow(targets);
            return true;
        } catch (const Error&) {
        }
        Slot* victim = nullptr;
        for (auto& s : slots_) {
            if (s->active() || s->cached().empty()) continue;
            if (!victim || s->last_used < victim->last_used) victim = s.get();
        }
        if (victim) {
            victim->session->reset();
            continue;
        }
        // Hold back the prompt chunk that came last.
        Slot* latest = nullptr;
        for (auto& s : slots_) {
            if (s->phase == Slot::Phase::Prompt && s->batch_count > 0 &&
                (!latest || s->admitted > latest->admitted))
                latest = s.get();
        }
        if (!latest) {
            for (auto& s : slots_) {
                if (s->phase == Slot::Phase::Generate &&
                    (!latest || s->cached().size() > latest->cached().size()))
                    latest = s.get();
            }
            if (!latest) return false;
            latest->loop->end(FinishReason::Length);
            finish(*latest);
        }
        // Rebuild without that slot's entries.
        batch.erase(
            batch.begin() + static_cast<std::ptrdiff_t>(latest->batch_first),
            batch.begin() + static_cast<std::ptrdiff_t>(latest->batch_first + latest->batch_count));
        for (auto& s : slots_) {
            if (s->batch_count > 0 && s->batch_first > latest->batch_first)
                s->batch_first -= latest->batch_count;
        }
        latest->batch_count = 0;
        latest->output = -1;
        int64_t row = 0;
        for (auto& s : slots_) s->output = -1;
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!batch[i].logits) continue;
            for (auto& s : slots_) {
                if (s->batch_count > 0 && i == s->batch_first + s->batch_count - 1) s->output = row;
            }
            ++row;
        }
    }
}

bool BatchScheduler::step() {
    // Waiting slots whose shared prefix has been read (or whose source moved on) start reading.
    for (auto& s : slots_) {
        if (s->phase != Slot::Phase::Waiting) continue;
        Slot& source = *s->fork_source;
        const std::span<const TokenId> prompt = s->request->prompt;
        const size_t have = common_prefix(source.cached(), prompt);
        const bool source_reading = source.phase == Slot::Phase::Prompt && source.request &&
                                    common_prefix(source.request->prompt, prompt) >= s->fork_until;
        if (s->request->stream->cancelled() || have >= s->fork_until || !source_reading) {
            try {
                if (have > common_prefix(s->cached(), prompt))
                    s->session = std::make_unique<Session>(*source.session, s->seq);
                start_prompt(*s);
            } catch (...) {
                fail_slot(*s, std::current_exception());
            }
        }
    }

    std::vector<model::BatchEntry> batch;
    int64_t row = 0;
    for (auto& s : slots_) {
        s->batch_count = 0;
        s->output = -1;
        if (s->phase == Slot::Phase::Prompt && s->request->stream->cancelled()) {
            s->loop->end(FinishReason::Cancelled);
            finish(*s);
            continue;
        }
        if (s->phase != Slot::Phase::Generate) continue;
        s->batch_first = batch.size();
        s->batch_count = 1;
        s->output = row++;
        batch.push_back({s->pending, static_cast<int64_t>(s->cached().size()), s->seq, true});
    }
    // Prompt chunks fill the rest of the batch, first come first served.
    std::vector<Slot*> reading;
    for (auto& s : slots_) {
        if (s->phase == Slot::Phase::Prompt) reading.push_back(s.get());
    }
    std::sort(reading.begin(), reading.end(),
              [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
    for (Slot* s : reading) {
        const auto budget = static_cast<size_t>(options_.n_batch) - batch.size();
        if (budget == 0) break;
        const std::span<const TokenId> prompt = s->request->prompt;
        const size_t n = std::min(budget, prompt.size() - s->next_prompt);
        const bool last = s->next_prompt + n == prompt.size();
        s->batch_first = batch.size();
        s->batch_count = n;
        const auto pos0 = static_cast<int64_t>(s->cached().size());
        for (size_t i = 0; i < n; ++i) {
            const bool out = last && i + 1 == n;
            batch.push_back(
                {prompt[s->next_prompt + i], pos0 + static_cast<int64_t>(i), s->seq, out});
        }
        if (last) s->output = row++;
    }
    if (batch.empty() || !make_room(batch)) return false;

    try {
        ctx_.decode(batch);
    } catch (...) {
        // The cache is unchanged; the requests in this batch cannot go on.
        const auto error = std::current_exception();
        for (auto& s : slots_) {
            if (s->batch_count > 0) fail_slot(*s, error);
        }
        return true;
    }
    {
        std::lock_guard lock(mutex_);
        ++stats_.steps;
    }

    for (auto& s : slots_) {
        if (s->batch_count == 0) continue;
        try {
            if (s->phase == Slot::Phase::Generate) {
                s->loop->token_evaluated(s->pending);
                after_logits(*s, ctx_.logits(static_cast<size_t>(s->output)));
                continue;
            }
            const std::span<const TokenId> chunk = std::span<const TokenId>(s->request->prompt)
                                                       .subspan(s->next_prompt, s->batch_count);
            s->loop->prompt_evaluated(chunk);
            s->next_prompt += s->batch_count;
            {
                std::lock_guard lock(mutex_);
                stats_.evaluated_tokens += static_cast<int64_t>(chunk.size());
            }
            if (s->output >= 0) {
                s->loop->prompt_done();
                after_logits(*s, ctx_.logits(static_cast<size_t>(s->output)));
            }
        } catch (...) {
            fail_slot(*s, std::current_exception());
        }
    }
    return true;
}

}  // namespace pocket::serve
