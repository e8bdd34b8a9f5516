#include "tokenizer/vocab_table.h"

#include <cstring>
#include <functional>

namespace nova::tokenizer {

namespace {

uint64_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }
uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

}  // namespace

void VocabTable::reserve(size_t tokens, size_t text_bytes) {
  text_.reserve(text_bytes);
  entries_.reserve(tokens);
  size_t cap = 16;
  while (cap < 2 * tokens + 2) cap *= 2;
  if (cap <= slots_.size()) return;
  slots_.assign(cap, Slot{0, kEmpty, 0, 0, 0});
  for (size_t e = 0; e < entries_.size(); ++e) {
    const uint64_t h = hash_of(token(e));
    const Entry& en = entries_[e];
    slots_[probe(token(e), h)] = Slot{tag_of(h), static_cast<uint32_t>(e), en.offset, en.size, en.id};
  }
}

void VocabTable::grow() { reserve(entries_.size() * 2 + 8, text_.size()); }

size_t VocabTable::probe(std::string_view token_text, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  const uint32_t tag = tag_of(hash);
  for (size_t i = static_cast<size_t>(hash) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.entry == kEmpty) return i;
    if (s.tag == tag && s.size == token_text.size() &&
        std::memcmp(text_.data() + s.offset, token_text.data(), token_text.size()) == 0) {
      return i;
    }
  }
}

void VocabTable::set(std::string_view token_text, int32_t id) {
  if (2 * (entries_.size() + 1) > slots_.size()) grow();
  const uint64_t h = hash_of(token_text);
  Slot& slot = slots_[probe(token_text, h)];
  if (slot.entry != kEmpty) {
    slot.id = id;
    entries_[slot.entry].id = id;
    return;
  }
  const Entry e{text_.size(), static_cast<uint32_t>(token_text.size()), id};
  slot = Slot{tag_of(h), static_cast<uint32_t>(entries_.size()), e.offset, e.size, id};
  entries_.push_back(e);
  text_.append(token_text);
}

std::optional<int32_t> VocabTable::find(std::string_view token_text) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[probe(token_text, hash_of(token_text))];
  if (slot.entry == kEmpty) return std::nullopt;
  return slot.id;
}

}  // namespace nova::tokenizer
