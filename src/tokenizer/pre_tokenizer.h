// Pre-tokenizers: cut normalized text into the pieces ("words") that the model encodes one by one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_util.h"

namespace nova::tokenizer {

// A piece of the input on its way through the pipeline. Pieces matched as added tokens carry their
// id already and are left alone by pre-tokenizers and the model.
struct Piece {
  std::string text;
  int32_t id = -1;
  // Whether the piece starts at byte 0 of the original input (Metaspace prepend_scheme "first").
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

// nullptr for a JSON null. Throws nova::Error for unknown or malformed pre-tokenizers.
std::shared_ptr<const PreTokenizer> pre_tokenizer_from_json(const json& j, const JsonPath& where);

}  // namespace nova::tokenizer
