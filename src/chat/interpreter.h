// Walks the AST and renders text, with jinja2's runtime semantics inside transformers'
// ImmutableSandboxedEnvironment: scoping (loops and macros open scopes, `if` does not),
// Undefined propagation, sandboxed attribute lookup, and bounded work on hostile templates.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace nova::chat {

struct RenderOptions {
  std::optional<std::time_t> now;       // strftime_now() clock; unset = the real local time
  size_t max_output_bytes = 64u << 20;  // any string or the output past this is an error
  uint64_t max_steps = 50'000'000;      // evaluation budget: a runaway loop ends with an error
  int max_call_depth = 100;             // macro recursion bound
};

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

class Interpreter {
 public:
  Interpreter(std::string where, RenderOptions options);

  // Renders `program` with `context` (a Dict value) as the template's variables.
  std::string render(const Program& program, const Value& context);

  Value eval(const Expr& e);
  Value call(const Value& callee, CallArgs& args);
  Value call_filter(const std::string& name, const Value& input, CallArgs& args);
  bool call_test(const std::string& name, const Value& value, CallArgs& args);
  // Sandboxed `obj.name` and `obj[key]`: missing -> Undefined, on Undefined -> error.
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);

  const RenderOptions& options() const { return options_; }
  // Throws once a string/list would exceed the output limit.
  void check_size(size_t bytes) const;
  void tick();

 private:
  enum class Flow { Normal, Break, Continue };
  Flow exec(const Body& body, std::string& out);
  Flow exec_stmt(const Stmt& s, std::string& out);
  Flow exec_for(const Stmt& s, std::string& out);
  void exec_macro_def(const Stmt& s);
  Value make_macro(std::shared_ptr<MacroDef> def, std::shared_ptr<Frame> closure);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_slice(const Value& obj, const Expr& slice);
  CallArgs eval_args(const Args& args);
  Value lookup(const std::string& name) const;
  void assign(const Expr& target, const Value& v);
  void set_var(const std::string& name, Value v) { frame_->vars[name] = std::move(v); }
  [[noreturn]] void fail_at(int line, const std::string& what) const;

  std::string where_;
  RenderOptions options_;
  std::shared_ptr<Frame> frame_;
  std::vector<std::shared_ptr<Frame>> captured_frames_;  // frames macros closed over
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  int line_ = 0;  // line of the statement being executed, for runtime error messages
};

// Registries of filters and tests (filters.cpp, tests.cpp) and builtins (builtins.cpp).
using FilterFn = Value (*)(Interpreter&, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& value, CallArgs& args);
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);
// Global functions: range, dict, namespace, raise_exception, strftime_now, cycler, joiner.
Value find_global(const std::string& name);
// obj.name for built-in types (str/dict/list methods); Undefined when there is none.
Value find_method(const Value& obj, const std::string& name);
// Throws nova::Error naming the first unknown filter or test (jinja2 checks at compile time).
void check_filters_and_tests(const Program& program, const std::string& where);

}  // namespace nova::chat
