#include "tokenizer/normalizer.h"

#include <vector>

#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

namespace {

using unicode::NormalForm;

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode::to_lowercase(text); }
};

// Removes leading and/or trailing White_Space characters.
class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = text.size(), end = 0;
    unicode::for_each_char(text, [&](char32_t c, size_t at, size_t len) {
      if (unicode::is_whitespace(c)) return;
      if (begin == text.size()) begin = at;
      end = at + len;
    });
    if (begin == text.size()) {  // all whitespace
      if (left_ || right_) text.clear();
      return;
    }
    const size_t b = left_ ? begin : 0, e = right_ ? end : text.size();
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

// Drops combining marks (whatever decomposition produced them).
class StripAccents final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    unicode::for_each_char(text, [&](char32_t c, size_t at, size_t len) {
      if (!unicode::is_mark(c)) out.append(text, at, len);
    });
    text = std::move(out);
  }
};

class Replace final : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (const Span& s : pattern_.find_matches(text)) {
      if (s.is_match) out += content_;
      else out.append(text, s.start, s.end - s.start);
    }
    text = std::move(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// Each byte becomes its GPT-2 printable code point.
class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size() * 2);
    for (const char b : text) unicode::append_utf8(out, unicode::byte_to_char(static_cast<uint8_t>(b)));
    text = std::move(out);
  }
};

bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    unicode::for_each_char(text, [&](char32_t c, size_t at, size_t len) {
      if (clean_text_) {
        const bool tab_nl = c == '\t' || c == '\n' || c == '\r';
        if (c == 0 || c == 0xFFFD || (!tab_nl && unicode::is_other(c))) return;
        if (tab_nl || unicode::is_whitespace(c)) {
          out += ' ';
          return;
        }
      }
      if (chinese_ && is_cjk_ideograph(c)) {
        out += ' ';
        out.append(text, at, len);
        out += ' ';
        return;
      }
      out.append(text, at, len);
    });
    if (strip_accents_) {
      out = unicode::normalize(out, NormalForm::NFD);
      std::string kept;
      kept.reserve(out.size());
      unicode::for_each_char(out, [&](char32_t c, size_t at, size_t len) {
        if (!unicode::is_mark_nonspacing(c)) kept.append(out, at, len);
      });
      out = std::move(kept);
    }
    if (lowercase_) out = unicode::to_lowercase(out);
    text = std::move(out);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::shared_ptr<const Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::shared_ptr<const Normalizer>> parts_;
};

}  // namespace

std::shared_ptr<const Normalizer> normalizer_from_json(const json& j, const JsonPath& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "NFC") return std::make_shared<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_shared<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_shared<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_shared<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_shared<Lowercase>();
  if (type == "StripAccents") return std::make_shared<StripAccents>();
  if (type == "ByteLevel") return std::make_shared<ByteLevelNormalizer>();
  if (type == "Strip") {
    return std::make_shared<Strip>(bool_member(j, "strip_left", where, true),
                                   bool_member(j, "strip_right", where, true));
  }
  if (type == "Replace") {
    return std::make_shared<Replace>(Pattern::from_json(require_member(j, "pattern", where), where.at("pattern")),
                                     as_string(require_member(j, "content", where), where.at("content")));
  }
  if (type == "Prepend") {
    return std::make_shared<Prepend>(as_string(require_member(j, "prepend", where), where.at("prepend")));
  }
  if (type == "BertNormalizer") {
    const bool lowercase = bool_member(j, "lowercase", where, true);
    return std::make_shared<BertNormalizer>(bool_member(j, "clean_text", where, true),
                                            bool_member(j, "handle_chinese_chars", where, true),
                                            bool_member(j, "strip_accents", where, lowercase), lowercase);
  }
  if (type == "Precompiled") {
    // An empty charsmap is the identity; a real SentencePiece charsmap is not supported yet.
    const json* map = find_member(j, "precompiled_charsmap", where);
    if (!map || (map->is_string() && map->get_ref<const std::string&>().empty())) {
      return std::make_shared<Sequence>(std::vector<std::shared_ptr<const Normalizer>>{});
    }
    where.fail("normalizer type \"Precompiled\" (SentencePiece charsmap) is not supported");
  }
  if (type == "Sequence") {
    auto parts = sequence_members(j, "normalizers", where, normalizer_from_json);
    return std::make_shared<Sequence>(std::move(parts));
  }
  where.at("type").fail("unknown normalizer type \"" + type + "\"");
}

}  // namespace nova::tokenizer
