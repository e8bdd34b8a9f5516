// Typed, validated reads of one JSON object's fields (internal to the formats layer): each
// failure is a nova::Error naming the file and the dotted key.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace nova::formats::detail {

// A short, always-encodable description of a value for error messages.
std::string describe(const nlohmann::json& v);

class JsonFields {
 public:
  // `obj` must outlive this reader. `prefix` is prepended to key names in errors ("rope_parameters.").
  JsonFields(const nlohmann::json& obj, std::string path, std::string prefix = "");

  const nlohmann::json& object() const { return obj_; }
  const std::string& path() const { return path_; }
  // nullptr when the key is absent (a present null is returned as a null value).
  const nlohmann::json* find(const std::string& key) const;
  bool present(const std::string& key) const { return find(key) != nullptr; }
  bool present_non_null(const std::string& key) const;
  std::string name(const std::string& key) const { return prefix_ + key; }
  [[noreturn]] void fail_key(const std::string& key, const std::string& problem) const;

  // Absent -> `def`. Present -> must have the type (null is a type error).
  int integer(const std::string& key, int def) const;
  double number(const std::string& key, double def) const;
  bool boolean(const std::string& key, bool def) const;
  std::string string(const std::string& key, const std::string& def) const;
  // Absent -> `def`; null -> nullopt; otherwise must have the type.
  std::optional<int> nullable_integer(const std::string& key, std::optional<int> def) const;
  std::optional<double> nullable_number(const std::string& key, std::optional<double> def) const;

  // Converts one value (already found) with the same checks.
  int as_integer(const std::string& key, const nlohmann::json& v) const;

 private:
  const nlohmann::json& obj_;
  std::string path_;
  std::string prefix_;
};

}  // namespace nova::formats::detail
