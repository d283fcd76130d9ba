// GrammarConstraint: token masks from one walk of the vocabulary trie per parse state, cached.
#include "pocket/generate/grammar_constraint.h"

#include <algorithm>
#include <array>
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
// The stack-set memo (sets and their transitions) starts over past this many 4-byte words.
constexpr size_t kMaxSetWords = size_t{16} << 20;

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

    // Stack sets are interned too, and what a code point turns one into is remembered: the walk
    // meets the same (set, character) pairs over and over (every token starting with " the"
    // repeats the same first steps), so after the first visits a trie node costs one table
    // lookup. ASCII, most of every vocabulary, gets a direct table per set.
    static constexpr int32_t kDead = -2, kUnknownSet = -1;

    int32_t intern_set(std::span<const uint32_t> stacks) {
        std::string key(reinterpret_cast<const char*>(stacks.data()), stacks.size() * 4);
        auto [it, inserted] = set_ids_.try_emplace(std::move(key), 0);
        if (inserted) {
            it->second = static_cast<int32_t>(set_begin_.size());
            set_begin_.push_back(static_cast<uint32_t>(set_store_.size()));
            set_store_.insert(set_store_.end(), stacks.begin(), stacks.end());
            set_end_.push_back(static_cast<uint32_t>(set_store_.size()));
            ascii_.emplace_back();
            ascii_.back().fill(kUnknownSet);
            high_.push_back(kUnknownSet);
            high_uniform_.push_back(uniform_above_ascii(stacks));
        }
        return it->second;
    }

    // True when every code point >= 0x80 has the same effect on these stacks (no class draws a
    // line above ASCII, as in JSON strings): then one memo entry serves all of them.
    bool uniform_above_ascii(std::span<const uint32_t> stacks) const {
        for (uint32_t id : stacks) {
            if (id == StackGraph::kAccept) continue;
            for (const CharRange& r : graph.ranges(id)) {
                if (r.hi >= 0x80 && !(r.lo <= 0x80 && r.hi >= 0x10ffff)) return false;
            }
        }
        return true;
    }

    std::span<const uint32_t> set(int32_t id) const {
        return std::span<const uint32_t>(set_store_)
            .subspan(set_begin_[static_cast<size_t>(id)],
                     set_end_[static_cast<size_t>(id)] - set_begin_[static_cast<size_t>(id)]);
    }

    int32_t next_set(int32_t id, uint32_t cp) {
        int32_t* slot = nullptr;
        const bool high = cp >= 128 && high_uniform_[static_cast<size_t>(id)];
        if (cp < 128) {
            slot = &ascii_[static_cast<size_t>(id)][cp];
        } else if (high) {
            slot = &high_[static_cast<size_t>(id)];
        } else {
            slot = &other_.try_emplace((static_cast<uint64_t>(id) << 21) | cp, kUnknownSet)
                        .first->second;
        }
        if (*slot != kUnknownSet) return *slot;
        // Copy out first: interning may move set_store_ and ascii_.
        std::vector<uint32_t> from(set(id).begin(), set(id).end());
        graph.advance(from, cp, scratch_);
        const int32_t result = scratch_.empty() ? kDead : intern_set(scratch_);
        if (cp < 128) {
            ascii_[static_cast<size_t>(id)][cp] = result;
        } else if (high) {
            high_[static_cast<size_t>(id)] = result;
        } else {
            other_[(static_cast<uint64_t>(id) << 21) | cp] = result;
        }
        return result;
    }

    // Keeps the memo tables bounded; only called between walks, when no set id is held.
    void limit_sets() {
        if (set_store_.size() + ascii_.size() * 128 + other_.size() * 4 < kMaxSetWords) return;
        set_ids_.clear();
        set_begin_.clear();
        set_end_.clear();
        set_store_.clear();
        ascii_.clear();
        high_.clear();
        high_uniform_.clear();
        other_.clear();
    }

    // The depth-first walk over the trie. Level d holds the state after the first d bytes of the
    // current path: an interned stack set and the partial code point.
    Mask compute(std::span<const uint32_t> stacks, Utf8State partial) {
        limit_sets();
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
        levels_[0] = {intern_set(stacks), partial};

        const size_t n = t.size();
        for (size_t i = 0; i < n;) {
            const size_t d = t.depth[i];
            const LevelStore parent = levels_[d - 1];
            Utf8State u = parent.utf8;
            const Utf8State::Step step = u.feed(t.byte[i]);
            int32_t next = kDead;
            if (step == Utf8State::Step::More) {
                // Prune unless some stack can take a code point starting with these bytes.
                for (uint32_t id : set(parent.set)) {
                    if (id != StackGraph::kAccept && graph.accepts_some(id, u.lo(), u.hi())) {
                        next = parent.set;
                        break;
                    }
                }
            } else if (step == Utf8State::Step::Done) {
                next = next_set(parent.set, u.cp);
            }
            if (next == kDead) {
                i = t.subtree_end[i];
                continue;
            }
            levels_[d] = {next, u};
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
        int32_t set;
        Utf8State utf8;
    };
    std::vector<LevelStore> levels_;
    std::unordered_map<std::string, int32_t> set_ids_;
    std::vector<uint32_t> set_begin_, set_end_, set_store_;
    std::vector<std::array<int32_t, 128>> ascii_;
    std::vector<int32_t> high_;
    std::vector<uint8_t> high_uniform_;
    std::unordered_map<uint64_t, int32_t> other_;
    std::vector<uint32_t> scratch_;
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
