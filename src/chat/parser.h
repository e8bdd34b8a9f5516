// Recursive-descent parser producing the AST, with jinja2's grammar and precedence
// (including its quirks: left-associative `**`, filters binding tighter than unary minus's
// operand, tests taking one bare argument).
#pragma once

#include <string>

#include "chat/ast.h"

namespace nova::chat {

// Throws nova::Error(where, "line L:col C: ...") on syntax errors; nesting deeper than a
// fixed bound is a syntax error too (no stack overflow on hostile input).
Program parse_template(const std::string& source, const std::string& where);

}  // namespace nova::chat
