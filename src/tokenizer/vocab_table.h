// Token text -> id for a BPE vocabulary: the texts live in one arena (no allocation per token) and
// lookups go through an open-addressing table that keeps part of each hash next to the entry index,
// so a miss rarely touches the text. Loading a 150k-token vocabulary is dominated by these lookups.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nova::tokenizer {

class VocabTable {
 public:
  void reserve(size_t tokens, size_t text_bytes);
  // Sets the id of `token`; a repeated token keeps the last id it is given.
  void set(std::string_view token, int32_t id);
  std::optional<int32_t> find(std::string_view token) const;
  size_t size() const { return entries_.size(); }

  // Entries in insertion order (repeated tokens once).
  std::string_view token(size_t entry) const {
    return std::string_view(text_).substr(entries_[entry].offset, entries_[entry].size);
  }
  int32_t id(size_t entry) const { return entries_[entry].id; }

 private:
  struct Entry {
    size_t offset;
    uint32_t size;
    int32_t id;
  };
  // Everything a lookup needs, so that it touches one slot and the text: no entry in between.
  struct Slot {
    uint32_t tag;    // high bits of the hash
    uint32_t entry;  // kEmpty for a free slot
    size_t offset;
    uint32_t size;
    int32_t id;
  };
  static constexpr uint32_t kEmpty = ~uint32_t{0};
  // Returns the slot holding `token` or the empty slot where it would go.
  size_t probe(std::string_view token, uint64_t hash) const;
  void grow();

  std::string text_;
  std::vector<Entry> entries_;
  std::vector<Slot> slots_;
};

}  // namespace nova::tokenizer
