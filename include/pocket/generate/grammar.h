// A context-free grammar over Unicode code points, written in llama.cpp's GBNF syntax so users'
// existing grammars work unchanged:
//
//   root   ::= "{" ws pair ("," ws pair)* "}"     # rules, sequences, alternatives with |
//   pair   ::= [a-z]+ ":" ws ( "true" | "false" )  # classes, negated [^...], ., ( ) groups
//   ws     ::= [ \t\n]{0,4}                        # * + ? {m} {m,} {m,n}
//
// Parsing desugars groups and repetitions into plain rules (alternatives of sequences of
// character classes and rule references), which is the immutable form the matcher and the
// sampling constraint (grammar_constraint.h) walk. A rule ends where the next `name ::=` starts,
// so rules may span lines freely.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pocket {

// An inclusive range of code points.
struct CharRange {
    uint32_t lo = 0;
    uint32_t hi = 0;
};

// One position in a rule alternative.
struct GrammarElement {
    enum class Kind : uint8_t {
        Char,  // one code point from ranges [first, first + count) (or outside them if negated)
        Ref,   // the rule `rule`
        End,   // end of the alternative
    };
    Kind kind = Kind::End;
    bool negated = false;
    uint32_t first = 0;  // Char: index of the first range; Ref: rule id
    uint32_t count = 0;  // Char: number of ranges (sorted, disjoint, not adjacent)
};

class Grammar {
  public:
    // The largest bound a GBNF repetition {m,n} may name; larger ones are refused as typos.
    static constexpr uint32_t kMaxRepeat = 100000;

    // Parses GBNF text. Throws pocket::Error naming line and column for a syntax error, an
    // undefined rule, a missing root rule, an empty grammar or left recursion (a rule that can
    // reach itself without consuming a character would never finish expanding).
    static Grammar parse_gbnf(std::string_view text, std::string_view root = "root");
    // The grammar of every JSON document valid under `schema` (see json_schema.h).
    static Grammar from_json_schema(const nlohmann::ordered_json& schema);
    // Any JSON object (the `--json` mode): an object at the top level, values of any type inside.
    static Grammar json();

    // GBNF text for the desugared rules; parses back to an equivalent grammar.
    std::string to_gbnf() const;

    uint32_t root() const { return root_; }
    size_t n_rules() const { return names_.size(); }
    const std::string& rule_name(uint32_t rule) const { return names_[rule]; }
    // Element positions where each alternative of `rule` starts.
    std::span<const uint32_t> alternatives(uint32_t rule) const { return alternatives_[rule]; }
    const GrammarElement& element(uint32_t pos) const { return elements_[pos]; }
    std::span<const CharRange> ranges(const GrammarElement& e) const {
        return std::span<const CharRange>(ranges_).subspan(e.first, e.count);
    }
    // Whether the Char element at `pos` accepts code point cp.
    bool accepts(uint32_t pos, uint32_t cp) const;
    // Whether the Char element at `pos` accepts some code point in [lo, hi].
    bool accepts_some(uint32_t pos, uint32_t lo, uint32_t hi) const;

    // Builds the immutable form; used by the GBNF parser. Each rule is a list of alternatives,
    // each a list of elements without the End marker.
    struct Builder;

  private:
    std::vector<std::string> names_;
    std::vector<std::vector<uint32_t>> alternatives_;
    std::vector<GrammarElement> elements_;
    std::vector<CharRange> ranges_;
    uint32_t root_ = 0;
};

// True when the whole of `text` (UTF-8) is a sentence of the grammar. Runs the same engine as the
// sampling constraint, one code point at a time; for tests and tools.
bool grammar_matches(const Grammar& grammar, std::string_view text);

}  // namespace pocket
