#include "tokenizer/pre_tokenizer.h"

#include <utility>

#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

namespace {

// Replaces every not-yet-tokenized piece by the non-empty sub-ranges that `cut(text, at_origin)`
// returns; `cut` may rewrite the text first.
template <class Cut>
void split_pieces(std::vector<Piece>& pieces, Cut&& cut) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (Piece& p : pieces) {
    if (p.id >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    const std::vector<std::pair<size_t, size_t>> ranges = cut(p.text, p.at_origin);
    for (const auto& [s, e] : ranges) {
      if (s == e) continue;
      out.push_back(Piece{p.text.substr(s, e - s), -1, p.at_origin && s == 0});
    }
  }
  pieces = std::move(out);
}

void split_on(std::vector<Piece>& pieces, const Pattern& pattern, SplitBehavior behavior, bool invert = false) {
  split_pieces(pieces, [&](std::string& text, bool) { return split_ranges(text, pattern, behavior, invert); });
}

// The GPT-2 pre-tokenization regex.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) {
      static const auto gpt2 = std::make_shared<const Regex>(kGpt2Pattern, "ByteLevel");
      pattern_ = Pattern::regex(gpt2);
      use_regex_ = true;
    }
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](std::string& text, bool) {
      if (add_prefix_space_ && (text.empty() || text[0] != ' ')) text.insert(0, 1, ' ');
      if (use_regex_) return split_ranges(text, pattern_, SplitBehavior::Isolated, false);
      return std::vector<std::pair<size_t, size_t>>{{0, text.size()}};
    });
    for (Piece& p : pieces) {
      if (p.id >= 0) continue;
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (const char b : p.text) unicode::append_utf8(mapped, unicode::byte_to_char(static_cast<uint8_t>(b)));
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_ = false;
  Pattern pattern_;
};

class Split final : public PreTokenizer {
 public:
  Split(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override { split_on(pieces, pattern_, behavior_, invert_); }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits on a character predicate (Punctuation, Digits, WhitespaceSplit, CharDelimiterSplit ...).
class CharSplit final : public PreTokenizer {
 public:
  CharSplit(bool (*predicate)(char32_t), SplitBehavior behavior)
      : pattern_(Pattern::predicate(predicate)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override { split_on(pieces, pattern_, behavior_); }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
};

class CharDelimiterSplit final : public PreTokenizer {
 public:
  explicit CharDelimiterSplit(char32_t delimiter) {
    std::string s;
    unicode::append_utf8(s, delimiter);
    pattern_ = Pattern::literal(s);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on(pieces, pattern_, SplitBehavior::Removed);
  }

 private:
  Pattern pattern_;
};

bool is_punct(char32_t c) { return unicode::is_ascii_punctuation(c) || unicode::is_punctuation(c); }

// Words and runs of other non-space characters (regex \w+|[^\w\s]+); whitespace is dropped.
class Whitespace final : public PreTokenizer {
 public:
  Whitespace() {
    static const auto re = std::make_shared<const Regex>("\\w+|[^\\w\\s]+", "Whitespace");
    pattern_ = Pattern::regex(re);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on(pieces, pattern_, SplitBehavior::Removed, /*invert=*/true);
  }

 private:
  Pattern pattern_;
};

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_on(pieces, Pattern::predicate(unicode::is_whitespace), SplitBehavior::Removed);
    split_on(pieces, Pattern::predicate(is_punct), SplitBehavior::Isolated);
  }
};

enum class PrependScheme { Always, First, Never };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split) : scheme_(scheme), split_(split) {
    unicode::append_utf8(replacement_, replacement);
    split_pattern_ = Pattern::literal(replacement_);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](std::string& text, bool at_origin) {
      std::string replaced;
      replaced.reserve(text.size() + replacement_.size());
      for (const char c : text) {
        if (c == ' ') replaced += replacement_;
        else replaced += c;
      }
      const bool starts = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && at_origin))) {
        replaced.insert(0, replacement_);
      }
      text = std::move(replaced);
      if (split_) return split_ranges(text, split_pattern_, SplitBehavior::MergedWithNext, false);
      return std::vector<std::pair<size_t, size_t>>{{0, text.size()}};
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  Pattern split_pattern_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::shared_ptr<const PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::shared_ptr<const PreTokenizer>> parts_;
};

}  // namespace

std::shared_ptr<const PreTokenizer> pre_tokenizer_from_json(const json& j, const JsonPath& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") {
    return std::make_shared<ByteLevel>(bool_member(j, "add_prefix_space", where, true),
                                       bool_member(j, "use_regex", where, true));
  }
  if (type == "Split") {
    return std::make_shared<Split>(Pattern::from_json(require_member(j, "pattern", where), where.at("pattern")),
                                   split_behavior_from_json(require_member(j, "behavior", where), where.at("behavior")),
                                   bool_member(j, "invert", where, false));
  }
  if (type == "Whitespace") return std::make_shared<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_shared<CharSplit>(unicode::is_whitespace, SplitBehavior::Removed);
  if (type == "BertPreTokenizer") return std::make_shared<BertPreTokenizer>();
  if (type == "Punctuation") {
    const json* b = find_member(j, "behavior", where);
    return std::make_shared<CharSplit>(
        is_punct, b ? split_behavior_from_json(*b, where.at("behavior")) : SplitBehavior::Isolated);
  }
  if (type == "Digits") {
    const bool individual = bool_member(j, "individual_digits", where, false);
    return std::make_shared<CharSplit>(unicode::is_numeric,
                                       individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "CharDelimiterSplit") {
    return std::make_shared<CharDelimiterSplit>(single_char_member(j, "delimiter", where));
  }
  if (type == "Metaspace") {
    const char32_t replacement = single_char_member(j, "replacement", where);
    PrependScheme scheme = PrependScheme::Always;
    if (const json* s = find_member(j, "prepend_scheme", where)) {
      const std::string v = as_string(*s, where.at("prepend_scheme"));
      if (v == "always") scheme = PrependScheme::Always;
      else if (v == "first") scheme = PrependScheme::First;
      else if (v == "never") scheme = PrependScheme::Never;
      else where.at("prepend_scheme").fail("unknown prepend_scheme \"" + v + "\"");
    } else if (!bool_member(j, "add_prefix_space", where, true)) {
      scheme = PrependScheme::Never;  // files older than prepend_scheme
    }
    return std::make_shared<Metaspace>(replacement, scheme, bool_member(j, "split", where, true));
  }
  if (type == "Sequence") {
    auto parts = sequence_members(j, "pretokenizers", where, pre_tokenizer_from_json);
    return std::make_shared<Sequence>(std::move(parts));
  }
  where.at("type").fail("unknown pre_tokenizer type \"" + type + "\"");
}

}  // namespace nova::tokenizer
