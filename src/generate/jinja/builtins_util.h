// Helpers shared by the builtin filters, tests and methods: Python-style argument binding and
// string operations that keep provenance.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "generate/jinja/interpreter.h"

namespace pocket::jinja {

// Argument `index` (positional) or `name` (keyword) of a builtin, else `fallback`.
inline Value arg(const Args& args, size_t index, std::string_view name, Value fallback = Value()) {
    if (index < args.positional.size()) return args.positional[index];
    for (const auto& [k, v] : args.keyword)
        if (k == name) return v;
    return fallback;
}

// The argument as a string; TypeError naming `what` otherwise. A copy: arguments are often
// temporaries (arg(...) returns by value).
inline Text text_arg(const Value& v, const char* what) {
    if (!v.is_string()) type_error(cat(what, " must be str, not ", v.type_name()));
    return v.text();
}

inline int64_t int_arg(const Value& v, const char* what) {
    if (!v.is_int() && !v.is_bool())
        type_error(cat(what, ": '", v.type_name(), "' object cannot be interpreted as an integer"));
    return v.integer();
}

// Byte offsets where each code point starts, plus the string's size at the end.
std::vector<size_t> code_points(const std::string& s);

// Python's str.strip family: `chars` none/undefined means whitespace.
enum class StripSide { Both, Left, Right };
Text strip(const Text& t, const Value& chars, StripSide side);
// str.split(sep=None, maxsplit=-1), keeping provenance on the pieces.
Value split(const Text& t, const Value& sep, int64_t maxsplit);
// A transform that cannot map bytes one to one: the whole result is input if any source byte was.
Text derived(std::string bytes, bool input);

std::string ascii_upper(std::string s);
std::string ascii_lower(std::string s);
std::string py_title(const std::string& s);       // str.title()
std::string py_capitalize(const std::string& s);  // str.capitalize()
// str.replace(old, new, count=-1)
Text replace(const Text& t, const std::string& from, const Text& to, int64_t count);

// Jinja2's attribute getter for filters: "a.b.0" follows items like subscripts.
Value lookup_path(const Value& item, const Value& path);

}  // namespace pocket::jinja
