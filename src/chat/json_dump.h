// Python's json.dumps over template values, as transformers' `tojson` filter calls it
// (ensure_ascii=False by default, no HTML escaping, optional indent/separators/sort_keys).
#pragma once

#include <optional>
#include <string>

#include "chat/value.h"

namespace nova::chat {

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt = single line; "" = newlines without indentation
  std::optional<std::string> item_separator;  // default ", " (or "," when indenting)
  std::string key_separator = ": ";
  bool sort_keys = false;
};

// Throws TypeError for values JSON cannot hold (Undefined, namespaces, functions).
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace nova::chat
