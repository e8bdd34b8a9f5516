#include "engine/stop_criteria.h"

#include <algorithm>

#include "core/error.h"

namespace nova::engine {

StopCriteria::StopCriteria(StopConfig config, std::unique_ptr<TextStream> text)
    : config_(std::move(config)), text_(std::move(text)) {
  require(config_.max_tokens >= 0, "max_tokens", "must be >= 0, got " + std::to_string(config_.max_tokens));
  for (size_t i = 0; i < config_.stop_strings.size(); ++i) {
    require(!config_.stop_strings[i].empty(), "stop[" + std::to_string(i) + "]", "a stop string must not be empty");
  }
  require(config_.stop_strings.empty() || text_ != nullptr, "stop", "stop strings need a tokenizer to decode text");
  if (config_.max_tokens == 0) finish_reason_ = "length";
}

std::string StopCriteria::push(int32_t id) {
  if (finished()) fail("generate", "token pushed after the sequence finished");
  ++generated_;
  if (std::find(config_.stop_token_ids.begin(), config_.stop_token_ids.end(), id) != config_.stop_token_ids.end()) {
    matched_token_ = id;  // its own text is never decoded
    return release_and_finish("stop");
  }
  std::string out = add_text(text_ ? text_->push(id) : std::string());
  if (finished()) return out;
  if (generated_ >= config_.max_tokens) out += release_and_finish("length");
  return out;
}

std::string StopCriteria::finish_early(const std::string& reason) {
  require(!finished(), "generate", "sequence finished twice");
  if (reason == "cancelled") {
    held_.clear();
    finish_reason_ = reason;
    return {};
  }
  return release_and_finish(reason);
}

std::string StopCriteria::add_text(std::string_view text) {
  if (config_.stop_strings.empty()) return std::string(text);
  held_.append(text);

  // A complete stop string: the earliest occurrence wins, then the first listed.
  size_t best_pos = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& s : config_.stop_strings) {
    const size_t pos = held_.find(s);
    if (pos < best_pos) {
      best_pos = pos;
      best = &s;
    }
  }
  if (best != nullptr) {
    std::string out = held_.substr(0, best_pos);
    held_.clear();
    matched_string_ = *best;
    finish_reason_ = "stop";
    return out;
  }

  // Hold back the longest tail that is a proper prefix of some stop string. Any future match has
  // to start inside it, because everything before it can no longer begin a stop string.
  size_t hold = 0;
  for (const std::string& s : config_.stop_strings) {
    for (size_t n = std::min(s.size() - 1, held_.size()); n > hold; --n) {
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopCriteria::release_and_finish(const std::string& reason) {
  std::string out = add_text(text_ ? text_->flush() : std::string());
  if (finished()) return out;  // the decoder's last bytes completed a stop string
  out += held_;
  held_.clear();
  finish_reason_ = reason;
  return out;
}

}  // namespace nova::engine
