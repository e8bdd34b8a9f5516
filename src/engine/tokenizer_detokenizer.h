// The Detokenizer of a real Hugging Face tokenizer: each stream is a tokenizer::StreamDecoder.
#pragma once

#include <memory>

#include "engine/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace nova::engine {

class TokenizerDetokenizer final : public Detokenizer {
 public:
  // Copies the handle (tokenizer copies share their immutable tables).
  explicit TokenizerDetokenizer(const tokenizer::Tokenizer& tok) : tok_(tok) {}
  std::unique_ptr<TextStream> open_stream(bool skip_special_tokens) const override;

 private:
  tokenizer::Tokenizer tok_;
};

}  // namespace nova::engine
