// Access to the reference model fixtures (shared/fixtures/models/NAME): ref.json cases and the
// transformers logits they point into.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/session.h"
#include "support/fixtures.h"

namespace nova::test {

struct ModelCase {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> greedy;  // greedy_continuation
  std::vector<float> logits;    // [input_ids.size(), vocab]
  int64_t vocab = 0;
};

inline const std::vector<std::string>& fixture_models() {
  static const std::vector<std::string> names = {"llama-gqa", "llama3-rope", "llama-yarn", "llama-mha-tied", "qwen2",
                                                 "qwen3", "mistral-swa", "mixtral-moe", "qwen2-moe-shared"};
  return names;
}

inline std::string model_dir(const std::string& name) { return fixture("models/" + name); }

inline std::vector<ModelCase> model_cases(const std::string& name) {
  const nlohmann::json ref = nlohmann::json::parse(read_file(model_dir(name) + "/ref.json"));
  const std::vector<float> all = read_f32(model_dir(name) + "/logits.bin");
  std::vector<ModelCase> cases;
  for (const auto& c : ref.at("cases")) {
    ModelCase mc;
    mc.input_ids = c.at("input_ids").get<std::vector<int32_t>>();
    mc.greedy = c.at("greedy_continuation").get<std::vector<int32_t>>();
    const auto shape = c.at("logits_shape").get<std::vector<int64_t>>();
    const int64_t off = c.at("logits_offset_floats").get<int64_t>();
    mc.vocab = shape.at(1);
    mc.logits.assign(all.begin() + off, all.begin() + off + shape.at(0) * shape.at(1));
    cases.push_back(std::move(mc));
  }
  return cases;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

inline int32_t argmax(const float* v, int64_t n) {
  return static_cast<int32_t>(std::max_element(v, v + n) - v);  // first maximum, as torch.argmax
}

// The `count`-token greedy continuation after a prefill whose logits are in `logits` (the last
// row is read): each chosen token is fed back through `session`, as the reference generated it.
inline std::vector<int32_t> greedy_continuation(model::Session& session, std::vector<float>& logits, int64_t vocab,
                                                size_t count) {
  std::vector<int32_t> generated;
  int32_t next = argmax(logits.data() + logits.size() - vocab, vocab);
  for (size_t i = 0; i < count; ++i) {
    generated.push_back(next);
    if (i + 1 == count) break;
    session.forward(std::span<const int32_t>(&next, 1), logits);
    next = argmax(logits.data(), vocab);
  }
  return generated;
}

}  // namespace nova::test
