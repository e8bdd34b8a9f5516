#include "chat/lexer.h"

#include <algorithm>
#include <cstring>

#include "chat/py_string.h"
#include "core/error.h"

namespace nova::chat {

std::string at(int line, int col, const std::string& what) {
  return "line " + std::to_string(line) + ":col " + std::to_string(col) + ": " + what;
}

namespace {

// Decodes one UTF-8 code point at s[i] (lenient: a malformed byte is one U+FFFD), advancing i.
char32_t next_cp(const std::string& s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  const size_t len = (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i += len;
  return cp;
}

size_t skip_py_space(const std::string& s, size_t i) {
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // ASCII fast path
      if (!((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20))) break;
      ++i;
      continue;
    }
    size_t j = i;
    if (!py_isspace(next_cp(s, j))) break;
    i = j;
  }
  return i;
}

bool all_py_space(const std::string& s, size_t from) {
  return skip_py_space(s, from) == s.size();
}

std::string rstrip_py(const std::string& s) {
  const std::u32string cps = utf8_decode(s);
  size_t e = cps.size();
  while (e > 0 && py_isspace(cps[e - 1])) --e;
  return utf8_encode(std::u32string_view(cps).substr(0, e));
}

bool is_name_start(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool is_name_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

class Lexer {
 public:
  Lexer(const std::string& source, const std::string& where) : where_(where) {
    // jinja2 normalises \r\n and \r to \n and drops one trailing newline.
    if (source.find('\r') == std::string::npos) {
      src_ = source;
    } else {
      src_.reserve(source.size());
      for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
          src_.push_back('\n');
          if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
          src_.push_back(source[i]);
        }
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = src_.find('\n'); i != std::string::npos; i = src_.find('\n', i + 1)) line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t q = find_tag(pos);
      if (q == std::string::npos) {
        emit_data(src_.substr(pos), pos);
        break;
      }
      const char kind = src_[q + 1];
      size_t p = q + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      std::string text = src_.substr(pos, q - pos);
      size_t raw_body = 0;
      const bool raw = kind == '%' && match_raw_begin(p, raw_body);
      if (sign == '-') {
        text = rstrip_py(text);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks: blocks, comments and raw only
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_py_space(text, l_pos)) text.resize(l_pos);
      }
      emit_data(text, pos);
      if (raw) {
        pos = lex_raw(raw_body, q, line_starting);
      } else if (kind == '#') {
        pos = lex_comment(p, q, line_starting);
      } else {
        pos = lex_tag(kind == '%', p, q, line_starting);
      }
    }
    Token eof;
    eof.type = Token::Type::Eof;
    locate(eof, src_.size());
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t pos, const std::string& what) {
    Token t;
    locate(t, pos);
    fail(where_, at(t.line, t.col, what));
  }

  void locate(Token& t, size_t pos) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    const size_t line_idx = static_cast<size_t>(it - line_starts_.begin()) - 1;
    t.line = static_cast<int>(line_idx + 1);
    t.col = static_cast<int>(pos - line_starts_[line_idx] + 1);
  }

  void emit_data(const std::string& text, size_t pos) {
    if (text.empty()) return;
    Token t;
    t.type = Token::Type::Data;
    t.value = text;
    locate(t, pos);
    tokens_.push_back(std::move(t));
  }

  void emit(Token::Type type, size_t pos, std::string value = {}) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    locate(t, pos);
    tokens_.push_back(std::move(t));
  }

  size_t find_tag(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  bool starts(size_t p, const char* s) const { return src_.compare(p, std::strlen(s), s) == 0; }

  // `{%[-+]?\s*raw\s*(-%}\s*|%})` with p just past the sign; sets `body` to where raw text starts.
  bool match_raw_begin(size_t p, size_t& body) const {
    p = skip_py_space(src_, p);
    if (!starts(p, "raw")) return false;
    p = skip_py_space(src_, p + 3);
    if (starts(p, "-%}")) {
      body = skip_py_space(src_, p + 3);
      return true;
    }
    if (starts(p, "%}")) {
      body = p + 2;
      return true;
    }
    return false;
  }

  // Block-end alternatives in jinja2's order: `+%}`, `-%}\s*`, `%}\n?` (trim_blocks).
  size_t match_block_end(size_t p, bool& matched) const {
    matched = true;
    if (starts(p, "+%}")) return p + 3;
    if (starts(p, "-%}")) return skip_py_space(src_, p + 3);
    if (starts(p, "%}")) return (p + 2 < src_.size() && src_[p + 2] == '\n') ? p + 3 : p + 2;
    matched = false;
    return p;
  }

  size_t lex_raw(size_t body, size_t tag_pos, bool& line_starting) {
    for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t p = i + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = skip_py_space(src_, p);
      if (!starts(p, "endraw")) continue;
      p = skip_py_space(src_, p + 6);
      bool ok = false;
      const size_t end = match_block_end(p, ok);
      if (!ok) continue;
      std::string text = src_.substr(body, i - body);
      if (sign == '-') {
        text = rstrip_py(text);
      } else if (sign != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 && l_pos < text.size() && all_py_space(text, l_pos)) text.resize(l_pos);
      }
      emit_data(text, body);
      line_starting = end > 0 && src_[end - 1] == '\n';
      return end;
    }
    error(tag_pos, "Missing end of raw directive");
  }

  size_t lex_comment(size_t p, size_t tag_pos, bool& line_starting) {
    for (size_t i = p; i < src_.size(); ++i) {
      size_t end = 0;
      if (starts(i, "+#}")) {
        end = i + 3;
      } else if (starts(i, "-#}")) {
        end = skip_py_space(src_, i + 3);
      } else if (starts(i, "#}")) {
        end = (i + 2 < src_.size() && src_[i + 2] == '\n') ? i + 3 : i + 2;
      } else {
        continue;
      }
      line_starting = src_[end - 1] == '\n';
      return end;
    }
    error(tag_pos, "Missing end of comment tag");
  }

  size_t lex_tag(bool block, size_t p, size_t tag_pos, bool& line_starting) {
    emit(block ? Token::Type::BlockBegin : Token::Type::VarBegin, tag_pos);
    std::vector<char> balance;
    while (p < src_.size()) {
      if (balance.empty()) {
        bool ok = false;
        size_t end = p;
        if (block) {
          end = match_block_end(p, ok);
        } else if (starts(p, "-}}")) {
          end = skip_py_space(src_, p + 3), ok = true;
        } else if (starts(p, "}}")) {
          end = p + 2, ok = true;
        }
        if (ok) {
          emit(block ? Token::Type::BlockEnd : Token::Type::VarEnd, p);
          line_starting = src_[end - 1] == '\n';
          return end;
        }
      }
      const size_t ws = skip_py_space(src_, p);
      if (ws != p) {
        p = ws;
        continue;
      }
      const auto c = static_cast<unsigned char>(src_[p]);
      if (std::isdigit(c)) {
        p = lex_number(p);
      } else if (is_name_start(c)) {
        size_t e = p;
        while (e < src_.size() && is_name_char(static_cast<unsigned char>(src_[e]))) {
          if (static_cast<unsigned char>(src_[e]) >= 0x80) {  // stop at non-ASCII whitespace
            size_t j = e;
            if (py_isspace(next_cp(src_, j))) break;
            e = j;
          } else {
            ++e;
          }
        }
        emit(Token::Type::Name, p, src_.substr(p, e - p));
        p = e;
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        p = lex_operator(p, balance);
      }
    }
    line_starting = false;
    return p;  // unterminated tag: the parser reports the missing end
  }

  size_t lex_number(size_t p) {
    // Digits with single '_' separators.
    auto digits = [&](size_t i, auto is_digit) {
      if (i >= src_.size() || !is_digit(static_cast<unsigned char>(src_[i]))) return i;
      ++i;
      while (i < src_.size()) {
        if (is_digit(static_cast<unsigned char>(src_[i]))) {
          ++i;
        } else if (src_[i] == '_' && i + 1 < src_.size() && is_digit(static_cast<unsigned char>(src_[i + 1]))) {
          i += 2;
        } else {
          break;
        }
      }
      return i;
    };
    auto dec = [](unsigned char ch) { return std::isdigit(ch) != 0; };
    const bool after_dot = p > 0 && src_[p - 1] == '.';
    // float: digits ( (.digits)? e[+-]?digits | .digits )
    if (!after_dot) {
      size_t i = digits(p, dec);
      size_t frac = i;
      if (frac < src_.size() && src_[frac] == '.') {
        const size_t f = digits(frac + 1, dec);
        frac = f > frac + 1 ? f : i;
      }
      size_t e = frac;
      bool is_float = frac != i;
      if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
        size_t k = e + 1;
        if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
        const size_t ed = digits(k, dec);
        if (ed > k) e = ed, is_float = true;
      }
      if (is_float) {
        std::string text;
        for (size_t k = p; k < e; ++k)
          if (src_[k] != '_') text.push_back(src_[k]);
        Token t;
        t.type = Token::Type::Float;
        t.float_value = std::strtod(text.c_str(), nullptr);
        t.value = text;
        locate(t, p);
        tokens_.push_back(std::move(t));
        return e;
      }
    }
    int base = 10;
    size_t start = p, end = p;
    if (src_[p] == '0' && p + 1 < src_.size() && std::strchr("bBoOxX", src_[p + 1]) && src_[p + 1] != 0) {
      const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p + 1])));
      base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
      auto ok = [base](unsigned char ch) {
        if (base == 2) return ch == '0' || ch == '1';
        if (base == 8) return ch >= '0' && ch <= '7';
        return std::isxdigit(ch) != 0;
      };
      size_t i = p + 2;  // 0x(_?[\da-f])+
      while (i < src_.size()) {
        if (ok(static_cast<unsigned char>(src_[i]))) {
          ++i;
        } else if (src_[i] == '_' && i + 1 < src_.size() && ok(static_cast<unsigned char>(src_[i + 1]))) {
          i += 2;
        } else {
          break;
        }
      }
      if (i > p + 2) start = p + 2, end = i;
    }
    if (end == p) {
      base = 10;
      if (src_[p] == '0') {  // 0(_?0)*
        end = p + 1;
        while (end < src_.size() && (src_[end] == '0' || (src_[end] == '_' && end + 1 < src_.size() &&
                                                          src_[end + 1] == '0')))
          end += src_[end] == '_' ? 2 : 1;
      } else {
        end = digits(p, dec);
      }
      start = p;
    }
    int64_t v = 0;
    for (size_t k = start; k < end; ++k) {
      if (src_[k] == '_') continue;
      const int d = std::isdigit(static_cast<unsigned char>(src_[k]))
                        ? src_[k] - '0'
                        : std::tolower(static_cast<unsigned char>(src_[k])) - 'a' + 10;
      if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
        error(p, "integer literal too large");
    }
    Token t;
    t.type = Token::Type::Integer;
    t.int_value = v;
    t.value = src_.substr(p, end - p);
    locate(t, p);
    tokens_.push_back(std::move(t));
    return end;
  }

  size_t lex_string(size_t p) {
    const char quote = src_[p];
    size_t i = p + 1;
    while (i < src_.size() && src_[i] != quote) i += src_[i] == '\\' ? 2 : 1;
    if (i >= src_.size()) error(p, "unexpected char '" + std::string(1, quote) + "': unterminated string");
    Token t;
    t.type = Token::Type::String;
    t.value = unescape(src_.substr(p + 1, i - p - 1), p);
    locate(t, p);
    tokens_.push_back(std::move(t));
    return i + 1;
  }

  // Python's "unicode-escape" decoding of a string literal body.
  std::string unescape(const std::string& s, size_t pos) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out.push_back(s[i]);
        continue;
      }
      const char e = s[++i];
      auto hex = [&](int n, const char* what) {
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
          if (i + 1 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1]))) error(pos, what);
          const char h = static_cast<char>(std::tolower(static_cast<unsigned char>(s[++i])));
          v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : h - 'a' + 10);
        }
        return v;
      };
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x': append_utf8(out, hex(2, "truncated \\xXX escape")); break;
        case 'u': append_utf8(out, hex(4, "truncated \\uXXXX escape")); break;
        case 'U': {
          const uint32_t v = hex(8, "truncated \\UXXXXXXXX escape");
          if (v > 0x10FFFF) error(pos, "illegal Unicode character");
          append_utf8(out, v);
          break;
        }
        case 'N': error(pos, "named unicode escapes (\\N{...}) are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
              v = v * 8 + static_cast<uint32_t>(s[++i] - '0');
            append_utf8(out, v);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    return out;
  }

  size_t lex_operator(size_t p, std::vector<char>& balance) {
    static const char* const two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two)
      if (starts(p, op)) {
        emit(Token::Type::Operator, p, op);
        return p + 2;
      }
    const char c = src_[p];
    if (!std::strchr("+-/*%~[](){}><=.:|,;", c) || c == 0) {
      size_t j = p;
      const char32_t cp = next_cp(src_, j);
      std::string shown;
      append_utf8(shown, cp);
      error(p, "unexpected char " + py_str_repr(shown));
    }
    if (c == '(' || c == '[' || c == '{') balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error(p, std::string("unexpected '") + c + "'");
      if (balance.back() != c) error(p, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    emit(Token::Type::Operator, p, std::string(1, c));
    return p + 1;
  }

  const std::string& where_;
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& where) {
  return Lexer(source, where).run();
}

}  // namespace nova::chat
