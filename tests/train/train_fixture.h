// The fixture's 10-step AdamW run (shared/fixtures/train/llama-train, transformers +
// torch.optim.AdamW) as the CPU and the GPU trainer tests read it: its tokens and reference
// values, the trainer configuration of its hyper-parameters, and the distance measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/fixtures.h"
#include "train/batch.h"
#include "train/trainer.h"

namespace nova::train::test {

inline const std::string kTrainFixtureDir = "train/llama-train";

struct TrainFixture {
  nlohmann::json ref;
  std::vector<int32_t> tokens;  // [steps, B, T + 1]
  int64_t B = 0, T = 0, steps = 0;

  TrainFixture() {
    ref = nlohmann::json::parse(nova::test::read_file(nova::test::fixture(kTrainFixtureDir + "/ref.json")));
    B = ref["B"];
    T = ref["T"];
    steps = ref["steps"];
    const std::string bytes = nova::test::read_file(nova::test::fixture(kTrainFixtureDir + "/tokens.bin"));
    tokens.resize(bytes.size() / 4);
    std::memcpy(tokens.data(), bytes.data(), tokens.size() * 4);
  }
  Batch batch(int64_t step) const { return Batch::from_sequences(tokens.data() + step * B * (T + 1), B, T + 1); }
  static std::string path(const std::string& rel) { return nova::test::fixture(kTrainFixtureDir + "/" + rel); }

  // The run's AdamW, constant lr and clipping, from ref.json's "hyperparams".
  TrainerConfig trainer_config() const {
    const nlohmann::json& hp = ref["hyperparams"];
    TrainerConfig c;
    c.adamw.beta1 = hp["betas"][0];
    c.adamw.beta2 = hp["betas"][1];
    c.adamw.eps = hp["eps"];
    c.adamw.weight_decay = hp["weight_decay"];
    c.schedule.kind = LrScheduleKind::Constant;
    c.schedule.lr = hp["lr"];
    c.grad_clip = hp["grad_clip"];
    return c;
  }
};

// ||a - b|| / ||b|| over n floats.
inline double rel_l2(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace nova::train::test
