// Recursive-descent parser following Jinja2's grammar and operator precedence:
//   condexpr: or ['if' or ['else' condexpr]]      or: and ('or' and)*      and: not ('and' not)*
//   not: 'not' not | compare                       compare: math1 (cmp math1)*
//   math1: concat (('+'|'-') concat)*              concat: math2 ('~' math2)*
//   math2: pow (('*'|'/'|'//'|'%') pow)*           pow: unary ('**' unary)*
//   unary: ('-'|'+') unary | primary postfix* (filter | test)*
// Filters bind tighter than arithmetic (`a + b|length` is `a + (b|length)`), as in Jinja2.
#include <algorithm>
#include <set>

#include "generate/jinja/ast.h"
#include "generate/jinja/interpreter.h"
#include "generate/jinja/lexer.h"

namespace pocket::jinja {
namespace {

constexpr int kMaxNesting = 256;

class Parser {
  public:
    Parser(std::vector<Token> tokens, size_t& err) : t_(std::move(tokens)), err_(err) {}

    Body parse_template() {
        Body body = parse_body({});
        if (peek().type != Tok::Eof) error(peek(), "unexpected tag");
        return body;
    }

  private:
    // ---- token helpers ----
    const Token& peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
    const Token& next() {
        const Token& t = t_[i_];
        if (i_ + 1 < t_.size()) ++i_;
        return t;
    }
    bool is_op(const char* op, size_t ahead = 0) const {
        return peek(ahead).type == Tok::Op && peek(ahead).text == op;
    }
    bool is_name(const char* name, size_t ahead = 0) const {
        return peek(ahead).type == Tok::Name && peek(ahead).text == name;
    }
    bool accept_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool accept_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }
    [[noreturn]] void error(const Token& at, std::string message) {
        err_ = at.offset;
        fault("TemplateSyntaxError", std::move(message));
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
            case Tok::Eof:
                return "end of template";
            case Tok::VarEnd:
                return "'}}'";
            case Tok::BlockEnd:
                return "'%}'";
            case Tok::Text:
                return "template data";
            default:
                return "'" + t.text + "'";
        }
    }
    void expect_op(const char* op) {
        if (!accept_op(op)) error(peek(), cat("expected '", op, "', got ", describe(peek())));
    }
    std::string expect_name() {
        if (peek().type != Tok::Name) error(peek(), cat("expected a name, got ", describe(peek())));
        return next().text;
    }
    void expect_block_end() {
        if (peek().type != Tok::BlockEnd)
            error(peek(), cat("expected '%}', got ", describe(peek())));
        next();
    }

    struct Depth {
        explicit Depth(Parser& p) : p_(p) {
            if (++p_.depth_ > kMaxNesting) p_.error(p_.peek(), "template nested too deeply");
        }
        ~Depth() { --p_.depth_; }
        Parser& p_;
    };

    static ExprPtr make(ExprKind kind, size_t pos) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->pos = pos;
        return e;
    }

    // Records the node's height; a left-deep chain like 1+1+1+... is built by loops, not
    // recursion, so this is what bounds evaluation (and destruction) depth.
    ExprPtr seal(ExprPtr e) {
        int h = 0;
        for (const auto& a : e->args)
            if (a) h = std::max(h, a->height);
        for (const auto& [k, a] : e->kwargs) h = std::max(h, a->height);
        e->height = h + 1;
        if (e->height > kMaxNesting) {
            err_ = e->pos;
            fault("TemplateSyntaxError", "expression nested too deeply");
        }
        return e;
    }

    // ---- statements ----

    // Parses until a block tag whose keyword is in `ends` (left unconsumed: the caller reads it).
    Body parse_body(const std::set<std::string>& ends) {
        Depth depth(*this);
        Body body;
        while (true) {
            const Token& t = peek();
            if (t.type == Tok::Eof) {
                if (!ends.empty()) {
                    std::string want;
                    for (const auto& e : ends) want += (want.empty() ? "'" : " or '") + e + "'";
                    error(t, cat("unexpected end of template, expected ", want));
                }
                return body;
            }
            if (t.type == Tok::Text) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::Text;
                s->pos = t.offset;
                s->text = Text(t.text);
                body.push_back(std::move(s));
                next();
            } else if (t.type == Tok::VarBegin) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::Output;
                s->pos = next().offset;
                s->expr = parse_tuple_or_expr();
                if (peek().type != Tok::VarEnd)
                    error(peek(), cat("expected '}}', got ", describe(peek())));
                next();
                body.push_back(std::move(s));
            } else if (t.type == Tok::BlockBegin) {
                const Token& kw = peek(1);
                if (kw.type != Tok::Name) error(kw, "expected a statement name");
                if (ends.count(kw.text)) return body;
                next();
                body.push_back(parse_statement());
            } else {
                error(t, cat("unexpected ", describe(t)));
            }
        }
    }

    // After `{% keyword`: consumes the closing `{% end... %}` tag named `name`.
    void expect_end(const char* name) {
        if (peek().type != Tok::BlockBegin || !is_name(name, 1))
            error(peek(), cat("expected '", name, "'"));
        next();
        next();
        expect_block_end();
    }

    StmtPtr parse_statement() {
        const Token& kw = next();
        auto s = std::make_unique<Stmt>();
        s->pos = kw.offset;
        const std::string& k = kw.text;
        if (k == "if") {
            s->kind = StmtKind::If;
            ExprPtr cond = parse_tuple_or_expr();
            expect_block_end();
            while (true) {
                Body body = parse_body({"elif", "else", "endif"});
                s->branches.emplace_back(std::move(cond), std::move(body));
                next();  // {%
                const std::string which = next().text;
                if (which == "elif") {
                    cond = parse_tuple_or_expr();
                    expect_block_end();
                    continue;
                }
                expect_block_end();
                if (which == "else") {
                    s->else_body = parse_body({"endif"});
                    expect_end("endif");
                }
                break;
            }
        } else if (k == "for") {
            s->kind = StmtKind::For;
            s->targets = parse_targets();
            if (!accept_name("in")) error(peek(), cat("expected 'in', got ", describe(peek())));
            s->expr = parse_or();  // not a condexpr: `if` here filters the loop
            if (accept_name("if")) s->cond = parse_expr();
            accept_name("recursive");
            expect_block_end();
            s->body = parse_body({"else", "endfor"});
            if (is_name("else", 1)) {
                next(), next();
                expect_block_end();
                s->else_body = parse_body({"endfor"});
            }
            expect_end("endfor");
        } else if (k == "set") {
            if (peek().type == Tok::Name && is_op(".", 1)) {
                s->kind = StmtKind::Set;
                s->name = next().text;
                next();
                s->attr = expect_name();
                expect_op("=");
                s->expr = parse_tuple_or_expr();
                expect_block_end();
            } else {
                s->targets = parse_targets();
                if (accept_op("=")) {
                    s->kind = StmtKind::Set;
                    s->expr = parse_tuple_or_expr();
                    expect_block_end();
                } else {
                    if (s->targets.size() != 1) error(peek(), "expected '='");
                    s->kind = StmtKind::SetBlock;
                    while (accept_op("|")) s->filters.push_back(parse_filter(nullptr));
                    expect_block_end();
                    s->body = parse_body({"endset"});
                    expect_end("endset");
                }
            }
        } else if (k == "macro") {
            s->kind = StmtKind::Macro;
            s->name = expect_name();
            expect_op("(");
            while (!accept_op(")")) {
                if (!s->params.empty()) expect_op(",");
                if (accept_op(")")) break;
                std::string param = expect_name();
                ExprPtr def;
                if (accept_op("=")) def = parse_expr();
                s->params.emplace_back(std::move(param), std::move(def));
            }
            expect_block_end();
            s->body = parse_body({"endmacro"});
            expect_end("endmacro");
        } else if (k == "filter") {
            s->kind = StmtKind::FilterBlock;
            do {
                s->filters.push_back(parse_filter(nullptr));
            } while (accept_op("|"));
            expect_block_end();
            s->body = parse_body({"endfilter"});
            expect_end("endfilter");
        } else if (k == "break" || k == "continue") {
            s->kind = k == "break" ? StmtKind::Break : StmtKind::Continue;
            expect_block_end();
        } else {
            error(kw, cat("Encountered unknown tag '", k, "'."));
        }
        return s;
    }

    std::vector<std::string> parse_targets() {
        std::vector<std::string> names;
        const bool paren = accept_op("(");
        do {
            names.push_back(expect_name());
        } while (accept_op(",") && peek().type == Tok::Name);
        if (paren) expect_op(")");
        return names;
    }

    // ---- expressions ----

    // A top-level expression: `a, b` without parentheses is a tuple.
    ExprPtr parse_tuple_or_expr() {
        const size_t pos = peek().offset;
        ExprPtr first = parse_expr();
        if (!is_op(",")) return first;
        auto tuple = make(ExprKind::Tuple, pos);
        tuple->args.push_back(std::move(first));
        while (accept_op(",")) {
            if (peek().type == Tok::VarEnd || peek().type == Tok::BlockEnd) break;
            tuple->args.push_back(parse_expr());
        }
        return seal(std::move(tuple));
    }

    ExprPtr parse_expr() {
        Depth depth(*this);
        ExprPtr e = parse_or();
        while (is_name("if")) {
            auto c = make(ExprKind::Condition, next().offset);
            c->args.push_back(parse_or());  // condition
            c->args.push_back(std::move(e));
            c->args.push_back(accept_name("else") ? parse_expr() : nullptr);
            e = seal(std::move(c));
        }
        return e;
    }

    ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, size_t pos) {
        auto b = make(ExprKind::Binary, pos);
        b->name = op;
        b->args.push_back(std::move(l));
        b->args.push_back(std::move(r));
        return seal(std::move(b));
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            const size_t pos = next().offset;
            e = binary("or", std::move(e), parse_and(), pos);
        }
        return e;
    }
    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            const size_t pos = next().offset;
            e = binary("and", std::move(e), parse_not(), pos);
        }
        return e;
    }
    ExprPtr parse_not() {
        Depth depth(*this);
        if (is_name("not")) {
            auto n = make(ExprKind::Not, next().offset);
            n->args.push_back(parse_not());
            return seal(std::move(n));
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        const size_t pos = peek().offset;
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (peek().type == Tok::Op &&
                (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                 peek().text == "<=" || peek().text == ">" || peek().text == ">=")) {
                op = next().text;
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && is_name("in", 1)) {
                next(), next();
                op = "not in";
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(ExprKind::Compare, pos);
                cmp->args.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? seal(std::move(cmp)) : std::move(first);
    }
    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            const Token& op = next();
            e = binary(op.text, std::move(e), parse_concat(), op.offset);
        }
        return e;
    }
    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            const size_t pos = next().offset;
            e = binary("~", std::move(e), parse_math2(), pos);
        }
        return e;
    }
    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const Token& op = next();
            e = binary(op.text, std::move(e), parse_pow(), op.offset);
        }
        return e;
    }
    ExprPtr parse_pow() {
        ExprPtr e = parse_unary(true);
        while (is_op("**")) {
            const size_t pos = next().offset;
            e = binary("**", std::move(e), parse_unary(true), pos);
        }
        return e;
    }
    ExprPtr parse_unary(bool with_filter) {
        Depth depth(*this);
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            const Token& op = next();
            e = make(op.text == "-" ? ExprKind::Neg : ExprKind::Pos, op.offset);
            e->args.push_back(parse_unary(false));
            e = seal(std::move(e));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filters_and_tests(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token& t = peek();
        switch (t.type) {
            case Tok::Name: {
                next();
                auto lit = [&](Value v) {
                    auto e = make(ExprKind::Literal, t.offset);
                    e->literal = std::move(v);
                    return e;
                };
                if (t.text == "true" || t.text == "True") return lit(Value(true));
                if (t.text == "false" || t.text == "False") return lit(Value(false));
                if (t.text == "none" || t.text == "None") return lit(Value(None{}));
                auto e = make(ExprKind::Name, t.offset);
                e->name = t.text;
                return e;
            }
            case Tok::String: {
                auto e = make(ExprKind::Literal, t.offset);
                std::string s = next().text;
                while (peek().type == Tok::String) s += next().text;  // "a" "b" concatenates
                e->literal = Value(Text(std::move(s)));
                return e;
            }
            case Tok::Int: {
                auto e = make(ExprKind::Literal, t.offset);
                const std::string text = next().text;
                try {
                    e->literal = Value(static_cast<int64_t>(std::stoll(text)));
                } catch (const std::exception&) {
                    error(t, "integer literal too large");
                }
                return e;
            }
            case Tok::Float: {
                auto e = make(ExprKind::Literal, t.offset);
                const std::string text = next().text;
                e->literal = Value(std::strtod(text.c_str(), nullptr));
                return e;
            }
            case Tok::Op:
                if (t.text == "(") {
                    next();
                    if (accept_op(")")) return make(ExprKind::Tuple, t.offset);
                    ExprPtr first = parse_expr();
                    if (accept_op(")")) return first;
                    auto tuple = make(ExprKind::Tuple, t.offset);
                    tuple->args.push_back(std::move(first));
                    while (accept_op(",")) {
                        if (is_op(")")) break;
                        tuple->args.push_back(parse_expr());
                    }
                    expect_op(")");
                    return seal(std::move(tuple));
                }
                if (t.text == "[") {
                    next();
                    auto list = make(ExprKind::List, t.offset);
                    while (!accept_op("]")) {
                        if (!list->args.empty()) expect_op(",");
                        if (accept_op("]")) break;
                        list->args.push_back(parse_expr());
                    }
                    return seal(std::move(list));
                }
                if (t.text == "{") {
                    next();
                    auto dict = make(ExprKind::Dict, t.offset);
                    while (!accept_op("}")) {
                        if (!dict->args.empty()) expect_op(",");
                        if (accept_op("}")) break;
                        dict->args.push_back(parse_expr());
                        expect_op(":");
                        dict->args.push_back(parse_expr());
                    }
                    return seal(std::move(dict));
                }
                break;
            default:
                break;
        }
        error(t, cat("unexpected ", describe(t)));
    }

    ExprPtr parse_postfix(ExprPtr e) {
        while (true) {
            Depth depth(*this);
            if (is_op(".")) {
                const size_t pos = next().offset;
                if (peek().type == Tok::Int) {  // foo.0 is foo[0]
                    auto item = make(ExprKind::GetItem, pos);
                    item->args.push_back(std::move(e));
                    item->args.push_back(parse_primary());
                    e = seal(std::move(item));
                    continue;
                }
                auto attr = make(ExprKind::GetAttr, pos);
                attr->name = expect_name();
                attr->args.push_back(std::move(e));
                e = seal(std::move(attr));
            } else if (is_op("[")) {
                e = seal(parse_subscript(std::move(e)));
            } else if (is_op("(")) {
                next();
                auto call = make(ExprKind::Call, e->pos);  // errors point at the callee
                call->args.push_back(std::move(e));
                parse_call_args(*call);
                e = seal(std::move(call));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr obj) {
        const size_t pos = next().offset;  // [
        ExprPtr parts[3];
        int colons = 0;
        if (!is_op(":")) parts[0] = parse_expr();
        while (colons < 2 && accept_op(":")) {
            ++colons;
            if (!is_op(":") && !is_op("]")) parts[colons] = parse_expr();
        }
        expect_op("]");
        if (colons == 0) {
            auto item = make(ExprKind::GetItem, pos);
            item->args.push_back(std::move(obj));
            item->args.push_back(std::move(parts[0]));
            return item;
        }
        auto slice = make(ExprKind::Slice, pos);
        slice->args.push_back(std::move(obj));
        for (auto& p : parts) slice->args.push_back(std::move(p));
        return slice;
    }

    // `(a, b, key=c)`: the opening parenthesis is already consumed.
    void parse_call_args(Expr& call) {
        while (!accept_op(")")) {
            if (call.args.size() > 1 || !call.kwargs.empty()) expect_op(",");
            if (accept_op(")")) break;
            if (peek().type == Tok::Name && is_op("=", 1)) {
                std::string key = next().text;
                next();
                call.kwargs.emplace_back(std::move(key), parse_expr());
            } else {
                if (!call.kwargs.empty())
                    error(peek(), "positional argument after keyword argument");
                call.args.push_back(parse_expr());
            }
        }
    }

    // `|name` or `|name(args)`; the `|` is already consumed.
    ExprPtr parse_filter(ExprPtr operand) {
        const size_t pos = peek().offset;
        auto f = make(ExprKind::Filter, pos);
        f->name = expect_name();
        if (!known_filter(f->name)) {
            err_ = pos;
            fault("TemplateAssertionError", cat("No filter named '", f->name, "'."));
        }
        f->args.push_back(std::move(operand));
        if (accept_op("(")) parse_call_args(*f);
        return seal(std::move(f));
    }

    ExprPtr parse_filters_and_tests(ExprPtr e) {
        while (true) {
            if (accept_op("|")) {
                e = parse_filter(std::move(e));
            } else if (is_name("is")) {
                auto test = make(ExprKind::Test, next().offset);
                test->negated = accept_name("not");
                const size_t name_pos = peek().offset;
                test->name = expect_name();
                if (!known_test(test->name)) {
                    err_ = name_pos;
                    fault("TemplateAssertionError", cat("No test named '", test->name, "'."));
                }
                test->args.push_back(std::move(e));
                if (accept_op("(")) {
                    parse_call_args(*test);
                } else if ((peek().type == Tok::Name || peek().type == Tok::String ||
                            peek().type == Tok::Int || peek().type == Tok::Float || is_op("[") ||
                            is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    // `x is divisibleby 3`, `x is sameas none`: one bare argument
                    test->args.push_back(parse_postfix(parse_primary()));
                }
                e = seal(std::move(test));
            } else {
                return e;
            }
        }
    }

    std::vector<Token> t_;
    size_t i_ = 0;
    size_t& err_;
    int depth_ = 0;
};

}  // namespace

std::unique_ptr<Program> parse(std::string normalized_source, size_t& error_offset) {
    auto program = std::make_unique<Program>();
    program->source = std::move(normalized_source);
    Parser parser(tokenize(program->source, error_offset), error_offset);
    program->body = parser.parse_template();
    return program;
}

}  // namespace pocket::jinja
