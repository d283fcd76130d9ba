#include "generate/draft_model.h"

#include <algorithm>

#include "pocket/core/error.h"
#include "pocket/tokenizer/tokenizer.h"

namespace pocket {

namespace {
constexpr model::SeqId kDraftSeq = 0;
}

void check_same_vocabulary(const tokenizer::Tokenizer& target, const tokenizer::Tokenizer& draft) {
    if (target.n_vocab() != draft.n_vocab()) {
        fail("speculative: the draft model's vocabulary has ", draft.n_vocab(),
             " tokens but the target's has ", target.n_vocab(),
             "; a draft model must share the target's vocabulary");
    }
    for (size_t id = 0; id < target.n_vocab(); ++id) {
        const auto t = static_cast<TokenId>(id);
        if (target.vocab().text(t) != draft.vocab().text(t)) {
            fail("speculative: token ", id, " is '", target.vocab().text(t),
                 "' in the target's vocabulary but '", draft.vocab().text(t),
                 "' in the draft model's; a draft model must share the target's vocabulary");
        }
    }
}

float Draft::q_of(size_t i, TokenId id) const {
    if (q.empty() || q[i].empty()) return id == tokens[i] ? 1.0f : 0.0f;
    for (const Candidate& c : q[i]) {
        if (c.id == id) return c.prob;
    }
    return 0.0f;
}

DraftModel::DraftModel(model::Context& draft, const tokenizer::Tokenizer& target) : ctx_(draft) {
    check_same_vocabulary(target, draft.model().tokenizer());
    ctx_.kv().clear(kDraftSeq);
}

void DraftModel::propose(std::span<const TokenId> sequence, Sampler sampler, size_t max_draft,
                         Draft& out) {
    out.clear();
    if (sequence.empty() || max_draft == 0) return;
    // Drafted tokens but the last are evaluated: the sequence plus max_draft - 1 must fit.
    const auto len = static_cast<int64_t>(sequence.size());
    if (len >= ctx_.n_ctx()) return;
    max_draft = std::min(max_draft, static_cast<size_t>(ctx_.n_ctx() - len + 1));

    size_t common = 0;
    while (common < cached_.size() && common < sequence.size() &&
           cached_[common] == sequence[common])
        ++common;
    common = std::min(common, sequence.size() - 1);  // the last token's logits start the draft
    ctx_.kv().truncate(kDraftSeq, static_cast<int64_t>(common));
    cached_.resize(common);
    std::span<const float> logits = ctx_.eval(sequence.subspan(common), kDraftSeq);
    cached_.insert(cached_.end(), sequence.begin() + static_cast<std::ptrdiff_t>(common),
                   sequence.end());

    for (size_t i = 0; i < max_draft; ++i) {
        const std::span<const Candidate> q = sampler.distribution(logits);
        const TokenId token = sampler.draw(q);
        out.tokens.push_back(token);
        out.q.emplace_back(q.begin(), q.end());
        if (i + 1 == max_draft) break;
        sampler.accept(token);
        logits = ctx_.eval(std::span<const TokenId>(&token, 1), kDraftSeq);
        cached_.push_back(token);
    }
}

}  // namespace pocket
