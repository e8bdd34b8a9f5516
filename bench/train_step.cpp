// bench_train_step: training throughput of a random-weight Llama-style model on the CPU (fp32
// forward + backward + AdamW), as tokens/s and achieved FLOP/s against the fp32 FMA peak
// measured in the same run (bench_util.h).
// FLOPs per step: 6 * (matmul parameters: everything but the input embedding and norms) * tokens
// + causal attention: 12 * layers * q_heads * head_dim * (T + 1) / 2 per token (QK^T and PV,
// forward 1x + backward 2x; each query attends to (t + 1) keys).
// Then one more profiled step (train/step_profile.h) gives the time per phase, with the FLOPs
// and GFLOP/s of the matmul and attention phases.
// Usage: bench_train_step [--hidden 256] [--layers 4] [--heads 8] [--kv-heads 4] [--inter 688]
//                         [--vocab 4096] [--seq 256] [--batch 4] [--steps 5] [--recompute]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "train/model_params.h"
#include "train/step_profile.h"
#include "train/trainer.h"

namespace {

struct Options {
  int64_t hidden = 256, layers = 4, heads = 8, kv_heads = 4, inter = 688, vocab = 4096, seq = 256, batch = 4;
  int steps = 5;
  bool recompute = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--recompute") {
      o.recompute = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "flag %s needs a value\n", a.c_str());
      return 2;
    }
    const int64_t v = std::atoll(argv[++i]);
    if (a == "--hidden") o.hidden = v;
    else if (a == "--layers") o.layers = v;
    else if (a == "--heads") o.heads = v;
    else if (a == "--kv-heads") o.kv_heads = v;
    else if (a == "--inter") o.inter = v;
    else if (a == "--vocab") o.vocab = v;
    else if (a == "--seq") o.seq = v;
    else if (a == "--batch") o.batch = v;
    else if (a == "--steps") o.steps = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of bench/train_step.cpp)\n", a.c_str());
      return 2;
    }
  }
  using namespace nova;
  const IsaTier isa = active_isa();
  const bench::MachineBaseline base = bench::measure_baseline(isa, size_t(256) << 20);
  bench::print_baseline(base, isa);

  formats::ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = static_cast<int>(o.vocab);
  c.hidden_size = static_cast<int>(o.hidden);
  c.intermediate_size = static_cast<int>(o.inter);
  c.num_layers = static_cast<int>(o.layers);
  c.num_heads = static_cast<int>(o.heads);
  c.num_kv_heads = static_cast<int>(o.kv_heads);
  c.head_dim = static_cast<int>(o.hidden / o.heads);
  c.max_position_embeddings = static_cast<int>(o.seq);
  c.rms_norm_eps = 1e-5;
  c.layer_sliding.assign(static_cast<size_t>(o.layers), false);
  c.layer_moe.assign(static_cast<size_t>(o.layers), false);

  train::ParamStore params = train::make_params(c);
  train::init_params_random(params, 1, 0.02f);
  int64_t matmul_params = 0;
  for (const train::Param& p : params.params())
    if (p.value.ndim() >= 2 && p.name != "model.embed_tokens.weight") matmul_params += p.numel();
  const int64_t total_params = params.numel();
  train::TrainModel model(c, std::move(params), {.recompute = o.recompute});
  train::TrainerConfig tc;
  tc.schedule.lr = 1e-3;
  train::Trainer trainer(model, tc);

  std::mt19937 rng(7);
  std::vector<int32_t> tokens(static_cast<size_t>(o.batch * (o.seq + 1)));
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % o.vocab);
  const train::Batch batch = train::Batch::from_sequences(tokens.data(), o.batch, o.seq + 1);

  double last_loss = 0;
  const bench::Timing t = bench::time_repeats([&] { last_loss = trainer.step(batch).loss; }, o.steps, 1);
  const double tokens_per_step = double(o.batch * o.seq);
  const double attn_flops = 12.0 * double(o.layers) * double(o.heads * c.head_dim) * double(o.seq + 1) / 2.0;
  const double flops_per_step = (6.0 * double(matmul_params) + attn_flops) * tokens_per_step;
  std::printf(
      "model: llama hidden %lld, layers %lld, heads %lld/%lld, inter %lld, vocab %lld | params %.2fM (matmul %.2fM)\n",
      (long long)o.hidden, (long long)o.layers, (long long)o.heads, (long long)o.kv_heads, (long long)o.inter,
      (long long)o.vocab, total_params / 1e6, matmul_params / 1e6);
  std::printf("batch %lld x seq %lld = %.0f tokens/step | recompute %s | %d timed steps, loss %.4f\n",
              (long long)o.batch, (long long)o.seq, tokens_per_step, o.recompute ? "on" : "off", o.steps, last_loss);
  std::printf("step time: best %.1f ms, median %.1f ms\n", t.best * 1e3, t.median * 1e3);
  std::printf("throughput: %.0f tokens/s (best), %.0f tokens/s (median)\n", tokens_per_step / t.best,
              tokens_per_step / t.median);
  const double gflops = flops_per_step / t.best / 1e9;
  std::printf("achieved: %.1f GFLOP/s (%.2f GFLOP/step) = %.1f%% of the fp32 FMA peak %.1f GFLOP/s\n", gflops,
              flops_per_step / 1e9, base.fma_peak_gflops > 0 ? 100.0 * gflops / base.fma_peak_gflops : 0.0,
              base.fma_peak_gflops);

  // Per-phase breakdown of profiled steps (timed separately: the clock reads cost a little).
  train::reset_step_profile();
  train::set_step_profiling(true);
  const int profiled = std::max(1, o.steps);
  const double p0 = bench::now_seconds();
  for (int i = 0; i < profiled; ++i) trainer.step(batch);
  const double step_s = (bench::now_seconds() - p0) / profiled;
  train::set_step_profiling(false);
  const train::PhaseTotals prof = train::step_profile();
  // FLOPs per phase and step: each linear layer's forward, dX and dW are 2 * params * tokens each
  // (the embedding has no matmul; dX of the first layers' inputs is computed anyway).
  const double tok = tokens_per_step, lin = 2.0 * double(matmul_params) * tok;
  auto flops_of = [&](train::Phase p) {
    switch (p) {
      case train::Phase::MatmulFwd:
      case train::Phase::MatmulDx:
      case train::Phase::MatmulDw: return lin;
      case train::Phase::AttnFwd: return attn_flops * tok / 3.0;
      case train::Phase::AttnBwd: return attn_flops * tok * 2.0 / 3.0;
      default: return 0.0;
    }
  };
  std::printf("\nper-phase time of %d profiled steps (mean step %.1f ms):\n", profiled, step_s * 1e3);
  std::printf("  %-14s %9s %7s %9s %9s\n", "phase", "ms/step", "share", "calls", "GFLOP/s");
  double accounted = 0;
  for (int i = 0; i < static_cast<int>(train::Phase::kCount); ++i) {
    const auto ph = static_cast<train::Phase>(i);
    const double s = prof.seconds[i] / profiled;
    if (prof.calls[i] == 0) continue;
    accounted += s;
    const double f = flops_of(ph);
    char rate[32] = "";
    if (f > 0 && s > 0) std::snprintf(rate, sizeof rate, "%.1f", f / s / 1e9);
    std::printf("  %-14s %9.2f %6.1f%% %9lld %9s\n", train::phase_name(ph), s * 1e3, 100.0 * s / step_s,
                (long long)(prof.calls[i] / profiled), rate);
  }
  std::printf("  %-14s %9.2f %6.1f%%\n", "(other)", (step_s - accounted) * 1e3, 100.0 * (step_s - accounted) / step_s);
  return 0;
}
