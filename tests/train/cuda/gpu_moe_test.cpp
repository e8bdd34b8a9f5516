// MoE layers in the GPU trainer against the CPU trainer (train/layers/moe.cpp) on tiny Mixtral /
// Qwen2-MoE models: losses, load-balancing loss and every gradient (with and without the shared
// expert and norm_topk_prob, padded and unpadded expert groups, the scalar and vectorised
// kernel paths), recompute, whole optimiser steps, and a GPU-trained checkpoint that the CPU
// trainer and the inference model load.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "formats/safetensors.h"
#include "gpu_test_util.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/transformer.h"
#include "support/fixtures.h"
#include "train/checkpoint.h"
#include "train/gpu/gpu_device.h"
#include "train/gpu/gpu_trainer.h"
#include "train/model_params.h"
#include "train/trainer.h"
#include "../tiny_configs.h"

namespace nova::train {
namespace {

constexpr double kAux = 0.3;  // large, so that the load-balancing gradient is clearly visible

ParamStore random_params(const formats::ModelConfig& c, uint64_t seed) {
  ParamStore p = make_params(c);
  init_params_random(p, seed, 0.2f);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> jitter(-0.1f, 0.1f);
  for (Param& q : p.params()) {
    if (q.value.ndim() >= 2) continue;
    for (int64_t i = 0; i < q.numel(); ++i) q.data()[i] += jitter(rng);
  }
  return p;
}

// The tiny MoE families, each also with norm_topk_prob flipped; a Mixtral with a shared expert;
// and one whose hidden size is not a multiple of 8 (the kernels' scalar paths).
std::vector<std::pair<std::string, formats::ModelConfig>> moe_configs() {
  std::vector<std::pair<std::string, formats::ModelConfig>> out;
  for (auto [name, c] : test::tiny_configs()) {
    if (c.num_experts == 0) continue;
    if (c.model_type == "mixtral") c.intermediate_size = c.moe_intermediate_size;  // as its config.json says
    out.emplace_back(name, c);
    formats::ModelConfig flipped = c;
    flipped.norm_topk_prob = !c.norm_topk_prob;
    out.emplace_back(name + (flipped.norm_topk_prob ? "_norm" : "_raw"), flipped);
  }
  formats::ModelConfig shared = out[0].second;
  shared.model_type = "qwen2_moe";
  shared.shared_expert_intermediate_size = 20;
  shared.num_experts = 6;
  shared.experts_per_token = 3;
  out.emplace_back("moe_shared_top3", shared);
  formats::ModelConfig odd = out[0].second;
  odd.hidden_size = 20;
  out.emplace_back("mixtral_hidden20", odd);
  return out;
}

TrainerConfig trainer_config() {
  TrainerConfig t;
  t.schedule.kind = LrScheduleKind::Constant;
  t.schedule.lr = 1e-2;
  t.grad_clip = 1.0;
  return t;
}

Batch masked_batch(int64_t B, int64_t T, int vocab, uint32_t seed) {
  Batch b = test::random_batch(B, T, vocab, seed);
  for (size_t i = 3; i < b.targets.size(); i += 7) b.targets[i] = -100;
  return b;
}

TEST(GpuMoe, TinyMoeModelsAreTrainable) {
  for (const auto& [name, c] : moe_configs()) EXPECT_NO_THROW(check_gpu_trainable_model(c, "x")) << name;
  formats::ModelConfig c = moe_configs()[0].second;
  c.num_experts = 257;
  EXPECT_THROW(check_gpu_trainable_model(c, "x"), Error);
}

// Parameters whose bf16 gradients are sensitive to routing: the routed experts (a token whose router
// probabilities are close can pick another expert than in fp32, as the router reads the bf16 h2,
// which moves its whole contribution between two experts' gradients), the router and the shared
// expert's gate (their gradients are differences of nearly equal dot products, e.g. dout . y_1 -
// dout . y_2 with the outputs y in bf16).
bool routing_param(const std::string& name) {
  for (const char* part : {".experts.", "block_sparse_moe.gate.weight", "mlp.gate.weight", "shared_expert_gate"})
    if (name.find(part) != std::string::npos) return true;
  return false;
}

// One forward+backward of `b` with the load-balancing loss: GPU against CPU. bf16: the parameters
// of routing_param get a looser bound than the rest of the model.
void compare_gradients(const std::string& name, const formats::ModelConfig& c, const Batch& b, uint64_t seed) {
  const ParamStore init = random_params(c, seed);
  TrainModel cpu(c, init, {.recompute = false, .router_aux_loss_coef = kAux});
  cpu.params().zero_grad();
  const LossParts want = cpu.forward_backward(b);
  for (bool bf16 : {false, true}) {
    GpuTrainModel gpu(c, init, {.device = 0, .bf16 = bf16, .recompute = false});
    gpu.enqueue_zero_grad();
    const int64_t count = gpu.enqueue(b, true, 1.0f / static_cast<float>(b.target_count()), 0, 1, kAux);
    const std::vector<double> s = gpu.read_scalars(2);
    const double ce = s[0] / static_cast<double>(count), aux = s[1];
    ParamStore got = make_params(c);
    gpu.download_grads(got);
    const test::StoreDiff d = test::compare_stores(got, cpu.params(), true);
    test::StoreDiff rest;  // every parameter but the routing ones
    for (const Param& q : got.params()) {
      if (routing_param(q.name)) continue;
      const double e = test::rel_l2(q.grad.data_as<float>(), cpu.params().get(q.name).grad.data_as<float>(), q.numel());
      if (e >= rest.worst) rest = {e, q.name};
    }
    std::printf("[ gpu moe ] %-27s %s ce %.7f vs %.7f, aux %.7f vs %.7f, worst grad rel L2 %.3g (%s), %.3g without "
                "routing (%s)\n",
                name.c_str(), bf16 ? "bf16" : "fp32", ce, want.ce_loss, aux, want.aux_loss, d.worst, d.name.c_str(),
                rest.worst, rest.name.c_str());
    EXPECT_EQ(count, want.tokens) << name;
    if (bf16) {
      EXPECT_NEAR(ce, want.ce_loss, 2e-2 * want.ce_loss) << name;
      EXPECT_NEAR(aux, want.aux_loss, 2e-2 * want.aux_loss) << name;
      // (The other parameters' gradients pass through the MoE block too: 0.12 at most measured,
      // on the large batch's post-attention norm; the dense models' bf16 bound is 0.1.)
      EXPECT_LE(rest.worst, 0.15) << name << " " << rest.name;
      EXPECT_LE(d.worst, 0.35) << name << " " << d.name;
    } else {
      EXPECT_NEAR(ce, want.ce_loss, 1e-5 * want.ce_loss) << name;
      EXPECT_NEAR(aux, want.aux_loss, 1e-5 * want.aux_loss) << name;
      EXPECT_LE(d.worst, 1e-4) << name << " " << d.name;
    }
  }
}

TEST(GpuMoe, GradientsMatchCpuTrainModel) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : moe_configs())
    compare_gradients(name, c, masked_batch(2, 7, static_cast<int>(c.vocab_size), 5), 11);
}

TEST(GpuMoe, GradientsMatchWithExpertGroupsPastThePadding) {
  NOVA_REQUIRE_GPU();
  // 4 x 48 rows, top-2 of 4 experts: ~96 rows per expert, more than one 64-row pad group.
  const auto configs = moe_configs();
  for (int i : {0, 3}) {
    const auto& [name, c] = configs[static_cast<size_t>(i)];
    compare_gradients(name + "_large", c, masked_batch(4, 48, static_cast<int>(c.vocab_size), 6), 12);
  }
}

TEST(GpuMoe, RecomputeGivesIdenticalGradients) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : moe_configs()) {
    const ParamStore init = random_params(c, 13);
    const Batch b = masked_batch(3, 9, static_cast<int>(c.vocab_size), 6);
    for (bool bf16 : {false, true}) {
      ParamStore g[2] = {make_params(c), make_params(c)};
      double loss[2] = {0, 0};
      for (int recompute = 0; recompute < 2; ++recompute) {
        GpuTrainModel gpu(c, init, {.device = 0, .bf16 = bf16, .recompute = recompute == 1});
        gpu.enqueue_zero_grad();
        gpu.enqueue(b, true, 0.01f, 0, 1, kAux);
        loss[recompute] = gpu.read_scalars(1)[0];
        gpu.download_grads(g[recompute]);
      }
      EXPECT_EQ(loss[0], loss[1]) << name << (bf16 ? " bf16" : " fp32");
      EXPECT_TRUE(test::stores_equal(g[0], g[1], true)) << name << (bf16 ? " bf16" : " fp32");
    }
  }
}

TEST(GpuMoe, StepsMatchCpuTrainer) {
  NOVA_REQUIRE_GPU();
  for (const auto& [name, c] : moe_configs()) {
    const ParamStore init = random_params(c, 14);
    TrainModel cpu_model(c, init, {.recompute = false, .router_aux_loss_coef = kAux});
    Trainer cpu(cpu_model, trainer_config());
    GpuTrainer gpu(c, init, trainer_config(),
                   {.device = 0, .bf16 = false, .recompute = false, .router_aux_loss_coef = kAux});
    for (int s = 0; s < 4; ++s) {
      // Step 2 has two micro-batches (gradient accumulation weights the aux loss too).
      std::vector<Batch> bs = {masked_batch(2, 8, static_cast<int>(c.vocab_size), 100 + s)};
      if (s == 2) bs.push_back(masked_batch(1, 5, static_cast<int>(c.vocab_size), 300));
      const StepResult want = cpu.step(bs), got = gpu.step(bs);
      EXPECT_EQ(got.tokens, want.tokens);
      EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss) << name << " step " << s;
      EXPECT_NEAR(got.ce_loss, want.ce_loss, 1e-5 * want.ce_loss) << name << " step " << s;
      EXPECT_NEAR(got.aux_loss, want.aux_loss, 1e-5 * want.aux_loss) << name << " step " << s;
      EXPECT_NEAR(got.grad_norm, want.grad_norm, 1e-4 * want.grad_norm) << name << " step " << s;
    }
    ParamStore params = make_params(c);
    AdamW opt(params, trainer_config().adamw);
    gpu.download(params, opt);
    EXPECT_EQ(opt.step_count(), 4);
    // k_proj.bias: its exact gradient is 0 (softmax ignores a per-head key shift), so Adam turns
    // rounding noise into lr-sized steps (as in gpu_trainer_test).
    for (Param& p : params.params())
      if (p.name.find("k_proj.bias") != std::string::npos)
        std::copy_n(cpu_model.params().get(p.name).data(), p.numel(), p.data());
    const test::StoreDiff d = test::compare_stores(params, cpu_model.params(), false);
    std::printf("[ gpu moe ] %-27s 4 steps: worst weight rel L2 %.3g (%s)\n", name.c_str(), d.worst, d.name.c_str());
    // Looser than the gradients' 1e-4: Adam divides by sqrt(v), so an expert entry whose gradient
    // is ~0 (few tokens routed there) turns rounding differences into lr-sized steps.
    EXPECT_LE(d.worst, 1e-3) << name << " " << d.name;
    // evaluate() reports the objective's parts as TrainModel::forward does.
    const Batch e = masked_batch(2, 6, static_cast<int>(c.vocab_size), 400);
    const LossParts ge = gpu.evaluate(e), ce = cpu_model.forward(e);
    EXPECT_NEAR(ge.loss, ce.loss, 1e-4 * ce.loss) << name;
    EXPECT_NEAR(ge.aux_loss, ce.aux_loss, 1e-4 * ce.aux_loss) << name;
  }
}

TEST(GpuMoe, CheckpointLoadsInTheCpuTrainerAndInference) {
  NOVA_REQUIRE_GPU();
  const auto configs = moe_configs();
  for (int i : {0, 2}) {  // Mixtral's expert names, Qwen2-MoE's (shared expert, a dense layer)
    const auto& [name, c] = configs[static_cast<size_t>(i)];
    const ParamStore init = random_params(c, 15);
    GpuTrainer gpu(c, init, trainer_config(),
                   {.device = 0, .bf16 = true, .recompute = true, .router_aux_loss_coef = kAux});
    for (int s = 0; s < 3; ++s) gpu.step(masked_batch(2, 8, static_cast<int>(c.vocab_size), 500 + s));
    ParamStore host = make_params(c);
    AdamW host_opt(host, trainer_config().adamw);
    gpu.download(host, host_opt);
    const std::string dir = nova::test::scratch_dir("gpu_moe_ckpt_" + name) + "/ckpt";
    CheckpointContents cc;
    cc.config = &c;
    cc.params = &host;
    cc.optimizer = &host_opt;
    write_checkpoint(dir, cc);

    // The CPU trainer resumes from it: same values and optimiser state.
    ParamStore loaded = load_params(c, formats::Checkpoint::open_dir(dir));
    AdamW loaded_opt(loaded, trainer_config().adamw);
    load_optimizer_state(dir, loaded_opt);
    EXPECT_EQ(loaded_opt.step_count(), 3);
    EXPECT_TRUE(test::stores_equal(loaded, host, false)) << name;

    // Inference on the saved model computes the training forward's logits.
    const Batch b = test::random_batch(1, 9, static_cast<int>(c.vocab_size), 3);
    TrainModel cpu(c, loaded, {});
    cpu.forward(b);
    auto inference = model::Transformer::create(c, formats::Checkpoint::open_dir(dir), kernels::CpuBackend::instance());
    std::vector<float> logits;
    inference->new_session(16)->forward(b.inputs, logits, true);
    const std::vector<float>& ours = cpu.last_logits();
    ASSERT_EQ(logits.size(), ours.size()) << name;
    double max_diff = 0;
    for (size_t j = 0; j < ours.size(); ++j) max_diff = std::max(max_diff, double(std::abs(ours[j] - logits[j])));
    EXPECT_LE(max_diff, 1e-4) << name;

    // And the GPU trainer resumes from it exactly.
    GpuTrainer resumed(c, make_params(c), trainer_config(),
                       {.device = 0, .bf16 = true, .recompute = true, .router_aux_loss_coef = kAux});
    resumed.upload(loaded, loaded_opt);
    const Batch next = masked_batch(2, 8, static_cast<int>(c.vocab_size), 503);
    EXPECT_EQ(resumed.step(next).loss, gpu.step(next).loss) << name;
  }
}

}  // namespace
}  // namespace nova::train
