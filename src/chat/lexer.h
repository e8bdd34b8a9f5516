// Splits template source into tokens exactly as jinja2's lexer does with trim_blocks=True and
// lstrip_blocks=True: the whitespace-control rules here decide every byte of template text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nova::chat {

struct Token {
  enum class Type : uint8_t {
    Data,        // literal template text
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,
    Integer,
    Float,
    Operator,  // value holds the operator text: "+", "//", "(", ...
    Eof,
  };
  Type type = Type::Eof;
  std::string value;  // Data text, Name, decoded String, Operator text
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int col = 1;
};

// Throws nova::Error(where, "line L:col C: ...") on lexical errors.
std::vector<Token> tokenize(const std::string& source, const std::string& where);

// "line L:col C: what" — the location format of every template error.
std::string at(int line, int col, const std::string& what);

}  // namespace nova::chat
