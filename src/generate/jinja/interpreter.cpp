#include "generate/jinja/interpreter.h"

namespace pocket::jinja {
namespace {

// Nested evaluation frames (statements, expressions, macro calls) before a template is refused:
// deep enough for any real template, shallow enough for the default thread stack under ASan.
constexpr int kMaxDepth = 512;
// Statements plus expressions evaluated in one render; real templates use well under 1e6.
constexpr uint64_t kMaxSteps = 2'000'000;

void assign_targets(Scope& scope, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
        scope.vars[targets[0]] = v;
        return;
    }
    const std::vector<Value> items = iterate(v.defined());
    if (items.size() != targets.size())
        fault("ValueError",
              cat(items.size() < targets.size() ? "not enough" : "too many",
                  " values to unpack (expected ", targets.size(), ", got ", items.size(), ")"));
    for (size_t i = 0; i < items.size(); ++i) scope.vars[targets[i]] = items[i];
}

}  // namespace

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
        const auto it = s->vars.find(name);
        if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
}

Interpreter::Nest::Nest(Interpreter& in) : in_(in) {
    if (++in_.depth_ > kMaxDepth) fault("TemplateError", "template recursion too deep");
}

Interpreter::Interpreter(const Program& program, ChatTemplate::Clock clock)
    : program_(program), clock_(std::move(clock)) {}

Interpreter::~Interpreter() {
    for (const auto& ns : namespaces_) ns->attrs.items.clear();
}

Value Interpreter::make_namespace() {
    auto ns = std::make_shared<Namespace>();
    namespaces_.push_back(ns);
    return Value(std::move(ns));
}

void Interpreter::step() {
    if (++steps_ > kMaxSteps) fault("TemplateError", "template takes too many steps");
}

Text Interpreter::render(std::unordered_map<std::string, Value> globals, size_t& error_offset) {
    error_offset_ = &error_offset;
    auto root = std::make_shared<Scope>();
    root->vars = std::move(globals);
    Text out;
    exec_body(program_.body, out, root);
    return out;
}

Value Interpreter::call(const Value& callee, Args& args) {
    if (callee.is_undefined()) fault("UndefinedError", callee.undefined_hint());
    if (!callee.is_callable()) type_error(cat("'", callee.type_name(), "' object is not callable"));
    return callee.callable().call(*this, args);
}

// ---- statements ----------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_body(const Body& body, Text& out,
                                         const std::shared_ptr<Scope>& scope) {
    for (const StmtPtr& s : body) {
        const Flow f = exec(*s, out, scope);
        if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, Text& out, const std::shared_ptr<Scope>& scope) {
    try {
        Nest nest(*this);
        step();
        return exec_impl(s, out, scope);
    } catch (const Fault&) {
        locate(s.pos);
        throw;
    }
}

void Interpreter::locate(size_t pos) {
    // The innermost node that fails names the position; outer frames leave it alone.
    if (error_located_) return;
    error_located_ = true;
    if (error_offset_) *error_offset_ = pos;
}

Interpreter::Flow Interpreter::exec_impl(const Stmt& s, Text& out,
                                         const std::shared_ptr<Scope>& scope) {
    switch (s.kind) {
        case StmtKind::Text:
            out.append(s.text);
            return Flow::Normal;
        case StmtKind::Output:
            out.append(to_text(eval(*s.expr, scope)));
            return Flow::Normal;
        case StmtKind::If:
            for (const auto& [cond, body] : s.branches)
                if (eval(*cond, scope).truthy()) return exec_body(body, out, scope);
            return exec_body(s.else_body, out, scope);
        case StmtKind::For:
            return exec_for(s, out, scope);
        case StmtKind::Set:
            exec_set(s, scope);
            return Flow::Normal;
        case StmtKind::SetBlock: {
            auto inner = std::make_shared<Scope>();
            inner->parent = scope;
            Text body;
            exec_body(s.body, body, inner);
            scope->vars[s.targets[0]] = apply_filters(s.filters, Value(std::move(body)), scope);
            return Flow::Normal;
        }
        case StmtKind::Macro:
            scope->vars[s.name] = define_macro(s, scope);
            return Flow::Normal;
        case StmtKind::FilterBlock: {
            auto inner = std::make_shared<Scope>();
            inner->parent = scope;
            Text body;
            exec_body(s.body, body, inner);
            out.append(to_text(apply_filters(s.filters, Value(std::move(body)), scope)));
            return Flow::Normal;
        }
        case StmtKind::Break:
            return Flow::Break;
        case StmtKind::Continue:
            return Flow::Continue;
    }
    return Flow::Normal;
}

Value Interpreter::apply_filters(const std::vector<ExprPtr>& filters, Value v,
                                 const std::shared_ptr<Scope>& scope) {
    for (const ExprPtr& f : filters) {
        Args args = eval_args(*f, scope);
        v = apply_filter(*this, f->name, v, args);
    }
    return v;
}

void Interpreter::exec_set(const Stmt& s, const std::shared_ptr<Scope>& scope) {
    Value v = eval(*s.expr, scope);
    if (!s.attr.empty()) {
        const Value* target = scope->find(s.name);
        if (!target || !target->is_namespace())
            fault("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
        target->ns().attrs.set(Value(Text(s.attr)), std::move(v));
        return;
    }
    assign_targets(*scope, s.targets, v);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, Text& out,
                                        const std::shared_ptr<Scope>& scope) {
    const Value seq = eval(*s.expr, scope);
    if (seq.is_none()) type_error("'NoneType' object is not iterable");
    std::vector<Value> items = iterate(seq);
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    if (s.cond) {  // `for x in xs if cond`: loop.* counts only the kept items
        std::vector<Value> kept;
        for (Value& item : items) {
            assign_targets(*inner, s.targets, item);
            if (eval(*s.cond, inner).truthy()) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) return exec_body(s.else_body, out, scope);

    // One `loop` object per loop, advanced in place like Jinja2's LoopContext.
    const auto n = static_cast<int64_t>(items.size());
    auto loop = Value::make_dict();
    auto cursor = std::make_shared<int64_t>(0);
    Dict& d = loop.dict();
    for (const char* key :
         {"index", "index0", "revindex", "revindex0", "first", "last", "previtem", "nextitem"})
        d.items.emplace_back(Value(key), Value());
    d.items.emplace_back(Value("length"), Value(n));
    d.items.emplace_back(Value("depth"), Value(1));
    d.items.emplace_back(Value("depth0"), Value(0));
    d.items.emplace_back(
        Value("cycle"), Value::function("cycle", [cursor](Interpreter&, Args& args) {
            if (args.positional.empty()) type_error("no items for cycling given");
            return args.positional[static_cast<size_t>(*cursor) % args.positional.size()];
        }));
    inner->vars["loop"] = loop;
    for (int64_t i = 0; i < n; ++i) {
        step();
        *cursor = i;
        const auto at = static_cast<size_t>(i);
        d.items[0].second = Value(i + 1);
        d.items[1].second = Value(i);
        d.items[2].second = Value(n - i);
        d.items[3].second = Value(n - i - 1);
        d.items[4].second = Value(i == 0);
        d.items[5].second = Value(i == n - 1);
        d.items[6].second = i > 0 ? items[at - 1] : Value::undefined("there is no previous item");
        d.items[7].second = i + 1 < n ? items[at + 1] : Value::undefined("there is no next item");
        assign_targets(*inner, s.targets, items[at]);
        if (exec_body(s.body, out, inner) == Flow::Break) break;
    }
    return Flow::Normal;
}

Value Interpreter::define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope) {
    const Stmt* macro = &s;
    std::weak_ptr<Scope> home = scope;
    return Value::function(s.name, [macro, home](Interpreter& in, Args& args) -> Value {
        auto frame = std::make_shared<Scope>();
        frame->parent = home.lock();
        const auto& params = macro->params;
        if (args.positional.size() > params.size())
            type_error(cat("macro '", macro->name, "' takes not more than ", params.size(),
                           " argument(s)"));
        std::vector<bool> bound(params.size(), false);
        for (size_t i = 0; i < args.positional.size(); ++i) {
            frame->vars[params[i].first] = args.positional[i];
            bound[i] = true;
        }
        for (auto& [key, value] : args.keyword) {
            size_t i = 0;
            while (i < params.size() && params[i].first != key) ++i;
            if (i == params.size())
                type_error(cat("macro '", macro->name, "' takes no keyword argument '", key, "'"));
            if (bound[i])
                type_error(
                    cat("macro '", macro->name, "' got multiple values for argument '", key, "'"));
            frame->vars[key] = value;
            bound[i] = true;
        }
        for (size_t i = 0; i < params.size(); ++i) {
            if (bound[i]) continue;
            frame->vars[params[i].first] =
                params[i].second
                    ? in.eval(*params[i].second, frame)
                    : Value::undefined(cat("parameter '", params[i].first, "' was not provided"));
        }
        Text out;
        in.exec_body(macro->body, out, frame);
        return Value(std::move(out));
    });
}

// ---- expressions ---------------------------------------------------------------------------

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Scope>& scope) {
    try {
        Nest nest(*this);
        step();
        return eval_impl(e, scope);
    } catch (const Fault&) {
        locate(e.pos);
        throw;
    }
}

Args Interpreter::eval_args(const Expr& e, const std::shared_ptr<Scope>& scope) {
    Args args;
    for (size_t i = 1; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], scope));
    for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, scope));
    return args;
}

Value Interpreter::eval_compare(const Expr& e, const std::shared_ptr<Scope>& scope) {
    Value left = eval(*e.args[0], scope);
    for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i + 1], scope);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==")
            ok = equal(left, right);
        else if (op == "!=")
            ok = !equal(left, right);
        else if (op == "<")
            ok = less(left, right);
        else if (op == ">")
            ok = less(right, left);
        else if (op == "<=")
            ok = !less(right, left);
        else if (op == ">=")
            ok = !less(left, right);
        else if (op == "in")
            ok = contains(right, left);
        else
            ok = !contains(right, left);
        if (!ok) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

Value Interpreter::eval_impl(const Expr& e, const std::shared_ptr<Scope>& scope) {
    switch (e.kind) {
        case ExprKind::Literal:
            return e.literal;
        case ExprKind::Name: {
            const Value* v = scope->find(e.name);
            return v ? *v : Value::undefined(cat("'", e.name, "' is undefined"));
        }
        case ExprKind::List:
        case ExprKind::Tuple: {
            std::vector<Value> items;
            for (const auto& a : e.args) items.push_back(eval(*a, scope));
            return Value::make_list(std::move(items), e.kind == ExprKind::Tuple);
        }
        case ExprKind::Dict: {
            Value d = Value::make_dict();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                Value k = eval(*e.args[i], scope);
                d.dict().set(std::move(k), eval(*e.args[i + 1], scope));
            }
            return d;
        }
        case ExprKind::GetAttr:
            return get_attr(eval(*e.args[0], scope), e.name);
        case ExprKind::GetItem: {
            Value obj = eval(*e.args[0], scope);
            return get_item(obj, eval(*e.args[1], scope));
        }
        case ExprKind::Slice: {
            Value obj = eval(*e.args[0], scope);
            Value parts[3];
            for (int i = 0; i < 3; ++i)
                parts[i] = e.args[1 + i] ? eval(*e.args[1 + i], scope) : Value(None{});
            return slice(obj, parts[0], parts[1], parts[2]);
        }
        case ExprKind::Call: {
            Value callee = eval(*e.args[0], scope);
            Args args = eval_args(e, scope);
            return call(callee, args);
        }
        case ExprKind::Filter: {
            Value operand = eval(*e.args[0], scope);
            Args args = eval_args(e, scope);
            return apply_filter(*this, e.name, operand, args);
        }
        case ExprKind::Test: {
            Value operand = eval(*e.args[0], scope);
            Args args = eval_args(e, scope);
            return Value(apply_test(*this, e.name, operand, args) != e.negated);
        }
        case ExprKind::Not:
            return Value(!eval(*e.args[0], scope).truthy());
        case ExprKind::Neg:
            return negate(eval(*e.args[0], scope));
        case ExprKind::Pos: {
            Value v = eval(*e.args[0], scope);
            if (!v.is_number())
                type_error(cat("bad operand type for unary +: '", v.type_name(), "'"));
            return v.is_bool() ? Value(v.integer()) : v;
        }
        case ExprKind::Binary: {
            if (e.name == "and") {
                Value l = eval(*e.args[0], scope);
                return l.truthy() ? eval(*e.args[1], scope) : l;
            }
            if (e.name == "or") {
                Value l = eval(*e.args[0], scope);
                return l.truthy() ? l : eval(*e.args[1], scope);
            }
            Value l = eval(*e.args[0], scope);
            return binary_op(e.name, l, eval(*e.args[1], scope));
        }
        case ExprKind::Compare:
            return eval_compare(e, scope);
        case ExprKind::Condition:
            if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
            if (e.args[2]) return eval(*e.args[2], scope);
            return Value::undefined(
                "the inline if-expression evaluated to false and no else "
                "section was defined.");
    }
    return Value();
}

}  // namespace pocket::jinja
