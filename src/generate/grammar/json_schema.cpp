// JSON Schema to GBNF: each schema node becomes a GBNF expression, named subschemas and
// structures become rules, and the JSON primitives are emitted once, when first used.
#include "pocket/generate/json_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/generate/grammar.h"

namespace pocket {

namespace {

using nlohmann::ordered_json;

// The primitives, in dependency order. Whitespace is bounded so a model cannot loop on it; \u
// escapes exclude surrogates so every string decodes to what its length bounds counted.
const std::vector<std::pair<std::string, std::string>>& primitives() {
    static const std::vector<std::pair<std::string, std::string>> p = {
        {"ws", R"(| " " | "\n" [ \t]{0,8})"},
        {"json-hex4", R"(( [0-9a-cA-CeEfF] [0-9a-fA-F] | [dD] [0-7] ) [0-9a-fA-F]{2})"},
        {"json-char", R"([^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" json-hex4 ))"},
        {"json-string", R"("\"" json-char* "\"")"},
        {"json-int", R"("-"? ( "0" | [1-9] [0-9]{0,15} ))"},
        {"json-number", R"(json-int ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?)"},
        {"json-bool", R"("true" | "false")"},
        {"json-null", R"("null")"},
        {"json-value",
         R"(json-object | json-array | json-string | json-number | json-bool | json-null)"},
        {"json-object",
         R"("{" ws ( json-string ws ":" ws json-value ws ( "," ws json-string ws ":" ws json-value ws )* )? "}")"},
        {"json-array", R"("[" ws ( json-value ws ( "," ws json-value ws )* )? "]")"},
    };
    return p;
}

// Which primitives each one needs, so only the used ones are printed.
const std::map<std::string, std::vector<std::string>>& primitive_deps() {
    static const std::map<std::string, std::vector<std::string>> d = {
        {"json-char", {"json-hex4"}},
        {"json-string", {"json-char"}},
        {"json-number", {"json-int"}},
        {"json-value",
         {"json-object", "json-array", "json-string", "json-number", "json-bool", "json-null"}},
        {"json-object", {"ws", "json-string", "json-value"}},
        {"json-array", {"ws", "json-value"}},
    };
    return d;
}

const std::set<std::string>& annotations() {
    static const std::set<std::string> a = {
        "title",   "description",     "$schema",         "$id",        "$comment", "examples",
        "default", "$defs",           "definitions",     "deprecated", "readOnly", "writeOnly",
        "$anchor", "contentEncoding", "contentMediaType"};
    return a;
}

const std::set<std::string>& supported() {
    static const std::set<std::string> s = {"type",
                                            "properties",
                                            "required",
                                            "additionalProperties",
                                            "items",
                                            "prefixItems",
                                            "minItems",
                                            "maxItems",
                                            "enum",
                                            "const",
                                            "minLength",
                                            "maxLength",
                                            "minimum",
                                            "maximum",
                                            "exclusiveMinimum",
                                            "exclusiveMaximum",
                                            "anyOf",
                                            "oneOf",
                                            "allOf",
                                            "$ref",
                                            "format"};
    return s;
}

std::string sanitize(std::string_view name) {
    std::string out;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out += ok ? c : '-';
    }
    return out.empty() ? "x" : out;
}

// The alternatives of a set of decimal strings, factored by common prefix so a parse state
// holds at most ten stacks: 1 ( "0" | "5" ) | 2 ...
struct DigitTrie {
    std::map<char, DigitTrie> next;
    bool end = false;
    void add(std::string_view s) {
        if (s.empty()) {
            end = true;
            return;
        }
        next[s[0]].add(s.substr(1));
    }
    std::string gbnf() const {
        std::string out;
        for (const auto& [c, child] : next) {
            if (!out.empty()) out += " | ";
            out += cat("\"", std::string(1, c), "\"");
            if (!child.next.empty()) out += cat(" ", child.gbnf());
        }
        if (end) out += " | \"\"";
        return next.empty() ? "\"\"" : "( " + out + " )";
    }
};

constexpr int64_t kMaxEnumerated = 10000;

class Converter {
  public:
    explicit Converter(const ordered_json& root) : root_(root) {}

    std::string run() {
        std::string top = visit(root_, "root", "#");
        std::string out = cat("root ::= ", top, "\n");
        for (const auto& [name, body] : rules_) out += cat(name, " ::= ", body, "\n");
        for (const auto& [name, body] : primitives()) {
            if (used_.count(name)) out += cat(name, " ::= ", body, "\n");
        }
        return out;
    }

    std::string use(const std::string& primitive) {
        if (used_.insert(primitive).second) {
            auto deps = primitive_deps().find(primitive);
            if (deps != primitive_deps().end()) {
                for (const std::string& d : deps->second) use(d);
            }
        }
        return primitive;
    }

  private:
    [[noreturn]] static void error(const std::string& path, const std::string& message) {
        fail("JSON schema: ", path, ": ", message);
    }

    std::string new_rule(const std::string& hint, std::string body) {
        std::string name = sanitize(hint);
        if (taken_.count(name) || name == "root" || name.rfind("json-", 0) == 0 || name == "ws") {
            int i = 2;
            while (taken_.count(cat(name, "-", i))) ++i;
            name = cat(name, "-", i);
        }
        taken_.insert(name);
        rules_.emplace_back(name, std::move(body));
        return name;
    }

    std::string reserve_rule(const std::string& hint) { return new_rule(hint, ""); }
    void define(const std::string& name, std::string body) {
        for (auto& [n, b] : rules_) {
            if (n == name) b = std::move(body);
        }
    }

    const ordered_json& resolve(const std::string& ref, const std::string& path) const {
        if (ref.rfind("#", 0) != 0) error(path, cat("$ref '", ref, "': only local refs (#/...)"));
        try {
            return root_.at(ordered_json::json_pointer(ref.substr(1)));
        } catch (const std::exception&) {
            error(path, cat("$ref '", ref, "' does not resolve"));
        }
    }

    std::string ref_rule(const std::string& ref, const std::string& path) {
        if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
        const ordered_json& target = resolve(ref, path);
        std::string hint = ref.substr(ref.find_last_of('/') + 1);
        std::string name = reserve_rule(hint);
        refs_[ref] = name;  // before visiting: recursive refs point back here
        define(name, visit(target, name, ref));
        return name;
    }

    std::string visit(const ordered_json& s, const std::string& name, const std::string& path) {
        if (s.is_boolean()) {
            if (!s.get<bool>()) error(path, "schema 'false' accepts nothing");
            return use("json-value");
        }
        if (!s.is_object()) error(path, "a schema must be an object or a boolean");
        for (const auto& [key, value] : s.items()) {
            if (!supported().count(key) && !annotations().count(key)) {
                error(path, cat("unsupported keyword '", key, "'"));
            }
        }
        auto has = [&](const char* k) { return s.contains(k); };
        auto only = [&](const char* k) {
            for (const auto& [key, value] : s.items()) {
                // A type next to const/enum restates what the values are; harmless.
                const bool type_ok = key == "type" && (std::string_view(k) == "const" ||
                                                       std::string_view(k) == "enum");
                if (key != k && !type_ok && !annotations().count(key)) {
                    error(path, cat("keyword '", key, "' next to '", k, "' is not supported"));
                }
            }
        };
        if (has("$ref")) {
            only("$ref");
            return ref_rule(s["$ref"].get<std::string>(), path);
        }
        if (has("const")) {
            only("const");
            return gbnf_literal(s["const"].dump());
        }
        if (has("enum")) {
            only("enum");
            if (!s["enum"].is_array() || s["enum"].empty()) error(path, "enum must be a list");
            std::string alts;
            for (const auto& v : s["enum"])
                alts += (alts.empty() ? "" : " | ") + gbnf_literal(v.dump());
            return "( " + alts + " )";
        }
        for (const char* k : {"anyOf", "oneOf"}) {
            if (!has(k)) continue;
            only(k);
            std::string alts;
            int i = 0;
            for (const auto& sub : s[k]) {
                alts += (alts.empty() ? "" : " | ") +
                        visit(sub, cat(name, "-", i), cat(path, "/", k, "/", i));
                ++i;
            }
            if (alts.empty()) error(path, cat(k, " must be a non-empty list"));
            return "( " + alts + " )";
        }
        if (has("allOf")) return visit(merge_all_of(s, path), name, path);

        std::vector<std::string> types;
        if (has("type")) {
            if (s["type"].is_string()) {
                types.push_back(s["type"].get<std::string>());
            } else {
                for (const auto& t : s["type"]) types.push_back(t.get<std::string>());
            }
        } else if (has("properties") || has("additionalProperties") || has("required")) {
            types = {"object"};
        } else if (has("items") || has("prefixItems")) {
            types = {"array"};
        } else if (has("minLength") || has("maxLength") || has("format")) {
            types = {"string"};
        } else {
            return use("json-value");
        }
        std::string alts;
        for (const std::string& t : types) {
            alts += (alts.empty() ? "" : " | ") + visit_type(s, t, name, path);
        }
        return types.size() == 1 ? alts : "( " + alts + " )";
    }

    std::string visit_type(const ordered_json& s, const std::string& type, const std::string& name,
                           const std::string& path) {
        if (type == "string") return string_rule(s, path);
        if (type == "integer") return integer_rule(s, name, path);
        if (type == "number") {
            for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
                if (s.contains(k)) error(path, cat("'", k, "' on numbers is not supported"));
            }
            return use("json-number");
        }
        if (type == "boolean") return use("json-bool");
        if (type == "null") return use("json-null");
        if (type == "object") return object_rule(s, name, path);
        if (type == "array") return array_rule(s, name, path);
        error(path, cat("unknown type '", type, "'"));
    }

    static int64_t get_int(const ordered_json& s, const char* key, const std::string& path) {
        const ordered_json& v = s[key];
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            error(path, cat("'", key, "' is out of range"));
        if (v.is_number_integer()) return v.get<int64_t>();
        // Integral floats (3.0, 1e2) within int64's range; converting 1e300 would be undefined.
        if (v.is_number_float()) {
            const double d = v.get<double>();
            if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) return static_cast<int64_t>(d);
        }
        error(path, cat("'", key, "' must be an integer"));
    }

    // minLength / maxLength / minItems / maxItems. They become GBNF repetitions, whose bounds
    // stop at Grammar::kMaxRepeat: a minimum past that cannot be expressed and is refused; a
    // maximum past it is kept as no upper bound (callers drop it), since no generation that
    // long fits a context.
    static int64_t get_count(const ordered_json& s, const char* key, const std::string& path) {
        const int64_t v = get_int(s, key, path);
        if (v < 0) error(path, cat("'", key, "' must not be negative"));
        if (std::string_view(key).starts_with("min") && v > Grammar::kMaxRepeat)
            error(path, cat("'", key, "' above ", Grammar::kMaxRepeat, " is not supported"));
        return v;
    }
    static bool is_bounded(int64_t max) { return max <= Grammar::kMaxRepeat; }

    std::string string_rule(const ordered_json& s, const std::string& path) {
        if (s.contains("format")) {
            const std::string f = s["format"].get<std::string>();
            const std::string date =
                R"([0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ))";
            const std::string time =
                R"(( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))";
            std::string body;
            if (f == "date") {
                body = date;
            } else if (f == "time") {
                body = time;
            } else if (f == "date-time") {
                body = date + " \"T\" " + time;
            } else if (f == "uuid") {
                body =
                    R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})";
            } else {
                error(path, cat("unsupported format '", f, "'"));
            }
            return "\"\\\"\" " + body + " \"\\\"\"";
        }
        const int64_t min = s.contains("minLength") ? get_count(s, "minLength", path) : 0;
        const int64_t max = s.contains("maxLength") ? get_count(s, "maxLength", path) : INT64_MAX;
        if (max < min) error(path, "maxLength < minLength");
        if (!is_bounded(max)) {
            if (min == 0) return use("json-string");
            return cat("\"\\\"\" ", use("json-char"), "{", min, ",} \"\\\"\"");
        }
        return cat("\"\\\"\" ", use("json-char"), "{", min, ",", max, "} \"\\\"\"");
    }

    std::string integer_rule(const ordered_json& s, const std::string& name,
                             const std::string& path) {
        std::optional<int64_t> lo, hi;
        if (s.contains("minimum")) lo = get_int(s, "minimum", path);
        if (s.contains("exclusiveMinimum")) {
            const int64_t x = get_int(s, "exclusiveMinimum", path);
            if (x == INT64_MAX) error(path, "no integer is above exclusiveMinimum");
            const int64_t v = x + 1;
            lo = lo ? std::max(*lo, v) : v;
        }
        if (s.contains("maximum")) hi = get_int(s, "maximum", path);
        if (s.contains("exclusiveMaximum")) {
            const int64_t x = get_int(s, "exclusiveMaximum", path);
            if (x == INT64_MIN) error(path, "no integer is below exclusiveMaximum");
            const int64_t v = x - 1;
            hi = hi ? std::min(*hi, v) : v;
        }
        if (!lo && !hi) return use("json-int");
        if (lo && hi && *hi < *lo) error(path, "maximum < minimum");
        // Enumerate the small cases as a digit trie; numbers with more digits than the bound
        // are open-ended in the other direction.
        DigitTrie trie;
        std::string open;
        if (lo && hi) {
            // In unsigned arithmetic: hi - lo can exceed INT64_MAX, and hi can be INT64_MAX.
            const uint64_t span = static_cast<uint64_t>(*hi) - static_cast<uint64_t>(*lo);
            if (span >= kMaxEnumerated) {
                error(path, cat("integer ranges are supported up to ", kMaxEnumerated, " values"));
            }
            for (uint64_t i = 0; i <= span; ++i)
                trie.add(std::to_string(*lo + static_cast<int64_t>(i)));
        } else if (lo) {
            if (*lo < 0) error(path, "a negative minimum needs a maximum");
            const size_t digits = std::to_string(*lo).size();
            if (digits > 16) error(path, "minimum is too large to enumerate");  // 10^digits fits
            int64_t top = 1;
            for (size_t i = 0; i < digits; ++i) top *= 10;
            if (top - *lo > kMaxEnumerated) error(path, "minimum is too large to enumerate");
            for (int64_t v = *lo; v < top; ++v) trie.add(std::to_string(v));
            if (digits < 16) open = cat("[1-9] [0-9]{", digits, ",15}");
        } else {
            if (*hi < 0) error(path, "a negative maximum needs a minimum");
            if (*hi >= kMaxEnumerated) error(path, "maximum is too large to enumerate");
            for (int64_t v = 0; v <= *hi; ++v) trie.add(std::to_string(v));
            open = R"("-" [1-9] [0-9]{0,15})";
        }
        std::string body = trie.gbnf();
        if (!open.empty()) body += " | " + open;
        return new_rule(name, body);
    }

    std::string object_rule(const ordered_json& s, const std::string& name,
                            const std::string& path) {
        const ordered_json empty = ordered_json::object();
        const ordered_json& props = s.contains("properties") ? s["properties"] : empty;
        std::set<std::string> required;
        if (s.contains("required")) {
            for (const auto& r : s["required"]) {
                std::string key = r.get<std::string>();
                if (!props.contains(key)) {
                    error(path, cat("required property '", key, "' is not in 'properties'"));
                }
                required.insert(key);
            }
        }
        // Extra keys only when the schema asks for them: without additionalProperties, leaving
        // them out is still valid and keeps the output to the declared shape. A bare
        // {"type": "object"} is any object.
        std::string extra;
        if (s.contains("additionalProperties")) {
            const ordered_json& ap = s["additionalProperties"];
            if (!(ap.is_boolean() && !ap.get<bool>())) {
                std::string value = visit(ap, name + "-value", path + "/additionalProperties");
                extra = new_rule(name + "-kv", cat(use("json-string"), " ws \":\" ws ", value));
            }
        } else if (props.empty()) {
            return use("json-object");
        }
        use("ws");
        std::vector<std::string> kv;
        std::vector<bool> req;
        for (const auto& [key, sub] : props.items()) {
            std::string value = visit(sub, name + "-" + key, path + "/properties/" + key);
            kv.push_back(
                new_rule(name + "-" + key + "-kv",
                         cat(gbnf_literal(ordered_json(key).dump()), " ws \":\" ws ", value)));
            req.push_back(required.count(key) != 0);
        }
        // tail_i: properties i.. after at least one was written (each needs a comma);
        // head_i: the same with nothing written yet.
        const size_t n = kv.size();
        std::vector<std::string> tail(n + 1), head(n + 1);
        tail[n] = extra.empty() ? "" : cat("( \",\" ws ", extra, " ws )*");
        head[n] = extra.empty() ? "" : cat("( ", extra, " ws ", tail[n], " )?");
        for (size_t i = n; i-- > 0;) {
            std::string t = req[i] ? cat("\",\" ws ", kv[i], " ws ", tail[i + 1])
                                   : cat("( \",\" ws ", kv[i], " ws )? ", tail[i + 1]);
            tail[i] = i + 1 < n ? new_rule(cat(name, "-tail-", i), t) : t;
            std::string h = cat(kv[i], " ws ", tail[i + 1]);
            if (!req[i]) h = cat(h, " | ", head[i + 1].empty() ? "\"\"" : head[i + 1]);
            head[i] = new_rule(cat(name, "-head-", i), h);
        }
        return new_rule(name, cat("\"{\" ws ", head[0], " \"}\""));
    }

    std::string array_rule(const ordered_json& s, const std::string& name,
                           const std::string& path) {
        use("ws");
        std::string item = use("json-value");
        bool items_allowed = true;
        if (s.contains("items")) {
            const ordered_json& it = s["items"];
            if (it.is_boolean() && !it.get<bool>()) {
                items_allowed = false;
            } else {
                item = visit(it, name + "-item", path + "/items");
            }
        }
        if (s.contains("prefixItems")) {
            if (s.contains("minItems") || s.contains("maxItems")) {
                error(path, "prefixItems with minItems/maxItems is not supported");
            }
            const ordered_json& pre = s["prefixItems"];
            std::string rest =
                s.contains("items") && items_allowed ? cat("( \",\" ws ", item, " ws )*") : "";
            std::string inner = rest;
            for (size_t i = pre.size(); i-- > 0;) {
                std::string p = visit(pre[i], cat(name, "-", i), cat(path, "/prefixItems/", i));
                std::string sep = i == 0 ? "" : "\",\" ws ";
                inner = cat("( ", sep, p, " ws ", inner, " )?");
            }
            return new_rule(name, cat("\"[\" ws ", inner, " \"]\""));
        }
        const int64_t min = s.contains("minItems") ? get_count(s, "minItems", path) : 0;
        std::optional<int64_t> max;
        if (s.contains("maxItems")) max = get_count(s, "maxItems", path);
        if (!items_allowed) max = 0;
        if (max && *max < min) error(path, "maxItems < minItems");
        if (max && !is_bounded(*max - 1)) max.reset();  // the repetition below counts items - 1
        if (max && *max == 0) return new_rule(name, R"("[" ws "]")");
        std::string more = max ? cat("{", std::max<int64_t>(min - 1, 0), ",", *max - 1, "}")
                               : cat("{", std::max<int64_t>(min - 1, 0), ",}");
        std::string list = cat(item, " ws ( \",\" ws ", item, " ws )", more);
        if (min == 0) list = cat("( ", list, " )?");
        return new_rule(name, cat("\"[\" ws ", list, " \"]\""));
    }

    // allOf of object schemas: one object with every property; required lists add up.
    ordered_json merge_all_of(const ordered_json& s, const std::string& path) {
        ordered_json merged = {{"type", "object"}, {"properties", ordered_json::object()}};
        ordered_json required = ordered_json::array();
        for (const auto& [key, value] : s.items()) {
            if (key != "allOf" && key != "type" && !annotations().count(key)) {
                error(path, cat("keyword '", key, "' next to 'allOf' is not supported"));
            }
        }
        int i = 0;
        for (const auto& sub0 : s["allOf"]) {
            const std::string sub_path = cat(path, "/allOf/", i++);
            const ordered_json* sub = &sub0;
            while (sub->is_object() && sub->contains("$ref")) {
                sub = &resolve((*sub)["$ref"].get<std::string>(), sub_path);
            }
            if (!sub->is_object() || !sub->contains("properties")) {
                error(sub_path, "allOf is supported for object schemas with properties only");
            }
            for (const auto& [key, value] : sub->items()) {
                if (key == "properties") {
                    for (const auto& [p, ps] : value.items()) merged["properties"][p] = ps;
                } else if (key == "required") {
                    for (const auto& r : value) required.push_back(r);
                } else if (key == "additionalProperties" || key == "type") {
                    // false in one part would forbid the others' properties; keep the union.
                } else if (!annotations().count(key)) {
                    error(sub_path, cat("keyword '", key, "' inside allOf is not supported"));
                }
            }
        }
        merged["required"] = required;
        merged["additionalProperties"] = false;
        return merged;
    }

    const ordered_json& root_;
    std::vector<std::pair<std::string, std::string>> rules_;
    std::set<std::string> taken_;
    std::set<std::string> used_;
    std::map<std::string, std::string> refs_;
};

}  // namespace

std::string json_schema_to_gbnf(const ordered_json& schema) {
    try {
        return Converter(schema).run();
    } catch (const ordered_json::exception& e) {
        // A keyword of the wrong JSON type where the converter reads a value ("type": 0,
        // "format": [], a non-string $ref, ...): the schema is malformed, not the program.
        throw Error(cat("JSON schema: a keyword has a value of the wrong type: ", e.what()));
    }
}

std::string gbnf_literal(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (u < 0x20 || u == 0x7f) {
            out += cat("\\x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string json_object_gbnf() {
    return json_schema_to_gbnf(ordered_json{{"type", "object"}});
}

Grammar Grammar::from_json_schema(const ordered_json& schema) {
    return parse_gbnf(json_schema_to_gbnf(schema));
}

Grammar Grammar::json() {
    return parse_gbnf(json_object_gbnf());
}

}  // namespace pocket
