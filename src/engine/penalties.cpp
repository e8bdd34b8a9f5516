#include "engine/penalties.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace nova::engine {
namespace {

void check_ids(std::span<const int32_t> ids, size_t vocab, const char* where) {
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= vocab) {
      fail(where, "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
}

}  // namespace

void apply_repetition_penalty(std::span<float> logits, float penalty, const TokenHistory& history) {
  check_ids(history.prompt, logits.size(), "prompt");
  check_ids(history.generated, logits.size(), "generated tokens");
  if (penalty == 1.0f) return;
  // The set of seen ids: sort + unique keeps this O(history) memory rather than O(vocab).
  std::vector<int32_t> seen(history.prompt.begin(), history.prompt.end());
  seen.insert(seen.end(), history.generated.begin(), history.generated.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (int32_t id : seen) {
    float& l = logits[static_cast<size_t>(id)];
    l = l > 0 ? l / penalty : l * penalty;
  }
}

void apply_presence_frequency_penalty(std::span<float> logits, float presence, float frequency,
                                      std::span<const int32_t> generated) {
  check_ids(generated, logits.size(), "generated tokens");
  if (presence == 0.0f && frequency == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t id : generated) ++counts[id];
  for (const auto& [id, n] : counts) {
    logits[static_cast<size_t>(id)] -= presence + frequency * static_cast<float>(n);
  }
}

}  // namespace nova::engine
