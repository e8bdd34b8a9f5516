#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <limits>

#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

int32_t TokenTrie::child(int32_t node, uint8_t b) const {
  const auto& ch = nodes_[static_cast<size_t>(node)].children;
  const auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, std::numeric_limits<int32_t>::min()));
  return it != ch.end() && it->first == b ? it->second : -1;
}

void TokenTrie::insert(std::string_view key, int32_t value) {
  if (key.empty()) return;
  first_byte_[static_cast<uint8_t>(key[0])] = true;
  int32_t node = 0;
  for (const char c : key) {
    const auto b = static_cast<uint8_t>(c);
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      auto& ch = nodes_[static_cast<size_t>(node)].children;
      ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, std::numeric_limits<int32_t>::min())),
                std::make_pair(b, next));
    }
    node = next;
  }
  nodes_[static_cast<size_t>(node)].value = value;
}

std::optional<std::tuple<size_t, size_t, int32_t>> TokenTrie::find(std::string_view text, size_t from) const {
  for (size_t start = from; start < text.size(); ++start) {
    if (!first_byte_[static_cast<uint8_t>(text[start])]) continue;
    int32_t node = 0;
    size_t best_end = 0;
    int32_t best = -1;
    for (size_t k = start; k < text.size(); ++k) {
      node = child(node, static_cast<uint8_t>(text[k]));
      if (node < 0) break;
      if (nodes_[static_cast<size_t>(node)].value >= 0) {
        best = nodes_[static_cast<size_t>(node)].value;
        best_end = k + 1;
      }
    }
    if (best >= 0) return std::make_tuple(start, best_end, best);
  }
  return std::nullopt;
}

void AddedVocabulary::load(const json& added_tokens, const JsonPath& where, const BpeModel& model,
                           const Normalizer* normalizer) {
  if (!added_tokens.is_array()) where.fail("expected an array");
  int32_t next_id = static_cast<int32_t>(std::min<size_t>(model.vocab_entries(), std::numeric_limits<int32_t>::max()));
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const JsonPath at = where.at(i);
    const json& t = added_tokens[i];
    AddedToken tok;
    tok.content = as_string(require_member(t, "content", at), at.at("content"));
    as_int(require_member(t, "id", at), at.at("id"), 0, std::numeric_limits<int32_t>::max());
    tok.special = bool_member(t, "special", at, false);
    tok.single_word = bool_member(t, "single_word", at, false);
    tok.lstrip = bool_member(t, "lstrip", at, false);
    tok.rstrip = bool_member(t, "rstrip", at, false);
    tok.normalized = bool_member(t, "normalized", at, !tok.special);
    if (tok.content.empty()) continue;
    std::optional<int32_t> id = token_to_id(tok.content);
    if (!id) id = model.token_to_id(tok.content);
    if (!id) {
      if (next_id == std::numeric_limits<int32_t>::max()) at.fail("too many tokens");
      id = next_id++;
    }
    tok.id = *id;
    by_content_[tok.content] = tok.id;
    by_id_[tok.id] = tok;
    max_id_ = std::max(max_id_, tok.id);
  }
  for (const auto& [id, tok] : by_id_) {
    if (!tok.normalized) {
      raw_trie_.insert(tok.content, id);
    } else {
      std::string pattern = tok.content;
      if (normalizer) normalizer->normalize(pattern);
      normalized_trie_.insert(pattern, id);
    }
  }
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  const auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::token(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

namespace {

bool ends_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t len = 0;
  return unicode::is_word_char(unicode::decode_at(s, start, &len));
}

bool starts_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  size_t len = 0;
  return unicode::is_word_char(unicode::decode_at(s, 0, &len));
}

// Start of the run of whitespace that ends `s`.
size_t trailing_space_start(std::string_view s) {
  size_t start = s.size();
  unicode::for_each_char(s, [&](char32_t c, size_t at, size_t) {
    if (!unicode::is_whitespace(c)) start = s.size();
    else if (start == s.size()) start = at;
  });
  return start;
}

// Length of the run of whitespace that starts `s`.
size_t leading_space_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (!unicode::is_whitespace(unicode::decode_at(s, i, &len))) break;
    i += len;
  }
  return i;
}

}  // namespace

void AddedVocabulary::split(const Piece& piece, const TokenTrie& trie, std::vector<Piece>& out) const {
  const std::string_view text = piece.text;
  auto emit = [&](size_t s, size_t e, int32_t id) {
    if (s >= e) return;
    out.push_back(Piece{std::string(text.substr(s, e - s)), id, piece.at_origin && s == 0});
  };
  size_t done = 0;  // end of the last emitted range
  size_t from = 0;  // where to look for the next match
  while (!trie.empty()) {
    const auto m = trie.find(text, from);
    if (!m) break;
    auto [start, stop, id] = *m;
    from = stop;
    const AddedToken& tok = by_id_.at(id);
    if (tok.single_word) {
      const bool space_before = start == 0 || !ends_with_word_char(text.substr(0, start));
      const bool space_after = stop == text.size() || !starts_with_word_char(text.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (start < done) continue;  // inside the whitespace an rstrip token already took
    if (tok.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), done);
    if (tok.rstrip) stop += leading_space_length(text.substr(stop));
    emit(done, start, -1);
    emit(start, stop, id);
    done = stop;
  }
  emit(done, text.size(), -1);
}

std::vector<Piece> AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
  std::vector<Piece> raw;
  split(Piece{std::string(text), -1, true}, raw_trie_, raw);
  std::vector<Piece> out;
  out.reserve(raw.size());
  for (Piece& p : raw) {
    if (p.id >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    if (normalizer) normalizer->normalize(p.text);
    split(p, normalized_trie_, out);
  }
  return out;
}

}  // namespace nova::tokenizer
