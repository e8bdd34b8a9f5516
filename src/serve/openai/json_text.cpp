#include "serve/openai/json_text.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace nova::serve::openai {

namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Bytes 0x00-0x1F, '"' and '\\' need an escape; 0 = copy as is.
constexpr char escape_of(unsigned char c) {
  switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\b': return 'b';
    case '\f': return 'f';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    default: return c < 0x20 ? 'u' : 0;
  }
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is invalid; `bad`
// is then the index of the first byte that does not fit (the lead byte itself, or the first
// wrong continuation byte, or s.size() for a truncated sequence).
size_t utf8_sequence(std::string_view s, size_t i, size_t& bad) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = b(i);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) len = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;       // no overlong forms
    else if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;
    else if (lead == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    bad = i;
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) {
      bad = s.size();
      return 0;
    }
    const unsigned char c = b(i + k);
    const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) {
      bad = i + k;
      return 0;
    }
  }
  return len;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // Runs of plain ASCII are copied in one append.
    size_t j = i;
    while (j < s.size()) {
      const auto c = static_cast<unsigned char>(s[j]);
      if (c >= 0x80 || escape_of(c) != 0) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    i = j;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      const char e = escape_of(c);
      if (e == 'u') {
        static constexpr char kHex[] = "0123456789abcdef";
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(u, 6);
      } else {
        out.push_back('\\');
        out.push_back(e);
      }
      ++i;
      continue;
    }
    size_t bad = 0;
    const size_t len = utf8_sequence(s, i, bad);
    if (len > 0) {
      out.append(s.data() + i, len);
      i += len;
      continue;
    }
    // One U+FFFD per invalid sequence; a lead byte that is itself invalid is dropped, while a
    // byte that broke an open sequence is read again (it may start the next character).
    out.append(kReplacement, 3);
    i = bad == i ? i + 1 : bad;
  }
  out.push_back('"');
}

void append_json_int(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_json_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[64];
  // The same shortest-round-trip formatter nlohmann's serializer uses for doubles.
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace nova::serve::openai
