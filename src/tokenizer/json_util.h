// Typed access to tokenizer.json with errors that name the file and the key path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nova::tokenizer {

using json = nlohmann::json;

// A position inside a tokenizer.json: the file (or other source name) and a key path like
// "model.merges[3]".
struct JsonPath {
  const std::string* file;
  std::string path;

  JsonPath at(std::string_view key) const {
    return {file, path.empty() ? std::string(key) : path + "." + std::string(key)};
  }
  JsonPath at(size_t index) const { return {file, path + "[" + std::to_string(index) + "]"}; }
  [[noreturn]] void fail(const std::string& what) const {
    nova::fail(*file, (path.empty() ? std::string("top level") : path) + ": " + what);
  }
};

// The member `key` of object `j`; nullptr if absent or null.
inline const json* find_member(const json& j, std::string_view key, const JsonPath& where) {
  if (!j.is_object()) where.fail("expected an object");
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

inline const json& require_member(const json& j, std::string_view key, const JsonPath& where) {
  const json* m = find_member(j, key, where);
  if (!m) where.at(key).fail("missing");
  return *m;
}

inline std::string as_string(const json& j, const JsonPath& where) {
  if (!j.is_string()) where.fail("expected a string");
  return j.get<std::string>();
}

inline bool as_bool(const json& j, const JsonPath& where) {
  if (!j.is_boolean()) where.fail("expected true or false");
  return j.get<bool>();
}

inline int64_t as_int(const json& j, const JsonPath& where, int64_t lo, int64_t hi) {
  if (!j.is_number_integer()) where.fail("expected an integer");
  int64_t v = 0;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) where.fail("integer out of range");
    v = static_cast<int64_t>(u);
  } else {
    v = j.get<int64_t>();
  }
  if (v < lo || v > hi) where.fail("integer " + std::to_string(v) + " out of range");
  return v;
}

inline std::string string_member(const json& j, std::string_view key, const JsonPath& where,
                                 const std::string& fallback) {
  const json* m = find_member(j, key, where);
  return m ? as_string(*m, where.at(key)) : fallback;
}

inline bool bool_member(const json& j, std::string_view key, const JsonPath& where, bool fallback) {
  const json* m = find_member(j, key, where);
  return m ? as_bool(*m, where.at(key)) : fallback;
}

inline std::string type_of(const json& j, const JsonPath& where) {
  return as_string(require_member(j, "type", where), where.at("type"));
}

// The components of a "Sequence" (normalizers, pre_tokenizers, decoders, processors): the array
// at j[key], each element parsed by `parse`; null results (components that do nothing) dropped.
template <class Parse>
auto sequence_members(const json& j, std::string_view key, const JsonPath& where, Parse&& parse) {
  const JsonPath at = where.at(key);
  const json& list = require_member(j, key, where);
  if (!list.is_array()) at.fail("expected an array");
  std::vector<decltype(parse(list, at))> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = parse(list[i], at.at(i));
    if (part) parts.push_back(std::move(part));
  }
  return parts;
}

// A JSON string that must hold exactly one code point (Rust `char` fields).
char32_t single_char_member(const json& j, std::string_view key, const JsonPath& where);

}  // namespace nova::tokenizer
