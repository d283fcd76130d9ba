#include "server/json_fields.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace pocket::server {

std::optional<Utf8Error> find_invalid_utf8(std::string_view bytes) {
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        // The allowed range of the second byte is what rules out overlongs, surrogates and code
        // points above U+10FFFF (RFC 3629, section 4); later bytes are plain continuations.
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0xC0) return Utf8Error{i, "unexpected continuation byte"};
        if (c < 0xC2) return Utf8Error{i, "overlong encoding"};
        if (c < 0xE0) {
            len = 2;
        } else if (c < 0xF0) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c < 0xF5) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return Utf8Error{i, c < 0xF8 ? "code point above U+10FFFF" : "invalid byte"};
        }
        if (i + 1 >= n) return Utf8Error{i, "truncated sequence"};
        const unsigned c1 = s[i + 1];
        if (c1 < 0x80 || c1 > 0xBF) return Utf8Error{i, "invalid continuation byte"};
        if (c1 < lo) return Utf8Error{i, "overlong encoding"};
        if (c1 > hi)
            return Utf8Error{i, c == 0xED ? "UTF-16 surrogate" : "code point above U+10FFFF"};
        for (std::size_t k = 2; k < len; ++k) {
            if (i + k >= n) return Utf8Error{i, "truncated sequence"};
            if ((s[i + k] & 0xC0) != 0x80) return Utf8Error{i, "invalid continuation byte"};
        }
        i += len;
    }
    return std::nullopt;
}

namespace {

// Builds the document from SAX events, so the depth limit is enforced as containers open (a
// body of 10^6 '[' is refused at the 65th) and the path of the value being read is known when
// nlohmann reports a number it cannot represent (1e400).
class BoundedBuilder {
  public:
    explicit BoundedBuilder(std::size_t max_depth) : max_depth_(max_depth) {}

    json& root() { return root_; }
    bool too_deep() const { return too_deep_; }
    const std::optional<ApiError>& error() const { return error_; }

    bool null() { return put(nullptr); }
    bool boolean(bool v) { return put(v); }
    bool number_integer(json::number_integer_t v) { return put(v); }
    bool number_unsigned(json::number_unsigned_t v) { return put(v); }
    bool number_float(json::number_float_t v, const json::string_t&) { return put(v); }
    bool string(json::string_t& v) { return put(std::move(v)); }
    bool binary(json::binary_t&) { return false; }  // the text parser never produces these
    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool key(json::string_t& k) {
        frames_.back().key = std::move(k);
        return true;
    }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool parse_error(std::size_t position, const std::string& token, const json::exception& e) {
        if (e.id == 406) {  // number overflow: name the field, as the typed readers would
            const std::string path = current_path();
            error_ = bad_request((path.empty() ? std::string("The body") : "`" + path + "`") +
                                     " holds the number " + token + ", which is out of range.",
                                 path.empty() ? std::nullopt : std::optional<std::string>(path));
            return false;
        }
        // nlohmann's what() reads "[json.exception.parse_error.101] parse error at line 1,
        // column 5: syntax error while ..."; keep only the part after the location.
        std::string what = e.what();
        const auto colon = what.find(": ");
        if (colon != std::string::npos) what = what.substr(colon + 2);
        error_ = bad_request("Invalid JSON in request body at byte " + std::to_string(position) +
                             ": " + what);
        return false;
    }

  private:
    struct Frame {
        json* value;
        std::string key;  // of the member being read, when value is an object
    };

    json* insert(json&& v) {
        if (frames_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        json& parent = *frames_.back().value;
        if (parent.is_array()) {
            parent.push_back(std::move(v));
            return &parent.back();
        }
        json& slot = parent[frames_.back().key];  // a repeated key keeps its last value
        slot = std::move(v);
        return &slot;
    }
    template <class T>
    bool put(T&& v) {
        insert(json(std::forward<T>(v)));
        return true;
    }

    bool open(json&& container) {
        if (frames_.size() >= max_depth_) {
            too_deep_ = true;
            return false;
        }
        // The open container is always the last element of its parent, and nothing is added to
        // the parent until it closes, so this pointer stays valid.
        json* v = insert(std::move(container));
        frames_.push_back({v, {}});
        return true;
    }
    bool close() {
        frames_.pop_back();
        return true;
    }

    std::string current_path() const {
        std::string path;
        for (std::size_t i = 0; i < frames_.size(); ++i) {
            const json& v = *frames_[i].value;
            // An enclosing array already holds the open child as its last element; the innermost
            // one has not received the value being read yet.
            const bool innermost = i + 1 == frames_.size();
            path = v.is_array() ? index_path(path, innermost ? v.size() : v.size() - 1)
                                : join_path(path, frames_[i].key);
        }
        return path;
    }

    std::size_t max_depth_;
    json root_;
    std::vector<Frame> frames_;
    bool too_deep_ = false;
    std::optional<ApiError> error_;
};

}  // namespace

json parse_body(std::string_view body, std::size_t max_depth) {
    if (body.empty()) throw bad_request("The request body is empty; expected a JSON object.");
    if (auto bad = find_invalid_utf8(body)) {
        throw bad_request("The request body is not valid UTF-8: " + std::string(bad->reason) +
                          " at byte " + std::to_string(bad->offset) + ".");
    }
    BoundedBuilder builder(max_depth);
    const bool ok = json::sax_parse(body.begin(), body.end(), &builder);
    if (builder.too_deep()) {
        throw bad_request("The request body nests arrays and objects deeper than " +
                          std::to_string(max_depth) + " levels.");
    }
    if (!ok || builder.error()) {
        if (builder.error()) throw *builder.error();
        throw bad_request("Invalid JSON in request body.");
    }
    if (!builder.root().is_object()) {
        throw bad_request("The request body must be a JSON object, got " +
                          std::string(json_type_name(builder.root())) + ".");
    }
    return std::move(builder.root());
}

std::string join_path(std::string_view parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    std::string path(parent);
    path += '.';
    path += key;
    return path;
}

std::string index_path(std::string_view parent, std::size_t index) {
    return std::string(parent) + "[" + std::to_string(index) + "]";
}

const char* json_type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::boolean:
            return "boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "integer";
        case json::value_t::number_float:
            return "number";
        case json::value_t::string:
            return "string";
        case json::value_t::array:
            return "array";
        case json::value_t::object:
            return "object";
        default:
            return "binary";
    }
}

namespace {

[[noreturn]] void wrong_type(const json& v, std::string_view path, std::string_view expected) {
    throw bad_request("`" + std::string(path) + "` must be " + std::string(expected) + ", got " +
                          json_type_name(v) + ".",
                      std::string(path));
}

[[noreturn]] void out_of_range(const json& v, std::string_view path, const std::string& bounds) {
    throw bad_request("`" + std::string(path) + "` must be " + bounds + ", got " + v.dump() + ".",
                      std::string(path));
}

// Shortest round-trip form: 0.5, 2, 1e+300.
std::string number_text(double d) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
}

}  // namespace

double as_number(const json& v, std::string_view path, double min, double max) {
    if (!v.is_number()) wrong_type(v, path, "a number");
    const double d = v.get<double>();
    if (!(d >= min && d <= max)) {
        std::string bounds = "between " + number_text(min) + " and " + number_text(max);
        if (std::isinf(min)) bounds = "at most " + number_text(max);
        if (std::isinf(max)) bounds = "at least " + number_text(min);
        out_of_range(v, path, bounds);
    }
    return d;
}

std::int64_t as_integer(const json& v, std::string_view path, std::int64_t min, std::int64_t max) {
    const std::string bounds =
        "an integer between " + std::to_string(min) + " and " + std::to_string(max);
    std::int64_t n = 0;
    if (v.is_number_integer() && !v.is_number_unsigned()) {
        n = v.get<std::int64_t>();
    } else if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            out_of_range(v, path, bounds);
        }
        n = static_cast<std::int64_t>(u);
    } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d != std::floor(d)) out_of_range(v, path, bounds);  // also NaN and infinities
        // 2^63 is exactly representable; anything at or beyond it cannot be cast.
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
            out_of_range(v, path, bounds);
        }
        n = static_cast<std::int64_t>(d);
    } else {
        wrong_type(v, path, "an integer");
    }
    if (n < min || n > max) out_of_range(v, path, bounds);
    return n;
}

bool as_boolean(const json& v, std::string_view path) {
    if (!v.is_boolean()) wrong_type(v, path, "a boolean");
    return v.get<bool>();
}

const std::string& as_string(const json& v, std::string_view path) {
    if (!v.is_string()) wrong_type(v, path, "a string");
    return v.get_ref<const std::string&>();
}

const json& as_object(const json& v, std::string_view path) {
    if (!v.is_object()) wrong_type(v, path, "an object");
    return v;
}

const json& as_array(const json& v, std::string_view path) {
    if (!v.is_array()) wrong_type(v, path, "an array");
    return v;
}

std::vector<std::string> as_string_or_strings(const json& v, std::string_view path,
                                              std::size_t max_items) {
    if (v.is_string()) return {v.get<std::string>()};
    if (!v.is_array()) wrong_type(v, path, "a string or an array of strings");
    if (v.size() > max_items) {
        throw bad_request("`" + std::string(path) + "` may hold at most " +
                              std::to_string(max_items) + " strings, got " +
                              std::to_string(v.size()) + ".",
                          std::string(path));
    }
    std::vector<std::string> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(as_string(v[i], index_path(path, i)));
    return out;
}

namespace {

// The field's value, or nullptr when it is absent or null.
const json* find(const json& obj, std::string_view key) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

}  // namespace

std::optional<double> number(const json& obj, std::string_view key, double min, double max,
                             std::string_view parent) {
    const json* v = find(obj, key);
    if (!v) return std::nullopt;
    return as_number(*v, join_path(parent, key), min, max);
}

std::optional<std::int64_t> integer(const json& obj, std::string_view key, std::int64_t min,
                                    std::int64_t max, std::string_view parent) {
    const json* v = find(obj, key);
    if (!v) return std::nullopt;
    return as_integer(*v, join_path(parent, key), min, max);
}

std::optional<bool> boolean(const json& obj, std::string_view key, std::string_view parent) {
    const json* v = find(obj, key);
    if (!v) return std::nullopt;
    return as_boolean(*v, join_path(parent, key));
}

std::optional<std::string> string(const json& obj, std::string_view key, std::string_view parent) {
    const json* v = find(obj, key);
    if (!v) return std::nullopt;
    return as_string(*v, join_path(parent, key));
}

std::optional<std::vector<std::string>> string_or_strings(const json& obj, std::string_view key,
                                                          std::size_t max_items,
                                                          std::string_view parent) {
    const json* v = find(obj, key);
    if (!v) return std::nullopt;
    return as_string_or_strings(*v, join_path(parent, key), max_items);
}

const json* object(const json& obj, std::string_view key, std::string_view parent) {
    const json* v = find(obj, key);
    if (v) as_object(*v, join_path(parent, key));
    return v;
}

const json* array(const json& obj, std::string_view key, std::string_view parent) {
    const json* v = find(obj, key);
    if (v) as_array(*v, join_path(parent, key));
    return v;
}

ApiError missing_field(std::string_view key, std::string_view parent) {
    const std::string path = join_path(parent, key);
    return bad_request("`" + path + "` is required.", path);
}

}  // namespace pocket::server
