// Test doubles for the engine: a deterministic toy language model behind model::Session, and a
// fake detokenizer whose tokens are arbitrary strings. Neither needs real weights or a tokenizer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "engine/detokenizer.h"
#include "model/session.h"

namespace nova::test {

// Logits of the next token as a function of the whole token history (what the "KV cache" holds).
using ToyLogitsFn = std::function<void(std::span<const int32_t> history, std::span<float> logits)>;

// An order-2 Markov model: logits from a hash of the last two tokens, spread in [-scale, scale].
inline ToyLogitsFn markov_logits(uint64_t salt, float scale = 3.0f) {
  return [salt, scale](std::span<const int32_t> h, std::span<float> out) {
    const uint64_t a = h.size() >= 1 ? static_cast<uint64_t>(h[h.size() - 1]) : 0xffff;
    const uint64_t b = h.size() >= 2 ? static_cast<uint64_t>(h[h.size() - 2]) : 0xffff;
    for (size_t t = 0; t < out.size(); ++t) {
      uint64_t x = salt ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^ (t * 0x165667B19E3779F9ull);
      x ^= x >> 31;
      x *= 0xBF58476D1CE4E5B9ull;
      x ^= x >> 29;
      out[t] = scale * (static_cast<float>(x % 20001) / 10000.0f - 1.0f);
    }
  };
}

class ToySession : public model::Session {
 public:
  ToySession(int vocab, int64_t capacity, ToyLogitsFn fn)
      : vocab_(vocab), capacity_(capacity), fn_(std::make_shared<ToyLogitsFn>(std::move(fn))),
        calls_(std::make_shared<std::vector<size_t>>()) {}

  int vocab_size() const override { return vocab_; }
  int64_t length() const override { return static_cast<int64_t>(tokens_.size()); }
  int64_t capacity() const override { return capacity_; }

  void forward(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits = false) override {
    nova::require(!ids.empty(), "toy", "forward with no ids");
    nova::require(length() + static_cast<int64_t>(ids.size()) <= capacity_, "toy", "capacity exceeded");
    for (int32_t id : ids) nova::require(id >= 0 && id < vocab_, "toy", "id out of range");
    calls_->push_back(ids.size());
    const size_t rows = all_logits ? ids.size() : 1;
    logits.assign(rows * static_cast<size_t>(vocab_), 0.0f);
    for (size_t i = 0; i < ids.size(); ++i) {
      tokens_.push_back(ids[i]);
      const size_t row = all_logits ? i : 0;
      if (all_logits || i + 1 == ids.size()) {
        (*fn_)(tokens_, std::span<float>(logits).subspan(row * vocab_, vocab_));
      }
    }
  }

  std::unique_ptr<model::Session> fork() const override { return std::make_unique<ToySession>(*this); }
  void truncate(int64_t n) override {
    if (n < length()) tokens_.resize(static_cast<size_t>(n));
  }

  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Sizes of every forward call made by this session and all its forks.
  const std::vector<size_t>& calls() const { return *calls_; }

  // The logits a fresh model gives after `history` (for checking the engine by hand).
  std::vector<float> logits_after(std::span<const int32_t> history) const {
    std::vector<float> out(static_cast<size_t>(vocab_));
    (*fn_)(history, out);
    return out;
  }

 private:
  int vocab_;
  int64_t capacity_;
  std::shared_ptr<ToyLogitsFn> fn_;
  std::shared_ptr<std::vector<size_t>> calls_;
  std::vector<int32_t> tokens_;
};

// Each id decodes to pieces[id] (raw bytes, possibly a partial UTF-8 character). Ids listed in
// `special` are special tokens (skipped when asked). Like the real StreamDecoder it never emits
// half a UTF-8 character; flush() emits the rest as U+FFFD.
class FakeDetokenizer : public engine::Detokenizer {
 public:
  explicit FakeDetokenizer(std::vector<std::string> pieces, std::vector<int32_t> special = {})
      : pieces_(std::move(pieces)), special_(std::move(special)) {}

  class Stream : public engine::TextStream {
   public:
    Stream(const FakeDetokenizer& d, bool skip) : d_(d), skip_(skip) {}
    std::string push(int32_t id) override {
      const bool special = std::find(d_.special_.begin(), d_.special_.end(), id) != d_.special_.end();
      if (special && skip_) return {};
      pending_ += d_.pieces_.at(static_cast<size_t>(id));
      const size_t n = complete_prefix(pending_);
      std::string out = pending_.substr(0, n);
      pending_.erase(0, n);
      return out;
    }
    std::string flush() override {
      std::string out = pending_.empty() ? "" : "\xEF\xBF\xBD";
      pending_.clear();
      return out;
    }

   private:
    // Length of the longest prefix that does not end inside a UTF-8 character.
    static size_t complete_prefix(const std::string& s) {
      size_t i = s.size();
      size_t back = 0;
      while (i > 0 && back < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i, ++back;
      if (i == 0) return s.size();
      const auto lead = static_cast<unsigned char>(s[i - 1]);
      const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      return back + 1 >= need ? s.size() : i - 1;
    }
    const FakeDetokenizer& d_;
    bool skip_;
    std::string pending_;
  };

  std::unique_ptr<engine::TextStream> open_stream(bool skip_special_tokens) const override {
    return std::make_unique<Stream>(*this, skip_special_tokens);
  }

  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const {
    std::string s;
    for (int32_t id : ids) {
      if (skip_special && std::find(special_.begin(), special_.end(), id) != special_.end()) continue;
      s += pieces_.at(static_cast<size_t>(id));
    }
    return s;
  }

 private:
  std::vector<std::string> pieces_;
  std::vector<int32_t> special_;
};

// A model that follows a script: after the prompt, it strongly prefers script[i] as the i-th
// generated token (scripted by position after the first `prompt_len` tokens).
inline ToyLogitsFn scripted_logits(std::vector<int32_t> script, size_t prompt_len) {
  return [script = std::move(script), prompt_len](std::span<const int32_t> h, std::span<float> out) {
    std::fill(out.begin(), out.end(), 0.0f);
    const size_t i = h.size() - prompt_len;
    if (i < script.size()) out[static_cast<size_t>(script[i])] = 20.0f;
  };
}

}  // namespace nova::test
