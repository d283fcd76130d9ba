// Values of the template language, with Python's semantics (what Jinja2 inherits): truthiness,
// str()/repr() printing, equality across int/float/bool, insertion-ordered dicts, lists shared by
// reference. Strings carry provenance: which of their bytes came from the caller's input data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pocket/generate/chat_template.h"

namespace pocket::jinja {

// Longest string (and rendered output) a template may build.
inline constexpr size_t kMaxTextBytes = size_t{8} << 20;
// Most items a list built by the template may hold.
inline constexpr size_t kMaxListItems = size_t{1} << 20;

// A failure while evaluating, not yet tied to a template position: the interpreter adds the line
// and column of the innermost node being evaluated and rethrows it as TemplateError.
struct Fault {
    std::string kind;
    std::string message;
};
[[noreturn]] void fault(std::string kind, std::string message);
[[noreturn]] inline void type_error(std::string message) {
    fault("TypeError", std::move(message));
}

// Bytes plus the sorted, disjoint ranges of them that came from input data.
struct Text {
    std::string bytes;
    std::vector<TextRange> input;

    Text() = default;
    explicit Text(std::string b) : bytes(std::move(b)) {}
    static Text from_input(std::string b);

    void append(const Text& other);
    void append(std::string_view trusted);
    // Bytes [begin, end) with their ranges.
    Text slice(size_t begin, size_t end) const;
    bool has_input() const { return !input.empty(); }
    // Marks every byte as input (a transform that cannot track ranges exactly).
    void mark_all_input();
};

class Value;
struct List {
    std::vector<Value> items;
    bool tuple = false;
};
struct Dict {
    std::vector<std::pair<Value, Value>> items;  // insertion order
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(Value key, Value value);
};
struct Namespace {
    Dict attrs;
};
struct Args {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
};
class Interpreter;
struct Callable {
    std::string name;
    std::function<Value(Interpreter&, Args&)> call;
};
struct Undefined {
    std::string hint;  // the message an illegal use raises: "'x' is undefined"
};
struct None {};

class Value {
  public:
    using Storage =
        std::variant<Undefined, None, bool, int64_t, double, Text, std::shared_ptr<List>,
                     std::shared_ptr<Dict>, std::shared_ptr<Namespace>, std::shared_ptr<Callable>>;

    Value() : v_(Undefined{}) {}
    Value(None) : v_(None{}) {}
    Value(bool b) : v_(b) {}
    Value(int64_t i) : v_(i) {}
    Value(int i) : v_(int64_t{i}) {}
    Value(double f) : v_(f) {}
    Value(Text t) : v_(std::move(t)) {}
    Value(const char* s) : v_(Text(s)) {}
    Value(std::shared_ptr<List> l) : v_(std::move(l)) {}
    Value(std::shared_ptr<Dict> d) : v_(std::move(d)) {}
    Value(std::shared_ptr<Namespace> n) : v_(std::move(n)) {}
    Value(std::shared_ptr<Callable> c) : v_(std::move(c)) {}
    static Value undefined(std::string hint) { return Value(Storage(Undefined{std::move(hint)})); }
    static Value make_list(std::vector<Value> items = {}, bool tuple = false);
    static Value make_dict();
    static Value function(std::string name, std::function<Value(Interpreter&, Args&)> fn);

    bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
    bool is_none() const { return std::holds_alternative<None>(v_); }
    bool is_bool() const { return std::holds_alternative<bool>(v_); }
    bool is_int() const { return std::holds_alternative<int64_t>(v_); }
    bool is_float() const { return std::holds_alternative<double>(v_); }
    bool is_number() const { return is_bool() || is_int() || is_float(); }
    bool is_string() const { return std::holds_alternative<Text>(v_); }
    bool is_list() const { return std::holds_alternative<std::shared_ptr<List>>(v_); }
    bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(v_); }
    bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(v_); }
    bool is_callable() const { return std::holds_alternative<std::shared_ptr<Callable>>(v_); }

    bool as_bool() const { return std::get<bool>(v_); }
    int64_t as_int() const { return std::get<int64_t>(v_); }
    double as_float() const { return std::get<double>(v_); }
    // Numbers (bool, int, float) as double / as int64 (bools as 0/1).
    double number() const;
    int64_t integer() const;
    const Text& text() const { return std::get<Text>(v_); }
    const std::string& str() const { return std::get<Text>(v_).bytes; }
    List& list() const { return *std::get<std::shared_ptr<List>>(v_); }
    Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
    Namespace& ns() const { return *std::get<std::shared_ptr<Namespace>>(v_); }
    const Callable& callable() const { return *std::get<std::shared_ptr<Callable>>(v_); }
    const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }

    // Python truthiness (undefined is falsy).
    bool truthy() const;
    // Python's type name, for messages: "NoneType", "int", "str", "list", "dict", ...
    std::string type_name() const;
    // Throws UndefinedError when undefined: for uses Jinja2's Undefined does not allow.
    const Value& defined() const;

  private:
    explicit Value(Storage s) : v_(std::move(s)) {}
    Storage v_;
};

// str(value) with provenance (undefined prints as nothing, none as "None", ...).
Text to_text(const Value& v);
// repr(value): strings quoted, as inside a printed list.
Text to_repr(const Value& v);
std::string format_float(double f);  // Python's repr of a float: 1.0, 0.1, 1e+16, inf, nan

// Python ==, and < for the types that order (numbers, strings, lists); TypeError otherwise.
bool equal(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);
// Whether any string inside (keys included) carries input bytes.
bool has_input(const Value& v);

// Converts the caller's JSON; strings (and keys) become input when `input` is set.
Value from_json(const nlohmann::ordered_json& j, bool input);

// The items a `for` loop visits: list items, dict keys, string characters; TypeError otherwise.
std::vector<Value> iterate(const Value& v);
// len(); TypeError for values without a length.
size_t length(const Value& v);

}  // namespace pocket::jinja
