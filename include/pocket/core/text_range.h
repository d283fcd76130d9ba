// A half-open byte range [begin, end) of some text, e.g. the parts of a rendered chat prompt that
// came from user input and must never be read as special tokens.
#pragma once

#include <cstddef>
#include <span>

namespace pocket {

struct TextRange {
    size_t begin = 0;
    size_t end = 0;
    bool operator==(const TextRange&) const = default;
};

// True when [begin, end) shares at least one byte with any of the ranges (sorted or not).
inline bool overlaps_any(std::span<const TextRange> ranges, size_t begin, size_t end) {
    for (const TextRange& r : ranges) {
        if (begin < r.end && r.begin < end) return true;
    }
    return false;
}

}  // namespace pocket
