#include "serve/openai/json_body.h"

#include <cmath>
#include <sstream>

namespace nova::serve::openai {

namespace {

// The deepest [ / { nesting outside strings; stops counting past `limit`.
int nesting_depth(std::string_view s, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') --depth;
  }
  return deepest;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

Json parse_json_body(std::string_view body, size_t max_bytes) {
  if (body.size() > max_bytes)
    throw InvalidRequest("", "The request body is " + std::to_string(body.size()) + " bytes; the limit is " +
                                 std::to_string(max_bytes) + " bytes.",
                         "request_too_large", 413);
  if (nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth)
    throw InvalidRequest("", "The request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels.",
                         "invalid_json");
  Json j;
  try {
    j = Json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    // Never echo the body: the parser's own message quotes the bytes it read.
    const std::string what = e.what();
    if (what.find("UTF-8") != std::string::npos)
      throw InvalidRequest("", "The request body contains invalid UTF-8 (near byte " + std::to_string(e.byte) + ").",
                           "invalid_utf8");
    throw InvalidRequest("", "The request body is not valid JSON (error near byte " + std::to_string(e.byte) + ").",
                         "invalid_json");
  } catch (const nlohmann::json::exception&) {  // out_of_range: a number beyond double
    throw InvalidRequest("", "The request body contains a number too large to represent.", "invalid_json");
  }
  if (!j.is_object()) throw InvalidRequest("", "The request body must be a JSON object.", "invalid_json");
  return j;
}

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string index_path(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string type_phrase(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

const Json* field(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

namespace {
[[noreturn]] void wrong_type(const std::string& param, const char* expected, const Json& got) {
  throw InvalidRequest(param, "'" + param + "' must be " + expected + ", got " + type_phrase(got) + ".", "invalid_type");
}
}  // namespace

std::optional<std::string> read_string(const Json& obj, std::string_view key, std::string_view parent) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(join_path(parent, key), "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> read_bool(const Json& obj, std::string_view key, std::string_view parent) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(join_path(parent, key), "a boolean", *v);
  return v->get<bool>();
}

double as_number(const Json& v, double lo, double hi, bool lo_open, const std::string& param) {
  if (!v.is_number()) wrong_type(param, "a number", v);
  const double d = v.get<double>();
  const bool ok = std::isfinite(d) && (lo_open ? d > lo : d >= lo) && d <= hi;
  if (!ok)
    throw InvalidRequest(param, "'" + param + "' must be " + (lo_open ? "greater than " : "at least ") +
                                    format_number(lo) + " and at most " + format_number(hi) + ", got " +
                                    format_number(d) + ".");
  return d;
}

std::optional<double> read_number(const Json& obj, std::string_view key, double lo, double hi, bool lo_open,
                                  std::string_view parent) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  return as_number(*v, lo, hi, lo_open, join_path(parent, key));
}

int64_t as_int(const Json& v, int64_t lo, int64_t hi, const std::string& param) {
  int64_t out = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) out = std::numeric_limits<int64_t>::max();
    else out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) wrong_type(param, "an integer", v);
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
      throw InvalidRequest(param, "'" + param + "' must be between " + std::to_string(lo) + " and " +
                                      std::to_string(hi) + ", got " + format_number(d) + ".");
    out = static_cast<int64_t>(d);
  } else {
    wrong_type(param, "an integer", v);
  }
  if (out < lo || out > hi)
    throw InvalidRequest(param, "'" + param + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                    ", got " + (v.is_number_float() ? format_number(v.get<double>()) : v.dump()) + ".");
  return out;
}

std::optional<int64_t> read_int(const Json& obj, std::string_view key, int64_t lo, int64_t hi,
                                std::string_view parent) {
  const Json* v = field(obj, key);
  if (!v) return std::nullopt;
  return as_int(*v, lo, hi, join_path(parent, key));
}

}  // namespace nova::serve::openai
