#include "generate/grammar/stack_graph.h"

#include <algorithm>

#include "pocket/core/error.h"

namespace pocket {

StackGraph::StackGraph(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
    frames_.push_back({kUnknown, kAccept});  // kAccept, the empty stack
    succ_begin_.push_back(kUnknown);
    succ_end_.push_back(kUnknown);
    for (uint32_t start : grammar_->alternatives(grammar_->root())) {
        expand(start, kAccept, initial_);
    }
    std::sort(initial_.begin(), initial_.end());
    initial_.erase(std::unique(initial_.begin(), initial_.end()), initial_.end());
}

uint32_t StackGraph::intern(uint32_t pos, uint32_t parent) {
    const uint64_t key = (static_cast<uint64_t>(pos) << 32) | parent;
    auto [it, inserted] = ids_.try_emplace(key, static_cast<uint32_t>(frames_.size()));
    if (inserted) {
        frames_.push_back({pos, parent});
        succ_begin_.push_back(kUnknown);
        succ_end_.push_back(kUnknown);
    }
    return it->second;
}

// All stacks with a character on top that the position `pos` over `parent` can become. Left
// recursion is rejected when parsing, so this terminates.
void StackGraph::expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out) {
    const GrammarElement& e = grammar_->element(pos);
    switch (e.kind) {
        case GrammarElement::Kind::Char:
            out.push_back(intern(pos, parent));
            return;
        case GrammarElement::Kind::End:
            if (parent == kAccept) {
                out.push_back(kAccept);
            } else {
                const Frame f = frames_[parent];
                expand(f.pos, f.parent, out);
            }
            return;
        case GrammarElement::Kind::Ref: {
            // A reference at the end of an alternative is a tail call: nothing to come back to,
            // so right recursion (X*) keeps the stack flat and the states finite.
            const bool tail = grammar_->element(pos + 1).kind == GrammarElement::Kind::End;
            const uint32_t next = tail ? parent : intern(pos + 1, parent);
            for (uint32_t start : grammar_->alternatives(e.first)) expand(start, next, out);
            return;
        }
    }
}

void StackGraph::append_successors(uint32_t id, std::vector<uint32_t>& out) {
    if (succ_begin_[id] == kUnknown) {
        scratch_.clear();
        const Frame f = frames_[id];
        expand(f.pos + 1, f.parent, scratch_);
        std::sort(scratch_.begin(), scratch_.end());
        scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
        succ_begin_[id] = static_cast<uint32_t>(succ_.size());
        succ_.insert(succ_.end(), scratch_.begin(), scratch_.end());
        succ_end_[id] = static_cast<uint32_t>(succ_.size());
    }
    out.insert(out.end(), succ_.begin() + succ_begin_[id], succ_.begin() + succ_end_[id]);
}

void StackGraph::advance(std::span<const uint32_t> from, uint32_t cp, std::vector<uint32_t>& to) {
    to.clear();
    size_t sources = 0;
    for (uint32_t id : from) {
        if (id == kAccept || !accepts(id, cp)) continue;
        append_successors(id, to);
        ++sources;
    }
    if (sources > 1) {
        std::sort(to.begin(), to.end());
        to.erase(std::unique(to.begin(), to.end()), to.end());
    }
    // An ambiguous grammar can keep exponentially many parses alive (term ::= [#-9]+ beside
    // "(" expr ")": every '(' is a character or an opening, found by fuzz_grammar). Past these
    // bounds matching would take minutes and gigabytes; refuse instead.
    if (to.size() > kMaxLiveStacks || frames_.size() > kMaxFrames) {
        fail("grammar: too ambiguous: more than ",
             to.size() > kMaxLiveStacks ? kMaxLiveStacks : kMaxFrames,
             to.size() > kMaxLiveStacks ? " parses alive at once" : " parse stack frames",
             " (rewrite the grammar so that fewer alternatives can match the same text)");
    }
}

}  // namespace pocket
