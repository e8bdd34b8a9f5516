// The BPE model: vocabulary, ranked merges, byte fallback and unknown-token handling, with a cache
// of recently encoded words.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/string_map.h"
#include "tokenizer/tokenizer_json_reader.h"
#include "tokenizer/vocab_table.h"

namespace nova::tokenizer {

class BpeModel {
 public:
  // `j` is the "model" object of tokenizer.json (type "BPE"). Where `tables` has them, vocab and
  // merges are taken from it (j's are then empty placeholders).
  static std::shared_ptr<const BpeModel> from_json(const json& j, const JsonPath& where,
                                                   const BpeTables* tables = nullptr);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string_view> id_to_token(int32_t id) const;
  size_t vocab_entries() const { return vocab_.size(); }
  int32_t max_id() const { return max_id_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  // Open-addressing hash table from a token pair to its merge: the hot lookup of BPE.
  class MergeTable {
   public:
    void reserve(size_t n);
    void set(uint64_t key, Merge m);
    const Merge* find(uint64_t key) const;

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<uint64_t> keys_;
    std::vector<Merge> values_;
    size_t size_ = 0;
    int shift_ = 64;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  void add_merge(size_t rank, std::string_view a, std::string_view b, const JsonPath& at, std::string& joined);
  // Builds the id -> token index (and max_id_) once vocab_ is complete.
  void index_ids();

  VocabTable vocab_;
  // id -> entry of vocab_: a table when ids are dense (the usual case), else a hash map. Where several
  // tokens share an id, the lexicographically last one (the one a walk of the sorted JSON object sees
  // last).
  static constexpr uint32_t kNoEntry = ~uint32_t{0};
  std::vector<uint32_t> dense_r_;
  std::unordered_map<int32_t, uint32_t> sparse_r_;
  MergeTable merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  int32_t max_id_ = -1;
  int32_t byte_ids_[256];  // id of "<0xXX>" or -1, for byte_fallback

  // Words shorter than kCacheMaxWord bytes, up to kCacheCapacity of them. Results don't depend on it.
  static constexpr size_t kCacheCapacity = 10000;
  static constexpr size_t kCacheMaxWord = 256;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace nova::tokenizer
