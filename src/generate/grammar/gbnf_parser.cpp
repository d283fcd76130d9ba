// GBNF text to Grammar. A recursive-descent parser over the source bytes; groups and repetitions
// become generated rules named after the rule they appear in ("item-3"), like llama.cpp does, so
// to_gbnf() output stays readable.
#include <string>
#include <unordered_map>

#include "generate/grammar/grammar_builder.h"
#include "pocket/core/error.h"

namespace pocket {

namespace {

using Symbol = Grammar::Builder::Symbol;
using Sequence = Grammar::Builder::Sequence;

constexpr uint32_t kMaxRepeat = Grammar::kMaxRepeat;

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

Symbol char_symbol(uint32_t cp) {
    Symbol s;
    s.ranges.push_back({cp, cp});
    return s;
}

class Parser {
  public:
    explicit Parser(std::string_view src) : src_(src) {}

    Grammar parse(std::string_view root_name) {
        skip_space();
        if (pos_ >= src_.size()) fail("GBNF: empty grammar (no rules)");
        while (pos_ < src_.size()) parse_rule();
        for (size_t r = 0; r < b_.rules.size(); ++r) {
            if (!defined_[r]) error(first_use_[r], cat("undefined rule '", b_.names[r], "'"));
        }
        auto root = ids_.find(std::string(root_name));
        if (root == ids_.end()) fail("GBNF: the grammar has no rule '", root_name, "'");
        if (auto r = b_.find_left_recursion()) {
            error(def_pos_[*r], cat("rule '", b_.names[*r],
                                    "' is left-recursive (it can reach itself without consuming "
                                    "a character), so it would never finish expanding"));
        }
        return std::move(b_).build(root->second);
    }

  private:
    [[noreturn]] void error(size_t at, const std::string& message) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < src_.size(); ++i) {
            if (src_[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        fail("GBNF: line ", line, ", column ", col, ": ", message);
    }

    bool at_end() const { return pos_ >= src_.size(); }
    char peek(size_t ahead = 0) const {
        return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
    }

    void skip_space() {
        while (!at_end()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                ++pos_;
            } else if (c == '#') {
                while (!at_end() && peek() != '\n') ++pos_;
            } else {
                break;
            }
        }
    }

    // A rule definition starts here: `name ::=`. This is what ends the previous rule, so rules
    // may continue over any number of lines.
    bool at_rule_start() const {
        size_t p = pos_;
        while (p < src_.size() && is_name_char(src_[p])) ++p;
        if (p == pos_) return false;
        while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
        return src_.substr(p, 3) == "::=";
    }

    std::string_view parse_name() {
        size_t start = pos_;
        while (!at_end() && is_name_char(peek())) ++pos_;
        if (pos_ == start) error(pos_, "expected a rule name");
        return src_.substr(start, pos_ - start);
    }

    uint32_t rule_id(std::string_view name, size_t at) {
        auto [it, inserted] = ids_.try_emplace(std::string(name), 0);
        if (inserted) {
            it->second = add_rule(std::string(name));
            first_use_.back() = at;
        }
        return it->second;
    }

    uint32_t add_rule(std::string name) {
        b_.names.push_back(std::move(name));
        b_.rules.emplace_back();
        defined_.push_back(false);
        first_use_.push_back(pos_);
        def_pos_.push_back(pos_);
        return static_cast<uint32_t>(b_.rules.size() - 1);
    }

    // A rule for a group or repetition inside the current rule.
    uint32_t generated_rule(std::vector<Sequence> alternatives) {
        std::string name = cat(b_.names[current_], "-", ++generated_);
        while (ids_.count(name) != 0) name = cat(b_.names[current_], "-", ++generated_);
        uint32_t id = add_rule(name);
        ids_.emplace(name, id);
        defined_[id] = true;
        def_pos_[id] = def_pos_[current_];
        b_.rules[id] = std::move(alternatives);
        return id;
    }

    void parse_rule() {
        size_t start = pos_;
        std::string_view name = parse_name();
        uint32_t id = rule_id(name, start);
        if (defined_[id]) error(start, cat("rule '", name, "' is defined twice"));
        defined_[id] = true;
        def_pos_[id] = start;
        current_ = id;
        skip_space();
        if (src_.substr(pos_, 3) != "::=") error(pos_, "expected '::=' after the rule name");
        pos_ += 3;
        std::vector<Sequence> alts = parse_alternates(false);
        b_.rules[id] = std::move(alts);
    }

    std::vector<Sequence> parse_alternates(bool nested) {
        std::vector<Sequence> alts;
        alts.push_back(parse_sequence(nested));
        while (peek() == '|') {
            ++pos_;
            alts.push_back(parse_sequence(nested));
        }
        return alts;
    }

    Sequence parse_sequence(bool nested) {
        Sequence seq;
        for (;;) {
            skip_space();
            if (at_end() || peek() == '|') break;
            if (peek() == ')') {
                if (!nested) error(pos_, "unmatched ')'");
                break;
            }
            if (at_rule_start()) {
                if (nested) error(pos_, "expected ')' before the next rule");
                break;
            }
            Sequence item = parse_primary();
            skip_space();
            item = parse_postfix(std::move(item));
            seq.insert(seq.end(), std::make_move_iterator(item.begin()),
                       std::make_move_iterator(item.end()));
        }
        return seq;
    }

    Sequence parse_primary() {
        const size_t start = pos_;
        const char c = peek();
        if (c == '"') {
            ++pos_;
            Sequence seq;
            while (peek() != '"') {
                if (at_end()) error(start, "unterminated string literal");
                seq.push_back(char_symbol(parse_char()));
            }
            ++pos_;
            return seq;
        }
        if (c == '[') return {parse_class()};
        if (c == '.') {
            ++pos_;
            Symbol any;
            any.negated = true;
            return {any};
        }
        if (c == '(') {
            ++pos_;
            std::vector<Sequence> alts = parse_alternates(true);
            if (peek() != ')') error(pos_, "expected ')'");
            ++pos_;
            if (alts.size() == 1) return std::move(alts[0]);
            return {ref(generated_rule(std::move(alts)))};
        }
        if (is_name_char(c)) {
            std::string_view name = parse_name();
            return {ref(rule_id(name, start))};
        }
        error(pos_, cat("unexpected character '", std::string(1, c), "'"));
    }

    static Symbol ref(uint32_t rule) {
        Symbol s;
        s.is_ref = true;
        s.rule = rule;
        return s;
    }

    Symbol as_symbol(const Sequence& item) {
        if (item.size() == 1) return item[0];
        return ref(generated_rule({item}));
    }

    // X* as a right-recursive rule, so the parse stack does not grow with the repetition count.
    Symbol star(const Sequence& item) {
        uint32_t id = generated_rule({});
        Sequence again = item;
        again.push_back(ref(id));
        b_.rules[id] = {again, Sequence{}};
        return ref(id);
    }

    Sequence repeat(const Sequence& item, uint32_t min, uint32_t max, bool unbounded) {
        Sequence out;
        for (uint32_t i = 0; i < min; ++i) out.insert(out.end(), item.begin(), item.end());
        if (unbounded) {
            out.push_back(star(item));
        } else if (max > min) {
            // opt_k ::= X opt_(k-1) | ε, nested so each extra copy needs the one before it.
            Symbol tail = ref(generated_rule({item, Sequence{}}));
            for (uint32_t k = min + 1; k < max; ++k) {
                Sequence more = item;
                more.push_back(tail);
                tail = ref(generated_rule({more, Sequence{}}));
            }
            out.push_back(tail);
        }
        return out;
    }

    uint32_t parse_count() {
        size_t start = pos_;
        uint64_t v = 0;
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + static_cast<uint64_t>(peek() - '0');
            if (v > kMaxRepeat) error(start, cat("repetition count above ", kMaxRepeat));
            ++pos_;
        }
        if (pos_ == start) error(pos_, "expected a number");
        return static_cast<uint32_t>(v);
    }

    Sequence parse_postfix(Sequence item) {
        for (;;) {
            const char c = peek();
            if (c == '*') {
                ++pos_;
                item = {star(item)};
            } else if (c == '+') {
                ++pos_;
                item = repeat(item, 1, 0, true);
            } else if (c == '?') {
                ++pos_;
                item = {ref(generated_rule({item, Sequence{}}))};
            } else if (c == '{') {
                size_t start = pos_++;
                skip_space();
                uint32_t min = parse_count(), max = min;
                bool unbounded = false;
                skip_space();
                if (peek() == ',') {
                    ++pos_;
                    skip_space();
                    if (peek() == '}') {
                        unbounded = true;
                    } else {
                        max = parse_count();
                        skip_space();
                    }
                }
                if (peek() != '}') error(pos_, "expected '}'");
                ++pos_;
                if (!unbounded && max < min) error(start, "repetition {m,n} with n < m");
                item = repeat(item, min, max, unbounded);
            } else {
                return item;
            }
            skip_space();
        }
    }

    uint32_t parse_hex(int digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i) {
            char c = peek();
            uint32_t d;
            if (c >= '0' && c <= '9') {
                d = static_cast<uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                d = static_cast<uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                d = static_cast<uint32_t>(c - 'A' + 10);
            } else {
                error(pos_, cat("expected ", digits, " hex digits"));
            }
            v = v * 16 + d;
            ++pos_;
        }
        if (v > 0x10ffff) error(pos_, "code point above U+10FFFF");
        return v;
    }

    // One character of a literal or class: an escape or one UTF-8 encoded code point.
    uint32_t parse_char() {
        const size_t start = pos_;
        if (at_end()) error(pos_, "unexpected end of grammar");
        unsigned char c = static_cast<unsigned char>(peek());
        if (c == '\\') {
            ++pos_;
            char e = peek();
            ++pos_;
            switch (e) {
                case 'n':
                    return '\n';
                case 't':
                    return '\t';
                case 'r':
                    return '\r';
                case '\\':
                    return '\\';
                case '"':
                    return '"';
                case '\'':
                    return '\'';
                case '[':
                    return '[';
                case ']':
                    return ']';
                case '-':
                    return '-';
                case '^':
                    return '^';
                case '/':
                    return '/';
                case 'x':
                    return parse_hex(2);
                case 'u':
                    return parse_hex(4);
                case 'U':
                    return parse_hex(8);
                default:
                    error(start, cat("unknown escape '\\", std::string(1, e), "'"));
            }
        }
        int len = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xe  ? 3
                  : (c >> 3) == 0x1e ? 4
                                     : 0;
        if (len == 0 || pos_ + static_cast<size_t>(len) > src_.size()) {
            error(start, "invalid UTF-8 in the grammar");
        }
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (int i = 1; i < len; ++i) {
            unsigned char cc = static_cast<unsigned char>(src_[pos_ + static_cast<size_t>(i)]);
            if ((cc & 0xc0) != 0x80) error(start, "invalid UTF-8 in the grammar");
            cp = (cp << 6) | (cc & 0x3f);
        }
        pos_ += static_cast<size_t>(len);
        return cp;
    }

    Symbol parse_class() {
        const size_t start = pos_++;
        Symbol s;
        if (peek() == '^') {
            s.negated = true;
            ++pos_;
        }
        while (peek() != ']') {
            if (at_end()) error(start, "unterminated character class");
            uint32_t lo = parse_char(), hi = lo;
            if (peek() == '-' && peek(1) != ']' && pos_ + 1 < src_.size()) {
                ++pos_;
                hi = parse_char();
                if (hi < lo) error(start, "character range with its end before its start");
            }
            s.ranges.push_back({lo, hi});
        }
        ++pos_;
        return s;
    }

    std::string_view src_;
    size_t pos_ = 0;
    Grammar::Builder b_;
    std::unordered_map<std::string, uint32_t> ids_;
    std::vector<bool> defined_;
    std::vector<size_t> first_use_;
    std::vector<size_t> def_pos_;
    uint32_t current_ = 0;
    uint32_t generated_ = 0;
};

}  // namespace

Grammar Grammar::parse_gbnf(std::string_view text, std::string_view root) {
    return Parser(text).parse(root);
}

}  // namespace pocket
