// Global functions (range, dict, namespace, cycler, joiner, and transformers' raise_exception
// and strftime_now) and the methods templates may call on str, dict and list values. Methods
// that mutate a list or dict are refused, as transformers' ImmutableSandboxedEnvironment does.
#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "chat/chat_template.h"
#include "chat/interpreter.h"
#include "chat/operators.h"
#include "chat/params.h"
#include "chat/py_string.h"

namespace nova::chat {

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2 sandbox's MAX_RANGE

Value g_range(Interpreter&, CallArgs& a) {
  Params p(a, "range", {"start", "stop", "step"}, 1);
  int64_t start = 0, stop, step = 1;
  for (size_t i = 0; i < 3; ++i)
    if (p.has(i) && !p[i].is_int())
      runtime_error("TypeError: '" + p[i].type_name() + "' object cannot be interpreted as an integer");
  if (p.has(1)) {
    start = p[0].as_int(), stop = p[1].as_int();
    if (p.has(2)) step = p[2].as_int();
  } else {
    stop = p[0].as_int();
  }
  if (step == 0) runtime_error("ValueError: range() arg 3 must not be zero");
  List out;
  for (int64_t v = start; step > 0 ? v < stop : v > stop;) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange)
      runtime_error("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    out.push_back(Value::integer(v));
    if (__builtin_add_overflow(v, step, &v)) break;
  }
  return Value::list(std::move(out));
}

std::shared_ptr<Dict> dict_from_args(const CallArgs& a, const char* fn) {
  auto d = std::make_shared<Dict>();
  if (a.positional.size() > 1) runtime_error(std::string("TypeError: ") + fn + " expected at most 1 argument");
  if (!a.positional.empty()) {
    const Value& src = a.positional[0];
    if (src.is_mapping()) {
      d->entries = src.map().entries;
    } else {
      for (const Value& pair : iterate(src)) {
        const List kv = iterate(pair);
        if (kv.size() != 2) runtime_error("ValueError: dictionary update sequence element has wrong length");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keyword) d->set(Value::string(k), v);
  return d;
}

Value g_dict(Interpreter&, CallArgs& a) { return Value::dict(dict_from_args(a, "dict")); }
Value g_namespace(Interpreter&, CallArgs& a) { return Value::ns(dict_from_args(a, "namespace")); }

Value g_raise_exception(Interpreter&, CallArgs& a) {
  Params p(a, "raise_exception", {"message"}, 1);
  throw TemplateRaised("", to_str(p[0]));
}

Value g_strftime_now(Interpreter& in, CallArgs& a) {
  Params p(a, "strftime_now", {"format"}, 1);
  const std::string fmt = to_str(p[0]);
  const std::time_t now = in.options().now ? *in.options().now : std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  if (fmt.empty()) return Value::string("");
  std::string buf(64 + fmt.size() * 8, '\0');
  for (int attempt = 0; attempt < 4; ++attempt) {
    const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) return Value::string(buf.substr(0, n));
    buf.resize(buf.size() * 4);
  }
  return Value::string("");  // strftime produced nothing (e.g. only "%p" in a locale without it)
}

Value g_joiner(Interpreter&, CallArgs& a) {
  Params p(a, "joiner", {"sep"});
  const std::string sep = p.has(0) ? to_str(p[0]) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](Interpreter&, CallArgs&) {
    if (!*used) {
      *used = true;
      return Value::string("");
    }
    return Value::string(sep);
  });
}

Value g_cycler(Interpreter&, CallArgs& a) {
  if (a.positional.empty()) runtime_error("TypeError: at least one item has to be provided");
  auto items = std::make_shared<List>(a.positional);
  auto pos = std::make_shared<size_t>(0);
  auto obj = std::make_shared<Dict>();
  obj->type_name = "Cycler";
  std::weak_ptr<Dict> weak = obj;
  auto refresh = [items, pos, weak]() {
    if (auto o = weak.lock()) o->set(Value::string("current"), (*items)[*pos]);
  };
  obj->set(Value::string("next"), Value::function("next", [items, pos, refresh](Interpreter&, CallArgs&) {
             Value v = (*items)[*pos];
             *pos = (*pos + 1) % items->size();
             refresh();
             return v;
           }));
  obj->set(Value::string("reset"), Value::function("reset", [pos, refresh](Interpreter&, CallArgs&) {
             *pos = 0;
             refresh();
             return Value::none();
           }));
  obj->set(Value::string("current"), (*items)[0]);
  return Value::object(obj);
}

// ---- str methods

std::optional<std::string> opt_string(const Params& p, size_t i) {
  if (!p.has(i) || p[i].is_none()) return std::nullopt;
  if (!p[i].is_string()) runtime_error("TypeError: expected str, got " + p[i].type_name());
  return p[i].as_string();
}

// Applies Python's [start:end] to a str, for the optional bounds of find/startswith/count.
std::string bounded(const std::string& s, const Params& p, size_t start_idx) {
  if (!p.has(start_idx) && !p.has(start_idx + 1)) return s;
  std::optional<int64_t> b, e;
  if (p.has(start_idx) && !p[start_idx].is_none()) b = p.integer(start_idx, 0);
  if (p.has(start_idx + 1) && !p[start_idx + 1].is_none()) e = p.integer(start_idx + 1, 0);
  return slice_value(Value::string(s), b, e, std::nullopt).as_string();
}

std::string pad(const std::string& s, int64_t width, const std::string& fill, char align) {
  const auto len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  if (width > (1 << 24)) runtime_error("MemoryError: width too large");
  const int64_t marg = width - len;
  int64_t left = align == '<' ? 0 : align == '>' ? marg : marg / 2 + (marg & width & 1);
  if (align == '^' && fill != " ") left = marg / 2;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < marg - left; ++i) out += fill;
  return out;
}

// str.format with auto/explicit positional and named fields, !r/!s, and a format spec of
// [[fill]align][width][.precision][type] for s/d/f types.
std::string str_format(Interpreter& in, const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i, out.push_back('}');
      else runtime_error("ValueError: Single '}' encountered in format string");
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) runtime_error("ValueError: Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    std::string spec, conv;
    if (const size_t colon = field.find(':'); colon != std::string::npos) spec = field.substr(colon + 1), field.resize(colon);
    if (const size_t bang = field.find('!'); bang != std::string::npos) conv = field.substr(bang + 1), field.resize(bang);
    std::string name = field, rest;
    const size_t dot = field.find_first_of(".[");
    if (dot != std::string::npos) name = field.substr(0, dot), rest = field.substr(dot);
    Value v;
    if (name.empty()) {
      if (auto_idx >= a.positional.size()) runtime_error("IndexError: Replacement index out of range for positional args tuple");
      v = a.positional[auto_idx++];
    } else if (std::all_of(name.begin(), name.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      const size_t k = std::stoul(name.substr(0, 9));
      if (k >= a.positional.size()) runtime_error("IndexError: Replacement index out of range for positional args tuple");
      v = a.positional[k];
    } else {
      auto it = std::find_if(a.keyword.begin(), a.keyword.end(), [&](const auto& kv) { return kv.first == name; });
      if (it == a.keyword.end()) runtime_error("KeyError: " + py_str_repr(name));
      v = it->second;
    }
    while (!rest.empty()) {  // .attr and [key] lookups
      if (rest[0] == '.') {
        const size_t end = rest.find_first_of(".[", 1);
        v = in.getattr(v, rest.substr(1, end == std::string::npos ? std::string::npos : end - 1));
        rest = end == std::string::npos ? "" : rest.substr(end);
      } else {
        const size_t end = rest.find(']');
        if (end == std::string::npos) runtime_error("ValueError: Missing ']' in format string");
        const std::string key = rest.substr(1, end - 1);
        const bool digits = !key.empty() && key.size() < 18 && std::all_of(key.begin(), key.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
        v = in.getitem(v, digits ? Value::integer(std::stoll(key)) : Value::string(key));
        rest = rest.substr(end + 1);
      }
    }
    if (conv == "r") v = Value::string(to_repr(v));
    else if (conv == "s") v = Value::string(to_str(v));
    else if (!conv.empty()) runtime_error("ValueError: Unknown conversion specifier " + conv);
    // spec: [[fill]align][width][.precision][type]
    std::string fill = " ";
    char align = 0;
    size_t k = 0;
    const std::u32string sp = utf8_decode(spec);
    auto is_align = [](char32_t ch) { return ch == '<' || ch == '>' || ch == '^'; };
    if (sp.size() >= 2 && is_align(sp[1])) {
      fill.clear();
      append_utf8(fill, sp[0]);
      align = static_cast<char>(sp[1]);
      k = 2;
    } else if (!sp.empty() && is_align(sp[0])) {
      align = static_cast<char>(sp[0]);
      k = 1;
    }
    std::string width, precision;
    while (k < sp.size() && sp[k] >= '0' && sp[k] <= '9') width.push_back(static_cast<char>(sp[k++]));
    if (k < sp.size() && sp[k] == '.') {
      ++k;
      while (k < sp.size() && sp[k] >= '0' && sp[k] <= '9') precision.push_back(static_cast<char>(sp[k++]));
    }
    const char type = k < sp.size() ? static_cast<char>(sp[k++]) : 0;
    if (k != sp.size() || width.size() > 6 || precision.size() > 3) runtime_error("ValueError: Invalid format specifier");
    std::string body;
    if (type == 'f' || type == 'F' || type == 'e' || type == 'g' || (type == 0 && !precision.empty() && v.is_number())) {
      if (!v.is_number()) runtime_error("ValueError: Unknown format code '" + std::string(1, type) + "' for object of type '" + v.type_name() + "'");
      char buf[512];
      std::snprintf(buf, sizeof buf, ("%." + (precision.empty() ? std::string("6") : precision) + (type ? type : 'g')).c_str(), v.as_float());
      body = buf;
    } else if (type == 'd') {
      if (!v.is_int()) runtime_error("ValueError: Unknown format code 'd' for object of type '" + v.type_name() + "'");
      body = std::to_string(v.as_int());
    } else if (type == 0 || type == 's') {
      body = to_str(v);
      if (!precision.empty()) body = utf8_encode(utf8_decode(body).substr(0, std::stoul(precision)));
    } else {
      runtime_error(std::string("ValueError: Unknown format code '") + type + "'");
    }
    if (!align) align = v.is_number() && type != 's' ? '>' : '<';
    out += pad(body, width.empty() ? 0 : std::stoll(width), fill, align);
    in.check_size(out.size());
  }
  return out;
}

using MethodFn = Value (*)(Interpreter&, const Value& self, CallArgs& a);

bool is_all(const std::string& s, bool (*pred)(char32_t)) {
  const std::u32string cps = utf8_decode(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

Value prefix_test(const Value& self, CallArgs& a, const char* fn, bool suffix) {
  Params p(a, fn, {"prefix", "start", "end"}, 1);
  const std::string s = bounded(self.as_string(), p, 1);
  List options = p[0].kind() == Value::Kind::Tuple ? p[0].items() : List{p[0]};
  for (const Value& o : options) {
    if (!o.is_string())
      runtime_error(std::string("TypeError: ") + fn + " first arg must be str or a tuple of str, not " + o.type_name());
    const std::string& x = o.as_string();
    if (x.size() <= s.size() && (suffix ? s.compare(s.size() - x.size(), x.size(), x) == 0 : s.compare(0, x.size(), x) == 0))
      return Value::boolean(true);
  }
  return Value::boolean(false);
}

List strings(const std::vector<std::string>& parts) {
  List out;
  out.reserve(parts.size());
  for (const auto& s : parts) out.push_back(Value::string(s));
  return out;
}

const std::unordered_map<std::string, MethodFn>& string_methods() {
  static const std::unordered_map<std::string, MethodFn> m = {
      {"strip", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "strip", {"chars"}); return Value::string(py_strip(s.as_string(), opt_string(p, 0), true, true)); }},
      {"lstrip", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "lstrip", {"chars"}); return Value::string(py_strip(s.as_string(), opt_string(p, 0), true, false)); }},
      {"rstrip", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "rstrip", {"chars"}); return Value::string(py_strip(s.as_string(), opt_string(p, 0), false, true)); }},
      {"split", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "split", {"sep", "maxsplit"}); return Value::list(strings(py_split(s.as_string(), opt_string(p, 0), p.integer(1, -1)))); }},
      {"rsplit", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "rsplit", {"sep", "maxsplit"}); return Value::list(strings(py_rsplit(s.as_string(), opt_string(p, 0), p.integer(1, -1)))); }},
      {"splitlines", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "splitlines", {"keepends"}); return Value::list(strings(py_splitlines(s.as_string(), p.flag(0, false)))); }},
      {"startswith", [](Interpreter&, const Value& s, CallArgs& a) { return prefix_test(s, a, "startswith", false); }},
      {"endswith", [](Interpreter&, const Value& s, CallArgs& a) { return prefix_test(s, a, "endswith", true); }},
      {"upper", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "upper", {}); return Value::string(py_upper(s.as_string())); }},
      {"lower", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "lower", {}); return Value::string(py_lower(s.as_string())); }},
      {"casefold", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "casefold", {}); return Value::string(py_lower(s.as_string())); }},
      {"title", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "title", {}); return Value::string(py_title(s.as_string())); }},
      {"capitalize", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "capitalize", {}); return Value::string(py_capitalize(s.as_string())); }},
      {"swapcase", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "swapcase", {}); return Value::string(py_swapcase(s.as_string())); }},
      {"replace", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "replace", {"old", "new", "count"}, 2);
         if (!p[0].is_string() || !p[1].is_string()) runtime_error("TypeError: replace() arguments must be str");
         return Value::string(py_replace(s.as_string(), p[0].as_string(), p[1].as_string(), p.integer(2, -1)));
       }},
      {"find", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "find", {"sub", "start", "end"}, 1);
         const int64_t off = p.has(1) && !p[1].is_none() ? std::max<int64_t>(0, p.integer(1, 0) < 0 ? p.integer(1, 0) + static_cast<int64_t>(utf8_length(s.as_string())) : p.integer(1, 0)) : 0;
         const int64_t r = py_find(bounded(s.as_string(), p, 1), opt_string(p, 0).value_or(""), false);
         return Value::integer(r < 0 ? -1 : r + off);
       }},
      {"rfind", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "rfind", {"sub"}, 1); return Value::integer(py_find(s.as_string(), opt_string(p, 0).value_or(""), true)); }},
      {"index", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "index", {"sub"}, 1);
         const int64_t r = py_find(s.as_string(), opt_string(p, 0).value_or(""), false);
         if (r < 0) runtime_error("ValueError: substring not found");
         return Value::integer(r);
       }},
      {"count", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "count", {"sub", "start", "end"}, 1); return Value::integer(py_count(bounded(s.as_string(), p, 1), opt_string(p, 0).value_or(""))); }},
      {"join", [](Interpreter& in, const Value& s, CallArgs& a) {
         Params p(a, "join", {"iterable"}, 1);
         std::string out;
         bool first = true;
         for (const Value& v : iterate(p[0])) {
           if (!v.is_string()) runtime_error("TypeError: sequence item: expected str instance, " + v.type_name() + " found");
           if (!first) out += s.as_string();
           first = false;
           out += v.as_string();
           in.check_size(out.size());
         }
         return Value::string(std::move(out));
       }},
      {"format", [](Interpreter& in, const Value& s, CallArgs& a) { return Value::string(str_format(in, s.as_string(), a)); }},
      {"isdigit", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isdigit", {}); return Value::boolean(is_all(s.as_string(), py_isdigit)); }},
      {"isnumeric", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isnumeric", {}); return Value::boolean(is_all(s.as_string(), py_isdigit)); }},
      {"isdecimal", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isdecimal", {}); return Value::boolean(is_all(s.as_string(), py_isdigit)); }},
      {"isalpha", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isalpha", {}); return Value::boolean(is_all(s.as_string(), py_isalpha)); }},
      {"isalnum", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isalnum", {}); return Value::boolean(is_all(s.as_string(), [](char32_t c) { return py_isalpha(c) || py_isdigit(c); })); }},
      {"isspace", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isspace", {}); return Value::boolean(is_all(s.as_string(), py_isspace)); }},
      {"islower", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "islower", {}); return Value::boolean(py_lower(s.as_string()) == s.as_string() && py_upper(s.as_string()) != s.as_string()); }},
      {"isupper", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "isupper", {}); return Value::boolean(py_upper(s.as_string()) == s.as_string() && py_lower(s.as_string()) != s.as_string()); }},
      {"center", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "center", {"width", "fillchar"}, 1); return Value::string(pad(s.as_string(), p.integer(0, 0), p.text(1, " "), '^')); }},
      {"ljust", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "ljust", {"width", "fillchar"}, 1); return Value::string(pad(s.as_string(), p.integer(0, 0), p.text(1, " "), '<')); }},
      {"rjust", [](Interpreter&, const Value& s, CallArgs& a) { Params p(a, "rjust", {"width", "fillchar"}, 1); return Value::string(pad(s.as_string(), p.integer(0, 0), p.text(1, " "), '>')); }},
      {"zfill", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "zfill", {"width"}, 1);
         std::string str = s.as_string();
         const bool sign = !str.empty() && (str[0] == '-' || str[0] == '+');
         const std::string padded = pad(str.substr(sign ? 1 : 0), p.integer(0, 0) - (sign ? 1 : 0), "0", '>');
         return Value::string((sign ? str.substr(0, 1) : "") + padded);
       }},
      {"removeprefix", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "removeprefix", {"prefix"}, 1);
         const std::string x = p.text(0, "");
         const std::string& str = s.as_string();
         return Value::string(str.compare(0, x.size(), x) == 0 ? str.substr(x.size()) : str);
       }},
      {"removesuffix", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "removesuffix", {"suffix"}, 1);
         const std::string x = p.text(0, "");
         const std::string& str = s.as_string();
         const bool hit = !x.empty() && x.size() <= str.size() && str.compare(str.size() - x.size(), x.size(), x) == 0;
         return Value::string(hit ? str.substr(0, str.size() - x.size()) : str);
       }},
      {"partition", [](Interpreter&, const Value& s, CallArgs& a) {
         Params p(a, "partition", {"sep"}, 1);
         const std::string sep = p.text(0, "");
         if (sep.empty()) runtime_error("ValueError: empty separator");
         const std::string& str = s.as_string();
         const size_t hit = str.find(sep);
         if (hit == std::string::npos) return Value::tuple({s, Value::string(""), Value::string("")});
         return Value::tuple({Value::string(str.substr(0, hit)), Value::string(sep), Value::string(str.substr(hit + sep.size()))});
       }},
  };
  return m;
}

const std::unordered_map<std::string, MethodFn>& dict_methods() {
  static const std::unordered_map<std::string, MethodFn> m = {
      {"items", [](Interpreter&, const Value& d, CallArgs& a) {
         Params p(a, "items", {});
         List out;
         for (const auto& [k, v] : d.map().entries) out.push_back(Value::tuple({k, v}));
         return Value::list(std::move(out));
       }},
      {"keys", [](Interpreter&, const Value& d, CallArgs& a) { Params p(a, "keys", {}); return Value::list(iterate(d)); }},
      {"values", [](Interpreter&, const Value& d, CallArgs& a) {
         Params p(a, "values", {});
         List out;
         for (const auto& [k, v] : d.map().entries) out.push_back(v);
         return Value::list(std::move(out));
       }},
      {"get", [](Interpreter&, const Value& d, CallArgs& a) {
         Params p(a, "get", {"key", "default"}, 1);
         const Value* v = d.map().find(p[0]);
         return v ? *v : p.get(1, Value::none());
       }},
      {"copy", [](Interpreter&, const Value& d, CallArgs& a) {
         Params p(a, "copy", {});
         return Value::dict(std::make_shared<Dict>(d.map()));
       }},
  };
  return m;
}

const std::unordered_map<std::string, MethodFn>& list_methods() {
  static const std::unordered_map<std::string, MethodFn> m = {
      {"index", [](Interpreter&, const Value& l, CallArgs& a) {
         Params p(a, "index", {"value"}, 1);
         for (size_t i = 0; i < l.items().size(); ++i)
           if (equals(l.items()[i], p[0])) return Value::integer(static_cast<int64_t>(i));
         runtime_error("ValueError: " + to_repr(p[0]) + " is not in list");
       }},
      {"count", [](Interpreter&, const Value& l, CallArgs& a) {
         Params p(a, "count", {"value"}, 1);
         int64_t n = 0;
         for (const Value& v : l.items()) n += equals(v, p[0]) ? 1 : 0;
         return Value::integer(n);
       }},
      {"copy", [](Interpreter&, const Value& l, CallArgs& a) {
         Params p(a, "copy", {});
         return Value::list(l.items());
       }},
  };
  return m;
}

bool is_mutator(Value::Kind kind, const std::string& name) {
  static const char* const list_mut[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};
  static const char* const dict_mut[] = {"clear", "pop", "popitem", "setdefault", "update"};
  if (kind == Value::Kind::List)
    return std::find_if(std::begin(list_mut), std::end(list_mut), [&](const char* m) { return name == m; }) != std::end(list_mut);
  if (kind == Value::Kind::Dict)
    return std::find_if(std::begin(dict_mut), std::end(dict_mut), [&](const char* m) { return name == m; }) != std::end(dict_mut);
  return false;
}

Value bind(const std::string& name, MethodFn fn, const Value& self) {
  return Value::function(name, [fn, self](Interpreter& in, CallArgs& a) { return fn(in, self, a); });
}

}  // namespace

Value find_global(const std::string& name) {
  using G = Value (*)(Interpreter&, CallArgs&);
  static const std::unordered_map<std::string, G> globals = {
      {"range", g_range},     {"dict", g_dict},           {"namespace", g_namespace},
      {"joiner", g_joiner},   {"cycler", g_cycler},       {"raise_exception", g_raise_exception},
      {"strftime_now", g_strftime_now},
  };
  const auto it = globals.find(name);
  if (it == globals.end()) return Value();
  return Value::function(name, it->second);
}

Value find_method(const Value& obj, const std::string& name) {
  const std::unordered_map<std::string, MethodFn>* table = nullptr;
  switch (obj.kind()) {
    case Value::Kind::String: table = &string_methods(); break;
    case Value::Kind::Dict: table = &dict_methods(); break;
    case Value::Kind::List:
    case Value::Kind::Tuple: table = &list_methods(); break;
    default: return Value();
  }
  if (is_mutator(obj.kind(), name))
    return Value::undefined("SecurityError: access to attribute '" + name + "' of '" + obj.type_name() +
                            "' object is unsafe.");
  if (obj.kind() == Value::Kind::Tuple && name == "copy") return Value();
  const auto it = table->find(name);
  if (it == table->end()) return Value();
  return bind(name, it->second, obj);
}

// ---- compile-time name checks

namespace {

void check_expr(const Expr* e, const std::string& where);

void check_args(const Args& a, const std::string& where) {
  for (const auto& x : a.positional) check_expr(x.get(), where);
  for (const auto& [k, x] : a.keyword) check_expr(x.get(), where);
  check_expr(a.star.get(), where);
  check_expr(a.double_star.get(), where);
}

void check_expr(const Expr* e, const std::string& where) {
  if (!e) return;
  if (e->kind == Expr::Kind::Filter && !find_filter(e->name))
    fail(where, "line " + std::to_string(e->line) + ":col " + std::to_string(e->col) + ": No filter named '" + e->name + "'.");
  if (e->kind == Expr::Kind::Test && !find_test(e->name))
    fail(where, "line " + std::to_string(e->line) + ":col " + std::to_string(e->col) + ": No test named '" + e->name + "'.");
  check_expr(e->a.get(), where);
  for (const auto& i : e->items) check_expr(i.get(), where);
  check_args(e->args, where);
}

void check_body(const Body& body, const std::string& where) {
  for (const auto& s : body) {
    check_expr(s->expr.get(), where);
    check_expr(s->target.get(), where);
    check_expr(s->filter.get(), where);
    for (const auto& c : s->conds) check_expr(c.get(), where);
    for (const auto& b : s->bodies) check_body(b, where);
    check_body(s->body, where);
    check_body(s->else_body, where);
    if (s->macro) {
      for (const auto& d : s->macro->defaults) check_expr(d.get(), where);
      check_body(s->macro->body, where);
    }
  }
}

}  // namespace

void check_filters_and_tests(const Program& program, const std::string& where) { check_body(program.body, where); }

}  // namespace nova::chat
