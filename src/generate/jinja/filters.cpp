// `x | name(args)`: Jinja2's builtin filters (and transformers' tojson), Python semantics.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "generate/jinja/builtins_util.h"

namespace pocket::jinja {
namespace {

Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value(Text(ascii_lower(v.str())));
    return v;
}

// select/reject/selectattr/rejectattr: keeps items whose test (or truthiness) equals `keep`.
Value filter_items(Interpreter& in, const Value& seq, Args& args, bool by_attr, bool keep) {
    size_t i = 0;
    Value attr;
    if (by_attr) attr = arg(args, i++, "attribute");
    Value test_name = arg(args, i++, "test");
    Args test_args;
    for (; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
    std::vector<Value> out;
    if (!seq.truthy()) return Value::make_list();  // Jinja2 skips a falsy sequence (none too)
    for (const Value& item : iterate(seq)) {
        const Value subject = by_attr ? lookup_path(item, attr) : item;
        const bool ok =
            test_name.is_undefined() || test_name.is_none()
                ? subject.truthy()
                : apply_test(in, text_arg(test_name, "test name").bytes, subject, test_args);
        if (ok == keep) out.push_back(item);
    }
    return Value::make_list(std::move(out));
}

Value do_tojson(const Value& v, Args& args) {
    JsonStyle st;
    const Value indent = arg(args, 1, "indent", Value(None{}));
    const Value seps = arg(args, 2, "separators", Value(None{}));
    st.sort_keys = arg(args, 3, "sort_keys", Value(false)).truthy();
    // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None,
    // sort_keys=False)
    st.ensure_ascii = arg(args, 0, "ensure_ascii", Value(false)).truthy();
    if (!indent.is_none() && !indent.is_undefined()) {
        st.indent = true;
        st.item_sep = ",";
        if (indent.is_string()) {
            st.indent_unit = indent.str();
        } else {
            const int64_t n = int_arg(indent, "indent");
            st.indent_unit = std::string(static_cast<size_t>(std::clamp<int64_t>(n, 0, 64)), ' ');
        }
    }
    if (seps.is_list()) {
        if (seps.list().items.size() != 2) fault("ValueError", "separators must be a pair");
        st.item_sep = text_arg(seps.list().items[0], "separator").bytes;
        st.key_sep = text_arg(seps.list().items[1], "separator").bytes;
    }
    return Value(derived(to_json(v, st), has_input(v)));
}

Value do_indent(const Value& v, Args& args) {
    const Value width = arg(args, 0, "width", Value(int64_t{4}));
    const bool first = arg(args, 1, "first", Value(false)).truthy();
    const bool blank = arg(args, 2, "blank", Value(false)).truthy();
    const Text indention =
        width.is_string()
            ? width.text()
            : Text(std::string(
                  static_cast<size_t>(std::clamp<int64_t>(int_arg(width, "width"), 0, 1024)), ' '));
    Text s = to_text(v);
    s.append("\n");  // Jinja2 appends a newline so that splitlines keeps a trailing empty line
    // str.splitlines() on the common line boundaries.
    std::vector<Text> lines;
    size_t start = 0;
    for (size_t i = 0; i < s.bytes.size(); ++i) {
        const char c = s.bytes[i];
        if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
            lines.push_back(s.slice(start, i));
            if (c == '\r' && i + 1 < s.bytes.size() && s.bytes[i + 1] == '\n') ++i;
            start = i + 1;
        }
    }
    if (start < s.bytes.size()) lines.push_back(s.slice(start, s.bytes.size()));
    Text out;
    if (blank) {
        for (size_t i = 0; i < lines.size(); ++i) {
            if (i) out.append("\n"), out.append(indention);
            out.append(lines[i]);
        }
    } else if (!lines.empty()) {
        out.append(lines[0]);
        for (size_t i = 1; i < lines.size(); ++i) {
            out.append("\n");
            if (!lines[i].bytes.empty()) out.append(indention);
            out.append(lines[i]);
        }
    }
    if (first) {
        Text t = indention;
        t.append(out);
        out = std::move(t);
    }
    return Value(std::move(out));
}

Value do_int(const Value& v, Args& args) {
    const Value dflt = arg(args, 0, "default", Value(int64_t{0}));
    if (v.is_int() || v.is_bool()) return Value(v.integer());
    if (v.is_float()) {
        if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) > 9.2e18) return dflt;
        return Value(static_cast<int64_t>(v.as_float()));
    }
    if (v.is_string()) {
        std::string s = strip(v.text(), Value(None{}), StripSide::Both).bytes;
        s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
        if (s.empty()) return dflt;
        char* end = nullptr;
        errno = 0;
        const long long i = std::strtoll(s.c_str(), &end, 10);
        if (end && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
        const double f = std::strtod(s.c_str(), &end);
        if (end && *end == '\0' && std::isfinite(f) && std::fabs(f) < 9.2e18)
            return Value(static_cast<int64_t>(f));
    }
    return dflt;
}

Value do_float(const Value& v, Args& args) {
    const Value dflt = arg(args, 0, "default", Value(0.0));
    if (v.is_number()) return Value(v.number());
    if (v.is_string()) {
        const std::string s = strip(v.text(), Value(None{}), StripSide::Both).bytes;
        char* end = nullptr;
        const double f = std::strtod(s.c_str(), &end);
        if (!s.empty() && end && *end == '\0') return Value(f);
    }
    return dflt;
}

Value do_round(const Value& v, Args& args) {
    const int64_t precision = int_arg(arg(args, 0, "precision", Value(int64_t{0})), "precision");
    const std::string method = to_text(arg(args, 1, "method", Value("common"))).bytes;
    if (!v.is_number()) type_error(cat("type ", v.type_name(), " doesn't define __round__ method"));
    const double scale =
        std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    const double x = v.number() * scale;
    double r;
    if (method == "ceil")
        r = std::ceil(x);
    else if (method == "floor")
        r = std::floor(x);
    else if (method == "common")
        r = std::nearbyint(x);  // Python rounds half to even
    else
        fault("FilterArgumentError", "method must be common, ceil or floor");
    return Value(r / scale);
}

Value do_join(const Value& v, Args& args) {
    const Value sep = arg(args, 0, "d", Value(""));
    const Value attr = arg(args, 1, "attribute", Value(None{}));
    Text out;
    bool first = true;
    for (const Value& item : iterate(v)) {
        if (!first) out.append(to_text(sep));
        first = false;
        out.append(to_text(attr.is_none() ? item : lookup_path(item, attr)));
    }
    return Value(std::move(out));
}

Value do_map(Interpreter& in, const Value& v, Args& args) {
    std::vector<Value> out;
    if (!v.truthy()) return Value::make_list();  // Jinja2 skips a falsy sequence (none too)
    const Value attr = arg(args, args.positional.size(), "attribute");
    if (!attr.is_undefined()) {
        const Value dflt = arg(args, args.positional.size(), "default");
        for (const Value& item : iterate(v)) {
            Value x = lookup_path(item, attr);
            out.push_back(x.is_undefined() && !dflt.is_undefined() ? dflt : x);
        }
        return Value::make_list(std::move(out));
    }
    if (args.positional.empty()) return Value::make_list(iterate(v));
    const std::string name = text_arg(args.positional[0], "filter name").bytes;
    Args rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : iterate(v)) {
        Args a = rest;
        out.push_back(apply_filter(in, name, item, a));
    }
    return Value::make_list(std::move(out));
}

Value do_sort(const Value& v, Args& args) {
    const bool reverse = arg(args, 0, "reverse", Value(false)).truthy();
    const bool cs = arg(args, 1, "case_sensitive", Value(false)).truthy();
    const Value attr = arg(args, 2, "attribute", Value(None{}));
    std::vector<Value> items = iterate(v);
    std::vector<std::pair<Value, size_t>> keyed;
    for (size_t i = 0; i < items.size(); ++i)
        keyed.emplace_back(sort_key(attr.is_none() ? items[i] : lookup_path(items[i], attr), cs),
                           i);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return reverse ? less(b.first, a.first) : less(a.first, b.first);
    });
    std::vector<Value> out;
    for (const auto& [k, i] : keyed) out.push_back(items[i]);
    return Value::make_list(std::move(out));
}

Value do_unique(const Value& v, Args& args) {
    const bool cs = arg(args, 0, "case_sensitive", Value(false)).truthy();
    const Value attr = arg(args, 1, "attribute", Value(None{}));
    std::vector<Value> out, seen;
    for (const Value& item : iterate(v)) {
        Value key = sort_key(attr.is_none() ? item : lookup_path(item, attr), cs);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, key); }))
            continue;
        seen.push_back(std::move(key));
        out.push_back(item);
    }
    return Value::make_list(std::move(out));
}

Value do_dictsort(const Value& v, Args& args) {
    if (!v.is_dict()) fault("FilterArgumentError", "You can only sort by either 'key' or 'value'");
    const bool cs = arg(args, 0, "case_sensitive", Value(false)).truthy();
    const std::string by = to_text(arg(args, 1, "by", Value("key"))).bytes;
    const bool reverse = arg(args, 2, "reverse", Value(false)).truthy();
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.dict().items) pairs.push_back(Value::make_list({k, x}, true));
    const size_t pos = by == "value" ? 1 : 0;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
        const Value ka = sort_key(a.list().items[pos], cs), kb = sort_key(b.list().items[pos], cs);
        return reverse ? less(kb, ka) : less(ka, kb);
    });
    return Value::make_list(std::move(pairs));
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace

bool known_filter(std::string_view name) {
    static constexpr std::string_view kNames[] = {
        "default",     "d",          "length", "count",      "tojson",    "trim",     "string",
        "safe",        "upper",      "lower",  "capitalize", "title",     "replace",  "items",
        "list",        "first",      "last",   "reverse",    "join",      "select",   "reject",
        "selectattr",  "rejectattr", "map",    "unique",     "sort",      "dictsort", "indent",
        "int",         "float",      "round",  "abs",        "wordcount", "escape",   "e",
        "forceescape", "min",        "max",    "sum",        "batch"};
    return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

Value apply_filter(Interpreter& in, const std::string& name, const Value& v, Args& args) {
    if (name == "default" || name == "d") {
        const bool boolean = arg(args, 1, "boolean", Value(false)).truthy();
        if (v.is_undefined() || (boolean && !v.truthy()))
            return arg(args, 0, "default_value", Value(""));
        return v;
    }
    if (name == "length" || name == "count") return Value(static_cast<int64_t>(length(v)));
    if (name == "tojson") return do_tojson(v, args);
    if (name == "trim")
        return Value(strip(to_text(v), arg(args, 0, "chars", Value(None{})), StripSide::Both));
    if (name == "string") return Value(to_text(v));
    if (name == "safe") return v;
    if (name == "upper" || name == "lower" || name == "capitalize") {
        Text t = to_text(v);  // ASCII case mapping keeps every byte position
        t.bytes = name == "upper"   ? ascii_upper(t.bytes)
                  : name == "lower" ? ascii_lower(t.bytes)
                                    : py_capitalize(t.bytes);
        return Value(std::move(t));
    }
    if (name == "title") {
        // Jinja2's title: each piece after a run of whitespace, '-', '(', '{', '[', '<' starts
        // with an upper-case letter, the rest is lower case.
        Text t = to_text(v);
        bool start = true;
        for (char& c : t.bytes) {
            const bool sep = c == ' ' || (c >= '\t' && c <= '\r') || c == '-' || c == '(' ||
                             c == '{' || c == '[' || c == '<';
            if (sep) {
                start = true;
                continue;
            }
            c = start ? ascii_upper(std::string(1, c))[0] : ascii_lower(std::string(1, c))[0];
            start = false;
        }
        return Value(std::move(t));
    }
    if (name == "replace") {
        return Value(replace(to_text(v), to_text(arg(args, 0, "old")).bytes,
                             to_text(arg(args, 1, "new")),
                             int_arg(arg(args, 2, "count", Value(int64_t{-1})), "count")));
    }
    if (name == "items") {
        if (v.is_undefined()) return Value::make_list();
        if (!v.is_dict()) fault("FilterArgumentError", "Can only get item pairs from a mapping.");
        std::vector<Value> out;
        for (const auto& [k, x] : v.dict().items) out.push_back(Value::make_list({k, x}, true));
        return Value::make_list(std::move(out));
    }
    if (name == "list") return Value::make_list(iterate(v));
    if (name == "first" || name == "last") {
        const std::vector<Value> items = iterate(v);
        if (items.empty()) return Value::undefined(cat("No ", name, " item, sequence was empty."));
        return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
        if (v.is_string()) {
            const std::vector<size_t> cps = code_points(v.str());
            Text out;
            for (size_t i = cps.size() - 1; i > 0; --i)
                out.append(v.text().slice(cps[i - 1], cps[i]));
            return Value(std::move(out));
        }
        std::vector<Value> items = iterate(v);
        std::reverse(items.begin(), items.end());
        return Value::make_list(std::move(items));
    }
    if (name == "join") return do_join(v, args);
    if (name == "select" || name == "reject")
        return filter_items(in, v, args, false, name == "select");
    if (name == "selectattr" || name == "rejectattr")
        return filter_items(in, v, args, true, name == "selectattr");
    if (name == "map") return do_map(in, v, args);
    if (name == "unique") return do_unique(v, args);
    if (name == "sort") return do_sort(v, args);
    if (name == "dictsort") return do_dictsort(v, args);
    if (name == "indent") return do_indent(v, args);
    if (name == "int") return do_int(v, args);
    if (name == "float") return do_float(v, args);
    if (name == "round") return do_round(v, args);
    if (name == "abs") {
        if (v.is_float()) return Value(std::fabs(v.as_float()));
        return v.integer() < 0 ? negate(v) : Value(v.defined().integer());
    }
    if (name == "wordcount") {
        return Value(
            static_cast<int64_t>(split(to_text(v), Value(None{}), -1).list().items.size()));
    }
    if (name == "escape" || name == "e" || name == "forceescape") {
        const Text t = to_text(v);
        return Value(derived(html_escape(t.bytes), t.has_input()));
    }
    if (name == "min" || name == "max") {
        const std::vector<Value> items = iterate(v);
        if (items.empty()) return Value::undefined(cat("No aggregated item, sequence was empty."));
        Value best = items[0];
        for (const Value& x : items)
            if (name == "min" ? less(sort_key(x, false), sort_key(best, false))
                              : less(sort_key(best, false), sort_key(x, false)))
                best = x;
        return best;
    }
    if (name == "sum") {
        Value total = arg(args, 1, "start", Value(int64_t{0}));
        const Value attr = arg(args, 0, "attribute", Value(None{}));
        for (const Value& x : iterate(v))
            total = binary_op("+", total, attr.is_none() ? x : lookup_path(x, attr));
        return total;
    }
    if (name == "batch") {
        const int64_t n = int_arg(arg(args, 0, "linecount"), "linecount");
        if (n <= 0) fault("FilterArgumentError", "batch size must be positive");
        const Value fill = arg(args, 1, "fill_with", Value(None{}));
        std::vector<Value> out, cur;
        for (const Value& x : iterate(v)) {
            cur.push_back(x);
            if (static_cast<int64_t>(cur.size()) == n)
                out.push_back(Value::make_list(std::move(cur))), cur.clear();
        }
        if (!cur.empty()) {
            if (!fill.is_none())
                while (static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
            out.push_back(Value::make_list(std::move(cur)));
        }
        return Value::make_list(std::move(out));
    }
    fault("TemplateAssertionError", cat("No filter named '", name, "'."));
}

}  // namespace pocket::jinja
