// Statement tags of the Jinja grammar (see parser_state.h).
#include "chat/parser_state.h"

namespace nova::chat::detail {

// Parses until a block whose tag name is in `end_tags` (left current) or EOF.
Body Parser::subparse(std::initializer_list<const char*> end_tags) {
  Body body;
  while (cur().type != Token::Type::Eof) {
    const Token& t = cur();
    if (t.type == Token::Type::Data) {
      auto s = stmt(Stmt::Kind::Data, t);
      s->text = t.value;
      advance();
      body.push_back(std::move(s));
    } else if (t.type == Token::Type::VarBegin) {
      advance();
      auto s = stmt(Stmt::Kind::Print, t);
      s->expr = parse_tuple(true, {});
      expect_type(Token::Type::VarEnd, "end of print statement");
      body.push_back(std::move(s));
    } else if (t.type == Token::Type::BlockBegin) {
      const Token& tag = look();
      if (tag.type == Token::Type::Name)
        for (const char* e : end_tags)
          if (tag.value == e) {
            advance();  // leave the tag name current
            return body;
          }
      advance();
      parse_statement(body);
      expect_type(Token::Type::BlockEnd, "end of statement block");
    } else {
      fail_at(t, "unexpected " + describe(t));
    }
  }
  return body;
}

// `%}` then body until one of end_tags; leaves the end tag name current (or drops it).
Body Parser::statements(std::initializer_list<const char*> end_tags, const Token& opener, bool drop) {
  skip_op(":");
  expect_type(Token::Type::BlockEnd, "end of statement block");
  Body b = subparse(end_tags);
  if (cur().type == Token::Type::Eof) {
    std::string want;
    for (const char* e : end_tags) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
    fail_at(cur(), "unexpected end of template; looking for " + want + " to close '" + opener.value +
                       "' opened at line " + std::to_string(opener.line));
  }
  if (drop) advance();
  return b;
}

void Parser::parse_statement(Body& out) {
  DepthGuard guard(*this);
  const Token& t = cur();
  if (t.type != Token::Type::Name) fail_at(t, "tag name expected");
  const std::string& n = t.value;
  if (n == "if") return out.push_back(parse_if());
  if (n == "for") return out.push_back(parse_for());
  if (n == "set") return out.push_back(parse_set());
  if (n == "macro") return out.push_back(parse_macro());
  if (n == "call") return out.push_back(parse_call_block());
  if (n == "filter") return out.push_back(parse_filter_block());
  if (n == "with") return out.push_back(parse_with());
  if (n == "break" || n == "continue") {
    if (loop_depth_ == 0) fail_at(t, "'" + n + "' outside of a loop");
    advance();
    out.push_back(stmt(n == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, t));
    return;
  }
  if (n == "generation") {  // transformers' AssistantTracker tag: renders its body unchanged
    advance();
    auto s = stmt(Stmt::Kind::Scope, t);
    s->body = statements({"endgeneration"}, t, true);
    out.push_back(std::move(s));
    return;
  }
  if (n == "print") {
    advance();
    bool first = true;
    while (cur().type != Token::Type::BlockEnd) {
      if (!first) expect_op(",");
      first = false;
      auto s = stmt(Stmt::Kind::Print, cur());
      s->expr = parse_expression(true);
      out.push_back(std::move(s));
    }
    return;
  }
  fail_at(t, "encountered unknown tag '" + n + "'");
}

StmtPtr Parser::parse_if() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::If, opener);
  while (true) {
    s->conds.push_back(parse_tuple(false, {}));
    s->bodies.push_back(statements({"elif", "else", "endif"}, opener, false));
    const std::string tag = advance().value;
    if (tag == "elif") continue;
    if (tag == "else") s->else_body = statements({"endif"}, opener, true);
    break;
  }
  return s;
}

StmtPtr Parser::parse_for() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::For, opener);
  s->target = parse_assign_target(true, false, {"in"});
  if (!skip_name("in")) fail_at(cur(), "expected 'in', got " + describe(cur()));
  s->expr = parse_tuple(false, {"recursive"});
  if (skip_name("if")) s->filter = parse_expression(true);
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->body = statements({"endfor", "else"}, opener, false);
  --loop_depth_;
  if (advance().value == "else") s->else_body = statements({"endfor"}, opener, true);
  return s;
}

StmtPtr Parser::parse_set() {
  const Token& opener = advance();
  ExprPtr target = parse_assign_target(true, true, {});
  if (skip_op("=")) {
    auto s = stmt(Stmt::Kind::Set, opener);
    s->target = std::move(target);
    s->expr = parse_tuple(true, {});
    return s;
  }
  auto s = stmt(Stmt::Kind::SetBlock, opener);
  s->target = std::move(target);
  s->expr = parse_filter(nullptr, false);
  s->body = statements({"endset"}, opener, true);
  return s;
}

void Parser::parse_signature(MacroDef& m) {
  expect_op("(");
  while (!is_op(")")) {
    if (!m.params.empty()) expect_op(",");
    if (is_op(")")) break;
    m.params.push_back(expect_name());
    if (skip_op("=")) {
      m.defaults.push_back(parse_expression(true));
    } else if (!m.defaults.empty()) {
      fail_at(cur(), "non-default argument follows default argument");
    }
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::Macro, opener);
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = expect_name();
  parse_signature(*s->macro);
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = statements({"endmacro"}, opener, true);
  loop_depth_ = saved;
  return s;
}

StmtPtr Parser::parse_call_block() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::CallBlock, opener);
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = "caller";
  if (is_op("(")) parse_signature(*s->macro);
  s->expr = parse_expression(true);
  if (s->expr->kind != Expr::Kind::Call) fail_at(opener, "expected call");
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = statements({"endcall"}, opener, true);
  loop_depth_ = saved;
  return s;
}

StmtPtr Parser::parse_filter_block() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::FilterBlock, opener);
  s->expr = parse_filter(nullptr, true);
  s->body = statements({"endfilter"}, opener, true);
  return s;
}

StmtPtr Parser::parse_with() {
  const Token& opener = advance();
  auto s = stmt(Stmt::Kind::With, opener);
  while (cur().type != Token::Type::BlockEnd) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(parse_assign_target(true, false, {}));
    expect_op("=");
    s->conds.push_back(parse_expression(true));
  }
  s->body = statements({"endwith"}, opener, true);
  return s;
}

ExprPtr Parser::parse_assign_target(bool with_tuple, bool with_namespace, std::initializer_list<const char*> extra_end) {
  const Token& t = cur();
  ExprPtr target = with_tuple ? parse_tuple_simplified(with_namespace, extra_end) : parse_primary(with_namespace);
  check_assignable(*target, t);
  return target;
}

void Parser::check_assignable(const Expr& e, const Token& t) const {
  if (e.kind == Expr::Kind::Name || e.kind == Expr::Kind::NSRef) {
    if (e.kind == Expr::Kind::Name && (e.name == "true" || e.name == "false" || e.name == "none" ||
                                       e.name == "True" || e.name == "False" || e.name == "None"))
      fail_at(t, "can't assign to const");
    return;
  }
  if (e.kind == Expr::Kind::Tuple) {
    for (const auto& i : e.items) check_assignable(*i, t);
    return;
  }
  fail_at(t, "can't assign to this expression");
}

}  // namespace nova::chat::detail
