// Decoders: turn the token strings of a sequence of ids back into text. Each stage rewrites the list
// of token strings (as `tokenizers`' decode_chain); the final text is their concatenation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_util.h"

namespace nova::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // True if "<0xAB>" byte tokens are decoded as runs (ByteFallback somewhere in the chain).
  virtual bool joins_byte_runs() const { return false; }
};

// nullptr for a JSON null. Throws nova::Error for unknown or malformed decoders.
std::shared_ptr<const Decoder> decoder_from_json(const json& j, const JsonPath& where);

}  // namespace nova::tokenizer
