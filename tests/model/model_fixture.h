// Access to the reference model fixtures (shared/fixtures/models/NAME): ref.json cases and the
// transformers logits they point into.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace nova::test
