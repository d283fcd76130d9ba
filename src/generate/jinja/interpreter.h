// Walks the parsed template: statements write to an output Text, expressions evaluate to Values.
// Scopes follow Jinja2: `for` bodies and macro calls get their own scope, `if` does not, so a
// `set` inside a loop is invisible after it (templates use namespace() to carry state out).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "generate/jinja/ast.h"
#include "generate/jinja/value.h"
#include "pocket/generate/chat_template.h"

namespace pocket::jinja {

struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
    const Value* find(const std::string& name) const;
};

class Interpreter {
  public:
    Interpreter(const Program& program, ChatTemplate::Clock clock);

    // Renders with `globals` as the outermost scope. Throws Fault; `error_offset` gets the source
    // offset of the innermost node being evaluated when it was thrown.
    Text render(std::unordered_map<std::string, Value> globals, size_t& error_offset);

    Value call(const Value& callee, Args& args);
    // namespace(): the only mutable values, so the only way to build a reference cycle
    // (ns.a = [ns]); the interpreter empties every one it made when it is done, freeing cycles.
    Value make_namespace();
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;
    const ChatTemplate::Clock& clock() const { return clock_; }

  private:
    enum class Flow { Normal, Break, Continue };

    Flow exec_body(const Body& body, Text& out, const std::shared_ptr<Scope>& scope);
    Flow exec(const Stmt& s, Text& out, const std::shared_ptr<Scope>& scope);
    Flow exec_impl(const Stmt& s, Text& out, const std::shared_ptr<Scope>& scope);
    void locate(size_t pos);
    Flow exec_for(const Stmt& s, Text& out, const std::shared_ptr<Scope>& scope);
    void exec_set(const Stmt& s, const std::shared_ptr<Scope>& scope);
    Value define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope);
    Value apply_filters(const std::vector<ExprPtr>& filters, Value v,
                        const std::shared_ptr<Scope>& scope);

    Value eval(const Expr& e, const std::shared_ptr<Scope>& scope);
    Value eval_impl(const Expr& e, const std::shared_ptr<Scope>& scope);
    Args eval_args(const Expr& e, const std::shared_ptr<Scope>& scope);
    Value eval_compare(const Expr& e, const std::shared_ptr<Scope>& scope);

    void step();

    struct Nest {
        explicit Nest(Interpreter& in);
        ~Nest() { --in_.depth_; }
        Interpreter& in_;
    };

    const Program& program_;
    ChatTemplate::Clock clock_;
    size_t* error_offset_ = nullptr;
    bool error_located_ = false;
    int depth_ = 0;
    uint64_t steps_ = 0;
    std::vector<std::shared_ptr<Namespace>> namespaces_;
};

// Builtins (builtins.cpp): filters, tests, attribute/method lookup, global functions.
Value apply_filter(Interpreter& in, const std::string& name, const Value& operand, Args& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& operand, Args& args);
// Whether a filter / test exists: Jinja2 rejects unknown ones when it compiles the template.
bool known_filter(std::string_view name);
bool known_test(std::string_view name);
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
void add_globals(std::unordered_map<std::string, Value>& globals);

// Operators (operators.cpp), Python semantics.
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
Value negate(const Value& v);

// tojson (json_dump.cpp): json.dumps(v, ensure_ascii=False, indent, separators, sort_keys).
struct JsonStyle {
    bool indent = false;
    std::string indent_unit;  // spaces per level (or the given string)
    std::string item_sep = ", ";
    std::string key_sep = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;  // non-ASCII as \uXXXX escapes (surrogate pairs above U+FFFF)
};
std::string to_json(const Value& v, const JsonStyle& style);

}  // namespace pocket::jinja
