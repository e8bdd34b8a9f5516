// UTF-8 and Unicode character properties as the `tokenizers` library (Rust `char`) sees them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nova::tokenizer::unicode {

// Decodes the code point starting at s[i] of *valid* UTF-8; stores its byte length in *len.
char32_t decode_at(std::string_view s, size_t i, size_t* len);
void append_utf8(std::string& out, char32_t c);
bool is_valid_utf8(std::string_view s);
// Replaces each maximal invalid subsequence by U+FFFD (Rust String::from_utf8_lossy semantics).
std::string to_valid_utf8(std::string_view s);

// Calls fn(code_point, byte_offset, byte_length) for every code point of valid UTF-8.
template <class Fn>
void for_each_char(std::string_view s, Fn&& fn) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    const char32_t c = decode_at(s, i, &len);
    fn(c, i, len);
    i += len;
  }
}

bool is_whitespace(char32_t c);      // Unicode White_Space (Rust char::is_whitespace)
bool is_numeric(char32_t c);         // general category N* (Rust char::is_numeric)
bool is_punctuation(char32_t c);     // general category P*
bool is_ascii_punctuation(char32_t c);
bool is_mark(char32_t c);            // general category M*
bool is_mark_nonspacing(char32_t c); // general category Mn
bool is_other(char32_t c);           // general category C*
bool is_word_char(char32_t c);       // regex \w: letters, marks, Nd, Pc

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// `s` must be valid UTF-8.
std::string normalize(std::string_view s, NormalForm form);
// Full lowercase mapping per code point (no context-dependent rules), as Rust char::to_lowercase.
std::string to_lowercase(std::string_view s);

// GPT-2's byte <-> printable code point table.
char32_t byte_to_char(uint8_t b);
// -1 when `c` is not the image of a byte.
int char_to_byte(char32_t c);

}  // namespace nova::tokenizer::unicode
