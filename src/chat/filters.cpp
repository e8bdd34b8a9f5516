// jinja2's built-in filters (the subset chat templates use), plus transformers' `tojson`.
// Filters that return generators in jinja2 (map, select, unique, reverse...) return lists here;
// they print differently only if printed raw, which templates never do.
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "chat/interpreter.h"
#include "chat/json_dump.h"
#include "chat/operators.h"
#include "chat/params.h"
#include "chat/py_string.h"
#include "chat/sort.h"

namespace nova::chat {

namespace {

std::string soft_str(const Value& v) { return to_str(v); }

// make_attrgetter: "a.b.0" walks getitem per part (digit parts as ints).
Value get_path(Interpreter& in, Value item, const Value& attribute, const Value* dflt = nullptr) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (const std::string& p : py_split(attribute.as_string(), std::string("."), -1)) {
      bool digits = !p.empty();
      for (char c : p) digits &= std::isdigit(static_cast<unsigned char>(c)) != 0;
      parts.push_back(digits && p.size() < 18 ? Value::integer(std::stoll(p)) : Value::string(p));
    }
  } else if (!attribute.is_none() && !attribute.is_undefined()) {
    parts.push_back(attribute);
  }
  for (const Value& part : parts) {
    item = in.getitem(item, part);
    if (dflt && item.is_undefined()) item = *dflt;
  }
  return item;
}

Value lower_if_string(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value::string(py_lower(v.as_string())) : v;
}

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "abs", {});
  if (v.kind() == Value::Kind::Float) return Value::number(std::fabs(v.as_float()));
  if (v.is_int()) return v.as_int() < 0 ? negate(v) : Value::integer(v.as_int());
  if (v.is_undefined()) undefined_error(v);
  runtime_error("TypeError: bad operand type for abs(): '" + v.type_name() + "'");
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "attr", {"name"}, 1);
  return in.getattr(v, soft_str(p[0]));
}

Value f_batch(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "batch", {"linecount", "fill_with"}, 1);
  const int64_t n = p.integer(0, 1);
  if (n <= 0) runtime_error("ValueError: batch size must be positive");
  List out, cur;
  for (const Value& item : iterate(v)) {
    cur.push_back(item);
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::list(std::move(cur))), cur.clear();
  }
  if (!cur.empty()) {
    if (p.has(1) && !p[1].is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(p[1]);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "capitalize", {});
  return Value::string(py_capitalize(soft_str(v)));
}

Value f_center(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "center", {"width"});
  const std::string s = soft_str(v);
  const int64_t width = p.integer(0, 80);
  const auto len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return Value::string(s);
  if (width > (1 << 24)) runtime_error("MemoryError: center width too large");
  const int64_t marg = width - len;
  const int64_t left = marg / 2 + (marg & width & 1);
  return Value::string(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "default", {"default_value", "boolean"});
  const bool boolean = p.flag(1, false);
  if (v.is_undefined() || (boolean && !v.truthy())) return p.get(0, Value::string(""));
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "dictsort", {"case_sensitive", "by", "reverse"});
  if (!v.is_mapping()) runtime_error("TypeError: dictsort expects a mapping");
  const bool cs = p.flag(0, false);
  const std::string by = p.text(1, "key");
  if (by != "key" && by != "value") runtime_error("You can only sort by either \"key\" or \"value\"");
  const size_t pos = by == "key" ? 0 : 1;
  List pairs;
  for (const auto& [k, e] : v.map().entries) pairs.push_back(Value::tuple({k, e}));
  stable_sort_values(pairs, [&](const Value& x) { return lower_if_string(x.items()[pos], cs); }, p.flag(2, false));
  return Value::list(std::move(pairs));
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "escape", {});
  return Value::string(html_escape(soft_str(v)));
}

Value f_first(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "first", {});
  const List items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "last", {});
  const List items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

bool parse_py_float(const std::string& text, double& out) {
  const std::string s = py_strip(text, std::nullopt, true, true);
  if (s.empty()) return false;
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1])))
      continue;
    clean.push_back(s[i]);
  }
  std::string lower = py_lower(clean);
  const size_t sign = (lower[0] == '+' || lower[0] == '-') ? 1 : 0;
  const std::string body = lower.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : (lower[0] == '-' ? -INFINITY : INFINITY);
    return true;
  }
  for (char c : body)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != '+' && c != '-') return false;
  char* end = nullptr;
  out = std::strtod(clean.c_str(), &end);
  return end && *end == '\0';
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "float", {"default"});
  if (v.is_number()) return Value::number(v.as_float());
  double d;
  if (v.is_string() && parse_py_float(v.as_string(), d)) return Value::number(d);
  if (v.is_undefined()) undefined_error(v);
  return p.get(0, Value::number(0.0));
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "int", {"default", "base"});
  const Value dflt = p.get(0, Value::integer(0));
  if (v.is_int()) return Value::integer(v.as_int());
  if (v.kind() == Value::Kind::Float) {
    const double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return dflt;
    return Value::integer(static_cast<int64_t>(d));
  }
  if (v.is_undefined()) undefined_error(v);
  if (!v.is_string()) return dflt;
  int64_t base = p.integer(1, 10);
  std::string s = py_strip(v.as_string(), std::nullopt, true, true);
  std::string clean;
  for (char c : s)
    if (c != '_') clean.push_back(c);
  bool neg = false;
  size_t i = 0;
  if (i < clean.size() && (clean[i] == '+' || clean[i] == '-')) neg = clean[i++] == '-';
  if (i + 1 < clean.size() && clean[i] == '0') {
    const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(clean[i + 1])));
    if ((b == 'x' && base == 16) || (b == 'o' && base == 8) || (b == 'b' && base == 2)) i += 2;
  }
  bool ok = i < clean.size() && base >= 2 && base <= 36;
  int64_t out = 0;
  for (; ok && i < clean.size(); ++i) {
    const auto c = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(clean[i])));
    const int d = std::isdigit(c) ? c - '0' : std::isalpha(c) ? c - 'a' + 10 : 99;
    if (d >= base || __builtin_mul_overflow(out, base, &out) || __builtin_add_overflow(out, d, &out)) ok = false;
  }
  if (ok) return Value::integer(neg ? -out : out);
  double d;  // "42.23"|int gives 42, as jinja2 retries through float()
  if (parse_py_float(v.as_string(), d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
    return Value::integer(static_cast<int64_t>(d));
  return dflt;
}

Value f_format(Interpreter&, const Value& v, CallArgs& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    runtime_error("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    Value d = Value::dict();
    for (const auto& [k, e] : a.keyword) d.map().set(Value::string(k), e);
    return Value::string(percent_format(soft_str(v), d));
  }
  return Value::string(percent_format(soft_str(v), Value::tuple(a.positional)));
}

Value f_indent(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "indent", {"width", "first", "blank"});
  std::string indention;
  if (p.has(0) && p[0].is_string()) {
    indention = p[0].as_string();
  } else {
    const int64_t w = p.integer(0, 4);
    indention = std::string(static_cast<size_t>(std::clamp<int64_t>(w, 0, 1 << 16)), ' ');
  }
  const std::string s = soft_str(v) + "\n";
  std::vector<std::string> lines = py_splitlines(s, false);
  std::string rv;
  if (p.flag(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    if (lines.size() > 1) {
      rv += "\n";
      for (size_t i = 1; i < lines.size(); ++i) rv += (i > 1 ? "\n" : "") + (lines[i].empty() ? "" : indention) + lines[i];
    }
  }
  if (p.flag(1, false)) rv = indention + rv;
  return Value::string(std::move(rv));
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "items", {});
  if (v.is_undefined()) return Value::list();
  if (!v.is_mapping()) runtime_error("TypeError: Can only get item pairs from a mapping.");
  List out;
  for (const auto& [k, e] : v.map().entries) out.push_back(Value::tuple({k, e}));
  return Value::list(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "join", {"d", "attribute"});
  const std::string sep = p.has(0) ? soft_str(p[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += soft_str(p.has(1) ? get_path(in, item, p[1]) : item);
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "length", {});
  return Value::integer(length(v));
}

Value f_list(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "list", {});
  return Value::list(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "lower", {});
  return Value::string(py_lower(soft_str(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "upper", {});
  return Value::string(py_upper(soft_str(v)));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  List out;
  const List items = iterate(v);
  if (a.positional.empty()) {
    Value attribute, dflt;
    bool has_attr = false, has_default = false;
    for (const auto& [k, e] : a.keyword) {
      if (k == "attribute") {
        attribute = e, has_attr = true;
      } else if (k == "default") {
        dflt = e, has_default = true;
      } else {
        runtime_error("Unexpected keyword argument '" + k + "'");
      }
    }
    if (!has_attr) runtime_error("map requires a filter argument");
    const bool use_default = has_default && !dflt.is_none();
    for (const Value& item : items) out.push_back(get_path(in, item, attribute, use_default ? &dflt : nullptr));
    return Value::list(std::move(out));
  }
  const std::string name = soft_str(a.positional[0]);
  for (const Value& item : items) {
    CallArgs rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.keyword = a.keyword;
    out.push_back(in.call_filter(name, item, rest));
  }
  return Value::list(std::move(out));
}

Value select_or_reject(Interpreter& in, const Value& v, CallArgs& a, bool lookup_attr, bool keep_if) {
  size_t off = 0;
  Value attribute;
  if (lookup_attr) {
    if (a.positional.empty()) runtime_error("Missing parameter for attribute name");
    attribute = a.positional[0];
    off = 1;
  }
  List out;
  for (const Value& item : iterate(v)) {
    const Value probe = lookup_attr ? get_path(in, item, attribute) : item;
    bool r;
    if (a.positional.size() > off) {
      CallArgs rest;
      rest.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1, a.positional.end());
      rest.keyword = a.keyword;
      r = in.call_test(soft_str(a.positional[off]), probe, rest);
    } else {
      r = probe.truthy();
    }
    if (r == keep_if) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, false); }

Value min_or_max(Interpreter& in, const Value& v, CallArgs& a, const char* name, bool want_max) {
  Params p(a, name, {"case_sensitive", "attribute"});
  const List items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool cs = p.flag(0, false);
  auto key = [&](const Value& x) { return lower_if_string(p.has(1) ? get_path(in, x, p[1]) : x, cs); };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    const int c = compare(k, best_key);
    if (want_max ? c > 0 : c < 0) best = i, best_key = std::move(k);
  }
  return items[best];
}

Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, "min", false); }
Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, "max", true); }

Value f_pprint(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "pprint", {});
  return Value::string(to_repr(v));
}

Value f_replace(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "replace", {"old", "new", "count"}, 2);
  const int64_t count = p.has(2) && !p[2].is_none() ? p.integer(2, -1) : -1;
  return Value::string(py_replace(soft_str(v), soft_str(p[0]), soft_str(p[1]), count));
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "reverse", {});
  if (v.is_string()) return slice_value(v, std::nullopt, std::nullopt, -1);
  List items = iterate(v);
  return Value::list(List(items.rbegin(), items.rend()));
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "round", {"precision", "method"});
  const int64_t precision = p.integer(0, 0);
  const std::string method = p.text(1, "common");
  if (method != "common" && method != "ceil" && method != "floor")
    runtime_error("method must be common, ceil or floor");
  if (v.is_undefined()) undefined_error(v);
  if (!v.is_number()) runtime_error("TypeError: type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_int()) return Value::integer(v.as_int());  // round(int, n) stays an int
    const double x = v.as_float();
    if (!std::isfinite(x) || precision > 300) return Value::number(x);
    if (precision >= 0) {
      // printf rounds the exact binary value half-to-even, as Python's round() does.
      char buf[512];
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
      return Value::number(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(-precision));
    return Value::number(std::nearbyint(x / scale) * scale);
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_float() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "safe", {});
  return Value::string(soft_str(v));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "sort", {"reverse", "case_sensitive", "attribute"});
  List items = iterate(v);
  const bool cs = p.flag(1, false);
  std::vector<Value> attrs;
  if (p.has(2) && p[2].is_string()) {
    for (const std::string& part : py_split(p[2].as_string(), std::string(","), -1)) attrs.push_back(Value::string(part));
  } else if (p.has(2) && !p[2].is_none()) {
    attrs.push_back(p[2]);
  }
  stable_sort_values(
      items,
      [&](const Value& x) {
        if (attrs.empty()) return lower_if_string(x, cs);
        if (attrs.size() == 1) return lower_if_string(get_path(in, x, attrs[0]), cs);
        List keys;
        for (const Value& at : attrs) keys.push_back(lower_if_string(get_path(in, x, at), cs));
        return Value::list(std::move(keys));
      },
      p.flag(0, false));
  return Value::list(std::move(items));
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "string", {});
  return Value::string(soft_str(v));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "sum", {"attribute", "start"});
  Value total = p.get(1, Value::integer(0));
  for (const Value& item : iterate(v)) total = binary_op("+", total, p.has(0) ? get_path(in, item, p[0]) : item);
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "title", {});
  // jinja2 splits on runs of [-\s({\[<] and title-cases each piece's first character.
  const std::u32string cps = utf8_decode(soft_str(v));
  std::u32string out;
  bool at_start = true;
  for (char32_t c : cps) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    if (sep) {
      out.push_back(c);
      at_start = true;
    } else {
      out.push_back(at_start ? py_upper(c) : py_lower(c));
      at_start = false;
    }
  }
  return Value::string(utf8_encode(out));
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = p.flag(0, false);
  if (p.has(1) && !p[1].is_none()) {
    if (p[1].is_string()) {
      o.indent = p[1].as_string();
    } else {
      o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(p.integer(1, 0), 0, 1 << 10)), ' ');
    }
  }
  if (p.has(2) && !p[2].is_none()) {
    const List seps = iterate(p[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      runtime_error("ValueError: separators must be a (item_separator, key_separator) pair of strings");
    o.item_separator = seps[0].as_string();
    o.key_separator = seps[1].as_string();
  }
  o.sort_keys = p.flag(3, false);
  return Value::string(json_dumps(v, o));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "trim", {"chars"});
  std::optional<std::string> chars;
  if (p.has(0) && !p[0].is_none()) chars = soft_str(p[0]);
  return Value::string(py_strip(soft_str(v), chars, true, true));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "truncate", {"length", "killwords", "end", "leeway"});
  const std::string s = soft_str(v);
  const int64_t len = p.integer(0, 255);
  const std::string end = p.text(2, "...");
  const int64_t leeway = p.has(3) && !p[3].is_none() ? p.integer(3, 5) : 5;
  const auto end_len = static_cast<int64_t>(utf8_length(end));
  if (len < end_len) runtime_error("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(len));
  if (leeway < 0) runtime_error("expected leeway >= 0, got " + std::to_string(leeway));
  const std::u32string cps = utf8_decode(s);
  if (static_cast<int64_t>(cps.size()) <= len + leeway) return Value::string(s);
  std::string head = utf8_encode(std::u32string_view(cps).substr(0, static_cast<size_t>(len - end_len)));
  if (p.flag(1, false)) return Value::string(head + end);
  return Value::string(py_rsplit(head, std::string(" "), 1)[0] + end);
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  Params p(a, "unique", {"case_sensitive", "attribute"});
  const bool cs = p.flag(0, false);
  List seen, out;
  for (const Value& item : iterate(v)) {
    const Value key = lower_if_string(p.has(1) ? get_path(in, item, p[1]) : item, cs);
    bool dup = false;
    for (const Value& s : seen) dup = dup || equals(s, key);
    if (dup) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  Params p(a, "wordcount", {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(soft_str(v))) {
    const bool w = c == '_' || py_isalpha(c) || py_isdigit(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

const std::unordered_map<std::string, FilterFn>& registry() {
  static const std::unordered_map<std::string, FilterFn> filters = {
      {"abs", f_abs},         {"attr", f_attr},           {"batch", f_batch},       {"capitalize", f_capitalize},
      {"center", f_center},   {"count", f_length},        {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},     {"forceescape", f_escape},
      {"first", f_first},     {"float", f_float},         {"format", f_format},     {"indent", f_indent},
      {"int", f_int},         {"items", f_items},         {"join", f_join},         {"last", f_last},
      {"length", f_length},   {"list", f_list},           {"lower", f_lower},       {"map", f_map},
      {"max", f_max},         {"min", f_min},             {"pprint", f_pprint},     {"reject", f_reject},
      {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse}, {"round", f_round},
      {"safe", f_safe},       {"select", f_select},       {"selectattr", f_selectattr}, {"sort", f_sort},
      {"string", f_string},   {"sum", f_sum},             {"title", f_title},       {"tojson", f_tojson},
      {"trim", f_trim},       {"truncate", f_truncate},   {"unique", f_unique},     {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return filters;
}

}  // namespace

FilterFn find_filter(const std::string& name) {
  const auto& r = registry();
  const auto it = r.find(name);
  return it == r.end() ? nullptr : it->second;
}

}  // namespace nova::chat
