#include "generate/speculative_loop.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "generate/draft.h"
#include "generate/draft_lookup.h"
#include "generate/draft_model.h"
#include "pocket/core/error.h"
#include "pocket/core/rng.h"

namespace pocket {
namespace {

void validate(const SpeculativeOptions& o) {
    if (o.max_draft < 0) fail("speculative: max_draft must be >= 0, got ", o.max_draft);
    if (o.prompt_lookup && (o.ngram_min < 1 || o.ngram_max < o.ngram_min)) {
        fail("speculative: prompt lookup needs 1 <= ngram_min <= ngram_max, got ", o.ngram_min,
             " and ", o.ngram_max);
    }
}

float prob_of(std::span<const Candidate> distribution, TokenId id) {
    for (const Candidate& c : distribution) {
        if (c.id == id) return c.prob;
    }
    return 0.0f;
}

// The replacement for a rejected draft: a draw from max(0, p - q), renormalised. Together with
// the acceptance probability min(1, p/q) this makes the token distributed exactly as p.
TokenId draw_residual(Sampler& sampler, std::span<const Candidate> p, const Draft& draft, size_t i,
                      size_t n_vocab, std::vector<float>& dense_q,
                      std::vector<Candidate>& residual) {
    residual.clear();
    if (draft.q[i].empty()) {
        // One-hot q (prompt lookup): p without the proposed token.
        for (const Candidate& c : p) {
            if (c.id != draft.tokens[i] && c.prob > 0.0f) residual.push_back(c);
        }
    } else {
        dense_q.assign(n_vocab, 0.0f);
        for (const Candidate& c : draft.q[i]) dense_q[static_cast<size_t>(c.id)] = c.prob;
        for (Candidate c : p) {
            c.prob -= dense_q[static_cast<size_t>(c.id)];
            if (c.prob > 0.0f) residual.push_back(c);
        }
    }
    // p == q up to rounding leaves nothing: a rejection had (almost) no chance, p is as good.
    if (residual.empty()) return sampler.draw(p);
    return sampler.draw(residual);
}

}  // namespace

void run_speculative(GenerationLoop& loop, const SpeculativeOptions& options,
                     std::span<const float> logits, AcceptanceRule rule) {
    validate(options);
    model::Context& ctx = loop.ctx();
    const size_t n_vocab = ctx.model().tokenizer().n_vocab();
    std::optional<DraftModel> draft_model;
    if (options.draft) draft_model.emplace(*options.draft, ctx.model().tokenizer());
    SpeculativeStats& stats = loop.result().speculative;
    Sampler& sampler = loop.sampler();

    // The first token comes from the prompt's logits as usual. From then on each step evaluates
    // the pending token (taken, not yet evaluated) together with the drafts that follow it.
    TokenId pending = loop.sample(logits);
    if (!loop.take(pending, logits)) return;

    // The draft draws from its own generator: sharing the target's draws would correlate the
    // guesses with the acceptance tests and bias the output.
    Rng draft_rng(sampler.seed() ^ 0x5bd1e9955bd1e995ULL);
    Draft draft;
    std::vector<TokenId> sequence;
    std::vector<model::BatchEntry> batch;
    std::vector<float> dense_q;
    std::vector<Candidate> residual;
    for (;;) {
        std::vector<TokenId>& cached = loop.cached();
        const auto n = static_cast<int64_t>(cached.size());
        // Drafts sit at positions n + 1 ...; more than the tokens still allowed is wasted work.
        const int64_t limit =
            std::min({static_cast<int64_t>(options.max_draft), loop.room(), ctx.n_ctx() - n - 1});
        draft.clear();
        if (limit > 0) {
            sequence.assign(cached.begin(), cached.end());
            sequence.push_back(pending);
            if (draft_model) {
                Sampler fork = sampler;
                fork.reseed(draft_rng.next_u64());
                draft_model->propose(sequence, std::move(fork), static_cast<size_t>(limit), draft);
            }
            if (draft.tokens.empty() && options.prompt_lookup) {
                draft.tokens = lookup_draft(sequence, options.ngram_min, options.ngram_max,
                                            static_cast<size_t>(limit));
                draft.q.assign(draft.tokens.size(), {});
            }
        }
        const size_t k = draft.tokens.size();

        // One target pass over the pending token and the drafts, logits for every entry.
        batch.clear();
        batch.push_back({pending, n, loop.seq(), true});
        for (size_t i = 0; i < k; ++i)
            batch.push_back({draft.tokens[i], n + 1 + static_cast<int64_t>(i), loop.seq(), true});
        ctx.decode(batch);
        if (k > 0) {
            ++stats.steps;
            stats.drafted += static_cast<int64_t>(k);
        }

        // Entry i's logits verify draft i; the entry after the last accepted draft gives the
        // replacement (on a rejection) or a bonus token (all accepted).
        size_t accepted = 0;
        bool going = true;
        TokenId next = 0;
        std::span<const float> row;
        for (;;) {
            row = ctx.logits(accepted);
            const std::span<const Candidate> p = sampler.distribution(row);
            if (accepted == k) {
                next = sampler.draw(p);
                break;
            }
            const TokenId guess = draft.tokens[accepted];
            const float q = draft.q_of(accepted, guess);
            const double u = sampler.uniform01();
            const bool keep = rule == AcceptanceRule::AlwaysAccept ||
                              u * static_cast<double>(q) < static_cast<double>(prob_of(p, guess));
            if (!keep) {
                next = rule == AcceptanceRule::ResampleTarget
                           ? sampler.draw(p)
                           : draw_residual(sampler, p, draft, accepted, n_vocab, dense_q, residual);
                break;
            }
            ++stats.accepted;
            if (!loop.take(guess, row)) {
                going = false;
                break;
            }
            ++accepted;
        }

        // Keep what was taken and evaluated: the pending token and the accepted drafts. A token
        // that ended the generation stays unevaluated, as it does without speculation.
        cached.push_back(pending);
        cached.insert(cached.end(), draft.tokens.begin(),
                      draft.tokens.begin() + static_cast<std::ptrdiff_t>(accepted));
        ctx.kv().truncate(loop.seq(), static_cast<int64_t>(cached.size()));
        if (!going || !loop.take(next, row)) return;
        pending = next;
    }
}

}  // namespace pocket
