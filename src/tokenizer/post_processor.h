// Post-processors: add the special tokens around an encoded sequence (TemplateProcessing, Bert,
// Roberta); ByteLevel only adjusts offsets in `tokenizers`, so it adds nothing here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tokenizer/json_util.h"

namespace nova::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single sequence (called only when add_special_tokens is true).
  virtual void process(std::vector<int32_t>& ids) const = 0;
  // Every id it may add (checked against the vocabulary when loading).
  virtual std::vector<int32_t> added_ids() const = 0;
};


// nullptr for a JSON null. Throws nova::Error for unknown or malformed post-processors.
std::shared_ptr<const PostProcessor> post_processor_from_json(const json& j, const JsonPath& where);

}  // namespace nova::tokenizer
