#include "tokenizer/json_util.h"

#include "tokenizer/unicode.h"

namespace nova::tokenizer {

char32_t single_char_member(const json& j, std::string_view key, const JsonPath& where) {
  const JsonPath at = where.at(key);
  const std::string s = as_string(require_member(j, key, where), at);
  size_t len = 0;
  if (s.empty() || (unicode::decode_at(s, 0, &len), len != s.size())) at.fail("expected a single character");
  return unicode::decode_at(s, 0, &len);
}

}  // namespace nova::tokenizer
