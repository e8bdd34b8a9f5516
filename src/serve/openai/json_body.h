// Reading OpenAI request bodies: a guarded JSON parse (size and nesting limits, UTF-8, number
// overflow all mapped to InvalidRequest) and typed field readers that name the parameter path
// in their errors. A JSON null counts as "not given" for every optional field, as in OpenAI.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "serve/openai/api_error.h"

namespace nova::serve::openai {

using Json = nlohmann::json;

// Bodies above this are refused (413) before any parsing; the HTTP layer has its own limit.
inline constexpr size_t kMaxBodyBytes = 8u << 20;
// Deeper nesting is refused (400) before parsing: no legitimate request nests this deep.
inline constexpr int kMaxJsonDepth = 64;

// Parses `body` into an object. Throws InvalidRequest: 413 (too large), 400 (not JSON, invalid
// UTF-8, too deep, a number that overflows a double, not an object).
Json parse_json_body(std::string_view body, size_t max_bytes = kMaxBodyBytes);

// "a.b", "a[3]": parameter paths for error messages.
std::string join_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, size_t index);

// Each reader: the field `key` of object `obj`; nullopt/nullptr when absent or null; throws
// InvalidRequest(param = join_path(parent, key)) on a wrong type or a value out of range.
const Json* field(const Json& obj, std::string_view key);
std::optional<std::string> read_string(const Json& obj, std::string_view key, std::string_view parent = {});
std::optional<bool> read_bool(const Json& obj, std::string_view key, std::string_view parent = {});
// Range [lo, hi]; `lo_open` makes it (lo, hi].
std::optional<double> read_number(const Json& obj, std::string_view key, double lo, double hi, bool lo_open = false,
                                  std::string_view parent = {});
// Integers (a float with an integral value, e.g. 16.0, is accepted) in [lo, hi].
std::optional<int64_t> read_int(const Json& obj, std::string_view key, int64_t lo, int64_t hi,
                                std::string_view parent = {});
// A value (not a field) as a number in [lo, hi] (or (lo, hi]); `param` names it in errors.
double as_number(const Json& v, double lo, double hi, bool lo_open, const std::string& param);
// A value (not a field) as an integer in [lo, hi]; `param` names it in errors.
int64_t as_int(const Json& v, int64_t lo, int64_t hi, const std::string& param);

// A JSON type name for messages: "a string", "an array", ...
std::string type_phrase(const Json& v);

}  // namespace nova::serve::openai
