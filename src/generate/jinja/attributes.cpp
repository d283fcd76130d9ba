// `obj.name`, `obj[key]`, `obj[a:b:c]` and the methods of str, dict and list, as Jinja2's
// sandboxed environment resolves them: `.name` tries the Python attribute (a method) first and the
// item second, `[key]` the other way round; a missing one is undefined, naming what was missing.
#include <algorithm>

#include "generate/jinja/builtins_util.h"

namespace pocket::jinja {
namespace {

std::string type_repr(const Value& v) {
    if (v.is_none()) return "None";
    return v.type_name() + " object";
}

Value missing_attr(const Value& obj, const std::string& name) {
    return Value::undefined(cat("'", type_repr(obj), "' has no attribute '", name, "'"));
}

Value method(const Value& self, std::string name, std::function<Value(const Value&, Args&)> fn) {
    return Value::function(
        name, [self, fn = std::move(fn)](Interpreter&, Args& args) { return fn(self, args); });
}

Value string_method(const Value& self, const std::string& name) {
    using F = std::function<Value(const Value&, Args&)>;
    F fn;
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const StripSide side = name == "strip"    ? StripSide::Both
                               : name == "lstrip" ? StripSide::Left
                                                  : StripSide::Right;
        fn = [side](const Value& s, Args& a) {
            return Value(strip(s.text(), arg(a, 0, "chars", Value(None{})), side));
        };
    } else if (name == "split") {
        fn = [](const Value& s, Args& a) {
            return split(s.text(), arg(a, 0, "sep", Value(None{})),
                         int_arg(arg(a, 1, "maxsplit", Value(int64_t{-1})), "maxsplit"));
        };
    } else if (name == "startswith" || name == "endswith") {
        const bool start = name == "startswith";
        fn = [start](const Value& s, Args& a) {
            const Value p = arg(a, 0, "prefix");
            std::vector<Value> options = p.is_list() ? p.list().items : std::vector<Value>{p};
            for (const Value& o : options) {
                const std::string& x = text_arg(o, start ? "startswith arg" : "endswith arg").bytes;
                if (start ? s.str().starts_with(x) : s.str().ends_with(x)) return Value(true);
            }
            return Value(false);
        };
    } else if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
        fn = [name](const Value& s, Args&) {
            // ASCII-only case mapping changes no byte positions, so ranges stay exact.
            Text t = s.text();
            t.bytes = name == "upper"   ? ascii_upper(t.bytes)
                      : name == "lower" ? ascii_lower(t.bytes)
                      : name == "title" ? py_title(t.bytes)
                                        : py_capitalize(t.bytes);
            return Value(std::move(t));
        };
    } else if (name == "replace") {
        fn = [](const Value& s, Args& a) {
            return Value(replace(s.text(), text_arg(arg(a, 0, "old"), "replace arg").bytes,
                                 text_arg(arg(a, 1, "new"), "replace arg"),
                                 int_arg(arg(a, 2, "count", Value(int64_t{-1})), "count")));
        };
    } else if (name == "find" || name == "count" || name == "rfind") {
        fn = [name](const Value& s, Args& a) {
            const std::string& sub = text_arg(arg(a, 0, "sub"), "must be str").bytes;
            const std::string& str = s.str();
            const std::vector<size_t> cps = code_points(str);
            auto cp_index = [&](size_t byte) {
                return static_cast<int64_t>(std::lower_bound(cps.begin(), cps.end(), byte) -
                                            cps.begin());
            };
            if (name == "count") {
                if (sub.empty()) return Value(static_cast<int64_t>(cps.size()));
                int64_t n = 0;
                for (size_t i = str.find(sub); i != std::string::npos;
                     i = str.find(sub, i + sub.size()))
                    ++n;
                return Value(n);
            }
            const size_t at = name == "find" ? str.find(sub) : str.rfind(sub);
            return Value(at == std::string::npos ? int64_t{-1} : cp_index(at));
        };
    } else if (name == "join") {
        fn = [](const Value& s, Args& a) {
            Text out;
            bool first = true;
            for (const Value& item : iterate(arg(a, 0, "iterable").defined())) {
                if (!first) out.append(s.text());
                first = false;
                out.append(text_arg(item, "sequence item"));
            }
            return Value(std::move(out));
        };
    } else if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" ||
               name == "islower" || name == "isupper") {
        fn = [name](const Value& s, Args&) {
            const std::string& str = s.str();
            if (str.empty()) return Value(false);
            bool any_cased = false;
            for (unsigned char c : str) {
                const bool digit = c >= '0' && c <= '9';
                const bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
                any_cased = any_cased || lower || upper;
                if (name == "isdigit" && !digit) return Value(false);
                if (name == "isalpha" && !(lower || upper)) return Value(false);
                if (name == "isalnum" && !(lower || upper || digit)) return Value(false);
                if (name == "isspace" && !(c == ' ' || (c >= '\t' && c <= '\r')))
                    return Value(false);
                if (name == "islower" && upper) return Value(false);
                if (name == "isupper" && lower) return Value(false);
            }
            if (name == "islower" || name == "isupper") return Value(any_cased);
            return Value(true);
        };
    } else if (name == "format") {
        fn = [](const Value& s, Args& a) {
            // "{}" and "{0}" placeholders only; {{ and }} are literal braces.
            const std::string& f = s.str();
            Text out;
            size_t next_auto = 0;
            for (size_t i = 0; i < f.size(); ++i) {
                if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '{') {
                    out.append("{"), ++i;
                } else if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
                    out.append("}"), ++i;
                } else if (f[i] == '{') {
                    const size_t close = f.find('}', i);
                    if (close == std::string::npos) fault("ValueError", "Single '{' encountered");
                    const std::string field = f.substr(i + 1, close - i - 1);
                    Value v;
                    if (field.empty()) {
                        v = arg(a, next_auto++, "");
                    } else if (std::all_of(field.begin(), field.end(),
                                           [](char c) { return c >= '0' && c <= '9'; }) &&
                               field.size() < 6) {
                        v = arg(a, std::stoul(field), "");
                    } else {
                        v = arg(a, a.positional.size(), field);
                    }
                    if (v.is_undefined()) fault("IndexError", "Replacement index out of range");
                    out.append(to_text(v));
                    i = close;
                } else {
                    out.append(s.text().slice(i, i + 1));
                }
            }
            return Value(std::move(out));
        };
    } else {
        return missing_attr(self, name);
    }
    return method(self, name, std::move(fn));
}

bool is_dict_method(const std::string& n) {
    return n == "items" || n == "keys" || n == "values" || n == "get" || n == "pop" ||
           n == "update" || n == "copy" || n == "clear" || n == "setdefault" || n == "popitem";
}

Value dict_method(const Value& self, const std::string& name) {
    if (name == "items" || name == "keys" || name == "values") {
        return method(self, name, [name](const Value& d, Args&) {
            std::vector<Value> out;
            for (const auto& [k, v] : d.dict().items) {
                if (name == "items")
                    out.push_back(Value::make_list({k, v}, true));
                else
                    out.push_back(name == "keys" ? k : v);
            }
            return Value::make_list(std::move(out));
        });
    }
    if (name == "get") {
        return method(self, name, [](const Value& d, Args& a) {
            const Value* v = d.dict().find(arg(a, 0, "key"));
            return v ? *v : arg(a, 1, "default", Value(None{}));
        });
    }
    if (name == "copy") {
        return method(self, name, [](const Value& d, Args&) {
            Value c = Value::make_dict();
            c.dict() = d.dict();
            return c;
        });
    }
    // The immutable sandbox transformers renders with refuses every mutating method.
    return Value::function(name, [name](Interpreter&, Args&) -> Value {
        fault("SecurityError", cat("access to attribute '", name, "' of 'dict' object is unsafe."));
    });
}

Value list_method(const Value& self, const std::string& name) {
    if (name == "append" || name == "pop" || name == "extend" || name == "insert" ||
        name == "remove" || name == "clear" || name == "sort" || name == "reverse") {
        return Value::function(name, [name, type = self.type_name()](Interpreter&, Args&) -> Value {
            fault("SecurityError",
                  cat("access to attribute '", name, "' of '", type, "' object is unsafe."));
        });
    }
    if (name == "index" || name == "count") {
        return method(self, name, [name](const Value& l, Args& a) {
            const Value x = arg(a, 0, "value");
            int64_t n = 0;
            const auto& items = l.list().items;
            for (size_t i = 0; i < items.size(); ++i) {
                if (!equal(items[i], x)) continue;
                if (name == "index") return Value(static_cast<int64_t>(i));
                ++n;
            }
            if (name == "index") fault("ValueError", "value is not in list");
            return Value(n);
        });
    }
    return missing_attr(self, name);
}

// Python index normalization: negative counts from the end; nullopt when out of range.
std::optional<size_t> normalize(int64_t i, size_t size) {
    if (i < 0) i += static_cast<int64_t>(size);
    if (i < 0 || i >= static_cast<int64_t>(size)) return std::nullopt;
    return static_cast<size_t>(i);
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
    obj.defined();
    if (obj.is_dict()) {
        if (is_dict_method(name)) return dict_method(obj, name);
        const Value* v = obj.dict().find(std::string_view(name));
        return v ? *v : missing_attr(obj, name);
    }
    if (obj.is_namespace()) {
        const Value* v = obj.ns().attrs.find(std::string_view(name));
        return v ? *v : missing_attr(obj, name);
    }
    if (obj.is_string()) return string_method(obj, name);
    if (obj.is_list()) return list_method(obj, name);
    return missing_attr(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
    obj.defined();
    if (obj.is_dict()) {
        if (const Value* v = obj.dict().find(key)) return *v;
    } else if (obj.is_namespace()) {
        if (key.is_string())
            if (const Value* v = obj.ns().attrs.find(std::string_view(key.str()))) return *v;
    } else if (obj.is_list() && (key.is_int() || key.is_bool())) {
        const auto& items = obj.list().items;
        if (auto i = normalize(key.integer(), items.size())) return items[*i];
        return Value::undefined(cat("'", type_repr(obj), "' has no element ", key.integer()));
    } else if (obj.is_string() && (key.is_int() || key.is_bool())) {
        const std::vector<size_t> cps = code_points(obj.str());
        if (auto i = normalize(key.integer(), cps.size() - 1))
            return Value(obj.text().slice(cps[*i], cps[*i + 1]));
        return Value::undefined(cat("'", type_repr(obj), "' has no element ", key.integer()));
    }
    if (key.is_string()) {
        if (obj.is_dict()) {
            if (is_dict_method(key.str())) return dict_method(obj, key.str());
            return missing_attr(obj, key.str());
        }
        return get_attr(obj, key.str());
    }
    return Value::undefined(cat("'", type_repr(obj), "' has no element ", to_repr(key).bytes));
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
    obj.defined();
    auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
        if (v.is_none() || v.is_undefined()) return std::nullopt;
        if (!v.is_int() && !v.is_bool())
            type_error(cat("slice ", what, " must be integers or None"));
        return v.integer();
    };
    const int64_t st = bound(step, "indices").value_or(1);
    if (st == 0) fault("ValueError", "slice step cannot be zero");
    std::vector<size_t> cps;
    size_t n;
    if (obj.is_string()) {
        cps = code_points(obj.str());
        n = cps.size() - 1;
    } else if (obj.is_list()) {
        n = obj.list().items.size();
    } else {
        type_error(cat("'", obj.type_name(), "' object is not subscriptable"));
    }
    const auto len = static_cast<int64_t>(n);
    // Python's PySlice_AdjustIndices.
    auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
        if (!v) return dflt;
        int64_t x = *v;
        if (x < 0) {
            x += len;
            if (x < 0) x = st < 0 ? -1 : 0;
        } else if (x >= len) {
            x = st < 0 ? len - 1 : len;
        }
        return x;
    };
    const int64_t b = adjust(bound(start, "indices"), st < 0 ? len - 1 : 0);
    const int64_t e = adjust(bound(stop, "indices"), st < 0 ? -1 : len);
    std::vector<size_t> picked;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) picked.push_back(static_cast<size_t>(i));
    if (obj.is_string()) {
        if (st == 1) {
            return Value(picked.empty()
                             ? Text()
                             : obj.text().slice(cps[picked.front()], cps[picked.back() + 1]));
        }
        Text out;
        for (size_t i : picked) out.append(obj.text().slice(cps[i], cps[i + 1]));
        return Value(std::move(out));
    }
    std::vector<Value> items;
    for (size_t i : picked) items.push_back(obj.list().items[i]);
    return Value::make_list(std::move(items), obj.list().tuple);
}

}  // namespace pocket::jinja
