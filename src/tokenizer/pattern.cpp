#include "tokenizer/pattern.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace nova::tokenizer {

Pattern Pattern::literal(std::string text) {
  Pattern p;
  p.kind_ = Kind::Literal;
  p.literal_ = std::move(text);
  return p;
}

Pattern Pattern::regex(std::shared_ptr<const Regex> re) {
  Pattern p;
  p.kind_ = Kind::Regex;
  p.regex_ = std::move(re);
  return p;
}

Pattern Pattern::predicate(bool (*fn)(char32_t)) {
  Pattern p;
  p.kind_ = Kind::Predicate;
  p.predicate_ = fn;
  return p;
}

Pattern Pattern::from_json(const json& j, const JsonPath& where) {
  if (!j.is_object() || j.size() != 1) where.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  if (const json* s = find_member(j, "String", where)) return literal(as_string(*s, where.at("String")));
  if (const json* r = find_member(j, "Regex", where)) {
    const std::string text = as_string(*r, where.at("Regex"));
    try {
      return regex(std::make_shared<const Regex>(text, ""));
    } catch (const Error& e) {
      where.at("Regex").fail(e.problem());
    }
  }
  where.fail("expected {\"String\": ...} or {\"Regex\": ...}");
}

std::vector<Span> Pattern::find_matches(std::string_view text) const {
  std::vector<Span> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  auto add_matches = [&](const std::vector<std::pair<size_t, size_t>>& matches) {
    size_t prev = 0;
    for (const auto& [s, e] : matches) {
      if (prev != s) spans.push_back({prev, s, false});
      spans.push_back({s, e, true});
      prev = e;
    }
    if (prev != text.size()) spans.push_back({prev, text.size(), false});
  };
  switch (kind_) {
    case Kind::Literal: {
      std::vector<std::pair<size_t, size_t>> matches;
      if (!literal_.empty()) {
        for (size_t pos = text.find(literal_); pos != std::string_view::npos;
             pos = text.find(literal_, pos + literal_.size())) {
          matches.emplace_back(pos, pos + literal_.size());
        }
      }
      add_matches(matches);
      break;
    }
    case Kind::Regex: {
      std::vector<std::pair<size_t, size_t>> matches;
      regex_->find_all(text, matches);
      add_matches(matches);
      break;
    }
    case Kind::Predicate: {
      // Every matching character is a match of its own.
      size_t last = 0;
      unicode::for_each_char(text, [&](char32_t c, size_t at, size_t len) {
        if (!predicate_(c)) return;
        if (last < at) spans.push_back({last, at, false});
        spans.push_back({at, at + len, true});
        last = at + len;
      });
      if (last < text.size()) spans.push_back({last, text.size(), false});
      break;
    }
  }
  return spans;
}

SplitBehavior split_behavior_from_json(const json& j, const JsonPath& where) {
  const std::string s = as_string(j, where);
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  where.fail("unknown split behavior \"" + s + "\"");
}

std::vector<std::pair<size_t, size_t>> split_ranges(std::string_view text, const Pattern& pattern,
                                                    SplitBehavior behavior, bool invert) {
  std::vector<Span> matches = pattern.find_matches(text);
  if (invert) {
    for (Span& m : matches) m.is_match = !m.is_match;
  }
  // (range, remove) pairs, folded exactly as `tokenizers` does for each behaviour.
  std::vector<Span> kept;  // is_match reused as "remove"
  kept.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Span& m : matches) kept.push_back({m.start, m.end, false});
      break;
    case SplitBehavior::Removed:
      kept = matches;
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const Span& m : matches) {
        if (m.is_match == previous && !kept.empty()) kept.back().end = m.end;
        else kept.push_back({m.start, m.end, false});
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const Span& m : matches) {
        if (m.is_match && !previous && !kept.empty()) kept.back().end = m.end;
        else kept.push_back({m.start, m.end, false});
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && !kept.empty()) kept.back().start = it->start;
        else kept.push_back({it->start, it->end, false});
        previous = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(kept.size());
  for (const Span& k : kept) {
    if (!k.is_match) out.emplace_back(k.start, k.end);
  }
  return out;
}

}  // namespace nova::tokenizer
