// The parsed form of a template: expressions and statements, mirroring jinja2's node types.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace nova::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star;         // *args
  ExprPtr double_star;  // **kwargs
};

struct Expr {
  enum class Kind {
    Const,    // literal
    Name,     // variable
    Tuple,    // items
    List,     // items
    Dict,     // items: key0, value0, key1, value1, ...
    Getattr,  // a.name
    Getitem,  // a[b]
    Slice,    // items: start, stop, step (null when absent)
    Call,     // a(args)
    Filter,   // a|name(args); `a` null inside {% filter %} blocks
    Test,     // a is name(args)
    Not,
    Neg,
    Pos,
    Binary,   // op in name: + - * / // % ** ~ and or
    Compare,  // a, then (op, operand) pairs: ops in `ops`, operands in items
    CondExpr, // a if test else b: items = {then, test, else (may be null)}
    NSRef,    // assignment target ns.attr: name = ns, attr = attr
  };
  Kind kind;
  int line = 0, col = 0;
  Value value;                 // Const
  std::string name;            // Name, Getattr attr, Filter/Test name, Binary op, NSRef namespace
  std::string attr;            // NSRef attribute
  ExprPtr a;                   // operand / callee / object
  std::vector<ExprPtr> items;  // children
  std::vector<std::string> ops;
  Args args;
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned to the last params
  Body body;
};

struct Stmt {
  enum class Kind {
    Data,         // text
    Print,        // {{ expr }}
    If,           // conds[i] -> bodies[i]; else_body
    For,          // target in iter [if filter] body else else_body
    Set,          // target = value
    SetBlock,     // {% set target %}body{% endset %} with optional filter chain
    Macro,        // macro definition
    CallBlock,    // {% call(params) expr %}body{% endcall %}
    FilterBlock,  // {% filter chain %}body{% endfilter %}
    With,         // {% with a = 1 %}body{% endwith %}
    Break,
    Continue,
    Scope,        // body rendered in place ({% generation %} blocks)
  };
  Kind kind;
  int line = 0, col = 0;
  std::string text;                // Data
  ExprPtr expr;                    // Print, For iter, Set value, CallBlock call, filter chain
  ExprPtr target;                  // For/Set targets
  ExprPtr filter;                  // For `if` condition
  bool recursive = false;
  std::vector<ExprPtr> conds;      // If conditions; With values
  std::vector<ExprPtr> targets;    // With targets
  std::vector<Body> bodies;        // If branches
  Body body;
  Body else_body;
  std::shared_ptr<MacroDef> macro; // Macro, and the caller of a CallBlock
};

struct Program {
  Body body;
};

}  // namespace nova::chat
