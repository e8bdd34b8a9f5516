#include "tokenizer/bpe_model.h"

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

// One merge rule, from "a b" or ["a", "b"].
std::pair<std::string, std::string> parse_merge(const json& m, const JsonPath& where) {
  if (m.is_string()) {
    const std::string& s = m.get_ref<const std::string&>();
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
      where.fail("merge \"" + s + "\" is not two tokens separated by one space");
    }
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (m.is_array() && m.size() == 2) {
    return {as_string(m[0], where.at(size_t{0})), as_string(m[1], where.at(size_t{1}))};
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

std::shared_ptr<const BpeModel> BpeModel::from_json(const json& j, const JsonPath& where) {
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
  m.vocab_.reserve(vocab.size());
  m.vocab_r_.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    const auto id = static_cast<int32_t>(
        as_int(id_json, vocab_at.at(token), 0, std::numeric_limits<int32_t>::max()));
    auto [it, inserted] = m.vocab_.emplace(token, id);
    if (!inserted) it->second = id;
    m.vocab_r_[id] = &it->first;
    if (id > m.max_id_) m.max_id_ = id;
  }

  m.unk_token_ = optional_string(j, "unk_token", where);
  m.continuing_subword_prefix_ = optional_string(j, "continuing_subword_prefix", where).value_or("");
  m.end_of_word_suffix_ = optional_string(j, "end_of_word_suffix", where).value_or("");
  m.fuse_unk_ = bool_member(j, "fuse_unk", where, false);
  m.byte_fallback_ = bool_member(j, "byte_fallback", where, false);
  m.ignore_merges_ = bool_member(j, "ignore_merges", where, false);

  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = m.vocab_.find(std::string_view(name));
    m.byte_ids_[b] = it == m.vocab_.end() ? -1 : it->second;
  }

  const JsonPath merges_at = where.at("merges");
  const json& merges = require_member(j, "merges", where);
  if (!merges.is_array()) merges_at.fail("expected an array");
  m.merges_.reserve(merges.size());
  const size_t prefix_len = m.continuing_subword_prefix_.size();
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const JsonPath at = merges_at.at(i);
    const auto [a, b] = parse_merge(merges[i], at);
    const auto ia = m.vocab_.find(a);
    if (ia == m.vocab_.end()) at.fail("merge token \"" + a + "\" is not in the vocabulary");
    const auto ib = m.vocab_.find(b);
    if (ib == m.vocab_.end()) at.fail("merge token \"" + b + "\" is not in the vocabulary");
    // The right part loses its continuing-subword prefix when merged.
    if (b.size() < prefix_len) at.fail("merge token \"" + b + "\" is shorter than continuing_subword_prefix");
    joined.assign(a);
    joined.append(b, prefix_len);
    const auto inew = m.vocab_.find(joined);
    if (inew == m.vocab_.end()) at.fail("merged token \"" + joined + "\" is not in the vocabulary");
    m.merges_.set(pair_key(ia->second, ib->second), Merge{static_cast<int32_t>(i), inew->second});
  }
  return model;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  const auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
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
    if (const auto it = vocab_.find(*unk_token_); it != vocab_.end()) unk_id = it->second;
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
    if (const auto it = vocab_.find(s); it != vocab_.end()) {
      if (pending_unk) {
        add(*unk_id);
        pending_unk = false;
      }
      add(it->second);
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
