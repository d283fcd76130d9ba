// Python's json.dumps(..., ensure_ascii=False): what transformers installs as `tojson`. Key order
// is insertion order unless sort_keys; floats print as Python's repr; non-ASCII stays UTF-8.
#include <algorithm>
#include <cmath>

#include "generate/jinja/interpreter.h"

namespace pocket::jinja {
namespace {

void escape_unit(uint32_t u, std::string& out) {
    static const char* hex = "0123456789abcdef";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(u >> shift) & 15];
}

void dump_string(const std::string& s, std::string& out, bool ensure_ascii) {
    out += '"';
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (ensure_ascii && c >= 0x80) {
            // Decode one UTF-8 sequence (a stray byte stands for itself) and escape it.
            const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            uint32_t cp = n == 1 ? c : c & (0x3F >> (n - 1));
            for (size_t k = 1; k < n && i + 1 < s.size(); ++k)
                cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                escape_unit(0xD800 + (cp >> 10), out);
                escape_unit(0xDC00 + (cp & 0x3FF), out);
            } else {
                escape_unit(cp, out);
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

// Dict keys: json.dumps accepts str, int, float, bool and None keys and writes them as strings.
std::string key_string(const Value& k) {
    if (k.is_string()) return k.str();
    if (k.is_none()) return "null";
    if (k.is_bool()) return k.as_bool() ? "true" : "false";
    if (k.is_int() || k.is_float()) return to_text(k).bytes;
    type_error(cat("keys must be str, int, float, bool or None, not ", k.type_name()));
}

void dump(const Value& v, const JsonStyle& st, int level, std::string& out) {
    if (out.size() > kMaxTextBytes) fault("TemplateError", "tojson output too long");
    if (level > 256) fault("ValueError", "Circular reference detected");
    auto newline = [&](int lvl) {
        out += '\n';
        for (int i = 0; i < lvl; ++i) out += st.indent_unit;
    };
    if (v.is_none()) {
        out += "null";
    } else if (v.is_bool()) {
        out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
        out += std::to_string(v.as_int());
    } else if (v.is_float()) {
        const double f = v.as_float();
        if (std::isnan(f))
            out += "NaN";
        else if (std::isinf(f))
            out += f < 0 ? "-Infinity" : "Infinity";
        else
            out += format_float(f);
    } else if (v.is_string()) {
        dump_string(v.str(), out, st.ensure_ascii);
    } else if (v.is_list()) {
        const auto& items = v.list().items;
        if (items.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
            if (i) out += st.item_sep;
            if (st.indent) newline(level + 1);
            dump(items[i], st, level + 1, out);
        }
        if (st.indent) newline(level);
        out += ']';
    } else if (v.is_dict() || v.is_namespace()) {
        const Dict& d = v.is_dict() ? v.dict() : v.ns().attrs;
        if (d.items.empty()) {
            out += "{}";
            return;
        }
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, x] : d.items) entries.emplace_back(key_string(k), &x);
        if (st.sort_keys)
            std::stable_sort(entries.begin(), entries.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i) out += st.item_sep;
            if (st.indent) newline(level + 1);
            dump_string(entries[i].first, out, st.ensure_ascii);
            out += st.key_sep;
            dump(*entries[i].second, st, level + 1, out);
        }
        if (st.indent) newline(level);
        out += '}';
    } else {
        type_error(cat("Object of type ", v.type_name(), " is not JSON serializable"));
    }
}

}  // namespace

std::string to_json(const Value& v, const JsonStyle& style) {
    std::string out;
    dump(v, style, 0, out);
    return out;
}

}  // namespace pocket::jinja
