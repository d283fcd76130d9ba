#include "generate/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pocket::jinja {

void fault(std::string kind, std::string message) {
    throw Fault{std::move(kind), std::move(message)};
}

// ---- Text ----------------------------------------------------------------------------------

Text Text::from_input(std::string b) {
    Text t(std::move(b));
    t.mark_all_input();
    return t;
}

void Text::mark_all_input() {
    input.clear();
    if (!bytes.empty()) input.push_back({0, bytes.size()});
}

void Text::append(std::string_view trusted) {
    if (bytes.size() + trusted.size() > kMaxTextBytes)
        fault("TemplateError", cat("text longer than ", kMaxTextBytes, " bytes"));
    bytes.append(trusted);
}

void Text::append(const Text& other) {
    const size_t base = bytes.size();
    append(std::string_view(other.bytes));
    for (const TextRange& r : other.input) {
        // Adjacent ranges merge, so the list stays minimal.
        if (!input.empty() && input.back().end == base + r.begin) {
            input.back().end = base + r.end;
        } else {
            input.push_back({base + r.begin, base + r.end});
        }
    }
}

Text Text::slice(size_t begin, size_t end) const {
    Text out(bytes.substr(begin, end - begin));
    for (const TextRange& r : input) {
        const size_t b = std::max(r.begin, begin), e = std::min(r.end, end);
        if (b < e) out.input.push_back({b - begin, e - begin});
    }
    return out;
}

// ---- Dict ----------------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
    for (const auto& [k, v] : items)
        if (equal(k, key)) return &v;
    return nullptr;
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k.is_string() && k.str() == key) return &v;
    return nullptr;
}

void Dict::set(Value key, Value value) {
    for (auto& [k, v] : items) {
        if (equal(k, key)) {
            v = std::move(value);
            return;
        }
    }
    items.emplace_back(std::move(key), std::move(value));
}

// ---- Value ---------------------------------------------------------------------------------

Value Value::make_list(std::vector<Value> items, bool tuple) {
    if (items.size() > kMaxListItems) fault("TemplateError", "list too long");
    auto l = std::make_shared<List>();
    l->items = std::move(items);
    l->tuple = tuple;
    return Value(std::move(l));
}

Value Value::make_dict() {
    return Value(std::make_shared<Dict>());
}

Value Value::function(std::string name, std::function<Value(Interpreter&, Args&)> fn) {
    return Value(std::make_shared<Callable>(Callable{std::move(name), std::move(fn)}));
}

double Value::number() const {
    if (is_bool()) return as_bool() ? 1.0 : 0.0;
    if (is_int()) return static_cast<double>(as_int());
    return as_float();
}

int64_t Value::integer() const {
    if (is_bool()) return as_bool() ? 1 : 0;
    return as_int();
}

const Value& Value::defined() const {
    if (is_undefined()) fault("UndefinedError", undefined_hint());
    return *this;
}

bool Value::truthy() const {
    return std::visit(
        [](const auto& x) -> bool {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Undefined> || std::is_same_v<T, None>) {
                return false;
            } else if constexpr (std::is_same_v<T, bool>) {
                return x;
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
                return x != 0;
            } else if constexpr (std::is_same_v<T, Text>) {
                return !x.bytes.empty();
            } else if constexpr (std::is_same_v<T, std::shared_ptr<List>>) {
                return !x->items.empty();
            } else if constexpr (std::is_same_v<T, std::shared_ptr<Dict>>) {
                return !x->items.empty();
            } else {
                return true;
            }
        },
        v_);
}

std::string Value::type_name() const {
    switch (v_.index()) {
        case 0:
            return "Undefined";
        case 1:
            return "NoneType";
        case 2:
            return "bool";
        case 3:
            return "int";
        case 4:
            return "float";
        case 5:
            return "str";
        case 6:
            return list().tuple ? "tuple" : "list";
        case 7:
            return "dict";
        case 8:
            return "Namespace";
        default:
            return "function";
    }
}

// ---- printing ------------------------------------------------------------------------------

std::string format_float(double f) {
    if (std::isnan(f)) return "nan";
    if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
    const std::string s(buf, res.ptr);
    // s = [-]D[.DDD]e[+-]XX: split into sign, significant digits and decimal exponent.
    const size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    const int exp = std::stoi(s.substr(e + 1));
    std::string sign;
    if (mant[0] == '-') {
        sign = "-";
        mant.erase(0, 1);
    }
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    if (exp >= 16 || exp < -4) {  // Python's repr switches to exponent notation here
        std::string out = sign + digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        const int a = std::abs(exp);
        return out + (exp < 0 ? "e-" : "e+") + (a < 10 ? "0" : "") + std::to_string(a);
    }
    if (exp < 0) return sign + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    const size_t point = static_cast<size_t>(exp) + 1;
    if (digits.size() <= point)
        return sign + digits + std::string(point - digits.size(), '0') + ".0";
    return sign + digits.substr(0, point) + "." + digits.substr(point);
}

namespace {

Text repr_string(const Text& t) {
    const std::string& s = t.bytes;
    const char quote =
        (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
    std::string body;
    bool exact = true;  // no escapes: input ranges map one to one
    for (unsigned char c : s) {
        if (c == '\\' || c == static_cast<unsigned char>(quote)) {
            body += '\\';
            body += static_cast<char>(c);
            exact = false;
        } else if (c == '\n') {
            body += "\\n", exact = false;
        } else if (c == '\r') {
            body += "\\r", exact = false;
        } else if (c == '\t') {
            body += "\\t", exact = false;
        } else if (c < 0x20 || c == 0x7f) {
            static const char* hex = "0123456789abcdef";
            body += "\\x";
            body += hex[c >> 4];
            body += hex[c & 15];
            exact = false;
        } else {
            body += static_cast<char>(c);
        }
    }
    Text inner;
    if (exact) {
        inner = t;
    } else {
        inner = Text(std::move(body));
        if (t.has_input()) inner.mark_all_input();
    }
    Text out(std::string(1, quote));
    out.append(inner);
    out.append(std::string_view(&quote, 1));
    return out;
}

}  // namespace

namespace {
// A namespace can hold a list that holds the namespace: printing such a cycle must stop.
constexpr int kMaxPrintDepth = 256;
Text repr_at(const Value& v, int depth);
Text text_at(const Value& v, int depth);
}  // namespace

Text to_repr(const Value& v) {
    return repr_at(v, 0);
}
Text to_text(const Value& v) {
    return text_at(v, 0);
}

namespace {

Text repr_at(const Value& v, int depth) {
    if (++depth > kMaxPrintDepth) fault("RecursionError", "maximum recursion depth exceeded");
    if (v.is_string()) return repr_string(v.text());
    if (v.is_list()) {
        const List& l = v.list();
        Text out(l.tuple ? "(" : "[");
        for (size_t i = 0; i < l.items.size(); ++i) {
            if (i) out.append(", ");
            out.append(repr_at(l.items[i], depth));
        }
        if (l.tuple && l.items.size() == 1) out.append(",");
        out.append(l.tuple ? ")" : "]");
        return out;
    }
    if (v.is_dict()) {
        Text out("{");
        bool first = true;
        for (const auto& [k, val] : v.dict().items) {
            if (!first) out.append(", ");
            first = false;
            out.append(repr_at(k, depth));
            out.append(": ");
            out.append(repr_at(val, depth));
        }
        out.append("}");
        return out;
    }
    return text_at(v, depth);
}

Text text_at(const Value& v, int depth) {
    if (v.is_string()) return v.text();
    if (v.is_undefined()) return Text();
    if (v.is_none()) return Text("None");
    if (v.is_bool()) return Text(v.as_bool() ? "True" : "False");
    if (v.is_int()) return Text(std::to_string(v.as_int()));
    if (v.is_float()) return Text(format_float(v.as_float()));
    if (v.is_list() || v.is_dict()) return repr_at(v, depth);
    if (v.is_namespace()) {
        Text out("<Namespace ");
        Value d = Value::make_dict();
        d.dict() = v.ns().attrs;
        out.append(repr_at(d, depth));
        out.append(">");
        return out;
    }
    return Text("<function " + v.callable().name + ">");
}

}  // namespace

// ---- comparison ----------------------------------------------------------------------------

bool equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.number() == b.number();
        return a.integer() == b.integer();
    }
    if (a.is_string() && b.is_string()) return a.str() == b.str();
    if (a.is_none() && b.is_none()) return true;
    if (a.is_undefined() && b.is_undefined()) return true;
    if (a.is_list() && b.is_list()) {
        const auto &x = a.list().items, &y = b.list().items;
        if (a.list().tuple != b.list().tuple || x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i)
            if (!equal(x[i], y[i])) return false;
        return true;
    }
    if (a.is_dict() && b.is_dict()) {
        const Dict &x = a.dict(), &y = b.dict();
        if (x.items.size() != y.items.size()) return false;
        for (const auto& [k, v] : x.items) {
            const Value* other = y.find(k);
            if (!other || !equal(v, *other)) return false;
        }
        return true;
    }
    if (a.is_namespace() && b.is_namespace()) return &a.ns() == &b.ns();
    if (a.is_callable() && b.is_callable()) return &a.callable() == &b.callable();
    return false;
}

bool less(const Value& a, const Value& b) {
    a.defined(), b.defined();
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.number() < b.number();
        return a.integer() < b.integer();
    }
    if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 order = code points
    if (a.is_list() && b.is_list()) {
        const auto &x = a.list().items, &y = b.list().items;
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (equal(x[i], y[i])) continue;
            return less(x[i], y[i]);
        }
        return x.size() < y.size();
    }
    type_error(cat("'<' not supported between instances of '", a.type_name(), "' and '",
                   b.type_name(), "'"));
}

namespace {
bool has_input_at(const Value& v, int depth) {
    if (++depth > kMaxPrintDepth) fault("RecursionError", "maximum recursion depth exceeded");
    if (v.is_string()) return v.text().has_input();
    if (v.is_list()) {
        for (const Value& x : v.list().items)
            if (has_input_at(x, depth)) return true;
    } else if (v.is_dict()) {
        for (const auto& [k, x] : v.dict().items)
            if (has_input_at(k, depth) || has_input_at(x, depth)) return true;
    } else if (v.is_namespace()) {
        for (const auto& [k, x] : v.ns().attrs.items)
            if (has_input_at(x, depth)) return true;
    }
    return false;
}
}  // namespace

bool has_input(const Value& v) {
    return has_input_at(v, 0);
}

Value from_json(const nlohmann::ordered_json& j, bool input) {
    using J = nlohmann::ordered_json;
    switch (j.type()) {
        case J::value_t::null:
            return Value(None{});
        case J::value_t::boolean:
            return Value(j.get<bool>());
        case J::value_t::number_integer:
            return Value(j.get<int64_t>());
        case J::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case J::value_t::number_float:
            return Value(j.get<double>());
        case J::value_t::string: {
            auto s = j.get<std::string>();
            return Value(input ? Text::from_input(std::move(s)) : Text(std::move(s)));
        }
        case J::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& x : j) items.push_back(from_json(x, input));
            return Value::make_list(std::move(items));
        }
        case J::value_t::object: {
            Value d = Value::make_dict();
            for (const auto& [k, x] : j.items())
                d.dict().items.emplace_back(Value(input ? Text::from_input(k) : Text(k)),
                                            from_json(x, input));
            return d;
        }
        default:
            return Value(None{});
    }
}

// ---- iteration -----------------------------------------------------------------------------

namespace {
// Byte length of the UTF-8 sequence starting with `lead` (1 for stray continuation bytes).
size_t utf8_len(unsigned char lead) {
    if (lead >= 0xF0) return 4;
    if (lead >= 0xE0) return 3;
    if (lead >= 0xC0) return 2;
    return 1;
}
}  // namespace

std::vector<Value> iterate(const Value& v) {
    if (v.is_undefined()) return {};
    if (v.is_list()) return v.list().items;
    if (v.is_dict()) {
        std::vector<Value> keys;
        for (const auto& [k, x] : v.dict().items) keys.push_back(k);
        return keys;
    }
    if (v.is_string()) {
        std::vector<Value> chars;
        const Text& t = v.text();
        for (size_t i = 0; i < t.bytes.size();) {
            const size_t n =
                std::min(utf8_len(static_cast<unsigned char>(t.bytes[i])), t.bytes.size() - i);
            chars.emplace_back(t.slice(i, i + n));
            i += n;
        }
        return chars;
    }
    if (v.is_namespace()) type_error("'Namespace' object is not iterable");
    type_error(cat("'", v.type_name(), "' object is not iterable"));
}

size_t length(const Value& v) {
    if (v.is_undefined()) return 0;
    if (v.is_string()) {
        size_t n = 0;
        for (unsigned char c : v.str()) n += (c & 0xC0) != 0x80;
        return n;
    }
    if (v.is_list()) return v.list().items.size();
    if (v.is_dict()) return v.dict().items.size();
    type_error(cat("object of type '", v.type_name(), "' has no len()"));
}

}  // namespace pocket::jinja
