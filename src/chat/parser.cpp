#include "chat/parser.h"

#include <initializer_list>

#include "chat/lexer.h"
#include "core/error.h"

namespace nova::chat {

namespace {

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
  Body subparse(std::initializer_list<const char*> end_tags) {
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
  Body statements(std::initializer_list<const char*> end_tags, const Token& opener, bool drop) {
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

  void parse_statement(Body& out) {
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

  StmtPtr parse_if() {
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

  StmtPtr parse_for() {
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

  StmtPtr parse_set() {
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

  void parse_signature(MacroDef& m) {
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

  StmtPtr parse_macro() {
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

  StmtPtr parse_call_block() {
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

  StmtPtr parse_filter_block() {
    const Token& opener = advance();
    auto s = stmt(Stmt::Kind::FilterBlock, opener);
    s->expr = parse_filter(nullptr, true);
    s->body = statements({"endfilter"}, opener, true);
    return s;
  }

  StmtPtr parse_with() {
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

  ExprPtr parse_assign_target(bool with_tuple, bool with_namespace, std::initializer_list<const char*> extra_end) {
    const Token& t = cur();
    ExprPtr target = with_tuple ? parse_tuple_simplified(with_namespace, extra_end) : parse_primary(with_namespace);
    check_assignable(*target, t);
    return target;
  }

  void check_assignable(const Expr& e, const Token& t) const {
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

  // ---- expressions ----

  bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
    const Token& t = cur();
    if (t.type == Token::Type::VarEnd || t.type == Token::Type::BlockEnd || (t.type == Token::Type::Operator && t.value == ")"))
      return true;
    if (t.type == Token::Type::Name)
      for (const char* e : extra_end)
        if (t.value == e) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end, bool explicit_parens = false) {
    return parse_tuple_of([&] { return parse_expression(with_condexpr); }, extra_end, explicit_parens);
  }

  // Tuples of primaries only (assignment targets of for/set/with), as jinja2's simplified tuples.
  ExprPtr parse_tuple_simplified(bool with_namespace, std::initializer_list<const char*> extra_end) {
    return parse_tuple_of([&] { return parse_primary(with_namespace); }, extra_end, false);
  }

  // `a, b, c` (a tuple) or a single item; `()` is an empty tuple only inside explicit parentheses.
  template <class ParseItem>
  ExprPtr parse_tuple_of(ParseItem&& parse_item, std::initializer_list<const char*> extra_end, bool explicit_parens) {
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

  ExprPtr parse_expression(bool with_condexpr) {
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

  ExprPtr binary(const char* op, ExprPtr l, ExprPtr r, const Token& t) {
    auto e = node(Expr::Kind::Binary, t);
    e->name = op;
    e->a = std::move(l);
    e->items.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      const Token& t = advance();
      l = binary("or", std::move(l), parse_and(), t);
    }
    return l;
  }

  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      const Token& t = advance();
      l = binary("and", std::move(l), parse_not(), t);
    }
    return l;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = node(Expr::Kind::Not, advance());
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
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

  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = advance();
      l = binary(t.value == "+" ? "+" : "-", std::move(l), parse_concat(), t);
    }
    return l;
  }

  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      const Token& t = advance();
      l = binary("~", std::move(l), parse_math2(), t);
    }
    return l;
  }

  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = advance();
      const char* op = t.value == "*" ? "*" : t.value == "/" ? "/" : t.value == "//" ? "//" : "%";
      l = binary(op, std::move(l), parse_pow(), t);
    }
    return l;
  }

  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      const Token& t = advance();
      l = binary("**", std::move(l), parse_unary(true), t);
    }
    return l;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary(bool with_namespace) {
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

  ExprPtr parse_list() {
    auto e = node(Expr::Kind::List, advance());
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
  }

  ExprPtr parse_dict() {
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

  ExprPtr parse_postfix(ExprPtr e) {
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

  ExprPtr parse_filter_expr(ExprPtr e) {
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

  ExprPtr parse_subscript(ExprPtr obj) {
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

  ExprPtr parse_subscribed() {
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

  Args parse_call_args() {
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

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(Expr::Kind::Call, cur());
    e->args = parse_call_args();
    e->a = std::move(callee);
    return e;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      advance();
      name += "." + expect_name();
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr e, bool start_inline) {
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

  ExprPtr parse_test(ExprPtr e) {
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

  std::vector<Token> toks_;
  const std::string& where_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Program parse_template(const std::string& source, const std::string& where) {
  return Parser(tokenize(source, where), where).run();
}

}  // namespace nova::chat
