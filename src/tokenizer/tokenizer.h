// Hugging Face `tokenizer.json` tokenizers, reproducing the `tokenizers` library (0.23) exactly:
// added tokens -> normalizer -> pre-tokenizer -> BPE model -> post-processor, and the decoder chain.
//
// Input text that is not valid UTF-8 is not rejected: every maximal invalid byte sequence is replaced
// by U+FFFD before encoding (the same rule as Rust's String::from_utf8_lossy), so encode never fails
// on text. decode always returns valid UTF-8.
// Not implemented (load fails with nova::Error naming the component): Unigram / WordPiece / WordLevel
// models, the Precompiled (SentencePiece charsmap) normalizer, UnicodeScripts pre-tokenizer. Truncation
// and padding settings in the file are ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nova::tokenizer {

struct TokenizerImpl;

class Tokenizer {
 public:
  // Throws nova::Error naming the file and the problem (unreadable, not JSON, unsupported component,
  // merges referring to unknown tokens, wrong types ...).
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  // `where` names the source in error messages (usually the file path).
  static Tokenizer from_json(const nlohmann::json& j, const std::string& where);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  // Throws nova::Error for an id that names no token.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // One past the largest id of the model vocabulary and the added tokens.
  int32_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Throws nova::Error for an id that names no token.
  std::string id_to_token(int32_t id) const;
  // True for added tokens marked "special" (they are dropped by decode(..., skip_special_tokens=true)).
  bool is_special(int32_t id) const;

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
  // Whether decoded text may still change when more ids follow `id` (a byte-fallback token whose run
  // is not finished: an invalid run becomes one U+FFFD per byte, including its valid bytes).
  bool decode_pending_after(int32_t id) const;
  std::shared_ptr<const TokenizerImpl> impl_;  // immutable after loading: copies share it
};

// Streaming detokeniser: push ids one at a time and get back only complete UTF-8 text, never half a
// character. Concatenating every push() and the final flush() gives exactly decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  // Returns whatever is still held back (e.g. an incomplete byte sequence, decoded as U+FFFD).
  std::string flush();

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  // ids_[0, context_) were already emitted and only give context (the decoders look at neighbours,
  // e.g. Strip on the first token); ids_[context_, end) are not emitted yet.
  std::vector<int32_t> ids_;
  size_t context_ = 0;
  std::string context_text_;  // decode(ids_[0, context_))
  bool byte_run_open_ = false;  // the last decoded id was a byte-fallback token
};

}  // namespace nova::tokenizer
