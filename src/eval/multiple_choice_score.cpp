// Batched log-likelihood scoring of prepared multiple-choice questions.
//
// One pass per group of questions, in two decode() calls: first every question's shared prefix
// on its own sequence, then, after forking that sequence once per candidate (pages shared
// copy-on-write), every candidate's remaining tokens. A question's prefix is thus evaluated
// once, and logits are requested only at positions that predict a scored token.
#include <algorithm>
#include <cmath>

#include "pocket/eval/multiple_choice.h"
#include "pocket/model/context.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket::eval {
namespace {

// log(sum(exp(logits))), accumulated in double like llama.cpp's log_softmax.
double log_sum_exp(std::span<const float> logits) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - max));
    return max + std::log(sum);
}

// Positions whose logits the candidate reads: p predicts token p + 1.
size_t first_read(const Candidate& c) {
    return c.score_begin - 1;
}
size_t end_read(const Candidate& c) {
    return c.score_end - 1;
}
// Tokens the candidate feeds beyond the shared prefix: up to the last position it reads.
size_t fed_after_prefix(const Candidate& c, size_t shared) {
    return end_read(c) > shared ? end_read(c) - shared : 0;
}

// What a question takes from the cache: positions (the prefix, each candidate's own tokens, and
// the copy of the prefix's partly filled last page a fork makes when it first writes) and pages
// (the cache hands out whole pages per sequence, so many short candidates run out of pages
// before they run out of positions).
struct Footprint {
    int64_t positions = 0;
    int64_t pages = 0;
};

Footprint footprint(const PreparedQuestion& q, int64_t page_tokens) {
    const auto shared = static_cast<int64_t>(q.shared);
    Footprint f{shared, (shared + page_tokens - 1) / page_tokens};
    for (const auto& c : q.candidates) {
        const auto own = static_cast<int64_t>(fed_after_prefix(c, q.shared));
        if (own == 0) continue;
        f.positions += own + shared % page_tokens;
        f.pages += (shared + own + page_tokens - 1) / page_tokens - shared / page_tokens;
    }
    return f;
}

struct Accumulator {
    std::vector<double> sum;
    std::vector<size_t> count;
};

}  // namespace

double EvalResult::accuracy() const {
    return questions.empty() ? 0.0 : static_cast<double>(n_correct) / questions.size();
}

double EvalResult::standard_error() const {
    if (questions.size() < 2) return 0.0;
    const double p = accuracy();
    return std::sqrt(p * (1 - p) / static_cast<double>(questions.size() - 1));
}

std::pair<double, double> EvalResult::wilson95() const {
    if (questions.empty()) return {0.0, 1.0};
    const double n = static_cast<double>(questions.size());
    const double p = accuracy();
    const double z = 1.95996398454;
    const double z2n = z * z / n;
    const double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    return {(p + z2n / 2 - half) / (1 + z2n), (p + z2n / 2 + half) / (1 + z2n)};
}

EvalResult evaluate(model::Context& ctx, Task task, std::span<const Question> questions,
                    const EvalOptions& options) {
    std::vector<PreparedQuestion> prepared;
    prepared.reserve(questions.size());
    for (const auto& q : questions) {
        prepared.push_back(prepare_question(task, q, ctx.model().tokenizer()));
    }
    return evaluate_prepared(ctx, task, prepared, options);
}

EvalResult evaluate_prepared(model::Context& ctx, Task task,
                             std::span<const PreparedQuestion> questions,
                             const EvalOptions& options) {
    EvalResult result;
    result.task = task;
    const int64_t page_tokens = ctx.kv().params().page_tokens;
    const int max_seqs = std::max(options.max_sequences, 1);
    std::vector<model::BatchEntry> batch;
    std::vector<double> lse;  // log-sum-exp of each output row of the last decode

    size_t next = 0;
    while (next < questions.size()) {
        // Group as many questions as the context (and the sequence budget) holds.
        const size_t first = next;
        ctx.kv().clear_all();
        const int64_t free_pages = ctx.kv().free_pages();
        Footprint used;
        int seqs = 0;
        while (next < questions.size()) {
            const PreparedQuestion& q = questions[next];
            const Footprint need = footprint(q, page_tokens);
            if (need.positions > ctx.n_ctx() || need.pages > free_pages) {
                fail("question ", next + 1, " needs ", need.positions,
                     " positions in the cache but the context holds ", ctx.n_ctx(),
                     " (raise the context size)");
            }
            const int n_cand = static_cast<int>(q.candidates.size());
            if (next > first &&
                (used.positions + need.positions > ctx.n_ctx() ||
                 used.pages + need.pages > free_pages || seqs + n_cand > max_seqs)) {
                break;
            }
            used.positions += need.positions;
            used.pages += need.pages;
            seqs += n_cand;
            ++next;
        }
        const auto group = questions.subspan(first, next - first);
        std::vector<Accumulator> acc(group.size());
        std::vector<model::SeqId> base(group.size());
        {
            model::SeqId s = 0;
            for (size_t g = 0; g < group.size(); ++g) {
                base[g] = s;
                s += static_cast<model::SeqId>(group[g].candidates.size());
                acc[g].sum.assign(group[g].candidates.size(), 0.0);
                acc[g].count.assign(group[g].candidates.size(), 0);
            }
        }

        // Pass 1: shared prefixes, logits where any candidate reads inside the prefix.
        batch.clear();
        std::vector<std::vector<int64_t>> prefix_out(group.size());
        int64_t n_out = 0;
        for (size_t g = 0; g < group.size(); ++g) {
            const PreparedQuestion& q = group[g];
            prefix_out[g].assign(q.shared, -1);
            for (const auto& c : q.candidates) {
                for (size_t p = first_read(c); p < std::min(end_read(c), q.shared); ++p) {
                    prefix_out[g][p] = 0;
                }
            }
            for (size_t p = 0; p < q.shared; ++p) {
                const bool out = prefix_out[g][p] == 0;
                if (out) prefix_out[g][p] = n_out++;
                batch.push_back({.token = q.candidates[0].tokens[p],
                                 .pos = static_cast<int64_t>(p),
                                 .seq = base[g],
                                 .logits = out});
            }
        }
        ctx.decode(batch);
        lse.assign(static_cast<size_t>(n_out), 0.0);
        for (int64_t i = 0; i < n_out; ++i) lse[i] = log_sum_exp(ctx.logits(i));
        for (size_t g = 0; g < group.size(); ++g) {
            const PreparedQuestion& q = group[g];
            for (size_t k = 0; k < q.candidates.size(); ++k) {
                const Candidate& c = q.candidates[k];
                for (size_t p = first_read(c); p < std::min(end_read(c), q.shared); ++p) {
                    const auto row = static_cast<size_t>(prefix_out[g][p]);
                    acc[g].sum[k] += ctx.logits(row)[c.tokens[p + 1]] - lse[row];
                    ++acc[g].count[k];
                }
            }
        }

        // Pass 2: fork each prefix per candidate and feed the candidates' own tokens.
        batch.clear();
        struct Read {
            size_t g, k, p;
        };
        std::vector<Read> reads;
        for (size_t g = 0; g < group.size(); ++g) {
            const PreparedQuestion& q = group[g];
            for (size_t k = 0; k < q.candidates.size(); ++k) {
                const Candidate& c = q.candidates[k];
                if (fed_after_prefix(c, q.shared) == 0) continue;
                const model::SeqId seq = base[g] + static_cast<model::SeqId>(k);
                if (k > 0) ctx.kv().fork(base[g], seq);
                for (size_t p = q.shared; p < end_read(c); ++p) {
                    const bool out = p >= first_read(c);
                    if (out) reads.push_back({g, k, p});
                    batch.push_back({.token = c.tokens[p],
                                     .pos = static_cast<int64_t>(p),
                                     .seq = seq,
                                     .logits = out});
                }
            }
        }
        // All forks are made above, before candidate 0 appends to the base sequence itself.
        if (!batch.empty()) {
            ctx.decode(batch);
            for (size_t i = 0; i < reads.size(); ++i) {
                const Read& r = reads[i];
                const Candidate& c = group[r.g].candidates[r.k];
                const auto logits = ctx.logits(i);
                acc[r.g].sum[r.k] += logits[c.tokens[r.p + 1]] - log_sum_exp(logits);
                ++acc[r.g].count[r.k];
            }
        }

        for (size_t g = 0; g < group.size(); ++g) {
            const PreparedQuestion& q = group[g];
            QuestionResult r;
            r.index = first + g;
            r.answer = q.answer;
            for (size_t k = 0; k < q.candidates.size(); ++k) {
                r.scores.push_back(acc[g].sum[k] / static_cast<double>(acc[g].count[k]));
            }
            // Strictly greater: ties go to the earlier candidate, as in llama.cpp.
            for (size_t k = 1; k < r.scores.size(); ++k) {
                if (r.scores[k] > r.scores[r.predicted]) r.predicted = k;
            }
            r.correct = r.predicted == r.answer;
            result.n_correct += r.correct ? 1 : 0;
            result.questions.push_back(std::move(r));
            if (options.progress &&
                !options.progress(result.questions.back(), result.questions.size(),
                                  questions.size(), result.accuracy())) {
                ctx.kv().clear_all();
                return result;
            }
        }
    }
    ctx.kv().clear_all();
    return result;
}

}  // namespace pocket::eval
