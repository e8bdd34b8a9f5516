#include "engine/tokenizer_detokenizer.h"

#include "engine/generate.h"

namespace nova::engine {
namespace {

class DecoderStream final : public TextStream {
 public:
  DecoderStream(const tokenizer::Tokenizer& tok, bool skip) : dec_(tok, skip) {}
  std::string push(int32_t id) override { return dec_.push(id); }
  std::string flush() override { return dec_.flush(); }

 private:
  tokenizer::StreamDecoder dec_;
};

}  // namespace

std::unique_ptr<TextStream> TokenizerDetokenizer::open_stream(bool skip_special_tokens) const {
  return std::make_unique<DecoderStream>(tok_, skip_special_tokens);
}

GenerationResult generate(model::Session& session, const tokenizer::Tokenizer* tok, const GenerationRequest& request,
                          const TokenCallback& on_token) {
  if (tok == nullptr) return generate(session, static_cast<const Detokenizer*>(nullptr), request, on_token);
  const TokenizerDetokenizer detok(*tok);
  return generate(session, &detok, request, on_token);
}

}  // namespace nova::engine
