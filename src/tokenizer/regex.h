// The regular expressions of tokenizer.json (written for Oniguruma) compiled with PCRE2 in UTF + UCP
// mode, JIT-compiled when available.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nova::tokenizer {

class Regex {
 public:
  // Throws nova::Error(where, ...) if the pattern does not compile.
  Regex(std::string_view oniguruma_pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [start, end) byte ranges of the successive non-overlapping matches in `text`
  // (valid UTF-8). An empty match right after the previous match is skipped.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

  // Rewrites Oniguruma-only syntax into PCRE2's: \s and \S mean Unicode White_Space, \w is
  // letters/marks/Nd/Pc, \h is a hex digit.
  static std::string translate(std::string_view oniguruma_pattern);

 private:
  void* code_ = nullptr;  // pcre2_code_8
  bool jit_ = false;
};

}  // namespace nova::tokenizer
