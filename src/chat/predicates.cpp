// jinja2's built-in tests (`x is defined`, `x is string`, ...), with jinja2's exact type rules:
// bool counts as a number, str and dict count as sequences, Undefined counts as iterable.
#include <unordered_map>

#include "chat/interpreter.h"
#include "chat/operators.h"
#include "chat/params.h"
#include "chat/py_string.h"

namespace nova::chat {

namespace {

using K = Value::Kind;

bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Bool; }
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Function; }
bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Bool && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Bool && !v.as_bool(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_mapping(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Int; }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.kind() == K::Float; }
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_mapping();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_mapping();
}

Value one_arg(const CallArgs& a, const char* name) {
  Params p(a, name, {"other"}, 1);
  return p[0];
}

bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return equals(v, one_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !equals(v, one_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "lt")) < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "le")) <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "gt")) > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return compare(v, one_arg(a, "ge")) >= 0; }
bool t_in(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "in", {"seq"}, 1);
  return contains(p[0], v);
}
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "sameas", {"other"}, 1);
  return v.same_object(p[0]);
}
bool t_divisibleby(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "divisibleby", {"num"}, 1);
  return equals(binary_op("%", v, p[0]), Value::integer(0));
}
bool t_odd(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "odd", {});
  return equals(binary_op("%", v, Value::integer(2)), Value::integer(1));
}
bool t_even(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "even", {});
  return equals(binary_op("%", v, Value::integer(2)), Value::integer(0));
}

// str.islower() / str.isupper(): some cased character, and all cased ones in that case.
bool case_test(const Value& v, bool want_lower) {
  bool cased = false;
  for (char32_t c : utf8_decode(to_str(v))) {
    const bool is_upper = py_lower(c) != c, is_lower = py_upper(c) != c;
    if (want_lower ? is_upper : is_lower) return false;
    cased |= want_lower ? is_lower : is_upper;
  }
  return cased;
}
bool t_lower(Interpreter&, const Value& v, CallArgs&) { return case_test(v, true); }
bool t_upper(Interpreter&, const Value& v, CallArgs&) { return case_test(v, false); }

bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.as_string()); }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.as_string()); }

const std::unordered_map<std::string, TestFn>& registry() {
  static const std::unordered_map<std::string, TestFn> tests = {
      {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},   {"undefined", t_undefined},
      {"none", t_none},       {"true", t_true},         {"false", t_false},       {"string", t_string},
      {"mapping", t_mapping}, {"number", t_number},     {"integer", t_integer},   {"float", t_float},
      {"escaped", t_escaped}, {"iterable", t_iterable}, {"sequence", t_sequence}, {"eq", t_eq},
      {"equalto", t_eq},      {"==", t_eq},             {"ne", t_ne},             {"!=", t_ne},
      {"lt", t_lt},           {"lessthan", t_lt},       {"<", t_lt},              {"le", t_le},
      {"<=", t_le},           {"gt", t_gt},             {"greaterthan", t_gt},    {">", t_gt},
      {"ge", t_ge},           {">=", t_ge},             {"in", t_in},             {"sameas", t_sameas},
      {"divisibleby", t_divisibleby}, {"odd", t_odd},   {"even", t_even},         {"lower", t_lower},
      {"upper", t_upper},     {"filter", t_filter},     {"test", t_test},
  };
  return tests;
}

}  // namespace

TestFn find_test(const std::string& name) {
  const auto& r = registry();
  const auto it = r.find(name);
  return it == r.end() ? nullptr : it->second;
}

}  // namespace nova::chat
