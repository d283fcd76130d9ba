// `x is name(args)`: Jinja2's builtin tests.
#include "generate/jinja/builtins_util.h"

namespace pocket::jinja {

bool known_test(std::string_view name) {
    static constexpr std::string_view kNames[] = {
        "defined", "undefined", "none",        "string",   "number",   "integer",     "float",
        "boolean", "mapping",   "iterable",    "sequence", "callable", "true",        "false",
        "odd",     "even",      "divisibleby", "eq",       "equalto",  "==",          "ne",
        "!=",      "lt",        "lessthan",    "<",        "gt",       "greaterthan", ">",
        "le",      "<=",        "ge",          ">=",       "in",       "sameas",      "lower",
        "upper",   "escaped",   "filter",      "test"};
    for (std::string_view n : kNames)
        if (n == name) return true;
    return false;
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, Args& args) {
    const Value other = arg(args, 0, "other");
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.is_int();
    if (name == "float") return v.is_float();
    if (name == "boolean") return v.is_bool();
    if (name == "mapping") return v.is_dict();
    // Undefined iterates (as nothing) in Jinja2, so it is iterable.
    if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
    if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
    if (name == "callable") return v.is_callable();
    if (name == "true") return v.is_bool() && v.as_bool();
    if (name == "false") return v.is_bool() && !v.as_bool();
    if (name == "odd" || name == "even") {
        const int64_t i = int_arg(v.defined(), "odd/even");
        return (((i % 2) + 2) % 2 == 1) == (name == "odd");
    }
    if (name == "divisibleby") {
        const int64_t d = int_arg(other.defined(), "divisibleby");
        if (d == 0) fault("ZeroDivisionError", "integer division or modulo by zero");
        return int_arg(v.defined(), "divisibleby") % d == 0;
    }
    if (name == "eq" || name == "equalto" || name == "==") return equal(v, other);
    if (name == "ne" || name == "!=") return !equal(v, other);
    if (name == "lt" || name == "lessthan" || name == "<") return less(v, other);
    if (name == "gt" || name == "greaterthan" || name == ">") return less(other, v);
    if (name == "le" || name == "<=") return !less(other, v);
    if (name == "ge" || name == ">=") return !less(v, other);
    if (name == "in") return contains(other, v);
    if (name == "sameas") {
        if (v.is_list() && other.is_list()) return &v.list() == &other.list();
        if (v.is_dict() && other.is_dict()) return &v.dict() == &other.dict();
        if (v.is_none() || v.is_bool() || v.is_undefined())
            return equal(v, other) && v.type_name() == other.type_name();
        return false;
    }
    if (name == "lower" || name == "upper") {
        const std::string& s = to_text(v).bytes;
        return (name == "lower" ? ascii_lower(s) : ascii_upper(s)) == s;
    }
    if (name == "escaped") return false;
    if (name == "filter" || name == "test") return v.is_string();
    fault("TemplateAssertionError", cat("No test named '", name, "'."));
}

}  // namespace pocket::jinja
