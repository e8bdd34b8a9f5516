// The GPU trainer against the CPU one on tiny random models of every dense family
// (tests/train/tiny_configs.h): gradients, recompute, gradient accumulation, whole steps, and
// checkpoint save -> resume.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "formats/safetensors.h"
#include "gpu_test_util.h"
#include "support/fixtures.h"
#include "train/checkpoint.h"
#include "train/gpu/gpu_trainer.h"
#include "train/model_params.h"
#include "train/trainer.h"
#include "../tiny_configs.h"

namespace nova::train {
namespace {

ParamStore random_params(const formats::ModelConfig& c, uint64_t seed) {
  ParamStore p = make_params(c);
  init_params_random(p, seed, 0.2f);  // large enough that every path carries signal
  // Norm weights and biases away from their trivial init, so their gradients are exercised too.
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> jitter(-0.1f, 0.1f);
  for (Param& q : p.params()) {
    if (q.value.ndim() >= 2) continue;
    for (int64_t i = 0; i < q.numel(); ++i) q.data()[i] += jitter(rng);
  }
  return p;
}

TrainerConfig test_trainer_config() {
  TrainerConfig t;
  t.schedule.kind = LrScheduleKind::Constant;
  t.schedule.lr = 1e-2;
  t.grad_clip = 1.0;
  return t;
}

std::vector<std::pair<std::string, formats::ModelConfig>> dense_configs() {
  std::vector<std::pair<std::string, formats::ModelConfig>> out;
  for (auto& nc : test::tiny_configs())
    if (nc.second.num_experts == 0) out.push_back(nc);
  return out;
}

// Batch with some ignored targets, so the counting is exercised.
Batch masked_batch(int64_t B, int64_t T, int vocab, uint32_t seed) {
  Batch b = test::random_batch(B, T, vocab, seed);
  for (size_t i = 3; i < b.targets.size(); i += 7) b.targets[i] = -100;
  return b;
}

TEST(GpuTrainer, GradientsMatchCpuTrainModel) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : dense_configs()) {
    const ParamStore init = random_params(c, 11);
    const Batch b = masked_batch(2, 7, static_cast<int>(c.vocab_size), 5);
    TrainModel cpu(c, init);
    cpu.params().zero_grad();
    const LossParts want = cpu.forward_backward(b);
    for (bool bf16 : {false, true}) {
      GpuTrainModel gpu(c, init, {.device = 0, .bf16 = bf16, .recompute = false});
      gpu.enqueue_zero_grad();
      const int64_t count = gpu.enqueue(b, true, 1.0f / static_cast<float>(b.target_count()), 0);
      const double loss = gpu.read_scalars(1)[0] / static_cast<double>(count);
      ParamStore got = make_params(c);
      gpu.download_grads(got);
      const test::StoreDiff d = test::compare_stores(got, cpu.params(), true);
      std::printf("[ gpu vs cpu ] %-16s %s loss %.8f vs %.8f, worst grad rel L2 %.3g (%s)\n", name.c_str(),
                  bf16 ? "bf16" : "fp32", loss, want.loss, d.worst, d.name.c_str());
      EXPECT_EQ(count, want.tokens) << name;
      if (bf16) {
        EXPECT_NEAR(loss, want.loss, 2e-2 * want.loss) << name;
        EXPECT_LE(d.worst, 1e-1) << name << " " << d.name;
      } else {
        EXPECT_NEAR(loss, want.loss, 1e-5 * want.loss) << name;
        EXPECT_LE(d.worst, 1e-4) << name << " " << d.name;
      }
    }
  }
}

TEST(GpuTrainer, RecomputeGivesIdenticalGradients) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : dense_configs()) {
    const ParamStore init = random_params(c, 12);
    const Batch b = masked_batch(3, 9, static_cast<int>(c.vocab_size), 6);
    for (bool bf16 : {false, true}) {
      ParamStore g[2] = {make_params(c), make_params(c)};
      double loss[2] = {0, 0};
      for (int recompute = 0; recompute < 2; ++recompute) {
        GpuTrainModel gpu(c, init, {.device = 0, .bf16 = bf16, .recompute = recompute == 1});
        gpu.enqueue_zero_grad();
        gpu.enqueue(b, true, 0.01f, 0);
        loss[recompute] = gpu.read_scalars(1)[0];
        gpu.download_grads(g[recompute]);
      }
      EXPECT_EQ(loss[0], loss[1]) << name << (bf16 ? " bf16" : " fp32");
      EXPECT_TRUE(test::stores_equal(g[0], g[1], true)) << name << (bf16 ? " bf16" : " fp32");
    }
  }
}

TEST(GpuTrainer, StepsMatchCpuTrainer) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : dense_configs()) {
    const ParamStore init = random_params(c, 13);
    TrainModel cpu_model(c, init);
    Trainer cpu(cpu_model, test_trainer_config());
    GpuTrainer gpu(c, init, test_trainer_config(), {.device = 0, .bf16 = false, .recompute = false});
    for (int s = 0; s < 4; ++s) {
      const Batch b = masked_batch(2, 8, static_cast<int>(c.vocab_size), 100 + s);
      const StepResult want = cpu.step(b), got = gpu.step(b);
      EXPECT_EQ(got.step, want.step);
      EXPECT_EQ(got.tokens, want.tokens);
      EXPECT_DOUBLE_EQ(got.lr, want.lr);
      EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss) << name << " step " << s;
      EXPECT_NEAR(got.grad_norm, want.grad_norm, 1e-4 * want.grad_norm) << name << " step " << s;
    }
    ParamStore params = make_params(c);
    AdamW opt(params, test_trainer_config().adamw);
    gpu.download(params, opt);
    EXPECT_EQ(opt.step_count(), 4);
    // k_proj.bias: its unrotated features shift every key of a head equally, which softmax
    // ignores, so their exact gradient is 0 and Adam turns rounding noise into lr-sized steps.
    for (Param& p : params.params())
      if (p.name.find("k_proj.bias") != std::string::npos)
        std::copy_n(cpu_model.params().get(p.name).data(), p.numel(), p.data());
    const test::StoreDiff d = test::compare_stores(params, cpu_model.params(), false);
    std::printf("[ gpu vs cpu ] %-16s 4 steps: worst weight rel L2 %.3g (%s)\n", name.c_str(), d.worst, d.name.c_str());
    EXPECT_LE(d.worst, 1e-4) << name << " " << d.name;
  }
}

TEST(GpuTrainer, TwoMicroBatchesEqualOneBatch) {
  NOVA_REQUIRE_GPU();
  const formats::ModelConfig c = dense_configs()[0].second;
  const ParamStore init = random_params(c, 14);
  const Batch whole = masked_batch(4, 6, static_cast<int>(c.vocab_size), 7);
  Batch halves[2];
  for (int h = 0; h < 2; ++h) {
    halves[h].B = 2;
    halves[h].T = whole.T;
    const auto from = static_cast<std::ptrdiff_t>(h * 2 * whole.T), to = from + 2 * whole.T;
    halves[h].inputs.assign(whole.inputs.begin() + from, whole.inputs.begin() + to);
    halves[h].targets.assign(whole.targets.begin() + from, whole.targets.begin() + to);
  }
  for (bool bf16 : {false, true}) {
    GpuTrainer one(c, init, test_trainer_config(), {.device = 0, .bf16 = bf16, .recompute = false});
    GpuTrainer two(c, init, test_trainer_config(), {.device = 0, .bf16 = bf16, .recompute = false});
    const StepResult r1 = one.step(whole);
    const StepResult r2 = two.step(std::span<const Batch>(halves, 2));
    EXPECT_EQ(r1.tokens, r2.tokens);
    EXPECT_NEAR(r1.loss, r2.loss, 1e-6 * r1.loss) << bf16;
    EXPECT_NEAR(r1.grad_norm, r2.grad_norm, (bf16 ? 1e-2 : 1e-5) * r1.grad_norm) << bf16;
    ParamStore g1 = make_params(c), g2 = make_params(c);
    one.model().download_grads(g1);  // the step's gradients (AdamW reads them, leaves them)
    two.model().download_grads(g2);
    const test::StoreDiff d = test::compare_stores(g2, g1, true);
    EXPECT_LE(d.worst, bf16 ? 2e-2 : 1e-5) << d.name;
  }
}

TEST(GpuTrainer, SkipsNonFiniteAndEmptySteps) {
  NOVA_REQUIRE_GPU();
  const formats::ModelConfig c = dense_configs()[0].second;
  ParamStore init = random_params(c, 15);
  GpuTrainer gpu(c, init, test_trainer_config(), {.device = 0, .bf16 = false, .recompute = false});
  Batch empty = masked_batch(1, 4, static_cast<int>(c.vocab_size), 8);
  for (int32_t& t : empty.targets) t = -100;
  const StepResult r = gpu.step(empty);
  EXPECT_TRUE(r.skipped);
  EXPECT_EQ(gpu.step_count(), 0);
  // A NaN weight makes the loss non-finite: skipped, nothing changes.
  init.get(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight").data()[0] = NAN;
  GpuTrainer bad(c, init, test_trainer_config(), {.device = 0, .bf16 = false, .recompute = false});
  const StepResult rb = bad.step(masked_batch(1, 4, static_cast<int>(c.vocab_size), 9));
  EXPECT_TRUE(rb.skipped);
  EXPECT_NE(rb.skip_reason.find("not finite"), std::string::npos) << rb.skip_reason;
  EXPECT_EQ(bad.step_count(), 0);
  ParamStore after = make_params(c);
  AdamW opt(after, test_trainer_config().adamw);
  bad.download(after, opt);
  EXPECT_TRUE(std::isnan(after.get(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight").data()[0]));
  after.get(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight").data()[0] = 0;
  init.get(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight").data()[0] = 0;
  EXPECT_TRUE(test::stores_equal(after, init, false));
  // Bad ids are refused on the host before anything is queued.
  Batch oob = masked_batch(1, 4, static_cast<int>(c.vocab_size), 10);
  oob.targets[1] = static_cast<int32_t>(c.vocab_size);
  EXPECT_THROW(gpu.step(oob), Error);
  oob = masked_batch(1, 4, static_cast<int>(c.vocab_size), 10);
  oob.inputs[2] = -1;
  EXPECT_THROW(gpu.step(oob), Error);
}

TEST(GpuTrainer, CheckpointSaveAndResumeReproducesTheNextLosses) {
  NOVA_REQUIRE_GPU();
  const formats::ModelConfig c = dense_configs()[1].second;  // tied embeddings
  const ParamStore init = random_params(c, 16);
  std::vector<Batch> batches;
  for (int s = 0; s < 5; ++s) batches.push_back(masked_batch(2, 8, static_cast<int>(c.vocab_size), 200 + s));
  for (bool bf16 : {false, true}) {
    GpuTrainer full(c, init, test_trainer_config(), {.device = 0, .bf16 = bf16, .recompute = false});
    std::vector<double> want;
    for (const Batch& b : batches) want.push_back(full.step(b).loss);

    GpuTrainer first(c, init, test_trainer_config(), {.device = 0, .bf16 = bf16, .recompute = false});
    for (int s = 0; s < 3; ++s) EXPECT_EQ(first.step(batches[s]).loss, want[s]);
    ParamStore host = make_params(c);
    AdamW host_opt(host, test_trainer_config().adamw);
    first.download(host, host_opt);
    const std::string dir = nova::test::scratch_dir(std::string("gpu_resume_") + (bf16 ? "bf16" : "fp32")) + "/ckpt";
    CheckpointContents cc;
    cc.config = &c;
    cc.params = &host;
    cc.optimizer = &host_opt;
    write_checkpoint(dir, cc);

    ParamStore loaded = load_params(c, formats::Checkpoint::open_dir(dir));
    AdamW loaded_opt(loaded, test_trainer_config().adamw);
    load_optimizer_state(dir, loaded_opt);
    EXPECT_EQ(loaded_opt.step_count(), 3);
    GpuTrainer resumed(c, make_params(c), test_trainer_config(), {.device = 0, .bf16 = bf16, .recompute = false});
    resumed.upload(loaded, loaded_opt);
    EXPECT_EQ(resumed.step_count(), 3);
    for (int s = 3; s < 5; ++s) {
      const StepResult r = resumed.step(batches[s]);
      EXPECT_EQ(r.step, s);
      EXPECT_EQ(r.loss, want[s]) << (bf16 ? "bf16" : "fp32") << " step " << s;  // exact
    }
  }
}

}  // namespace
}  // namespace nova::train
