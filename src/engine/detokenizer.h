// The engine's view of a tokenizer: only incremental decoding of generated ids to text. Kept as
// an interface so generation and stop-string logic can be tested with a fake byte-level decoder,
// and so the engine does not depend on how the tokenizer is built (see tokenizer_detokenizer.h
// for the adapter over nova::tokenizer::Tokenizer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace nova::engine {

// Turns one sequence's ids into text, piece by piece. push() returns the text that became final
// with this id (never half a UTF-8 character, so it may be empty); flush() returns whatever is
// still held back once no more ids will come.
class TextStream {
 public:
  virtual ~TextStream() = default;
  virtual std::string push(int32_t id) = 0;
  virtual std::string flush() = 0;
};

class Detokenizer {
 public:
  virtual ~Detokenizer() = default;
  virtual std::unique_ptr<TextStream> open_stream(bool skip_special_tokens) const = 0;
};

}  // namespace nova::engine
