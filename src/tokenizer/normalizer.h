// Normalizers: text rewrites applied before pre-tokenization (NFC, Lowercase, Replace, Prepend, ...).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_util.h"

namespace nova::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8 and stays so.
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a JSON null. Throws nova::Error for unknown or malformed normalizers.
std::shared_ptr<const Normalizer> normalizer_from_json(const json& j, const JsonPath& where);

}  // namespace nova::tokenizer
