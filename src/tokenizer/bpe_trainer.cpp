#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/string_map.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

namespace {

constexpr const char* kWhere = "train_bpe";

void check_options(const BpeTrainerOptions& o) {
  std::unordered_set<std::string> seen;
  for (const std::string& s : o.special_tokens) {
    if (s.empty()) fail(kWhere, "special token is empty");
    if (!unicode::is_valid_utf8(s)) fail(kWhere, "special token is not valid UTF-8");
    if (!seen.insert(s).second) fail(kWhere, "special token \"" + s + "\" is given twice");
  }
  if (o.vocab_size < 256 + o.special_tokens.size()) {
    fail(kWhere, "vocab_size " + std::to_string(o.vocab_size) + " is smaller than the 256 byte symbols plus " +
                     std::to_string(o.special_tokens.size()) + " special tokens");
  }
  if (o.vocab_size > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    fail(kWhere, "vocab_size " + std::to_string(o.vocab_size) + " does not fit 32-bit ids");
  }
}

// Pre-tokenised words of the corpus (raw bytes) with their number of occurrences. Runs the same
// components that the written tokenizer.json describes, so training sees exactly what encode will.
class WordCounter {
 public:
  explicit WordCounter(const BpeTrainerOptions& o) {
    const std::string where = "split_regex";
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", o.split_regex}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
    splitter_ = pre_tokenizer_from_json(split, JsonPath{&where, ""});
    if (o.nfc) normalizer_ = normalizer_from_json(json{{"type", "NFC"}}, JsonPath{&where, ""});
    for (size_t i = 0; i < o.special_tokens.size(); ++i) specials_.insert(o.special_tokens[i], static_cast<int32_t>(i));
  }

  void add_document(std::string_view doc) {
    std::string repaired;
    if (!unicode::is_valid_utf8(doc)) {  // as encode() does: invalid sequences become U+FFFD
      repaired = unicode::to_valid_utf8(doc);
      doc = repaired;
    }
    size_t done = 0;
    while (done < doc.size()) {
      const auto m = specials_.empty() ? std::nullopt : specials_.find(doc, done);
      const size_t stop = m ? std::get<0>(*m) : doc.size();
      add_text(doc.substr(done, stop - done));
      done = m ? std::get<1>(*m) : doc.size();
    }
  }

  StringMap<uint64_t>& counts() { return counts_; }

 private:
  void add_text(std::string_view text) {
    if (text.empty()) return;
    pieces_.clear();
    pieces_.push_back(Piece{std::string(text), -1, true});
    if (normalizer_) normalizer_->normalize(pieces_[0].text);
    splitter_->pre_tokenize(pieces_);
    for (const Piece& p : pieces_) {
      const auto it = counts_.find(std::string_view(p.text));
      if (it != counts_.end()) ++it->second;
      else counts_.emplace(p.text, 1);
    }
  }

  std::shared_ptr<const PreTokenizer> splitter_;
  std::shared_ptr<const Normalizer> normalizer_;
  TokenTrie specials_;
  std::vector<Piece> pieces_;
  StringMap<uint64_t> counts_;
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t pair_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t pair_right(uint64_t key) { return static_cast<int32_t>(key & 0xffffffffu); }

class MergeLearner {
 public:
  MergeLearner(const StringMap<uint64_t>& word_counts, std::vector<std::string> byte_tokens)
      : tokens_(std::move(byte_tokens)) {
    for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    int32_t byte_id[256];
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, unicode::byte_to_char(static_cast<uint8_t>(b)));
      byte_id[b] = ids_.at(s);
    }
    // Sorted so that word indices (and so everything after) do not depend on hash-map order.
    std::vector<std::pair<std::string_view, uint64_t>> sorted(word_counts.begin(), word_counts.end());
    std::sort(sorted.begin(), sorted.end());
    words_.reserve(sorted.size());
    freq_.reserve(sorted.size());
    for (const auto& [text, count] : sorted) {
      if (text.size() < 2) continue;  // no pairs
      std::vector<int32_t> symbols;
      symbols.reserve(text.size());
      for (const char c : text) symbols.push_back(byte_id[static_cast<uint8_t>(c)]);
      words_.push_back(std::move(symbols));
      freq_.push_back(static_cast<int64_t>(count));
    }
    stamp_.assign(words_.size(), 0);
    for (size_t w = 0; w < words_.size(); ++w) {
      const std::vector<int32_t>& s = words_[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        PairStat& stat = pairs_[pair_key(s[i], s[i + 1])];
        stat.count += freq_[w];
        if (stat.words.empty() || stat.words.back() != w) stat.words.push_back(static_cast<uint32_t>(w));
      }
    }
    for (const auto& [key, stat] : pairs_) queue_.push(Entry{stat.count, key});
  }

  // Learns merges until the model vocabulary has `model_size` tokens or no pair is frequent enough.
  void learn(size_t model_size, uint64_t min_frequency) {
    const auto min_count = static_cast<int64_t>(std::max<uint64_t>(min_frequency, 1));
    while (tokens_.size() < model_size && !queue_.empty()) {
      const Entry top = queue_.top();
      queue_.pop();
      const auto it = pairs_.find(top.key);
      if (it == pairs_.end() || it->second.count != top.count) continue;  // stale entry
      if (top.count < min_count) break;
      merge(top.key, std::move(it->second.words));
      pairs_.erase(top.key);
    }
  }

  std::vector<std::string>& tokens() { return tokens_; }
  std::vector<std::pair<std::string, std::string>>& merges() { return merges_; }

 private:
  struct PairStat {
    int64_t count = 0;
    std::vector<uint32_t> words;  // may hold words that lost the pair, and repeats
  };
  struct Entry {
    int64_t count;
    uint64_t key;
  };
  // "Lower priority than": fewer occurrences, or equal and lexicographically larger strings.
  struct Lower {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count < y.count;
      const std::string& xa = (*tokens)[static_cast<size_t>(pair_left(x.key))];
      const std::string& ya = (*tokens)[static_cast<size_t>(pair_left(y.key))];
      if (xa != ya) return xa > ya;
      return (*tokens)[static_cast<size_t>(pair_right(x.key))] > (*tokens)[static_cast<size_t>(pair_right(y.key))];
    }
  };

  void merge(uint64_t key, std::vector<uint32_t> words) {
    const int32_t a = pair_left(key);
    const int32_t b = pair_right(key);
    std::string joined = tokens_[static_cast<size_t>(a)] + tokens_[static_cast<size_t>(b)];
    merges_.emplace_back(tokens_[static_cast<size_t>(a)], tokens_[static_cast<size_t>(b)]);
    int32_t c;
    if (const auto found = ids_.find(std::string_view(joined)); found != ids_.end()) {
      c = found->second;
    } else {
      c = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(joined);
      ids_.emplace(std::move(joined), c);
    }

    ++generation_;
    delta_.clear();
    for (const uint32_t w : words) {
      if (stamp_[w] == generation_) continue;
      stamp_[w] = generation_;
      std::vector<int32_t>& s = words_[w];
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      const int64_t f = freq_[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) delta_[pair_key(s[i], s[i + 1])] -= f;
      size_t out = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[out++] = c;
          ++i;
        } else {
          s[out++] = s[i];
        }
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        delta_[k] += f;
        // Every pair new to this word contains the new token; the others already list it.
        if (s[i] == c || s[i + 1] == c) pairs_[k].words.push_back(w);
      }
    }
    for (const auto& [k, d] : delta_) {
      if (d == 0 || k == key) continue;
      const auto it = pairs_.find(k);
      if (it == pairs_.end()) continue;  // only possible for d < 0, which cannot happen without the pair
      it->second.count += d;
      if (it->second.count <= 0) pairs_.erase(it);
      else queue_.push(Entry{it->second.count, k});
    }
  }

  std::vector<std::string> tokens_;
  StringMap<int32_t> ids_;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> freq_;
  std::vector<uint64_t> stamp_;
  uint64_t generation_ = 0;
  std::unordered_map<uint64_t, PairStat> pairs_;
  std::unordered_map<uint64_t, int64_t> delta_;
  std::priority_queue<Entry, std::vector<Entry>, Lower> queue_{Lower{&tokens_}};
};

// The 256 byte symbols ordered by their code point in the byte alphabet.
std::vector<std::string> byte_alphabet() {
  std::vector<char32_t> chars;
  for (int b = 0; b < 256; ++b) chars.push_back(unicode::byte_to_char(static_cast<uint8_t>(b)));
  std::sort(chars.begin(), chars.end());
  std::vector<std::string> tokens;
  for (const char32_t c : chars) {
    std::string s;
    unicode::append_utf8(s, c);
    tokens.push_back(std::move(s));
  }
  return tokens;
}

}  // namespace

TrainedBpe train_bpe(const BpeTrainerOptions& options, const DocumentIterator& next_document) {
  check_options(options);
  WordCounter counter(options);
  while (const std::optional<std::string_view> doc = next_document()) counter.add_document(*doc);

  MergeLearner learner(counter.counts(), byte_alphabet());
  counter.counts().clear();
  learner.learn(options.vocab_size - options.special_tokens.size(), options.min_frequency);

  TrainedBpe out;
  out.vocab = std::move(learner.tokens());
  out.merges = std::move(learner.merges());
  out.special_tokens = options.special_tokens;
  out.split_regex = options.split_regex;
  out.nfc = options.nfc;
  // A special token spelled like a model token would take that token's id when loaded.
  std::unordered_set<std::string_view> vocab(out.vocab.begin(), out.vocab.end());
  for (const std::string& s : out.special_tokens) {
    if (vocab.count(s)) fail(kWhere, "special token \"" + s + "\" is spelled like a token of the byte-level vocabulary");
  }
  return out;
}

TrainedBpe train_bpe_files(const BpeTrainerOptions& options, const std::vector<std::string>& paths) {
  size_t next = 0;
  std::shared_ptr<const MappedFile> current;
  return train_bpe(options, [&]() -> std::optional<std::string_view> {
    if (next == paths.size()) return std::nullopt;
    current.reset();
    current = MappedFile::open(paths[next++]);
    return std::string_view(reinterpret_cast<const char*>(current->data()), current->size());
  });
}

DocumentIterator iterate_documents(const std::vector<std::string>& documents) {
  return [&documents, next = size_t{0}]() mutable -> std::optional<std::string_view> {
    if (next == documents.size()) return std::nullopt;
    return std::string_view(documents[next++]);
  };
}

}  // namespace nova::tokenizer
