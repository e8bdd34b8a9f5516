#include "tokenizer/tokenizer.h"

namespace nova::tokenizer {

namespace {

bool ends_with_replacement_char(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// Length of the longest common prefix of a and b that ends on a UTF-8 character boundary.
size_t common_prefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  while (n > 0 && n < b.size() && (static_cast<unsigned char>(b[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

// The pending ids are decoded together with the already-emitted ones before them (context), and the
// context's own text is subtracted: decoders such as Strip or Metaspace treat the first token of a
// sequence specially, and multi-byte characters can span several byte tokens. Text ending in U+FFFD
// may be an incomplete character, so it is held back until more ids arrive; so is everything while a
// run of byte-fallback tokens is open, since an invalid run decodes to U+FFFD for each of its bytes.
std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  // A skipped special token does not end a run of byte tokens: the run continues across it.
  if (!(skip_special_ && tokenizer_.is_special(id))) byte_run_open_ = tokenizer_.decode_pending_after(id);
  if (byte_run_open_) return {};
  const std::string text = tokenizer_.decode(ids_, skip_special_);
  if (text.size() <= context_text_.size() || ends_with_replacement_char(text)) return {};
  const size_t keep = text.compare(0, context_text_.size(), context_text_) == 0
                          ? context_text_.size()
                          : common_prefix(context_text_, text);
  std::string fresh = text.substr(keep);
  // The ids just emitted become the context of the next ones.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
  context_ = ids_.size();
  context_text_ = tokenizer_.decode(ids_, skip_special_);
  return fresh;
}

std::string StreamDecoder::flush() {
  byte_run_open_ = false;
  if (context_ == ids_.size()) return {};
  const std::string text = tokenizer_.decode(ids_, skip_special_);
  std::string rest = text.size() > context_text_.size() ? text.substr(common_prefix(context_text_, text)) : "";
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
  context_ = ids_.size();
  context_text_ = tokenizer_.decode(ids_, skip_special_);
  return rest;
}

}  // namespace nova::tokenizer
