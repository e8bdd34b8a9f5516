#include "formats/json_fields.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace nova::formats::detail {

using nlohmann::json;

// Scalars are shown (safe and short); containers and strings only by type, since their text may
// be huge or not encodable.
std::string describe(const json& v) {
  if (v.is_number() || v.is_boolean() || v.is_null()) return v.dump();
  return std::string("a ") + v.type_name();
}

JsonFields::JsonFields(const json& obj, std::string path, std::string prefix)
    : obj_(obj), path_(std::move(path)), prefix_(std::move(prefix)) {}

const json* JsonFields::find(const std::string& key) const {
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(key);
  return it == obj_.end() ? nullptr : &*it;
}

bool JsonFields::present_non_null(const std::string& key) const {
  const json* v = find(key);
  return v != nullptr && !v->is_null();
}

void JsonFields::fail_key(const std::string& key, const std::string& problem) const {
  fail(path_, "key \"" + name(key) + "\": " + problem);
}

int JsonFields::as_integer(const std::string& key, const json& v) const {
  // Booleans are not integers in nlohmann::json, so `true` is rejected here as it should be.
  if (!v.is_number_integer()) fail_key(key, "expected an integer, got " + describe(v));
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max()))
      fail_key(key, "integer " + v.dump() + " is out of range");
  } else {
    const int64_t x = v.get<int64_t>();
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
      fail_key(key, "integer " + v.dump() + " is out of range");
  }
  return v.get<int>();
}

int JsonFields::integer(const std::string& key, int def) const {
  const json* v = find(key);
  return v ? as_integer(key, *v) : def;
}

std::optional<int> JsonFields::nullable_integer(const std::string& key,
                                                std::optional<int> def) const {
  const json* v = find(key);
  if (!v) return def;
  if (v->is_null()) return std::nullopt;
  return as_integer(key, *v);
}

double JsonFields::number(const std::string& key, double def) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_number()) fail_key(key, "expected a number, got " + describe(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d)) fail_key(key, "expected a finite number");
  return d;
}

std::optional<double> JsonFields::nullable_number(const std::string& key,
                                                  std::optional<double> def) const {
  const json* v = find(key);
  if (!v) return def;
  if (v->is_null()) return std::nullopt;
  return number(key, 0.0);
}

bool JsonFields::boolean(const std::string& key, bool def) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_boolean()) fail_key(key, "expected true or false, got " + describe(*v));
  return v->get<bool>();
}

std::string JsonFields::string(const std::string& key, const std::string& def) const {
  const json* v = find(key);
  if (!v) return def;
  if (!v->is_string()) fail_key(key, "expected a string, got " + describe(*v));
  return v->get<std::string>();
}

}  // namespace nova::formats::detail
