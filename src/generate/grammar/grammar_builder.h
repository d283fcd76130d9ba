// The mutable form of a grammar while it is being parsed: rules as lists of alternatives, each a
// list of symbols. Grammar::Builder::build() flattens it into the immutable Grammar.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pocket/generate/grammar.h"

namespace pocket {

struct Grammar::Builder {
    struct Symbol {
        bool is_ref = false;
        uint32_t rule = 0;  // is_ref
        bool negated = false;
        std::vector<CharRange> ranges;  // !is_ref; any order, may overlap
    };
    using Sequence = std::vector<Symbol>;

    std::vector<std::string> names;
    std::vector<std::vector<Sequence>> rules;

    // A rule that can reach itself without consuming input, or nullopt.
    std::optional<uint32_t> find_left_recursion() const;
    Grammar build(uint32_t root) &&;
};

}  // namespace pocket
