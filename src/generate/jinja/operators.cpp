// Arithmetic, concatenation and membership with Python's rules: bools are ints, `/` always gives a
// float, `//` and `%` floor toward negative infinity, str/list `+` and `*` build new values.
#include <cmath>

#include "generate/jinja/interpreter.h"

namespace pocket::jinja {
namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
    type_error(cat("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '",
                   b.type_name(), "'"));
}

// Checked int64 arithmetic (Python ints are unbounded; ours fail instead of wrapping).
template <typename Op>
int64_t checked(Op op, int64_t a, int64_t b) {
    int64_t r;
    if (op(a, b, &r)) fault("OverflowError", "integer result too large");
    return r;
}
constexpr auto kAdd = [](int64_t a, int64_t b, int64_t* r) {
    return __builtin_add_overflow(a, b, r);
};
constexpr auto kSub = [](int64_t a, int64_t b, int64_t* r) {
    return __builtin_sub_overflow(a, b, r);
};
constexpr auto kMul = [](int64_t a, int64_t b, int64_t* r) {
    return __builtin_mul_overflow(a, b, r);
};

Value repeat(const Value& seq, int64_t times) {
    if (times <= 0) return seq.is_string() ? Value(Text()) : Value::make_list({}, seq.list().tuple);
    if (seq.is_string()) {
        if (!seq.str().empty() && static_cast<uint64_t>(times) > kMaxTextBytes / seq.str().size())
            fault("TemplateError", cat("text longer than ", kMaxTextBytes, " bytes"));
        Text out;
        for (int64_t i = 0; i < times; ++i) out.append(seq.text());
        return Value(std::move(out));
    }
    const auto& items = seq.list().items;
    if (!items.empty() && static_cast<uint64_t>(times) > kMaxListItems / items.size())
        fault("TemplateError", "list too long");
    std::vector<Value> out;
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
    return Value::make_list(std::move(out), seq.list().tuple);
}

int64_t floor_div(int64_t a, int64_t b) {
    if (b == -1 && a == INT64_MIN) fault("OverflowError", "integer result too large");
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

int64_t int_pow(int64_t base, int64_t exp) {
    int64_t result = 1;
    while (exp > 0) {
        if (exp & 1) result = checked(kMul, result, base);
        exp >>= 1;
        if (exp > 0) base = checked(kMul, base, base);
    }
    return result;
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        Text out = to_text(a);
        out.append(to_text(b));
        return Value(std::move(out));
    }
    a.defined(), b.defined();
    const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
    const bool nums = a.is_number() && b.is_number();
    if (op == "+") {
        if (ints) return Value(checked(kAdd, a.integer(), b.integer()));
        if (nums) return Value(a.number() + b.number());
        if (a.is_string() && b.is_string()) {
            Text out = a.text();
            out.append(b.text());
            return Value(std::move(out));
        }
        if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
            std::vector<Value> items = a.list().items;
            items.insert(items.end(), b.list().items.begin(), b.list().items.end());
            return Value::make_list(std::move(items), a.list().tuple);
        }
        if (a.is_string() || a.is_list())
            type_error(cat("can only concatenate ", a.type_name(), " (not \"", b.type_name(),
                           "\") to ", a.type_name()));
        unsupported(op, a, b);
    }
    if (op == "-") {
        if (ints) return Value(checked(kSub, a.integer(), b.integer()));
        if (nums) return Value(a.number() - b.number());
        unsupported(op, a, b);
    }
    if (op == "*") {
        if (ints) return Value(checked(kMul, a.integer(), b.integer()));
        if (nums) return Value(a.number() * b.number());
        if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool()))
            return repeat(a, b.integer());
        if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool()))
            return repeat(b, a.integer());
        type_error(cat("can't multiply sequence by non-int of type '",
                       (a.is_string() || a.is_list() ? b : a).type_name(), "'"));
    }
    if (op == "/") {
        if (!nums) unsupported(op, a, b);
        if (b.number() == 0) fault("ZeroDivisionError", "division by zero");
        return Value(a.number() / b.number());
    }
    if (op == "//") {
        if (!nums) unsupported(op, a, b);
        if (ints) {
            if (b.integer() == 0) fault("ZeroDivisionError", "integer division or modulo by zero");
            return Value(floor_div(a.integer(), b.integer()));
        }
        if (b.number() == 0) fault("ZeroDivisionError", "float floor division by zero");
        return Value(std::floor(a.number() / b.number()));
    }
    if (op == "%") {
        if (!nums) unsupported(op, a, b);
        if (ints) {
            if (b.integer() == 0) fault("ZeroDivisionError", "integer division or modulo by zero");
            if (b.integer() == -1) return Value(int64_t{0});
            const int64_t r = a.integer() % b.integer();
            return Value((r != 0 && ((r < 0) != (b.integer() < 0))) ? r + b.integer() : r);
        }
        if (b.number() == 0) fault("ZeroDivisionError", "float modulo");
        double r = std::fmod(a.number(), b.number());
        if (r != 0 && ((r < 0) != (b.number() < 0))) r += b.number();
        return Value(r);
    }
    if (op == "**") {
        if (ints && b.integer() >= 0) return Value(int_pow(a.integer(), b.integer()));
        if (nums) return Value(std::pow(a.number(), b.number()));
        unsupported(op, a, b);
    }
    fault("TemplateSyntaxError", cat("unknown operator '", op, "'"));
}

Value negate(const Value& v) {
    v.defined();
    if (v.is_int() || v.is_bool()) {
        return Value(checked(kSub, int64_t{0}, v.integer()));
    }
    if (v.is_float()) return Value(-v.as_float());
    type_error(cat("bad operand type for unary -: '", v.type_name(), "'"));
}

bool contains(const Value& container, const Value& item) {
    if (container.is_undefined()) return false;
    if (container.is_string()) {
        if (!item.is_string())
            type_error(
                cat("'in <string>' requires string as left operand, not ", item.type_name()));
        return container.str().find(item.str()) != std::string::npos;
    }
    if (container.is_list()) {
        for (const Value& x : container.list().items)
            if (equal(x, item)) return true;
        return false;
    }
    if (container.is_dict()) return container.dict().find(item) != nullptr;
    type_error(cat("argument of type '", container.type_name(), "' is not iterable"));
}

}  // namespace pocket::jinja
