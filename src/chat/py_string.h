// Python `str` semantics over UTF-8 bytes: templates index, slice, strip and case-map strings
// by code point exactly as CPython does, so the helpers here decode to code points when needed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nova::chat {

// Invalid UTF-8 bytes decode to U+DC80..U+DCFF ("surrogateescape") and encode back to the same
// byte, so malformed input survives a round trip unchanged.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
size_t utf8_length(std::string_view s);  // code points

bool py_isspace(char32_t c);
bool py_isprintable(char32_t c);
char32_t py_upper(char32_t c);
char32_t py_lower(char32_t c);
bool py_isalpha(char32_t c);
bool py_isdigit(char32_t c);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()
std::string py_swapcase(std::string_view s);

// str.strip / lstrip / rstrip; `chars` absent = Unicode whitespace.
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / rsplit; `sep` absent = runs of whitespace. maxsplit < 0 = unlimited.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
// Code-point index of the first/last occurrence, or -1.
int64_t py_find(std::string_view s, std::string_view sub, bool reverse);
int64_t py_count(std::string_view s, std::string_view sub);

// repr() of a str: quotes and escapes chosen as CPython does.
std::string py_str_repr(std::string_view s);
// repr() of a float: shortest round-trip digits, CPython's fixed/exponent switch.
std::string py_float_repr(double d);

}  // namespace nova::chat
