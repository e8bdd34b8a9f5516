#include "tokenizer/decoder.h"

#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

namespace {

std::string replace_all(const std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  std::string out;
  size_t pos = 0;
  for (size_t hit = s.find(from); hit != std::string::npos; hit = s.find(from, pos)) {
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// Maps each token's characters back to bytes (tokens with a character outside the byte table keep
// their UTF-8), joins everything and repairs invalid UTF-8 with U+FFFD.
class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool mapped = true;
      unicode::for_each_char(t, [&](char32_t c, size_t, size_t) {
        if (!mapped) return;
        const int b = unicode::char_to_byte(c);
        if (b < 0) mapped = false;
        else bytes += static_cast<char>(b);
      });
      if (!mapped) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::to_valid_utf8(bytes));
  }
};

enum class PrependScheme { Always, First, Never };

class Metaspace final : public Decoder {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme) : replacement_(replacement), scheme_(scheme) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      out.reserve(tokens[i].size());
      unicode::for_each_char(tokens[i], [&](char32_t c, size_t at, size_t len) {
        if (c != replacement_) out.append(tokens[i], at, len);
        else if (i != 0 || scheme_ == PrependScheme::Never) out += ' ';
      });
      tokens[i] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  PrependScheme scheme_;
};

class Replace final : public Decoder {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      for (const Span& s : pattern_.find_matches(t)) {
        if (s.is_match) out += content_;
        else out.append(t, s.start, s.end - s.start);
      }
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// "<0xAB>" tokens become bytes; each run of them becomes its text if valid UTF-8, else one U+FFFD per
// byte.
class ByteFallback final : public Decoder {
 public:
  bool joins_byte_runs() const override { return true; }
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (run_len == 0) return;
      if (unicode::is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_len; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex(t[3], t[4]);
      if (byte >= 0) {
        run += static_cast<char>(byte);
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int parse_hex(char hi, char lo) {
    const int h = hex_digit(hi), l = hex_digit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of `content` from every token.
class Strip final : public Decoder {
 public:
  Strip(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, size_t>> chars;  // (offset, length)
      std::vector<char32_t> cps;
      unicode::for_each_char(t, [&](char32_t c, size_t at, size_t len) {
        chars.emplace_back(at, len);
        cps.push_back(c);
      });
      size_t begin = 0;
      while (begin < start_ && begin < cps.size() && cps[begin] == content_) ++begin;
      size_t end = cps.size();
      for (size_t k = 0; k < stop_ && end > 0 && cps[end - 1] == content_; ++k) --end;
      if (end <= begin) {
        t.clear();
        continue;
      }
      const size_t b = chars[begin].first;
      const size_t e = end == cps.size() ? t.size() : chars[end].first;
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

std::string wordpiece_cleanup(const std::string& s) {
  std::string r = s;
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},   {" ,", ","},   {" ' ", "'"},  {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) r = replace_all(r, from, to);
  return r;
}

class WordPiece final : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t.insert(0, 1, ' ');
      }
      if (cleanup_) t = wordpiece_cleanup(t);
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class Ctc final : public Decoder {
 public:
  Ctc(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // collapse repeats
      std::string r = replace_all(tokens[i], pad_, "");
      if (cleanup_) r = replace_all(wordpiece_cleanup(r), delimiter_, " ");
      if (!r.empty()) out.push_back(std::move(r));
    }
    tokens = std::move(out);
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::shared_ptr<const Decoder>> parts) : parts_(std::move(parts)) {}
  bool joins_byte_runs() const override {
    for (const auto& p : parts_) {
      if (p->joins_byte_runs()) return true;
    }
    return false;
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::shared_ptr<const Decoder>> parts_;
};

size_t count_member(const json& j, std::string_view key, const JsonPath& where) {
  return static_cast<size_t>(as_int(require_member(j, key, where), where.at(key), 0, 1 << 20));
}

}  // namespace

std::shared_ptr<const Decoder> decoder_from_json(const json& j, const JsonPath& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return std::make_shared<ByteLevel>();
  if (type == "ByteFallback") return std::make_shared<ByteFallback>();
  if (type == "Fuse") return std::make_shared<Fuse>();
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
      scheme = PrependScheme::Never;
    }
    return std::make_shared<Metaspace>(replacement, scheme);
  }
  if (type == "Replace") {
    return std::make_shared<Replace>(Pattern::from_json(require_member(j, "pattern", where), where.at("pattern")),
                                     as_string(require_member(j, "content", where), where.at("content")));
  }
  if (type == "Strip") {
    return std::make_shared<Strip>(single_char_member(j, "content", where), count_member(j, "start", where),
                                   count_member(j, "stop", where));
  }
  if (type == "WordPiece") {
    return std::make_shared<WordPiece>(string_member(j, "prefix", where, "##"), bool_member(j, "cleanup", where, true));
  }
  if (type == "BPEDecoder") return std::make_shared<BpeDecoder>(string_member(j, "suffix", where, "</w>"));
  if (type == "CTC") {
    return std::make_shared<Ctc>(string_member(j, "pad_token", where, "<pad>"),
                                 string_member(j, "word_delimiter_token", where, "|"),
                                 bool_member(j, "cleanup", where, true));
  }
  if (type == "Sequence") {
    auto parts = sequence_members(j, "decoders", where, decoder_from_json);
    return std::make_shared<Sequence>(std::move(parts));
  }
  where.at("type").fail("unknown decoder type \"" + type + "\"");
}

}  // namespace nova::tokenizer
