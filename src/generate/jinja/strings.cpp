// String operations with Python's semantics that keep input provenance exact where bytes are only
// selected (strip, split, slicing) and conservative where they are rewritten (replace).
#include "generate/jinja/builtins_util.h"

namespace pocket::jinja {
namespace {

bool py_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}
bool ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char up(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
}
char low(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

}  // namespace

std::vector<size_t> code_points(const std::string& s) {
    std::vector<size_t> starts;
    for (size_t i = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
    starts.push_back(s.size());
    return starts;
}

Text strip(const Text& t, const Value& chars, StripSide side) {
    const std::string& s = t.bytes;
    size_t b = 0, e = s.size();
    if (chars.is_none() || chars.is_undefined()) {
        if (side != StripSide::Right)
            while (b < e && py_space(static_cast<unsigned char>(s[b]))) ++b;
        if (side != StripSide::Left)
            while (e > b && py_space(static_cast<unsigned char>(s[e - 1]))) --e;
    } else {
        // Strips whole code points that occur in `chars`.
        const std::string& set = text_arg(chars, "strip arg").bytes;
        const std::vector<size_t> cps = code_points(s);
        auto in_set = [&](size_t from, size_t to) {
            const std::string_view cp(s.data() + from, to - from);
            const std::vector<size_t> sc = code_points(set);
            for (size_t i = 0; i + 1 < sc.size(); ++i)
                if (std::string_view(set.data() + sc[i], sc[i + 1] - sc[i]) == cp) return true;
            return false;
        };
        size_t lo = 0, hi = cps.size() - 1;
        if (side != StripSide::Right)
            while (lo < hi && in_set(cps[lo], cps[lo + 1])) ++lo;
        if (side != StripSide::Left)
            while (hi > lo && in_set(cps[hi - 1], cps[hi])) --hi;
        b = cps[lo];
        e = cps[hi];
    }
    return t.slice(b, e);
}

Value split(const Text& t, const Value& sep, int64_t maxsplit) {
    const std::string& s = t.bytes;
    std::vector<Value> parts;
    if (sep.is_none() || sep.is_undefined()) {  // runs of whitespace, no empty pieces
        size_t i = 0;
        while (true) {
            while (i < s.size() && py_space(static_cast<unsigned char>(s[i]))) ++i;
            if (i >= s.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
                size_t e = s.size();
                while (e > i && py_space(static_cast<unsigned char>(s[e - 1]))) --e;
                parts.emplace_back(t.slice(i, e));
                break;
            }
            size_t j = i;
            while (j < s.size() && !py_space(static_cast<unsigned char>(s[j]))) ++j;
            parts.emplace_back(t.slice(i, j));
            i = j;
        }
        return Value::make_list(std::move(parts));
    }
    const std::string& d = text_arg(sep, "separator").bytes;
    if (d.empty()) fault("ValueError", "empty separator");
    size_t i = 0;
    while (true) {
        const size_t j = s.find(d, i);
        if (j == std::string::npos ||
            (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
            parts.emplace_back(t.slice(i, s.size()));
            break;
        }
        parts.emplace_back(t.slice(i, j));
        i = j + d.size();
    }
    return Value::make_list(std::move(parts));
}

Text derived(std::string bytes, bool input) {
    Text t(std::move(bytes));
    if (input) t.mark_all_input();
    return t;
}

std::string ascii_upper(std::string s) {
    for (char& c : s) c = up(c);
    return s;
}

std::string ascii_lower(std::string s) {
    for (char& c : s) c = low(c);
    return s;
}

std::string py_title(const std::string& s) {
    std::string out = s;
    bool prev_cased = false;
    for (char& c : out) {
        if (ascii_alpha(c)) {
            c = prev_cased ? low(c) : up(c);
            prev_cased = true;
        } else {
            prev_cased = (static_cast<unsigned char>(c) & 0x80) != 0 && prev_cased;
        }
    }
    return out;
}

std::string py_capitalize(const std::string& s) {
    std::string out = ascii_lower(s);
    if (!out.empty()) out[0] = up(out[0]);
    return out;
}

Text replace(const Text& t, const std::string& from, const Text& to, int64_t count) {
    const std::string& s = t.bytes;
    Text out;
    int64_t done = 0;
    if (from.empty()) {  // Python inserts `to` between every code point (and at both ends)
        const std::vector<size_t> cps = code_points(s);
        for (size_t i = 0; i + 1 < cps.size(); ++i) {
            if (count < 0 || done < count) out.append(to), ++done;
            out.append(t.slice(cps[i], cps[i + 1]));
        }
        if (count < 0 || done < count) out.append(to);
        return out;
    }
    size_t i = 0;
    while (true) {
        const size_t j = (count >= 0 && done >= count) ? std::string::npos : s.find(from, i);
        if (j == std::string::npos) {
            out.append(t.slice(i, s.size()));
            break;
        }
        out.append(t.slice(i, j));
        out.append(to);
        ++done;
        i = j + from.size();
    }
    // Provenance: kept pieces keep their ranges; a replaced input span may join text across it,
    // so when the source had input anywhere the whole result counts as input.
    if (t.has_input()) out.mark_all_input();
    return out;
}

Value lookup_path(const Value& item, const Value& path) {
    if (!path.is_string()) return get_item(item, path);
    Value v = item;
    const std::string& p = path.str();
    size_t i = 0;
    while (true) {
        const size_t dot = p.find('.', i);
        const std::string part =
            p.substr(i, dot == std::string::npos ? std::string::npos : dot - i);
        bool numeric = !part.empty();
        for (char c : part) numeric = numeric && c >= '0' && c <= '9';
        v = numeric && part.size() < 18 ? get_item(v, Value(static_cast<int64_t>(std::stoll(part))))
                                        : get_item(v, Value(Text(part)));
        if (dot == std::string::npos) break;
        i = dot + 1;
    }
    return v;
}

}  // namespace pocket::jinja
