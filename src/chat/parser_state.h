// The Jinja parser's state and grammar, shared by its two halves: parse_statements.cpp (tags:
// if/for/set/macro/call/filter/with) and parse_expressions.cpp (jinja2's expression grammar and
// precedence). Internal to the chat layer; the public entry point is chat/parser.h.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "core/error.h"

namespace nova::chat::detail {

constexpr int kMaxDepth = 200;

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& where) : toks_(std::move(tokens)), where_(where) {}

  Program run() {
    Program p;
    p.body = subparse({});
    if (cur().type != Token::Type::Eof) fail_at(cur(), "unexpected " + describe(cur()));
    return p;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxDepth) p_.fail_at(p_.cur(), "template nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    Parser& p_;
  };

  const Token& cur() const { return toks_[pos_]; }
  const Token& look() const { return toks_[pos_ + 1 < toks_.size() ? pos_ + 1 : pos_]; }
  const Token& advance() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }

  [[noreturn]] void fail_at(const Token& t, const std::string& what) const {
    fail(where_, at(t.line, t.col, what));
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Token::Type::Data: return "template data";
      case Token::Type::VarBegin: return "begin of print statement";
      case Token::Type::VarEnd: return "end of print statement";
      case Token::Type::BlockBegin: return "begin of statement block";
      case Token::Type::BlockEnd: return "end of statement block";
      case Token::Type::Eof: return "end of template";
      case Token::Type::String: return "string";
      case Token::Type::Integer: return "integer";
      case Token::Type::Float: return "float";
      default: return "'" + t.value + "'";
    }
  }

  bool is_op(const char* op) const { return cur().type == Token::Type::Operator && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Token::Type::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_at(cur(), std::string("expected token '") + op + "', got " + describe(cur()));
  }
  void expect_type(Token::Type type, const char* what) {
    if (cur().type != type) fail_at(cur(), std::string("expected ") + what + ", got " + describe(cur()));
    advance();
  }
  std::string expect_name() {
    if (cur().type != Token::Type::Name) fail_at(cur(), "expected name, got " + describe(cur()));
    return advance().value;
  }

  ExprPtr node(Expr::Kind kind, const Token& at_tok) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at_tok.line;
    e->col = at_tok.col;
    return e;
  }
  StmtPtr stmt(Stmt::Kind kind, const Token& at_tok) const {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at_tok.line;
    s->col = at_tok.col;
    return s;
  }

  // ---- statements ----
  // Parses until a block whose tag name is in `end_tags` (left current) or EOF.
  Body subparse(std::initializer_list<const char*> end_tags);
  // `%}` then body until one of end_tags; leaves the end tag name current (or drops it).
  Body statements(std::initializer_list<const char*> end_tags, const Token& opener, bool drop);
  void parse_statement(Body& out);
  StmtPtr parse_if();
  StmtPtr parse_for();
  StmtPtr parse_set();
  void parse_signature(MacroDef& m);
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  ExprPtr parse_assign_target(bool with_tuple, bool with_namespace, std::initializer_list<const char*> extra_end);
  void check_assignable(const Expr& e, const Token& t) const;

  // ---- expressions ----
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;
  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end, bool explicit_parens = false);
  // Tuples of primaries only (assignment targets of for/set/with), as jinja2's simplified tuples.
  ExprPtr parse_tuple_simplified(bool with_namespace, std::initializer_list<const char*> extra_end);
  // `a, b, c` (a tuple) or a single item; `()` is an empty tuple only inside explicit parentheses.
  template <class ParseItem>
  ExprPtr parse_tuple_of(ParseItem&& parse_item, std::initializer_list<const char*> extra_end, bool explicit_parens);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr binary(const char* op, ExprPtr l, ExprPtr r, const Token& t);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary(bool with_namespace);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr obj);
  ExprPtr parse_subscribed();
  Args parse_call_args();
  ExprPtr parse_call(ExprPtr callee);
  std::string dotted_name();
  ExprPtr parse_filter(ExprPtr e, bool start_inline);
  ExprPtr parse_test(ExprPtr e);

  std::vector<Token> toks_;
  const std::string& where_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace nova::chat::detail
