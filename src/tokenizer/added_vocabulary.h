// Added tokens (special tokens like <|im_start|> and user-added words): they are cut out of the text
// before normalization (or after it, for tokens marked "normalized") and never reach the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/string_map.h"

namespace nova::tokenizer {

class BpeModel;
class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Byte trie answering leftmost-longest, non-overlapping matches of a set of strings.
class TokenTrie {
 public:
  void insert(std::string_view key, int32_t value);
  bool empty() const { return nodes_.size() <= 1; }
  // The match starting at the smallest offset >= from, longest there: (start, end, value).
  std::optional<std::tuple<size_t, size_t, int32_t>> find(std::string_view text, size_t from) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t value = -1;
  };
  int32_t child(int32_t node, uint8_t b) const;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

class AddedVocabulary {
 public:
  // `added_tokens` is the array of tokenizer.json. Ids follow `tokenizers`: a token already in the
  // model vocabulary keeps its id, others are numbered after the model vocabulary in file order.
  void load(const json& added_tokens, const JsonPath& where, const BpeModel& model, const Normalizer* normalizer);

  // Splits `text` into pieces: added tokens (with their id) and normalized text between them.
  std::vector<Piece> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* token(int32_t id) const;  // nullptr if `id` is not an added token
  int32_t max_id() const { return max_id_; }

 private:
  void split(const Piece& piece, const TokenTrie& trie, std::vector<Piece>& out) const;

  StringMap<int32_t> by_content_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  TokenTrie raw_trie_;         // tokens with normalized == false, matched on the input
  TokenTrie normalized_trie_;  // tokens with normalized == true, matched on normalized text
  int32_t max_id_ = -1;
};

}  // namespace nova::tokenizer
