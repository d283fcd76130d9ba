// GrammarConstraint: token masks from one walk of the vocabulary trie per parse state, cached.
#include "pocket/generate/grammar_constraint.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>

#include "generate/grammar/stack_graph.h"
#include "pocket/core/error.h"

namespace pocket {

namespace {

// Masks are a bit per token; 64 MiB of them is a few thousand states even for a 150k vocabulary,
// far more than a schema's generations revisit. Past that the cache starts over.
constexpr size_t kMaskCacheBytes = size_t{64} << 20;

bool has_accept(std::span<const uint32_t> stacks) {
    return !stacks.empty() && stacks.front() == StackGraph::kAccept;
}

}  // namespace

using Mask = std::vector<uint64_t>;

class GrammarEngine {
  public:
    GrammarEngine(std::shared_ptr<const Grammar> grammar,
                  std::shared_ptr<const VocabularyIndex> vocab)
        : graph(std::move(grammar)), vocab_(std::move(vocab)) {}

    std::mutex mutex;
    StackGraph graph;

    // The mask for a state (with its pending partial code point); call with the mutex held.
    std::shared_ptr<const Mask> mask(std::span<const uint32_t> stacks, Utf8State partial) {
        // Without a pending partial character, cp and len are leftovers of the last one.
        if (partial.need == 0) partial = Utf8State{};
        key_.resize(3 + stacks.size());
        key_[0] = partial.cp;
        key_[1] = partial.need;
        key_[2] = partial.len;
        std::copy(stacks.begin(), stacks.end(), key_.begin() + 3);
        std::string key(reinterpret_cast<const char*>(key_.data()), key_.size() * 4);
        if (auto it = cache_.find(key); it != cache_.end()) return it->second;
        auto m = std::make_shared<const Mask>(compute(stacks, partial));
        const size_t bytes = m->size() * 8 + key.size();
        if (cache_bytes_ + bytes > kMaskCacheBytes) {
            cache_.clear();
            cache_bytes_ = 0;
        }
        cache_bytes_ += bytes;
        cache_.emplace(std::move(key), m);
        return m;
    }

    // Advances (stacks, partial) over `bytes`; false (and the inputs unchanged) when the grammar
    // rejects them. Call with the mutex held.
    bool advance(std::vector<uint32_t>& stacks, Utf8State& partial, std::string_view bytes) {
        std::vector<uint32_t> cur = stacks, next;
        Utf8State u = partial;
        for (char c : bytes) {
            switch (u.feed(static_cast<unsigned char>(c))) {
                case Utf8State::Step::Invalid:
                    return false;
                case Utf8State::Step::More:
                    continue;
                case Utf8State::Step::Done:
                    break;
            }
            graph.advance(cur, u.cp, next);
            if (next.empty()) return false;
            cur.swap(next);
        }
        if (u.need > 0 && !any_accepts_some(cur, u.lo(), u.hi())) return false;
        stacks.swap(cur);
        partial = u;
        return true;
    }

  private:
    bool any_accepts_some(std::span<const uint32_t> stacks, uint32_t lo, uint32_t hi) const {
        for (uint32_t id : stacks) {
            if (id != StackGraph::kAccept && graph.accepts_some(id, lo, hi)) return true;
        }
        return false;
    }

    // The depth-first walk over the trie. Level d holds the state after the first d bytes of the
    // current path; its stacks live in arena_[begin, end). A byte that only extends a partial
    // code point keeps its parent's stacks (no copy).
    Mask compute(std::span<const uint32_t> stacks, Utf8State partial) {
        const VocabularyIndex& v = *vocab_;
        const VocabularyIndex::Trie& t = v.trie();
        Mask m((v.n_vocab() + 63) / 64, 0);
        auto allow = [&m](TokenId id) {
            m[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (static_cast<uint32_t>(id) & 63);
        };
        if (partial.need == 0 && has_accept(stacks)) {
            for (TokenId id : v.eog_tokens()) allow(id);
        }
        levels_.resize(v.max_depth() + 1);
        arena_.assign(stacks.begin(), stacks.end());
        levels_[0] = {0, static_cast<uint32_t>(arena_.size()), partial};
        used_.resize(v.max_depth() + 1);
        used_[0] = static_cast<uint32_t>(arena_.size());

        const size_t n = t.size();
        for (size_t i = 0; i < n;) {
            const size_t d = t.depth[i];
            const LevelStore parent = levels_[d - 1];
            Utf8State u = parent.utf8;
            const Utf8State::Step step = u.feed(t.byte[i]);
            bool alive = false;
            if (step == Utf8State::Step::More) {
                // Prune unless some stack can take a code point starting with these bytes.
                for (uint32_t k = parent.begin; k < parent.end && !alive; ++k) {
                    const uint32_t id = arena_[k];
                    alive = id != StackGraph::kAccept && graph.accepts_some(id, u.lo(), u.hi());
                }
                if (alive) {
                    levels_[d] = {parent.begin, parent.end, u};
                    used_[d] = used_[d - 1];
                }
            } else if (step == Utf8State::Step::Done) {
                arena_.resize(used_[d - 1]);
                const uint32_t begin = used_[d - 1];
                size_t sources = 0;
                for (uint32_t k = parent.begin; k < parent.end; ++k) {
                    const uint32_t id = arena_[k];
                    if (id == StackGraph::kAccept || !graph.accepts(id, u.cp)) continue;
                    graph.append_successors(id, arena_);
                    ++sources;
                }
                if (sources > 1) {
                    std::sort(arena_.begin() + begin, arena_.end());
                    arena_.erase(std::unique(arena_.begin() + begin, arena_.end()), arena_.end());
                }
                alive = sources > 0;
                if (alive) {
                    u.len = 0;
                    levels_[d] = {begin, static_cast<uint32_t>(arena_.size()), u};
                    used_[d] = static_cast<uint32_t>(arena_.size());
                }
            }
            if (!alive) {
                i = t.subtree_end[i];
                continue;
            }
            for (uint32_t k = t.token_begin[i]; k < t.token_begin[i + 1]; ++k) allow(t.tokens[k]);
            ++i;
        }
        return m;
    }

    std::shared_ptr<const VocabularyIndex> vocab_;
    std::unordered_map<std::string, std::shared_ptr<const Mask>> cache_;
    size_t cache_bytes_ = 0;
    std::vector<uint32_t> key_;
    struct LevelStore {
        uint32_t begin, end;
        Utf8State utf8;
    };
    std::vector<LevelStore> levels_;
    std::vector<uint32_t> used_;
    std::vector<uint32_t> arena_;
};

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> grammar,
                                     std::shared_ptr<const VocabularyIndex> vocab)
    : engine_(std::make_shared<GrammarEngine>(std::move(grammar), vocab)),
      vocab_(std::move(vocab)) {
    reset();
}

GrammarConstraint::GrammarConstraint(const GrammarConstraint& other) = default;
GrammarConstraint::~GrammarConstraint() = default;

void GrammarConstraint::reset() {
    std::lock_guard lock(engine_->mutex);
    stacks_ = engine_->graph.initial();
    partial_cp_ = 0;
    partial_need_ = 0;
    partial_len_ = 0;
}

bool GrammarConstraint::can_end() const {
    return partial_need_ == 0 && has_accept(stacks_);
}

bool GrammarConstraint::finished() const {
    return can_end() && stacks_.size() == 1;
}

std::unique_ptr<SamplingConstraint> GrammarConstraint::clone() const {
    return std::unique_ptr<SamplingConstraint>(new GrammarConstraint(*this));
}

std::vector<uint64_t> GrammarConstraint::allowed_mask() {
    std::lock_guard lock(engine_->mutex);
    return *engine_->mask(stacks_, Utf8State{partial_cp_, partial_need_, partial_len_});
}

void GrammarConstraint::apply(CandidateList& candidates) {
    std::shared_ptr<const Mask> mask;
    {
        std::lock_guard lock(engine_->mutex);
        mask = engine_->mask(stacks_, Utf8State{partial_cp_, partial_need_, partial_len_});
    }
    const uint64_t* bits = mask->data();
    const auto n = static_cast<uint32_t>(vocab_->n_vocab());
    constexpr float kMasked = -std::numeric_limits<float>::infinity();
    for (Candidate& c : candidates.mutable_items()) {
        const auto id = static_cast<uint32_t>(c.id);
        if (id >= n || ((bits[id >> 6] >> (id & 63)) & 1) == 0) c.logit = kMasked;
    }
}

void GrammarConstraint::accept(TokenId token) {
    if (token < 0 || static_cast<size_t>(token) >= vocab_->n_vocab()) {
        fail("grammar: token ", token, " is outside the vocabulary");
    }
    if (vocab_->is_eog(token)) {
        if (!can_end()) fail("grammar: end of generation (token ", token, ") before the end");
        return;
    }
    const std::string& piece = vocab_->piece(token);
    if (piece.empty()) {
        fail("grammar: token ", token, " (a control or empty token) is never allowed in ",
             "structured output");
    }
    std::lock_guard lock(engine_->mutex);
    Utf8State partial{partial_cp_, partial_need_, partial_len_};
    if (!engine_->advance(stacks_, partial, piece)) {
        fail("grammar: token ", token, " ('", piece, "') does not continue the grammar here");
    }
    partial_cp_ = partial.cp;
    partial_need_ = partial.need;
    partial_len_ = partial.len;
}

std::unique_ptr<SamplingConstraint> make_grammar_constraint(const tokenizer::Tokenizer& tokenizer,
                                                            const Grammar& grammar) {
    return std::make_unique<GrammarConstraint>(std::make_shared<const Grammar>(grammar),
                                               VocabularyIndex::build(tokenizer));
}

}  // namespace pocket
