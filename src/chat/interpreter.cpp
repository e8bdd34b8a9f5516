#include "chat/interpreter.h"

#include "chat/chat_template.h"
#include "chat/lexer.h"
#include "chat/operators.h"
#include "chat/py_string.h"
#include "core/error.h"

namespace nova::chat {

namespace {

bool has_location(const Error& e) { return !e.where().empty(); }

}  // namespace

Interpreter::Interpreter(std::string where, RenderOptions options)
    : where_(std::move(where)), options_(std::move(options)) {}

void Interpreter::fail_at(int line, const std::string& what) const {
  fail(where_, "line " + std::to_string(line) + ": " + what);
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > options_.max_output_bytes)
    runtime_error("MemoryError: result larger than " + std::to_string(options_.max_output_bytes) + " bytes");
}

void Interpreter::tick() {
  if (++steps_ > options_.max_steps) runtime_error("template exceeded its evaluation budget (runaway loop?)");
}

std::string Interpreter::render(const Program& program, const Value& context) {
  auto root = std::make_shared<Frame>();
  for (const auto& [k, v] : context.map().entries)
    if (k.is_string()) root->vars[k.as_string()] = v;
  frame_ = root;
  struct BreakCycles {
    Interpreter& in;
    ~BreakCycles() {
      for (auto& f : in.captured_frames_) f->vars.clear();
      in.captured_frames_.clear();
      in.frame_.reset();
    }
  } break_cycles{*this};
  std::string out;
  try {
    exec(program.body, out);
  } catch (const TemplateRaised& e) {
    throw TemplateRaised(where_, e.problem());
  } catch (const Error& e) {
    if (has_location(e)) throw;
    fail_at(line_, e.problem());
  }
  return out;
}

// ---------------------------------------------------------------- statements

Interpreter::Flow Interpreter::exec(const Body& body, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

namespace {
// Restores the interpreter's current frame when a scope ends, also on exceptions.
struct FrameSwap {
  FrameSwap(std::shared_ptr<Frame>& slot, std::shared_ptr<Frame> next) : slot_(slot), saved_(slot) {
    slot_ = std::move(next);
  }
  ~FrameSwap() { slot_ = std::move(saved_); }
  FrameSwap(const FrameSwap&) = delete;
  FrameSwap& operator=(const FrameSwap&) = delete;
  std::shared_ptr<Frame>& slot_;
  std::shared_ptr<Frame> saved_;
};

std::shared_ptr<Frame> child_of(const std::shared_ptr<Frame>& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}
}  // namespace

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, std::string& out) {
  tick();
  line_ = s.line;
  switch (s.kind) {
    case Stmt::Kind::Data:
      out += s.text;
      check_size(out.size());
      return Flow::Normal;
    case Stmt::Kind::Print: {
      const Value v = eval(*s.expr);
      line_ = s.line;
      out += to_str(v);
      check_size(out.size());
      return Flow::Normal;
    }
    case Stmt::Kind::If:
      for (size_t i = 0; i < s.conds.size(); ++i) {
        line_ = s.conds[i]->line;
        if (eval(*s.conds[i]).truthy()) return exec(s.bodies[i], out);
      }
      return exec(s.else_body, out);
    case Stmt::Kind::For: return exec_for(s, out);
    case Stmt::Kind::Set: assign(*s.target, eval(*s.expr)); return Flow::Normal;
    case Stmt::Kind::SetBlock: {
      std::string captured;
      {
        FrameSwap scope(frame_, child_of(frame_));
        exec(s.body, captured);
      }
      Value v = Value::string(std::move(captured));
      if (s.expr) {
        // The filter chain's innermost operand is the captured text.
        std::vector<const Expr*> chain;
        for (const Expr* f = s.expr.get(); f; f = f->a.get()) chain.push_back(f);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          CallArgs args = eval_args((*it)->args);
          v = call_filter((*it)->name, v, args);
        }
      }
      assign(*s.target, v);
      return Flow::Normal;
    }
    case Stmt::Kind::FilterBlock: {
      std::string captured;
      {
        FrameSwap scope(frame_, child_of(frame_));
        exec(s.body, captured);
      }
      Value v = Value::string(std::move(captured));
      std::vector<const Expr*> chain;
      for (const Expr* f = s.expr.get(); f; f = f->a.get()) chain.push_back(f);
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        CallArgs args = eval_args((*it)->args);
        v = call_filter((*it)->name, v, args);
      }
      out += to_str(v);
      check_size(out.size());
      return Flow::Normal;
    }
    case Stmt::Kind::Macro: exec_macro_def(s); return Flow::Normal;
    case Stmt::Kind::CallBlock: {
      const Expr& call_expr = *s.expr;
      Value callee = eval(*call_expr.a);
      CallArgs args = eval_args(call_expr.args);
      args.keyword.emplace_back("caller", make_macro(s.macro, frame_));
      line_ = s.line;
      out += to_str(call(callee, args));
      check_size(out.size());
      return Flow::Normal;
    }
    case Stmt::Kind::With: {
      std::vector<Value> values;
      for (const auto& e : s.conds) values.push_back(eval(*e));
      FrameSwap scope(frame_, child_of(frame_));
      for (size_t i = 0; i < s.targets.size(); ++i) assign(*s.targets[i], values[i]);
      return exec(s.body, out);
    }
    case Stmt::Kind::Break: return Flow::Break;
    case Stmt::Kind::Continue: return Flow::Continue;
    case Stmt::Kind::Scope: return exec(s.body, out);
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, std::string& out) {
  if (s.recursive) fail_at(s.line, "recursive for loops are not supported");
  const Value iterable = eval(*s.expr);
  line_ = s.line;
  List items = iterate(iterable);
  if (s.filter) {  // `for x in xs if cond`: filtered before the loop, so loop.length counts survivors
    List kept;
    for (const Value& item : items) {
      tick();
      FrameSwap scope(frame_, child_of(frame_));
      assign(*s.target, item);
      if (eval(*s.filter).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(s.else_body, out);
  const auto n = static_cast<int64_t>(items.size());
  // One LoopContext per loop, updated in place each iteration (as jinja2's is).
  auto loop = std::make_shared<Dict>();
  loop->type_name = "LoopContext";
  auto index = std::make_shared<int64_t>(0);
  auto changed_state = std::make_shared<Value>();
  const char* const names[] = {"index0", "index", "revindex0", "revindex", "first", "last", "length",
                               "depth0", "depth", "previtem", "nextitem", "cycle", "changed"};
  for (const char* name : names) loop->entries.emplace_back(Value::string(name), Value());
  loop->entries[6].second = Value::integer(n);
  loop->entries[7].second = Value::integer(0);
  loop->entries[8].second = Value::integer(1);
  loop->entries[11].second = Value::function("cycle", [index](Interpreter&, CallArgs& a) {
    if (a.positional.empty()) runtime_error("TypeError: no items for cycling given");
    return a.positional[static_cast<size_t>(*index) % a.positional.size()];
  });
  loop->entries[12].second = Value::function("changed", [changed_state](Interpreter&, CallArgs& a) {
    Value now = Value::tuple(a.positional);
    if (!changed_state->is_undefined() && equals(*changed_state, now)) return Value::boolean(false);
    *changed_state = now;
    return Value::boolean(true);
  });
  const Value loop_value = Value::object(loop);
  const std::shared_ptr<Frame> parent = frame_;
  std::shared_ptr<Frame> iteration;
  for (int64_t i = 0; i < n; ++i) {
    tick();
    *index = i;
    auto& e = loop->entries;
    e[0].second = Value::integer(i);
    e[1].second = Value::integer(i + 1);
    e[2].second = Value::integer(n - i - 1);
    e[3].second = Value::integer(n - i);
    e[4].second = Value::boolean(i == 0);
    e[5].second = Value::boolean(i == n - 1);
    e[9].second = i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item");
    e[10].second = i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item");
    // Each iteration gets fresh variables; the frame is reused unless a macro captured it.
    if (!iteration || iteration.use_count() > 1) {
      iteration = child_of(parent);
    } else {
      iteration->vars.clear();
    }
    FrameSwap scope(frame_, iteration);
    set_var("loop", loop_value);
    assign(*s.target, items[static_cast<size_t>(i)]);
    const Flow f = exec(s.body, out);
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::exec_macro_def(const Stmt& s) { set_var(s.macro->name, make_macro(s.macro, frame_)); }

Value Interpreter::make_macro(std::shared_ptr<MacroDef> def, std::shared_ptr<Frame> closure) {
  captured_frames_.push_back(closure);  // a macro stored in its own frame is a cycle; render() breaks it
  const std::string name = def->name;
  return Value::function(name, [def, closure](Interpreter& in, CallArgs& args) -> Value {
    if (in.call_depth_ >= in.options_.max_call_depth)
      runtime_error("RecursionError: macro '" + def->name + "' nested too deeply");
    ++in.call_depth_;
    struct DepthRestore {
      int& d;
      ~DepthRestore() { --d; }
    } restore{in.call_depth_};
    FrameSwap scope(in.frame_, child_of(closure));
    const size_t nparams = def->params.size();
    const size_t first_default = nparams - def->defaults.size();
    List varargs;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < nparams) {
        in.set_var(def->params[i], args.positional[i]);
      } else {
        varargs.push_back(args.positional[i]);
      }
    }
    auto kwargs = std::make_shared<Dict>();
    std::vector<bool> bound(nparams, false);
    for (size_t i = 0; i < nparams && i < args.positional.size(); ++i) bound[i] = true;
    Value caller = Value::undefined("No caller defined");
    for (auto& [k, v] : args.keyword) {
      bool matched = false;
      for (size_t i = 0; i < nparams; ++i)
        if (def->params[i] == k) {
          if (bound[i]) runtime_error("TypeError: macro '" + def->name + "' got multiple values for argument '" + k + "'");
          in.set_var(k, v);
          bound[i] = matched = true;
        }
      if (matched) continue;
      if (k == "caller") {
        caller = v;
      } else {
        kwargs->set(Value::string(k), v);
      }
    }
    for (size_t i = 0; i < nparams; ++i) {
      if (bound[i]) continue;
      if (i >= first_default) {
        in.set_var(def->params[i], in.eval(*def->defaults[i - first_default]));
      } else {
        in.set_var(def->params[i], Value::undefined("parameter '" + def->params[i] + "' was not provided"));
      }
    }
    in.set_var("varargs", Value::tuple(std::move(varargs)));
    in.set_var("kwargs", Value::dict(kwargs));
    in.set_var("caller", caller);
    std::string out;
    in.exec(def->body, out);
    return Value::string(std::move(out));
  });
}

void Interpreter::assign(const Expr& target, const Value& v) {
  switch (target.kind) {
    case Expr::Kind::Name: set_var(target.name, v); return;
    case Expr::Kind::NSRef: {
      const Value ns = lookup(target.name);
      if (ns.kind() != Value::Kind::Namespace) runtime_error("cannot assign attribute on non-namespace object");
      ns.map().set(Value::string(target.attr), v);
      return;
    }
    case Expr::Kind::Tuple: {
      const List items = iterate(v);
      if (items.size() != target.items.size())
        runtime_error(std::string("ValueError: ") +
                      (items.size() > target.items.size() ? "too many values to unpack"
                                                          : "not enough values to unpack") +
                      " (expected " + std::to_string(target.items.size()) + ", got " +
                      std::to_string(items.size()) + ")");
      for (size_t i = 0; i < items.size(); ++i) assign(*target.items[i], items[i]);
      return;
    }
    default: runtime_error("can't assign to this expression");
  }
}

Value Interpreter::lookup(const std::string& name) const {
  for (const Frame* f = frame_.get(); f; f = f->parent.get()) {
    const auto it = f->vars.find(name);
    if (it != f->vars.end()) return it->second;
  }
  Value g = find_global(name);
  if (!g.is_undefined()) return g;
  return Value::undefined("'" + name + "' is undefined");
}

// ---------------------------------------------------------------- expressions

CallArgs Interpreter::eval_args(const Args& args) {
  CallArgs out;
  for (const auto& e : args.positional) out.positional.push_back(eval(*e));
  for (const auto& [k, e] : args.keyword) out.keyword.emplace_back(k, eval(*e));
  if (args.star)
    for (Value& v : iterate(eval(*args.star))) out.positional.push_back(std::move(v));
  if (args.double_star) {
    const Value d = eval(*args.double_star);
    if (!d.is_mapping()) runtime_error("TypeError: argument after ** must be a mapping, not " + d.type_name());
    for (const auto& [k, v] : d.map().entries) {
      if (!k.is_string()) runtime_error("TypeError: keywords must be strings");
      out.keyword.emplace_back(k.as_string(), v);
    }
  }
  return out;
}

Value Interpreter::eval(const Expr& e) {
  tick();
  switch (e.kind) {
    case Expr::Kind::Const: return e.value;
    case Expr::Kind::Name: return lookup(e.name);
    case Expr::Kind::Tuple:
    case Expr::Kind::List: {
      List items;
      items.reserve(e.items.size());
      for (const auto& i : e.items) items.push_back(eval(*i));
      return e.kind == Expr::Kind::Tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    case Expr::Kind::Dict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i]);
        if (k.is_sequence() && k.kind() == Value::Kind::List) runtime_error("TypeError: unhashable type: 'list'");
        if (k.is_mapping()) runtime_error("TypeError: unhashable type: 'dict'");
        d.map().set(std::move(k), eval(*e.items[i + 1]));
      }
      return d;
    }
    case Expr::Kind::Getattr: return getattr(eval(*e.a), e.name);
    case Expr::Kind::Getitem: {
      const Value obj = eval(*e.a);
      const Expr& key = *e.items[0];
      if (key.kind == Expr::Kind::Slice) return eval_slice(obj, key);
      return getitem(obj, eval(key));
    }
    case Expr::Kind::Slice: runtime_error("slice outside of a subscript");
    case Expr::Kind::Call: {
      const Value callee = eval(*e.a);
      CallArgs args = eval_args(e.args);
      return call(callee, args);
    }
    case Expr::Kind::Filter: {
      const Value input = e.a ? eval(*e.a) : Value();
      CallArgs args = eval_args(e.args);
      return call_filter(e.name, input, args);
    }
    case Expr::Kind::Test: {
      const Value v = eval(*e.a);
      CallArgs args = eval_args(e.args);
      return Value::boolean(call_test(e.name, v, args));
    }
    case Expr::Kind::Not: return Value::boolean(!eval(*e.a).truthy());
    case Expr::Kind::Neg: return negate(eval(*e.a));
    case Expr::Kind::Pos: {
      Value v = eval(*e.a);
      if (v.is_undefined()) undefined_error(v);
      if (!v.is_number()) runtime_error("TypeError: bad operand type for unary +: '" + v.type_name() + "'");
      return v.kind() == Value::Kind::Bool ? Value::integer(v.as_int()) : v;
    }
    case Expr::Kind::Binary: return eval_binary(e);
    case Expr::Kind::Compare: return eval_compare(e);
    case Expr::Kind::CondExpr: {
      if (eval(*e.items[1]).truthy()) return eval(*e.items[0]);
      if (e.items[2]) return eval(*e.items[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    }
    case Expr::Kind::NSRef: return getattr(lookup(e.name), e.attr);
  }
  return Value();
}

Value Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.name;
  if (op == "and") {
    Value l = eval(*e.a);
    return l.truthy() ? eval(*e.items[0]) : l;
  }
  if (op == "or") {
    Value l = eval(*e.a);
    return l.truthy() ? l : eval(*e.items[0]);
  }
  const Value l = eval(*e.a);
  const Value r = eval(*e.items[0]);
  if (op == "~") {
    std::string s = to_str(l);
    s += to_str(r);
    check_size(s.size());
    return Value::string(std::move(s));
  }
  Value result = binary_op(op, l, r);
  if (result.is_string()) check_size(result.as_string().size());
  return result;
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.a);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.items[i]);
    const std::string& op = e.ops[i];
    bool ok;
    if (op == "==") {
      ok = equals(left, right);
    } else if (op == "!=") {
      ok = !equals(left, right);
    } else if (op == "in") {
      ok = contains(right, left);
    } else if (op == "not in") {
      ok = !contains(right, left);
    } else {
      const int c = compare(left, right);
      ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_slice(const Value& obj, const Expr& slice) {
  std::optional<int64_t> bounds[3];
  for (int i = 0; i < 3; ++i) {
    if (!slice.items[static_cast<size_t>(i)]) continue;
    const Value v = eval(*slice.items[static_cast<size_t>(i)]);
    if (v.is_none()) continue;
    if (!v.is_int()) runtime_error("TypeError: slice indices must be integers or None");
    bounds[i] = v.as_int();
  }
  return slice_value(obj, bounds[0], bounds[1], bounds[2]);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) undefined_error(callee);
  if (callee.kind() != Value::Kind::Function)
    runtime_error("TypeError: '" + callee.type_name() + "' object is not callable");
  Value result = callee.fn().call(*this, args);
  if (result.is_string()) check_size(result.as_string().size());
  return result;
}

Value Interpreter::call_filter(const std::string& name, const Value& input, CallArgs& args) {
  const FilterFn f = find_filter(name);
  if (!f) runtime_error("No filter named '" + name + "'.");
  Value result = f(*this, input, args);
  if (result.is_string()) check_size(result.as_string().size());
  return result;
}

bool Interpreter::call_test(const std::string& name, const Value& value, CallArgs& args) {
  const TestFn t = find_test(name);
  if (!t) runtime_error("No test named '" + name + "'.");
  return t(*this, value, args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  using K = Value::Kind;
  if (obj.is_undefined()) undefined_error(obj);
  const Value method = find_method(obj, name);
  // Methods (and the sandbox's refusals) shadow dict keys for `.` access: jinja2 tries
  // Python getattr() before obj[name].
  if (!method.is_undefined() || !method.undefined_message().empty()) return method;
  if (obj.kind() == K::Dict || obj.kind() == K::Namespace || obj.kind() == K::Object) {
    if (const Value* v = obj.map().find(name)) return *v;
  }
  return Value::undefined("'" + obj.object_name() + "' has no attribute '" + name + "'");
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  using K = Value::Kind;
  if (obj.is_undefined()) undefined_error(obj);
  switch (obj.kind()) {
    case K::Dict:
      if (const Value* v = obj.map().find(key)) return *v;
      break;
    case K::List:
    case K::Tuple:
    case K::String:
      if (key.is_int()) return index_value(obj, key.as_int());
      break;
    default: break;
  }
  if (key.is_string()) {  // obj['name'] falls back to attribute lookup
    const Value method = find_method(obj, key.as_string());
    if (method.kind() == K::Function || !method.undefined_message().empty()) return method;
    if (obj.kind() == K::Namespace || obj.kind() == K::Object)
      if (const Value* v = obj.map().find(key.as_string())) return *v;
    return Value::undefined("'" + obj.object_name() + "' has no attribute '" + key.as_string() + "'");
  }
  return Value::undefined(obj.object_name() + " has no element " + to_repr(key));
}

}  // namespace nova::chat
