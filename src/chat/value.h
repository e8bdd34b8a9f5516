// The values a template computes with, and their Python semantics (truthiness, ==, <, str(),
// repr()) — chat templates are rendered by Python's jinja2, so output depends on these details.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nova::chat {

class Value;
class Interpreter;
using List = std::vector<Value>;
struct Dict;
struct Function;
struct CallArgs;

class Value {
 public:
  // Undefined is jinja2's Undefined: falsy, prints as "", iterates as empty, and raises
  // (with its stored message) when used in arithmetic, called, or has an attribute taken.
  // Namespace is a mutable attribute bag (namespace()); Object a read-only one (loop, cycler).
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Object, Function };

  Value() = default;
  static Value undefined(std::string message = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(List items = {});
  static Value tuple(List items);
  static Value dict();
  static Value dict(std::shared_ptr<Dict> d);
  static Value ns(std::shared_ptr<Dict> attrs);
  static Value object(std::shared_ptr<Dict> attrs);
  static Value function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);
  // JSON -> Value, keeping key order; nesting deeper than max_depth throws nova::Error.
  static Value from_json(const nlohmann::ordered_json& j, int max_depth = 512);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // bool is an int in Python
  bool is_number() const { return is_int() || kind_ == Kind::Float; }
  bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_mapping() const { return kind_ == Kind::Dict; }

  bool truthy() const;
  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return kind_ == Kind::Float ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return s_; }
  const std::string& undefined_message() const { return s_; }
  List& items() const { return *list_; }
  Dict& map() const { return *dict_; }
  const std::shared_ptr<Dict>& map_ptr() const { return dict_; }
  const Function& fn() const { return *fn_; }
  bool same_object(const Value& o) const;

  // Python's type name ("str", "NoneType"), and jinja's object_type_repr ("dict object").
  std::string type_name() const;
  std::string object_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Insertion-ordered mapping with Python key equality (1 == 1.0 == True).
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  std::string type_name;  // for Object values: "LoopContext", "Cycler", ...
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Function {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;
};

// Errors raised while rendering: Python's TypeError/ValueError/UndefinedError equivalents.
// The interpreter adds the template name and line.
[[noreturn]] void runtime_error(std::string message);
// Raises the stored message of an Undefined that was used where a value is required.
[[noreturn]] void undefined_error(const Value& v);

bool equals(const Value& a, const Value& b);
// Python ordering (<): -1, 0, 1. Throws TypeError for unorderable types.
int compare(const Value& a, const Value& b);
std::string to_str(const Value& v);   // str(v) as jinja prints it ({{ v }})
std::string to_repr(const Value& v);  // repr(v)
// Elements of an iterable (str -> code points, dict -> keys, undefined -> none); throws otherwise.
List iterate(const Value& v);
int64_t length(const Value& v);  // len(v); throws for unsized values

}  // namespace nova::chat
