#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <queue>

#include "tokenizer/unicode.h"

namespace nova::tokenizer {

namespace {

std::optional<std::string> optional_string(const json& j, std::string_view key, const JsonPath& where) {
  const json* m = find_member(j, key, where);
  if (!m) return std::nullopt;
  return as_string(*m, where.at(key));
}

// "a b" -> {"a", "b"}.
std::pair<std::string_view, std::string_view> split_merge(std::string_view s, const JsonPath& where) {
  const size_t space = s.find(' ');
  if (space == std::string_view::npos || s.find(' ', space + 1) != std::string_view::npos) {
    where.fail("merge \"" + std::string(s) + "\" is not two tokens separated by one space");
  }
  return {s.substr(0, space), s.substr(space + 1)};
}

// One merge rule, from "a b" or ["a", "b"].
std::pair<std::string_view, std::string_view> parse_merge(const json& m, const JsonPath& where) {
  if (m.is_string()) return split_merge(m.get_ref<const std::string&>(), where);
  if (m.is_array() && m.size() == 2) {
    for (size_t k = 0; k < 2; ++k) {
      if (!m[k].is_string()) where.at(k).fail("expected a string");
    }
    return {m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>()};
  }
  where.fail("expected \"a b\" or [\"a\", \"b\"]");
}

}  // namespace

void BpeModel::MergeTable::reserve(size_t n) {
  size_t cap = 16;
  int bits = 4;
  while (cap < 2 * n + 2) {
    cap *= 2;
    ++bits;
  }
  if (cap <= keys_.size()) return;
  std::vector<uint64_t> old_keys = std::move(keys_);
  std::vector<Merge> old_values = std::move(values_);
  keys_.assign(cap, kEmpty);
  values_.assign(cap, Merge{0, 0});
  shift_ = 64 - bits;
  size_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] != kEmpty) set(old_keys[i], old_values[i]);
  }
}

void BpeModel::MergeTable::set(uint64_t key, Merge m) {
  if (2 * (size_ + 1) > keys_.size()) reserve(size_ + 1);
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == key) {
      values_[i] = m;  // a repeated merge: the later rank wins, as in `tokenizers`
      return;
    }
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      values_[i] = m;
      ++size_;
      return;
    }
  }
}

const BpeModel::Merge* BpeModel::MergeTable::find(uint64_t key) const {
  if (keys_.empty()) return nullptr;
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == key) return &values_[i];
    if (keys_[i] == kEmpty) return nullptr;
  }
}

std::shared_ptr<const BpeModel> BpeModel::from_json(const json& j, const JsonPath& where, const BpeTables* tables) {
  auto model = std::make_shared<BpeModel>();
  BpeModel& m = *model;

  if (const json* d = find_member(j, "dropout", where)) {
    if (!d->is_number()) where.at("dropout").fail("expected a number");
    const double p = d->get<double>();
    if (!(p >= 0.0 && p <= 1.0)) where.at("dropout").fail("must be between 0 and 1");
    // Dropout only matters for training-time sampling; encoding here is always deterministic.
  }

  const JsonPath vocab_at = where.at("vocab");
  const json& vocab = require_member(j, "vocab", where);
  if (!vocab.is_object()) vocab_at.fail("expected an object of token -> id");
  // A repeated token keeps its last id, as a JSON object keeps the last value of a repeated key.
  if (tables && tables->has_vocab) {
    m.vocab_.reserve(tables->vocab.size(), tables->arena.size());
    for (const auto& [token, id] : tables->vocab) m.vocab_.set(tables->text(token), id);
  } else {
    m.vocab_.reserve(vocab.size(), 0);
    for (const auto& [token, id_json] : vocab.items()) {
      m.vocab_.set(token, static_cast<int32_t>(as_int(id_json, vocab_at.at(token), 0, std::numeric_limits<int32_t>::max())));
    }
  }
  m.index_ids();

  m.unk_token_ = optional_string(j, "unk_token", where);
  m.continuing_subword_prefix_ = optional_string(j, "continuing_subword_prefix", where).value_or("");
  m.end_of_word_suffix_ = optional_string(j, "end_of_word_suffix", where).value_or("");
  m.fuse_unk_ = bool_member(j, "fuse_unk", where, false);
  m.byte_fallback_ = bool_member(j, "byte_fallback", where, false);
  m.ignore_merges_ = bool_member(j, "ignore_merges", where, false);

  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m.byte_ids_[b] = m.vocab_.find(name).value_or(-1);
  }

  const JsonPath merges_at = where.at("merges");
  const json& merges = require_member(j, "merges", where);
  if (!merges.is_array()) merges_at.fail("expected an array");
  std::string joined;
  if (tables && tables->has_merges) {
    m.merges_.reserve(tables->merges.size());
    for (size_t i = 0; i < tables->merges.size(); ++i) {
      const BpeTables::Merge& mg = tables->merges[i];
      const auto [a, b] = mg.is_pair ? std::make_pair(tables->text(mg.first), tables->text(mg.second))
                                     : split_merge(tables->text(mg.first), merges_at.at(i));
      m.add_merge(i, a, b, merges_at, joined);
    }
  } else {
    m.merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const auto [a, b] = parse_merge(merges[i], merges_at.at(i));
      m.add_merge(i, a, b, merges_at, joined);
    }
  }
  return model;
}

void BpeModel::add_merge(size_t rank, std::string_view a, std::string_view b, const JsonPath& merges_at,
                         std::string& joined) {
  auto fail_at = [&](const std::string& what) { merges_at.at(rank).fail(what); };
  const std::optional<int32_t> ia = vocab_.find(a);
  if (!ia) fail_at("merge token \"" + std::string(a) + "\" is not in the vocabulary");
  const std::optional<int32_t> ib = vocab_.find(b);
  if (!ib) fail_at("merge token \"" + std::string(b) + "\" is not in the vocabulary");
  // The right part loses its continuing-subword prefix when merged.
  const size_t prefix_len = continuing_subword_prefix_.size();
  if (b.size() < prefix_len) fail_at("merge token \"" + std::string(b) + "\" is shorter than continuing_subword_prefix");
  joined.assign(a);
  joined.append(b.substr(prefix_len));
  const std::optional<int32_t> inew = vocab_.find(joined);
  if (!inew) fail_at("merged token \"" + joined + "\" is not in the vocabulary");
  merges_.set(pair_key(*ia, *ib), Merge{static_cast<int32_t>(rank), *inew});
}

void BpeModel::index_ids() {
  max_id_ = -1;
  for (size_t e = 0; e < vocab_.size(); ++e) max_id_ = std::max(max_id_, vocab_.id(e));
  auto keep_last = [this](uint32_t& slot, size_t e) {
    if (slot == kNoEntry || vocab_.token(slot) < vocab_.token(e)) slot = static_cast<uint32_t>(e);
  };
  if (static_cast<size_t>(max_id_ + 1) <= 2 * vocab_.size() + 1024) {
    dense_r_.assign(static_cast<size_t>(max_id_ + 1), kNoEntry);
    for (size_t e = 0; e < vocab_.size(); ++e) keep_last(dense_r_[static_cast<size_t>(vocab_.id(e))], e);
  } else {
    sparse_r_.reserve(vocab_.size());
    for (size_t e = 0; e < vocab_.size(); ++e) {
      keep_last(sparse_r_.try_emplace(vocab_.id(e), kNoEntry).first->second, e);
    }
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  return vocab_.find(token);
}

std::optional<std::string_view> BpeModel::id_to_token(int32_t id) const {
  uint32_t entry = kNoEntry;
  if (!sparse_r_.empty()) {
    if (const auto it = sparse_r_.find(id); it != sparse_r_.end()) entry = it->second;
  } else if (id >= 0 && static_cast<size_t>(id) < dense_r_.size()) {
    entry = dense_r_[static_cast<size_t>(id)];
  }
  if (entry == kNoEntry) return std::nullopt;
  return vocab_.token(entry);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const std::optional<int32_t> id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, n - 1, n + 1, false});
  };

  // Initial symbols: one per character (with prefix/suffix decoration), else its bytes, else unk.
  std::optional<int32_t> unk_id;
  if (unk_token_) {
    unk_id = vocab_.find(*unk_token_);
  }
  bool pending_unk = false;
  std::string decorated;
  const bool decorate = !continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty();
  size_t i = 0;
  while (i < word.size()) {
    size_t len = 0;
    unicode::decode_at(word, i, &len);
    std::string_view s = word.substr(i, len);
    if (decorate) {
      decorated.clear();
      if (i != 0) decorated += continuing_subword_prefix_;
      decorated.append(s);
      if (i + len == word.size()) decorated += end_of_word_suffix_;
      s = decorated;
    }
    i += len;
    if (const std::optional<int32_t> id = vocab_.find(s)) {
      if (pending_unk) {
        add(*unk_id);
        pending_unk = false;
      }
      add(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (const char b : s) all = all && byte_ids_[static_cast<uint8_t>(b)] >= 0;
      if (all) {
        for (const char b : s) add(byte_ids_[static_cast<uint8_t>(b)]);
        continue;
      }
    }
    if (unk_token_) {
      if (!unk_id) fail("BPE", "unk_token \"" + *unk_token_ + "\" is not in the vocabulary");
      if (pending_unk && !fuse_unk_) add(*unk_id);
      pending_unk = true;
    }
    // No unk token: the character is dropped, as `tokenizers` does.
  }
  if (pending_unk) add(*unk_id);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator<(const Candidate& o) const {  // "lower priority than"
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto lookup = [&](int32_t a, int32_t b) { return merges_.find(pair_key(a, b)); };
  for (size_t k = 0; k + 1 < symbols.size(); ++k) {
    if (const Merge* m = lookup(symbols[k].id, symbols[k + 1].id)) {
      queue.push(Candidate{m->rank, static_cast<int32_t>(k), m->new_id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    const Merge* current = lookup(left.id, right.id);
    if (!current || current->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) {
      if (const Merge* m = lookup(symbols[static_cast<size_t>(left.prev)].id, left.id)) {
        queue.push(Candidate{m->rank, left.prev, m->new_id});
      }
    }
    if (left.next >= 0) {
      if (const Merge* m = lookup(left.id, symbols[static_cast<size_t>(left.next)].id)) {
        queue.push(Candidate{m->rank, top.pos, m->new_id});
      }
    }
  }
  for (const Symbol& s : symbols) {
    if (!s.removed) out.push_back(s.id);
  }
}

}  // namespace nova::tokenizer
