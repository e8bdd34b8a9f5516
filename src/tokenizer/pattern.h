// What Split / Replace look for in a piece of text (a literal, a regex or a character class), and
// how a piece is cut around the matches (SplitDelimiterBehavior of `tokenizers`).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"

namespace nova::tokenizer {

// A [start, end) byte range of a piece; `is_match` tells a match from the text between matches.
struct Span {
  size_t start;
  size_t end;
  bool is_match;
};

class Pattern {
 public:
  static Pattern literal(std::string text);
  static Pattern regex(std::shared_ptr<const Regex> re);
  static Pattern predicate(bool (*fn)(char32_t));
  // {"String": "..."} or {"Regex": "..."} as tokenizer.json writes a pattern.
  static Pattern from_json(const json& j, const JsonPath& where);

  // Matches and the gaps between them, covering all of `text` in order. Empty text gives one empty
  // non-match.
  std::vector<Span> find_matches(std::string_view text) const;

 private:
  enum class Kind { Literal, Regex, Predicate } kind_ = Kind::Literal;
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
  bool (*predicate_)(char32_t) = nullptr;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior split_behavior_from_json(const json& j, const JsonPath& where);

// The pieces (as byte ranges of `text`) that splitting on `pattern` with `behavior` keeps; empty
// ranges may be among them (callers drop them).
std::vector<std::pair<size_t, size_t>> split_ranges(std::string_view text, const Pattern& pattern,
                                                    SplitBehavior behavior, bool invert);

}  // namespace nova::tokenizer
