#include "chat/operators.h"

#include <cmath>
#include <cstdio>

#include "chat/py_string.h"

namespace nova::chat {

namespace {

constexpr size_t kMaxRepeat = 64u << 20;  // str/list repetition bound (the sandbox guards output too)

[[noreturn]] void unsupported(const std::string& op, const Value& l, const Value& r) {
  runtime_error("TypeError: unsupported operand type(s) for " + op + ": '" + l.type_name() + "' and '" +
                r.type_name() + "'");
}

// Python ints are unbounded; ours stop at int64 with an error rather than wrapping.
int64_t checked_op(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  const bool overflow = op == '+' ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) runtime_error("OverflowError: integer result too large");
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) runtime_error("ZeroDivisionError: integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) runtime_error("OverflowError: integer result too large");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  if (b == 0) runtime_error("ZeroDivisionError: integer division or modulo by zero");
  if (b == -1) return 0;
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// CPython's float divmod, so // and % agree with Python on signs and rounding.
void float_divmod(double vx, double wx, double& div, double& mod) {
  if (wx == 0.0) runtime_error("ZeroDivisionError: float division by zero");
  mod = std::fmod(vx, wx);
  div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    div = floordiv;
  } else {
    div = std::copysign(0.0, vx / wx);
  }
}

Value repeat(const Value& seq, int64_t times) {
  if (times <= 0) return seq.is_string() ? Value::string("") : (seq.kind() == Value::Kind::Tuple ? Value::tuple({}) : Value::list());
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > kMaxRepeat / s.size())
      runtime_error("MemoryError: repeated string too large");
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value::string(std::move(out));
  }
  const List& items = seq.items();
  if (!items.empty() && static_cast<uint64_t>(times) > (kMaxRepeat / 16) / items.size())
    runtime_error("MemoryError: repeated list too large");
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked_op('*', result, base);
    exp >>= 1;
    if (exp) base = checked_op('*', base, base);
  }
  return result;
}

}  // namespace

Value binary_op(const std::string& op, const Value& l, const Value& r) {
  using K = Value::Kind;
  if (l.is_undefined()) undefined_error(l);
  if (r.is_undefined()) undefined_error(r);
  const bool ints = l.is_int() && r.is_int();
  const bool nums = l.is_number() && r.is_number();
  if (op == "+") {
    if (ints) return Value::integer(checked_op('+', l.as_int(), r.as_int()));
    if (nums) return Value::number(l.as_float() + r.as_float());
    if (l.is_string() && r.is_string()) {
      if (l.as_string().size() + r.as_string().size() > kMaxRepeat * 4)
        runtime_error("MemoryError: string too large");
      return Value::string(l.as_string() + r.as_string());
    }
    if (l.kind() == r.kind() && l.is_sequence()) {
      List out = l.items();
      out.insert(out.end(), r.items().begin(), r.items().end());
      return l.kind() == K::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
    if (l.is_string())
      runtime_error("TypeError: can only concatenate str (not \"" + r.type_name() + "\") to str");
    if (l.kind() == K::List)
      runtime_error("TypeError: can only concatenate list (not \"" + r.type_name() + "\") to list");
    unsupported("+", l, r);
  }
  if (op == "-") {
    if (ints) return Value::integer(checked_op('-', l.as_int(), r.as_int()));
    if (nums) return Value::number(l.as_float() - r.as_float());
    unsupported("-", l, r);
  }
  if (op == "*") {
    if (ints) return Value::integer(checked_op('*', l.as_int(), r.as_int()));
    if (nums) return Value::number(l.as_float() * r.as_float());
    if ((l.is_string() || l.is_sequence()) && r.is_int()) return repeat(l, r.as_int());
    if ((r.is_string() || r.is_sequence()) && l.is_int()) return repeat(r, l.as_int());
    runtime_error("TypeError: can't multiply sequence by non-int of type '" +
                  (l.is_string() || l.is_sequence() ? r : l).type_name() + "'");
  }
  if (op == "/") {
    if (!nums) unsupported("/", l, r);
    if (r.as_float() == 0.0) runtime_error("ZeroDivisionError: division by zero");
    return Value::number(l.as_float() / r.as_float());
  }
  if (op == "//") {
    if (ints) return Value::integer(floor_div(l.as_int(), r.as_int()));
    if (!nums) unsupported("//", l, r);
    double div, mod;
    float_divmod(l.as_float(), r.as_float(), div, mod);
    return Value::number(div);
  }
  if (op == "%") {
    if (l.is_string()) return Value::string(percent_format(l.as_string(), r));
    if (ints) return Value::integer(floor_mod(l.as_int(), r.as_int()));
    if (!nums) unsupported("%", l, r);
    double div, mod;
    float_divmod(l.as_float(), r.as_float(), div, mod);
    return Value::number(mod);
  }
  if (op == "**") {
    if (ints && r.as_int() >= 0) return Value::integer(int_pow(l.as_int(), r.as_int()));
    if (!nums) unsupported("** or pow()", l, r);
    if (l.as_float() == 0.0 && r.as_float() < 0)
      runtime_error("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return Value::number(std::pow(l.as_float(), r.as_float()));
  }
  runtime_error("unknown operator " + op);
}

Value negate(const Value& v) {
  if (v.is_undefined()) undefined_error(v);
  if (v.kind() == Value::Kind::Float) return Value::number(-v.as_float());
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) runtime_error("OverflowError: integer result too large");
    return Value::integer(-v.as_int());
  }
  runtime_error("TypeError: bad operand type for unary -: '" + v.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  using K = Value::Kind;
  switch (container.kind()) {
    case K::Undefined: return false;
    case K::String:
      if (!item.is_string())
        runtime_error("TypeError: 'in <string>' requires string as left operand, not " + item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case K::List:
    case K::Tuple:
      for (const Value& v : container.items())
        if (equals(v, item)) return true;
      return false;
    case K::Dict: return container.map().find(item) != nullptr;
    default: runtime_error("TypeError: argument of type '" + container.type_name() + "' is not iterable");
  }
}

Value index_value(const Value& seq, int64_t i) {
  if (seq.is_string()) {
    const std::u32string cps = utf8_decode(seq.as_string());
    const auto n = static_cast<int64_t>(cps.size());
    const int64_t k = i < 0 ? i + n : i;
    if (k < 0 || k >= n) return Value::undefined("str object has no element " + std::to_string(i));
    std::string out;
    append_utf8(out, cps[static_cast<size_t>(k)]);
    return Value::string(out);
  }
  const List& items = seq.items();
  const auto n = static_cast<int64_t>(items.size());
  const int64_t k = i < 0 ? i + n : i;
  if (k < 0 || k >= n) return Value::undefined(seq.object_name() + " has no element " + std::to_string(i));
  return items[static_cast<size_t>(k)];
}

Value slice_value(const Value& seq, std::optional<int64_t> start, std::optional<int64_t> stop,
                  std::optional<int64_t> step) {
  if (seq.is_undefined()) undefined_error(seq);
  if (!seq.is_string() && !seq.is_sequence()) return Value::undefined(seq.object_name() + " is not sliceable");
  const int64_t st = step.value_or(1);
  if (st == 0) runtime_error("ValueError: slice step cannot be zero");
  std::u32string cps;
  int64_t n;
  if (seq.is_string()) {
    cps = utf8_decode(seq.as_string());
    n = static_cast<int64_t>(cps.size());
  } else {
    n = static_cast<int64_t>(seq.items().size());
  }
  const int64_t lower = st > 0 ? 0 : -1;
  const int64_t upper = st > 0 ? n : n - 1;
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < lower) x = lower;
    } else if (x > upper) {
      x = upper;
    }
    return x;
  };
  const int64_t b = clamp(start, st > 0 ? lower : upper);
  const int64_t e = clamp(stop, st > 0 ? upper : lower);
  std::vector<size_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(static_cast<size_t>(i));
  if (seq.is_string()) {
    std::string out;
    for (size_t i : idx) append_utf8(out, cps[i]);
    return Value::string(std::move(out));
  }
  List out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(seq.items()[i]);
  return seq.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

std::string percent_format(const std::string& fmt, const Value& args) {
  List positional;
  const Value* mapping = nullptr;
  if (args.kind() == Value::Kind::Tuple) {
    positional = args.items();
  } else if (args.is_mapping()) {
    mapping = &args;
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) runtime_error("ValueError: incomplete format");
    Value arg;
    bool have_arg = false;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) runtime_error("ValueError: incomplete format key");
      if (!mapping) runtime_error("TypeError: format requires a mapping");
      const Value* v = mapping->map().find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (!v) runtime_error("KeyError: " + py_str_repr(fmt.substr(i + 1, close - i - 1)));
      arg = *v;
      have_arg = used_mapping = true;
      i = close + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) flags.push_back(fmt[i++]);
    std::string width, precision;
    while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) width.push_back(fmt[i++]);
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      precision = "0";
      while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) precision.push_back(fmt[i++]);
    }
    if (i >= fmt.size()) runtime_error("ValueError: incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_arg) {
      if (mapping) {
        arg = *mapping;
      } else {
        if (next >= positional.size()) runtime_error("TypeError: not enough arguments for format string");
        arg = positional[next++];
      }
    }
    if (width.size() > 4 || precision.size() > 4) runtime_error("ValueError: format width too large");
    std::string body;
    char buf[512];
    const std::string spec = "%" + flags + width + (precision.empty() ? "" : "." + precision);
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        body = conv == 's' ? to_str(arg) : to_repr(arg);
        if (!precision.empty()) body = utf8_encode(utf8_decode(body).substr(0, std::stoul(precision)));
        const size_t w = width.empty() ? 0 : std::stoul(width);
        const size_t len = utf8_length(body);
        if (len < w) body = flags.find('-') != std::string::npos ? body + std::string(w - len, ' ')
                                                                 : std::string(w - len, ' ') + body;
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        if (!arg.is_number()) runtime_error("TypeError: %" + std::string(1, conv) + " format: a real number is required, not " + arg.type_name());
        const int64_t v = arg.kind() == Value::Kind::Float ? static_cast<int64_t>(arg.as_float()) : arg.as_int();
        const char c = conv == 'i' || conv == 'u' ? 'd' : conv;
        std::snprintf(buf, sizeof buf, (spec + "ll" + c).c_str(), static_cast<long long>(v));
        body = buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) runtime_error("TypeError: must be real number, not " + arg.type_name());
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), arg.as_float());
        body = buf;
        break;
      }
      case 'c': {
        if (arg.is_string() && utf8_length(arg.as_string()) == 1) {
          body = arg.as_string();
        } else if (arg.is_int() && arg.as_int() >= 0 && arg.as_int() <= 0x10FFFF) {
          append_utf8(body, static_cast<char32_t>(arg.as_int()));
        } else {
          runtime_error("TypeError: %c requires int or char");
        }
        break;
      }
      default: runtime_error(std::string("ValueError: unsupported format character '") + conv + "'");
    }
    out += body;
  }
  if (!mapping && next < positional.size()) runtime_error("TypeError: not all arguments converted during string formatting");
  (void)used_mapping;
  return out;
}

}  // namespace nova::chat
