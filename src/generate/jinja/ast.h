// The parsed template: expression and statement trees. One node struct per category with a kind
// tag keeps the interpreter a plain switch; the fields each kind uses are listed beside it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "generate/jinja/value.h"

namespace pocket::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
    Literal,    // literal
    Name,       // name
    List,       // args = items
    Tuple,      // args = items
    Dict,       // args = key, value, key, value, ...
    GetAttr,    // args[0] . name
    GetItem,    // args[0] [ args[1] ]
    Slice,      // args[0] [ args[1] : args[2] : args[3] ]  (null = omitted)
    Call,       // args[0] ( args[1..], kwargs )
    Filter,     // args[0] | name ( args[1..], kwargs ); args[0] null in filter blocks
    Test,       // args[0] is [not] name ( args[1..] ); negated
    Not,        // not args[0]
    Neg,        // - args[0]
    Pos,        // + args[0]
    Binary,     // args[0] name args[1]: + - * / // % ** ~ and or in "not in"
    Compare,    // args[0] ops[0] args[1] ops[1] args[2] ...  (chained like Python)
    Condition,  // args[1] if args[0] else args[2] (args[2] null: undefined)
};

struct Expr {
    ExprKind kind;
    size_t pos = 0;  // offset in the normalized source, for error messages
    Value literal;
    std::string name;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
    bool negated = false;
    int height = 1;  // longest path to a leaf: bounds the evaluator's recursion
};

enum class StmtKind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches (cond, body); else_body
    For,          // targets in expr [if cond]: body, else_body
    Set,          // targets (one name, or several to unpack) = expr; or ns.attr = expr (attr)
    SetBlock,     // targets[0] = rendered body, through filters
    Macro,        // name(params) body
    FilterBlock,  // body through filters
    Break,
    Continue,
};

struct Stmt {
    StmtKind kind;
    size_t pos = 0;
    Text text;
    ExprPtr expr;
    ExprPtr cond;
    std::vector<std::string> targets;
    std::string name;
    std::string attr;
    Body body;
    Body else_body;
    std::vector<std::pair<ExprPtr, Body>> branches;
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and defaults
    std::vector<ExprPtr> filters;                         // Filter exprs with a null operand
};

struct Program {
    std::string source;  // normalized
    Body body;
};

// Throws Fault ("TemplateSyntaxError") and sets error_offset.
std::unique_ptr<Program> parse(std::string normalized_source, size_t& error_offset);

}  // namespace pocket::jinja
