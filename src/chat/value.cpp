#include "chat/value.h"

#include "chat/py_string.h"
#include "core/error.h"

namespace nova::chat {

namespace {

// Containers can be nested arbitrarily deep by a template; recursion over them is bounded.
thread_local int g_depth = 0;
struct DepthGuard {
  DepthGuard() {
    if (++g_depth > 600) {
      --g_depth;
      runtime_error("RecursionError: value nested too deeply");
    }
  }
  ~DepthGuard() { --g_depth; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
};

}  // namespace

void runtime_error(std::string message) { throw Error("", std::move(message)); }

void undefined_error(const Value& v) {
  const std::string& m = v.undefined_message();
  if (m.rfind("SecurityError", 0) == 0) runtime_error(m);  // the sandbox refused an attribute
  runtime_error(m.empty() ? "UndefinedError: value is undefined" : "UndefinedError: " + m);
}

Value Value::undefined(std::string message) {
  Value v;
  v.s_ = std::move(message);
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.s_ = std::move(s);
  return v;
}
Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Tuple;
  return v;
}
Value Value::dict() { return dict(std::make_shared<Dict>()); }
Value Value::dict(std::shared_ptr<Dict> d) {
  Value v;
  v.kind_ = Kind::Dict;
  v.dict_ = std::move(d);
  return v;
}
Value Value::ns(std::shared_ptr<Dict> attrs) {
  Value v = dict(std::move(attrs));
  v.kind_ = Kind::Namespace;
  return v;
}
Value Value::object(std::shared_ptr<Dict> attrs) {
  Value v = dict(std::move(attrs));
  v.kind_ = Kind::Object;
  return v;
}
Value Value::function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::Function;
  v.fn_ = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int max_depth) {
  if (max_depth < 0) fail("", "JSON value nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      // Python ints are unbounded; past int64 we keep the magnitude as a float.
      if (u > static_cast<uint64_t>(INT64_MAX)) return number(static_cast<double>(u));
      return integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, max_depth - 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->entries.reserve(j.size());
      for (const auto& [k, e] : j.items()) d->entries.emplace_back(string(k), from_json(e, max_depth - 1));
      return dict(std::move(d));
    }
    default: return none();  // binary / discarded: not produced by JSON text
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0.0;
    case Kind::String: return !s_.empty();
    case Kind::List:
    case Kind::Tuple: return !list_->empty();
    case Kind::Dict: return !dict_->entries.empty();
    default: return true;
  }
}

bool Value::same_object(const Value& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::List:
    case Kind::Tuple: return list_ == o.list_;
    case Kind::Dict:
    case Kind::Namespace:
    case Kind::Object: return dict_ == o.dict_;
    case Kind::Function: return fn_ == o.fn_;
    default: return equals(*this, o);
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Object: return dict_->type_name;
    case Kind::Function: return "function";
  }
  return "object";
}

std::string Value::object_name() const {
  if (kind_ == Kind::None) return "None";
  return type_name() + " object";
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k.kind() == Value::Kind::String && k.as_string() == key) return &v;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries)
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  entries.emplace_back(std::move(key), std::move(value));
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind() == K::Float || b.kind() == K::Float) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None: return true;
    case K::String: return a.as_string() == b.as_string();
    case K::List:
    case K::Tuple: {
      if (a.same_object(b)) return true;
      DepthGuard guard;
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equals(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case K::Dict: {
      if (a.same_object(b)) return true;
      DepthGuard guard;
      if (a.map().entries.size() != b.map().entries.size()) return false;
      for (const auto& [k, v] : a.map().entries) {
        const Value* other = b.map().find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    default: return a.same_object(b);
  }
}

int compare(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == K::Float || b.kind() == K::Float) {
      const double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.kind() == K::String && b.kind() == K::String) {
    const int c = a.as_string().compare(b.as_string());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && a.is_sequence()) {
    DepthGuard guard;
    const List& x = a.items();
    const List& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  runtime_error("TypeError: '<' not supported between instances of '" + a.type_name() + "' and '" +
                b.type_name() + "'");
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::String: return v.as_string();
    default: return to_repr(v);
  }
}

std::string to_repr(const Value& v) {
  using K = Value::Kind;
  switch (v.kind()) {
    case K::Undefined: return "Undefined";
    case K::None: return "None";
    case K::Bool: return v.as_bool() ? "True" : "False";
    case K::Int: return std::to_string(v.as_int());
    case K::Float: return py_float_repr(v.as_float());
    case K::String: return py_str_repr(v.as_string());
    case K::List:
    case K::Tuple: {
      DepthGuard guard;
      const bool tuple = v.kind() == K::Tuple;
      std::string out = tuple ? "(" : "[";
      const List& items = v.items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += to_repr(items[i]);
      }
      if (tuple && items.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      return out;
    }
    case K::Dict:
    case K::Namespace: {
      DepthGuard guard;
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.map().entries) {
        if (!first) out += ", ";
        first = false;
        out += to_repr(k) + ": " + to_repr(e);
      }
      out += "}";
      return v.kind() == K::Namespace ? "<Namespace " + out + ">" : out;
    }
    case K::Object: return "<" + v.map().type_name + " object>";
    case K::Function: return "<function " + v.fn().name + ">";
  }
  return "";
}

List iterate(const Value& v) {
  using K = Value::Kind;
  switch (v.kind()) {
    case K::Undefined: return {};
    case K::List:
    case K::Tuple: return v.items();
    case K::Dict: {
      List keys;
      keys.reserve(v.map().entries.size());
      for (const auto& [k, e] : v.map().entries) keys.push_back(k);
      return keys;
    }
    case K::String: {
      List chars;
      std::string one;
      for (char32_t c : utf8_decode(v.as_string())) {
        one.clear();
        append_utf8(one, c);
        chars.push_back(Value::string(one));
      }
      return chars;
    }
    default: runtime_error("TypeError: '" + v.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& v) {
  using K = Value::Kind;
  switch (v.kind()) {
    case K::Undefined: return 0;
    case K::String: return static_cast<int64_t>(utf8_length(v.as_string()));
    case K::List:
    case K::Tuple: return static_cast<int64_t>(v.items().size());
    case K::Dict: return static_cast<int64_t>(v.map().entries.size());
    default: runtime_error("TypeError: object of type '" + v.type_name() + "' has no len()");
  }
}

}  // namespace nova::chat
