// The parse state machinery shared by the matcher and the sampling constraint.
//
// A parse position is a stack of grammar positions: the top is the character element to match
// next, the rest are where to continue when the current rule finishes. Stacks are interned as
// (position, parent) frames, so equal stacks have equal ids, a set of stacks is a sorted vector of
// ids, and "what follows once the top character matched" is computed once per frame and cached.
// A parse state is a set of such stacks (the alternatives still alive), like llama.cpp's.
//
// Not thread-safe: the caches grow as new stacks are met. Frame ids never change, so states
// (vectors of ids) stay valid for the graph's lifetime.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "pocket/generate/grammar.h"

namespace pocket {

class StackGraph {
  public:
    // The empty stack: the grammar has matched completely.
    static constexpr uint32_t kAccept = 0;
    // advance() throws pocket::Error past these (a grammar too ambiguous to match in bounded
    // time and memory); ordinary grammars keep a handful of stacks alive.
    static constexpr size_t kMaxLiveStacks = size_t{1} << 16;
    static constexpr size_t kMaxFrames = size_t{1} << 22;

    explicit StackGraph(std::shared_ptr<const Grammar> grammar);

    const Grammar& grammar() const { return *grammar_; }
    // The stacks at the start of the root rule, sorted.
    const std::vector<uint32_t>& initial() const { return initial_; }

    // Whether the character at the top of stack `id` (not kAccept) accepts cp.
    bool accepts(uint32_t id, uint32_t cp) const { return grammar_->accepts(frames_[id].pos, cp); }
    bool accepts_some(uint32_t id, uint32_t lo, uint32_t hi) const {
        return grammar_->accepts_some(frames_[id].pos, lo, hi);
    }
    std::span<const CharRange> ranges(uint32_t id) const {
        return grammar_->ranges(grammar_->element(frames_[id].pos));
    }
    // Appends the stacks that follow once the top character of `id` matched (sorted, unique).
    void append_successors(uint32_t id, std::vector<uint32_t>& out);

    // The states after matching cp from `from` (sorted, unique) into `to` (cleared first).
    void advance(std::span<const uint32_t> from, uint32_t cp, std::vector<uint32_t>& to);

    size_t n_frames() const { return frames_.size(); }

  private:
    struct Frame {
        uint32_t pos;     // element position; Char for the stacks a state holds
        uint32_t parent;  // the frame below, kAccept at the bottom
    };
    static constexpr uint32_t kUnknown = UINT32_MAX;

    uint32_t intern(uint32_t pos, uint32_t parent);
    void expand(uint32_t pos, uint32_t parent, std::vector<uint32_t>& out);

    std::shared_ptr<const Grammar> grammar_;
    std::vector<Frame> frames_;
    std::unordered_map<uint64_t, uint32_t> ids_;
    std::vector<uint32_t> succ_begin_, succ_end_;  // per frame, into succ_; kUnknown until needed
    std::vector<uint32_t> succ_;
    std::vector<uint32_t> initial_;
    std::vector<uint32_t> scratch_;
};

// Incremental UTF-8 decoding for token bytes that may end mid-character.
struct Utf8State {
    uint32_t cp = 0;   // bits collected so far
    uint8_t need = 0;  // continuation bytes still expected
    uint8_t len = 0;   // total length of the sequence being decoded

    enum class Step { Done, More, Invalid };

    // Feeds one byte; Done means cp holds a whole (valid, shortest-form, non-surrogate) code
    // point.
    Step feed(unsigned char b) {
        if (need == 0) {
            if (b < 0x80) {
                cp = b;
                return Step::Done;
            }
            if (b >= 0xc2 && b <= 0xdf) {
                cp = b & 0x1fu, need = 1, len = 2;
            } else if (b >= 0xe0 && b <= 0xef) {
                cp = b & 0x0fu, need = 2, len = 3;
            } else if (b >= 0xf0 && b <= 0xf4) {
                cp = b & 0x07u, need = 3, len = 4;
            } else {
                return Step::Invalid;
            }
            return Step::More;
        }
        if ((b & 0xc0) != 0x80) return Step::Invalid;
        cp = (cp << 6) | (b & 0x3fu);
        if (--need > 0) {
            // Reject overlong and out-of-range prefixes as early as possible.
            if (len == 3 && need == 1 && (cp < 0x20 || (cp >= 0x360 && cp < 0x380))) {
                return Step::Invalid;  // overlong (< U+0800) or a surrogate
            }
            if (len == 4 && need == 2 && (cp < 0x10 || cp > 0x10f)) return Step::Invalid;
            return Step::More;
        }
        len = 0;
        return Step::Done;
    }
    // The code points a partial sequence can still become.
    // (The shortest form for the length and U+10FFFF bound them: E0 alone is not U+0000-0FFF.)
    uint32_t lo() const {
        const uint32_t shortest = len == 4 ? 0x10000 : len == 3 ? 0x800 : 0x80;
        return std::max(cp << (6 * need), shortest);
    }
    uint32_t hi() const {
        return std::min((cp << (6 * need)) | ((1u << (6 * need)) - 1), uint32_t{0x10ffff});
    }
};

}  // namespace pocket
