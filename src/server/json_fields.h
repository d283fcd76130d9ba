// Typed, validating readers for JSON request bodies. Every failure is an ApiError 400 whose
// message and `param` name the field by a path such as "messages[2].content", so a client sees
// which part of its request was wrong instead of a generic "bad request".
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace pocket::server {

using json = nlohmann::ordered_json;

// Nesting limit of parse_body: far above what any API request needs, far below what could
// exhaust a stack in code that walks the document recursively.
inline constexpr std::size_t kMaxJsonDepth = 64;

// The first malformed UTF-8 sequence in a byte string: its offset and why it is malformed
// ("unexpected continuation byte", "truncated sequence", "invalid continuation byte",
// "overlong encoding", "UTF-16 surrogate", "code point above U+10FFFF", "invalid byte").
struct Utf8Error {
    std::size_t offset;
    const char* reason;
};
std::optional<Utf8Error> find_invalid_utf8(std::string_view bytes);

// Parses a request body: valid UTF-8 (checked before parsing, for a message with the offset),
// at most `max_depth` nested arrays/objects (checked while parsing, so a hostile body is refused
// without building it), syntax errors reported with their byte position, and the top level must
// be an object. Throws ApiError 400.
json parse_body(std::string_view body, std::size_t max_depth = kMaxJsonDepth);

// Paths: join_path("", "model") == "model", join_path("messages[2]", "content") ==
// "messages[2].content", index_path("stop", 1) == "stop[1]".
std::string join_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);

// "string", "number", "integer", "boolean", "object", "array" or "null", for messages.
const char* json_type_name(const json& v);

// Readers of one value; `path` names it in the error. Bounds are inclusive.
double as_number(const json& v, std::string_view path,
                 double min = -std::numeric_limits<double>::infinity(),
                 double max = std::numeric_limits<double>::infinity());
// Accepts integral floats (3.0, 1e2) since some clients serialise every number as a double;
// rejects fractions and anything outside [min, max] (which covers 1e300 and 2^70).
std::int64_t as_integer(const json& v, std::string_view path,
                        std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                        std::int64_t max = std::numeric_limits<std::int64_t>::max());
bool as_boolean(const json& v, std::string_view path);
const std::string& as_string(const json& v, std::string_view path);
const json& as_object(const json& v, std::string_view path);
const json& as_array(const json& v, std::string_view path);
// A string or an array of at most `max_items` strings (OpenAI's `stop`).
std::vector<std::string> as_string_or_strings(const json& v, std::string_view path,
                                              std::size_t max_items);

// Readers of an optional field of the object `obj` (which the caller has checked is an object;
// `parent` is its path). An absent field and an explicit null both read as "not given", as in
// OpenAI's API, where clients send `"temperature": null` to mean the default.
std::optional<double> number(const json& obj, std::string_view key, double min, double max,
                             std::string_view parent = {});
std::optional<std::int64_t> integer(const json& obj, std::string_view key, std::int64_t min,
                                    std::int64_t max, std::string_view parent = {});
std::optional<bool> boolean(const json& obj, std::string_view key, std::string_view parent = {});
std::optional<std::string> string(const json& obj, std::string_view key,
                                  std::string_view parent = {});
std::optional<std::vector<std::string>> string_or_strings(const json& obj, std::string_view key,
                                                          std::size_t max_items,
                                                          std::string_view parent = {});
const json* object(const json& obj, std::string_view key, std::string_view parent = {});
const json* array(const json& obj, std::string_view key, std::string_view parent = {});

// 400 "`path` is required".
ApiError missing_field(std::string_view key, std::string_view parent = {});

// required(number(body, "x", 0, 1), "x") and required(object(body, "x"), "x"): the value, or
// missing_field thrown.
template <class T>
T required(std::optional<T> value, std::string_view key, std::string_view parent = {}) {
    if (!value) throw missing_field(key, parent);
    return std::move(*value);
}
inline const json& required(const json* value, std::string_view key, std::string_view parent = {}) {
    if (!value) throw missing_field(key, parent);
    return *value;
}

}  // namespace pocket::server
