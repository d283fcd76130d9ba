// Flattening a parsed grammar, the element tests the matcher runs, and printing back to GBNF.
#include <algorithm>
#include <functional>

#include "generate/grammar/grammar_builder.h"
#include "pocket/core/error.h"

namespace pocket {

namespace {

// Sorted, merged ranges make "is cp in the class" a short scan and "does a class cover a whole
// range" (needed for negated classes and partial UTF-8) a single-range test.
std::vector<CharRange> normalize(std::vector<CharRange> ranges) {
    std::sort(ranges.begin(), ranges.end(),
              [](const CharRange& a, const CharRange& b) { return a.lo < b.lo; });
    std::vector<CharRange> out;
    for (const CharRange& r : ranges) {
        if (!out.empty() && r.lo <= out.back().hi + 1) {
            out.back().hi = std::max(out.back().hi, r.hi);
        } else {
            out.push_back(r);
        }
    }
    return out;
}

void append_escaped(std::string& out, uint32_t cp, bool in_class) {
    switch (cp) {
        case '\n':
            out += "\\n";
            return;
        case '\t':
            out += "\\t";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\\':
            out += "\\\\";
            return;
        case '"':
            out += in_class ? "\"" : "\\\"";
            return;
        default:
            break;
    }
    if (in_class && (cp == ']' || cp == '-' || cp == '^' || cp == '[')) {
        out += '\\';
        out += static_cast<char>(cp);
        return;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
        out += cat("\\x", "0123456789abcdef"[cp >> 4], "0123456789abcdef"[cp & 15]);
        return;
    }
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

}  // namespace

std::optional<uint32_t> Grammar::Builder::find_left_recursion() const {
    const size_t n = rules.size();
    // Nullable rules (can derive the empty string), to a fixpoint.
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < n; ++r) {
            if (nullable[r]) continue;
            for (const Sequence& seq : rules[r]) {
                bool all = std::all_of(seq.begin(), seq.end(), [&](const Symbol& s) {
                    return s.is_ref && nullable[s.rule];
                });
                if (all) {
                    nullable[r] = true;
                    changed = true;
                    break;
                }
            }
        }
    }
    // Edges r -> s when s can be the first thing r expands to; a cycle is left recursion.
    std::vector<std::vector<uint32_t>> first(n);
    for (size_t r = 0; r < n; ++r) {
        for (const Sequence& seq : rules[r]) {
            for (const Symbol& s : seq) {
                if (!s.is_ref) break;
                first[r].push_back(s.rule);
                if (!nullable[s.rule]) break;
            }
        }
    }
    std::vector<uint8_t> mark(n, 0);  // 0 new, 1 on the path, 2 done
    std::optional<uint32_t> found;
    std::function<void(uint32_t)> visit = [&](uint32_t r) {
        mark[r] = 1;
        for (uint32_t s : first[r]) {
            if (found) return;
            if (mark[s] == 1) {
                found = s;
                return;
            }
            if (mark[s] == 0) visit(s);
        }
        mark[r] = 2;
    };
    for (uint32_t r = 0; r < n && !found; ++r) {
        if (mark[r] == 0) visit(r);
    }
    return found;
}

Grammar Grammar::Builder::build(uint32_t root) && {
    Grammar g;
    g.root_ = root;
    g.names_ = std::move(names);
    g.alternatives_.resize(rules.size());
    for (size_t r = 0; r < rules.size(); ++r) {
        for (const Sequence& seq : rules[r]) {
            g.alternatives_[r].push_back(static_cast<uint32_t>(g.elements_.size()));
            for (const Symbol& s : seq) {
                GrammarElement e;
                if (s.is_ref) {
                    e.kind = GrammarElement::Kind::Ref;
                    e.first = s.rule;
                } else {
                    std::vector<CharRange> merged = normalize(s.ranges);
                    e.kind = GrammarElement::Kind::Char;
                    e.negated = s.negated;
                    e.first = static_cast<uint32_t>(g.ranges_.size());
                    e.count = static_cast<uint32_t>(merged.size());
                    g.ranges_.insert(g.ranges_.end(), merged.begin(), merged.end());
                }
                g.elements_.push_back(e);
            }
            g.elements_.push_back(GrammarElement{});
        }
    }
    return g;
}

bool Grammar::accepts(uint32_t pos, uint32_t cp) const {
    const GrammarElement& e = elements_[pos];
    const CharRange* r = ranges_.data() + e.first;
    bool in = false;
    for (uint32_t i = 0; i < e.count; ++i) {
        if (cp < r[i].lo) break;
        if (cp <= r[i].hi) {
            in = true;
            break;
        }
    }
    return in != e.negated;
}

bool Grammar::accepts_some(uint32_t pos, uint32_t lo, uint32_t hi) const {
    const GrammarElement& e = elements_[pos];
    for (const CharRange& r : ranges(e)) {
        if (e.negated) {
            if (r.lo <= lo && hi <= r.hi) return false;  // merged ranges: one covers or none does
        } else if (r.lo <= hi && lo <= r.hi) {
            return true;
        }
    }
    return e.negated;
}

std::string Grammar::to_gbnf() const {
    std::string out;
    for (size_t r = 0; r < names_.size(); ++r) {
        out += names_[r];
        out += " ::=";
        bool first_alt = true;
        for (uint32_t start : alternatives_[r]) {
            if (!first_alt) out += " |";
            first_alt = false;
            bool in_literal = false;
            for (uint32_t pos = start; elements_[pos].kind != GrammarElement::Kind::End; ++pos) {
                const GrammarElement& e = elements_[pos];
                // A Ref's `first` is a rule id, not a range index: only a Char has ranges.
                const auto rs =
                    e.kind == GrammarElement::Kind::Char ? ranges(e) : std::span<const CharRange>();
                const bool single = e.kind == GrammarElement::Kind::Char && !e.negated &&
                                    rs.size() == 1 && rs[0].lo == rs[0].hi;
                if (single) {
                    if (!in_literal) out += " \"";
                    in_literal = true;
                    append_escaped(out, rs[0].lo, false);
                    continue;
                }
                if (in_literal) out += '"';
                in_literal = false;
                out += ' ';
                if (e.kind == GrammarElement::Kind::Ref) {
                    out += names_[e.first];
                    continue;
                }
                if (e.negated && rs.empty()) {
                    out += '.';
                    continue;
                }
                out += e.negated ? "[^" : "[";
                for (const CharRange& cr : rs) {
                    append_escaped(out, cr.lo, true);
                    if (cr.hi != cr.lo) {
                        out += '-';
                        append_escaped(out, cr.hi, true);
                    }
                }
                out += ']';
            }
            if (in_literal) out += '"';
            if (elements_[start].kind == GrammarElement::Kind::End) out += " \"\"";
        }
        out += '\n';
    }
    return out;
}

}  // namespace pocket
