// Expressions of the Jinja grammar, with jinja2's precedence and quirks (see parser.h).
#include "chat/parser_state.h"

namespace nova::chat::detail {

bool Parser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
  const Token& t = cur();
  if (t.type == Token::Type::VarEnd || t.type == Token::Type::BlockEnd || (t.type == Token::Type::Operator && t.value == ")"))
    return true;
  if (t.type == Token::Type::Name)
    for (const char* e : extra_end)
      if (t.value == e) return true;
  return false;
}

ExprPtr Parser::parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end, bool explicit_parens) {
  return parse_tuple_of([&] { return parse_expression(with_condexpr); }, extra_end, explicit_parens);
}

// Tuples of primaries only (assignment targets of for/set/with), as jinja2's simplified tuples.
ExprPtr Parser::parse_tuple_simplified(bool with_namespace, std::initializer_list<const char*> extra_end) {
  return parse_tuple_of([&] { return parse_primary(with_namespace); }, extra_end, false);
}

// `a, b, c` (a tuple) or a single item; `()` is an empty tuple only inside explicit parentheses.
template <class ParseItem>
ExprPtr Parser::parse_tuple_of(ParseItem&& parse_item, std::initializer_list<const char*> extra_end, bool explicit_parens) {
  const Token& start = cur();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(parse_item());
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) fail_at(cur(), "expected an expression, got " + describe(cur()));
  }
  auto e = node(Expr::Kind::Tuple, start);
  e->items = std::move(items);
  return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(*this);
  if (!with_condexpr) return parse_or();
  const Token& start = cur();
  ExprPtr e = parse_or();
  while (skip_name("if")) {
    auto c = node(Expr::Kind::CondExpr, start);
    ExprPtr test = parse_or();
    ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
    c->items.push_back(std::move(e));
    c->items.push_back(std::move(test));
    c->items.push_back(std::move(otherwise));
    e = std::move(c);
  }
  return e;
}

ExprPtr Parser::binary(const char* op, ExprPtr l, ExprPtr r, const Token& t) {
  auto e = node(Expr::Kind::Binary, t);
  e->name = op;
  e->a = std::move(l);
  e->items.push_back(std::move(r));
  return e;
}

ExprPtr Parser::parse_or() {
  ExprPtr l = parse_and();
  while (is_name("or")) {
    const Token& t = advance();
    l = binary("or", std::move(l), parse_and(), t);
  }
  return l;
}

ExprPtr Parser::parse_and() {
  ExprPtr l = parse_not();
  while (is_name("and")) {
    const Token& t = advance();
    l = binary("and", std::move(l), parse_not(), t);
  }
  return l;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard(*this);
    auto e = node(Expr::Kind::Not, advance());
    e->a = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token& start = cur();
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    const Token& t = cur();
    if (t.type == Token::Type::Operator &&
        (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == "<=" || t.value == ">" || t.value == ">=")) {
      op = t.value;
      advance();
    } else if (is_name("in")) {
      op = "in";
      advance();
    } else if (is_name("not") && look().type == Token::Type::Name && look().value == "in") {
      op = "not in";
      advance();
      advance();
    } else {
      break;
    }
    if (!cmp) {
      cmp = node(Expr::Kind::Compare, start);
      cmp->a = std::move(first);
    }
    cmp->ops.push_back(op);
    cmp->items.push_back(parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::parse_math1() {
  ExprPtr l = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& t = advance();
    l = binary(t.value == "+" ? "+" : "-", std::move(l), parse_concat(), t);
  }
  return l;
}

ExprPtr Parser::parse_concat() {
  ExprPtr l = parse_math2();
  while (is_op("~")) {
    const Token& t = advance();
    l = binary("~", std::move(l), parse_math2(), t);
  }
  return l;
}

ExprPtr Parser::parse_math2() {
  ExprPtr l = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& t = advance();
    const char* op = t.value == "*" ? "*" : t.value == "/" ? "/" : t.value == "//" ? "//" : "%";
    l = binary(op, std::move(l), parse_pow(), t);
  }
  return l;
}

ExprPtr Parser::parse_pow() {
  ExprPtr l = parse_unary(true);
  while (is_op("**")) {
    const Token& t = advance();
    l = binary("**", std::move(l), parse_unary(true), t);
  }
  return l;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(*this);
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    const Token& t = advance();
    e = node(t.value == "-" ? Expr::Kind::Neg : Expr::Kind::Pos, t);
    e->a = parse_unary(false);
  } else {
    e = parse_primary(false);
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary(bool with_namespace) {
  DepthGuard guard(*this);
  const Token& t = cur();
  switch (t.type) {
    case Token::Type::Name: {
      advance();
      auto e = node(Expr::Kind::Const, t);
      if (t.value == "true" || t.value == "True") {
        e->value = Value::boolean(true);
      } else if (t.value == "false" || t.value == "False") {
        e->value = Value::boolean(false);
      } else if (t.value == "none" || t.value == "None") {
        e->value = Value::none();
      } else if (with_namespace && is_op(".")) {
        advance();
        e->kind = Expr::Kind::NSRef;
        e->name = t.value;
        e->attr = expect_name();
      } else {
        e->kind = Expr::Kind::Name;
        e->name = t.value;
      }
      return e;
    }
    case Token::Type::String: {
      auto e = node(Expr::Kind::Const, t);
      std::string s;
      while (cur().type == Token::Type::String) s += advance().value;  // adjacent literals join
      e->value = Value::string(std::move(s));
      return e;
    }
    case Token::Type::Integer:
    case Token::Type::Float: {
      auto e = node(Expr::Kind::Const, t);
      e->value = t.type == Token::Type::Integer ? Value::integer(t.int_value) : Value::number(t.float_value);
      advance();
      return e;
    }
    case Token::Type::Operator:
      if (t.value == "(") {
        advance();
        ExprPtr e = parse_tuple(true, {}, true);
        expect_op(")");
        return e;
      }
      if (t.value == "[") return parse_list();
      if (t.value == "{") return parse_dict();
      break;
    default: break;
  }
  fail_at(t, "unexpected " + describe(t));
}

ExprPtr Parser::parse_list() {
  auto e = node(Expr::Kind::List, advance());
  while (!is_op("]")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("]")) break;
    e->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return e;
}

ExprPtr Parser::parse_dict() {
  auto e = node(Expr::Kind::Dict, advance());
  while (!is_op("}")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("}")) break;
    e->items.push_back(parse_expression(true));
    expect_op(":");
    e->items.push_back(parse_expression(true));
  }
  expect_op("}");
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      e = parse_subscript(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = parse_filter(std::move(e), false);
    } else if (is_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr obj) {
  const Token& t = advance();
  if (t.value == ".") {
    const Token& a = advance();
    if (a.type == Token::Type::Name) {
      auto e = node(Expr::Kind::Getattr, t);
      e->a = std::move(obj);
      e->name = a.value;
      return e;
    }
    if (a.type != Token::Type::Integer) fail_at(a, "expected name or number");
    auto e = node(Expr::Kind::Getitem, t);
    e->a = std::move(obj);
    auto idx = node(Expr::Kind::Const, a);
    idx->value = Value::integer(a.int_value);
    e->items.push_back(std::move(idx));
    return e;
  }
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto e = node(Expr::Kind::Getitem, t);
  e->a = std::move(obj);
  if (args.size() == 1) {
    e->items.push_back(std::move(args[0]));
  } else {
    auto tup = node(Expr::Kind::Tuple, t);
    tup->items = std::move(args);
    e->items.push_back(std::move(tup));
  }
  return e;
}

ExprPtr Parser::parse_subscribed() {
  const Token& t = cur();
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (!is_op(":")) return start;
  }
  advance();  // ':'
  auto s = node(Expr::Kind::Slice, t);
  s->items.push_back(std::move(start));
  if (is_op(":") || is_op("]") || is_op(",")) {
    s->items.push_back(nullptr);
  } else {
    s->items.push_back(parse_expression(true));
  }
  if (skip_op(":") && !is_op("]") && !is_op(",")) {
    s->items.push_back(parse_expression(true));
  } else {
    s->items.push_back(nullptr);
  }
  return s;
}

Args Parser::parse_call_args() {
  const Token& open = cur();
  expect_op("(");
  Args args;
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail_at(open, "invalid syntax for function call expression");
  };
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*")) {
      ensure(!args.star && !args.double_star);
      advance();
      args.star = parse_expression(true);
    } else if (is_op("**")) {
      ensure(!args.double_star);
      advance();
      args.double_star = parse_expression(true);
    } else if (cur().type == Token::Type::Name && look().type == Token::Type::Operator && look().value == "=") {
      ensure(!args.double_star);
      std::string key = advance().value;
      advance();
      args.keyword.emplace_back(std::move(key), parse_expression(true));
    } else {
      ensure(!args.star && !args.double_star && args.keyword.empty());
      args.positional.push_back(parse_expression(true));
    }
    require_comma = true;
  }
  expect_op(")");
  return args;
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto e = node(Expr::Kind::Call, cur());
  e->args = parse_call_args();
  e->a = std::move(callee);
  return e;
}

std::string Parser::dotted_name() {
  std::string name = expect_name();
  while (is_op(".")) {
    advance();
    name += "." + expect_name();
  }
  return name;
}

ExprPtr Parser::parse_filter(ExprPtr e, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) advance();
    start_inline = false;
    auto f = node(Expr::Kind::Filter, cur());
    f->name = dotted_name();
    if (is_op("(")) f->args = parse_call_args();
    f->a = std::move(e);
    e = std::move(f);
  }
  return e;
}

ExprPtr Parser::parse_test(ExprPtr e) {
  const Token& is_tok = advance();
  const bool negated = skip_name("not");
  auto test = node(Expr::Kind::Test, is_tok);
  test->name = dotted_name();
  const Token& t = cur();
  const bool arg_start =
      t.type == Token::Type::Name || t.type == Token::Type::String || t.type == Token::Type::Integer ||
      t.type == Token::Type::Float || (t.type == Token::Type::Operator && (t.value == "[" || t.value == "{"));
  if (is_op("(")) {
    test->args = parse_call_args();
  } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail_at(t, "You cannot chain multiple tests with is");
    test->args.positional.push_back(parse_postfix(parse_primary(false)));
  }
  test->a = std::move(e);
  if (!negated) return test;
  auto n = node(Expr::Kind::Not, is_tok);
  n->a = std::move(test);
  return n;
}

}  // namespace nova::chat::detail
