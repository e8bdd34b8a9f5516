// bench_cuda_train: NovaLM's GPU trainer (train::GpuTrainer) on random-weight Llama-shaped models at
// sequence length 1024 — training tokens/s and MFU — beside the peak bf16 GEMM rate measured by
// cuBLASLt in the same process. bench/torch_train.py is the PyTorch side: same shapes, same batch,
// same mixed precision (fp32 master weights, bf16 GEMMs with fp32 accumulation, fused AdamW,
// global-norm clipping at 1.0), same FLOP formula.
//
// Shapes (tied embeddings for both):
//   124m: hidden 768, 12 layers, 12/12 heads, inter 2048, vocab 32000 (109.53M parameters)
//   1b:   Llama-3.2-1B: hidden 2048, 16 layers, 32/8 heads, inter 8192, vocab 128256 (1235.81M)
//   moe:  Mixtral-style MoE: hidden 1024, 8 layers, 16/8 heads, 8 experts of inter 2816, top-2
//         (norm_topk_prob), vocab 32000, load-balancing loss weight 0.02
//   moe-dense: the same with one dense FFN of inter 5632 per layer (= the MoE's active width)
// MoE: N_matmul counts the active parameters (router, and top_k / experts of the expert weights).
// Model FLOPs per token = 6 * N_matmul + 12 * layers * (q_heads * head_dim) * seq, where N_matmul
// is every weight a matmul reads (q, k, v, o, gate, up, down of each layer and the LM head,
// counted although it is tied to the embedding; not the embedding lookup nor the norms) and the
// attention term counts the full T x T scores (PaLM's convention, not the causal half).
// MFU = FLOPs per token * tokens/s / peak, the peak: the best of several cuBLASLt algorithms on a
// bf16 8192^3 product of random matrices (bf16 out, fp32 accumulation), each timed with events.
//
// Timing: --warmup untimed steps, then --steps timed ones; GpuTrainer::step returns after its one
// host sync (the loss), so each step is timed on the host clock; tokens/s from the median step.
//
// Usage: bench_cuda_train [--models 124m,1b (or moe, moe-dense)] [--batch 124m:64,1b:16 | N (every model)]
//                         [--steps 10] [--warmup 3] [--seq 1024] [--fp32 0|1] [--recompute 0|1]
//                         [--device 0] [--init parallel|reference]
// --init: `reference` is train::init_params_random (one thread: ~50 s for the 1B model, device
// time on a lent GPU); `parallel` (default) draws the same N(0, 0.02) matrices and unit norm
// weights on every core, chunk by chunk, with other values. Speed does not depend on the values.
// Sanity figures beside the speed: the loss of every step, and the loss of a batch no step saw
// (GpuTrainer::evaluate), as bench/torch_train.py prints them too.
// The default batches are the largest bench/torch_train.py's eager run fitted on an 80 GB H100.
// Output: one JSON line per measurement (prefix "JSON "), then a short table.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "random_model.h"
#include "core/error.h"
#include "formats/hf_config.h"
#include "train/batch.h"
#include "train/model_params.h"
#include "train/trainer.h"

#ifdef NOVA_HAVE_CUDA
#include "cuda_bench_util.h"
#include "train/gpu/gpu_trainer.h"
#endif

namespace {

struct Shape {
  std::string name;
  int hidden, inter, layers, heads, kv_heads, vocab;
  int experts = 0, top_k = 0;  // MoE: `inter` is each expert's width
};

const Shape kShapes[] = {
    {"124m", 768, 2048, 12, 12, 12, 32000},
    {"1b", 2048, 8192, 16, 32, 8, 128256},  // Llama-3.2-1B
    {"moe", 1024, 2816, 8, 16, 8, 32000, 8, 2},
    {"moe-dense", 1024, 5632, 8, 16, 8, 32000},
};
constexpr double kRouterAuxLossCoef = 0.02;  // Mixtral's

struct Options {
  std::vector<std::string> models{"124m", "1b"};
  std::map<std::string, int64_t> batch{{"124m", 64}, {"1b", 16}, {"moe", 16}, {"moe-dense", 16}};
  int64_t every_batch = 0;  // --batch N: this for every model
  int steps = 10, warmup = 3, device = 0;
  int64_t seq = 1024;
  bool fp32 = false, recompute = false, reference_init = false;
};

int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo) nova::fail("bench_cuda_train", flag + ": expected an integer >= " + std::to_string(lo) + ", got '" + v + "'");
  return x;
}

bool set_flag(Options& o, const std::string& f, const std::string& v) {
  if (f == "--models") {
    o.models = nova::bench::split_list(v);
    for (const std::string& m : o.models)
      if (std::none_of(std::begin(kShapes), std::end(kShapes), [&](const Shape& s) { return s.name == m; }))
        nova::fail("bench_cuda_train", "--models: unknown model '" + m + "' (124m, 1b, moe, moe-dense)");
  } else if (f == "--batch") {
    if (v.find(':') == std::string::npos) {
      o.every_batch = parse_int(f, v, 1);
    } else {
      for (const std::string& kv : nova::bench::split_list(v)) {
        const size_t c = kv.find(':');
        if (c == std::string::npos) nova::fail("bench_cuda_train", "--batch: expected model:N, got '" + kv + "'");
        const std::string m = kv.substr(0, c);
        if (std::none_of(std::begin(kShapes), std::end(kShapes), [&](const Shape& s) { return s.name == m; }))
          nova::fail("bench_cuda_train", "--batch: unknown model '" + m + "' (124m, 1b, moe, moe-dense)");
        o.batch[m] = parse_int(f, kv.substr(c + 1), 1);
      }
    }
  } else if (f == "--steps") o.steps = static_cast<int>(parse_int(f, v, 1));
  else if (f == "--warmup") o.warmup = static_cast<int>(parse_int(f, v, 0));
  else if (f == "--seq") o.seq = parse_int(f, v, 2);
  else if (f == "--fp32") o.fp32 = parse_int(f, v, 0) != 0;
  else if (f == "--recompute") o.recompute = parse_int(f, v, 0) != 0;
  else if (f == "--device") o.device = static_cast<int>(parse_int(f, v, 0));
  else if (f == "--init") {
    if (v != "parallel" && v != "reference") nova::fail("bench_cuda_train", "--init: parallel or reference, got '" + v + "'");
    o.reference_init = v == "reference";
  }
  else return false;
  return true;
}

#ifdef NOVA_HAVE_CUDA

nova::formats::ModelConfig llama_config(const Shape& s, int64_t seq) {
  nova::formats::ModelConfig c;
  c.model_type = "llama";
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = s.vocab;
  c.hidden_size = s.hidden;
  c.intermediate_size = s.inter;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.hidden / s.heads;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = static_cast<int>(std::max<int64_t>(seq, 2048));
  c.rope.theta = 500000.0;
  c.tie_word_embeddings = true;
  c.layer_sliding.assign(static_cast<size_t>(s.layers), false);
  c.layer_moe.assign(static_cast<size_t>(s.layers), s.experts > 0);
  if (s.experts > 0) {
    c.model_type = "mixtral";
    c.architecture = "MixtralForCausalLM";
    c.num_experts = s.experts;
    c.experts_per_token = s.top_k;
    c.moe_intermediate_size = s.inter;
    c.norm_topk_prob = true;
  }
  c.bos_token_id = 1;
  return c;
}

// N_matmul of the FLOP formula, from the parameter store: every matrix but the embedding, plus
// the LM head (vocab x hidden) when it is the tied embedding; a routed expert's matrices count
// top_k / experts of their size (the active parameters of a token).
int64_t matmul_params(const nova::train::ParamStore& params, const nova::formats::ModelConfig& c) {
  int64_t n = 0, routed = 0;
  for (const nova::train::Param& p : params.params()) {
    if (p.value.ndim() < 2 || p.name == "model.embed_tokens.weight") continue;
    (p.name.find(".experts.") != std::string::npos ? routed : n) += p.numel();
  }
  if (c.num_experts > 0) n += routed / c.num_experts * c.experts_per_token;
  if (c.tie_word_embeddings) n += int64_t{c.vocab_size} * c.hidden_size;
  return n;
}

double model_flops_per_token(const nova::formats::ModelConfig& c, int64_t n_matmul, int64_t seq) {
  return 6.0 * double(n_matmul) + 12.0 * c.num_layers * double(c.num_heads) * c.head_dim * double(seq);
}

// init_params_random's distribution (matrices ~ N(0, stddev), norm weights 1, biases 0), drawn on
// every pool thread: each chunk of 1M values has its own generator seeded by (parameter, chunk).
void init_params_parallel(nova::train::ParamStore& params, float stddev) {
  constexpr int64_t kChunk = int64_t{1} << 20;
  int64_t index = 0;
  for (nova::train::Param& p : params.params()) {
    float* v = p.data();
    const int64_t n = p.numel();
    ++index;
    if (p.value.ndim() < 2) {
      std::fill_n(v, n, p.name.find("norm.weight") != std::string::npos ? 1.0f : 0.0f);
      continue;
    }
    nova::ThreadPool::global().parallel_for((n + kChunk - 1) / kChunk, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        std::mt19937_64 rng(static_cast<uint64_t>(index) * 1000003u + static_cast<uint64_t>(c));
        std::normal_distribution<float> normal(0.0f, stddev);
        for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) v[i] = normal(rng);
      }
    });
  }
}

struct Row {
  std::string model;
  int64_t batch = 0;
  double tok_s = 0, step_ms = 0, tflops = 0, mfu = 0, mem_gib = 0, loss = 0;
};

// One model: init on the host, GpuTrainer, warm-up and timed steps. Prints its JSON line.
Row bench_model(const Shape& s, const Options& o, int64_t B, double peak) {
  using namespace nova;
  const formats::ModelConfig c = llama_config(s, o.seq);
  double t0 = bench::now_seconds(), init_s = 0, upload_s = 0;
  int64_t n_total = 0, n_matmul = 0;
  train::TrainerConfig tc;
  tc.schedule.lr = 1e-4;  // constant; AdamW betas (0.9, 0.95), eps 1e-8, decay 0.1; clip 1.0
  std::unique_ptr<train::GpuTrainer> trainer;
  {
    train::ParamStore params = train::make_params(c);
    if (o.reference_init)
      train::init_params_random(params, 1, 0.02f);
    else
      init_params_parallel(params, 0.02f);
    n_total = params.numel();
    n_matmul = matmul_params(params, c);
    init_s = bench::now_seconds() - t0;
    t0 = bench::now_seconds();
    trainer = std::make_unique<train::GpuTrainer>(
        c, params, tc,
        train::GpuTrainOptions{.device = o.device, .bf16 = !o.fp32, .recompute = o.recompute,
                               .router_aux_loss_coef = c.num_experts > 0 ? kRouterAuxLossCoef : 0.0});
    upload_s = bench::now_seconds() - t0;
  }  // the host copy is no longer needed

  std::mt19937 rng(7);
  std::vector<train::Batch> batches;
  std::vector<int32_t> tokens(static_cast<size_t>(B * (o.seq + 1)));
  for (int i = 0; i < 5; ++i) {  // 4 for the steps, 1 held out
    for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.vocab));
    batches.push_back(train::Batch::from_sequences(tokens.data(), B, o.seq + 1));
  }
  std::vector<double> losses, times;
  int skipped = 0;
  auto run_step = [&](int i) {
    const train::StepResult r = trainer->step(std::span<const train::Batch>(&batches[i % 4], 1));
    skipped += r.skipped ? 1 : 0;
    losses.push_back(r.loss);
  };
  const double t_warm = bench::now_seconds();
  for (int i = 0; i < o.warmup; ++i) run_step(i);
  const double warm_s = bench::now_seconds() - t_warm;
  for (int i = 0; i < o.steps; ++i) {
    const double t0 = bench::now_seconds();
    run_step(i);
    times.push_back(bench::now_seconds() - t0);
  }
  const double unseen_loss = trainer->evaluate(batches[4]).ce_loss;
  size_t free_b = 0, total_b = 0;
  nova::bench::cuda_ok(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double med = sorted[sorted.size() / 2], tok = double(B * o.seq);
  const double fpt = model_flops_per_token(c, n_matmul, o.seq);
  Row row{s.name, B, tok / med, med * 1e3, fpt * tok / med / 1e12, 0, double(total_b - free_b) / double(1 << 30),
          losses.back()};
  row.mfu = row.tflops / peak;
  const nlohmann::json j = {{"impl", "novalm"},
                            {"model", s.name},
                            {"precision", o.fp32 ? "fp32" : "bf16"},
                            {"recompute", o.recompute},
                            {"params", n_total},
                            {"params_matmul", n_matmul},
                            {"batch", B},
                            {"seq", o.seq},
                            {"tokens_per_step", B * o.seq},
                            {"steps", o.steps},
                            {"step_ms_median", med * 1e3},
                            {"step_ms_min", sorted.front() * 1e3},
                            {"tokens_per_s", row.tok_s},
                            {"model_flops_per_token", fpt},
                            {"achieved_tflops", row.tflops},
                            {"peak_tflops", peak},
                            {"mfu", row.mfu},
                            {"loss_first", losses.front()},
                            {"loss_last", losses.back()},
                            {"losses", losses},
                            {"unseen_batch_loss", unseen_loss},
                            {"skipped_steps", skipped},
                            {"init", o.reference_init ? "reference" : "parallel"},
                            {"init_s", init_s},
                            {"trainer_setup_s", upload_s},
                            {"warmup_s", warm_s},
                            {"device_mem_used_gib", row.mem_gib}};
  std::printf("JSON %s\n", j.dump().c_str());
  std::fflush(stdout);
  return row;
}

int run(const Options& o) {
  cudaDeviceProp prop{};
  nova::bench::cuda_ok(cudaSetDevice(o.device), "cudaSetDevice");
  nova::bench::cuda_ok(cudaGetDeviceProperties(&prop, o.device), "cudaGetDeviceProperties");
  std::printf("device %d: %s, %d SMs, %.1f GiB\n", o.device, prop.name, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / double(1 << 30));
  const double peak = nova::bench::peak_bf16_tflops(8192, 5);
  std::printf("JSON %s\n",
              nlohmann::json{{"impl", "novalm"}, {"measure", "peak_bf16_gemm"}, {"n", 8192}, {"tflops", peak}}.dump().c_str());
  std::fflush(stdout);
  std::vector<Row> rows;
  int failed = 0;
  for (const std::string& m : o.models) {
    const Shape& s = *std::find_if(std::begin(kShapes), std::end(kShapes), [&](const Shape& x) { return x.name == m; });
    const int64_t B = o.every_batch > 0 ? o.every_batch : o.batch.at(m);
    try {
      rows.push_back(bench_model(s, o, B, peak));
    } catch (const std::exception& e) {  // report and go on: the other model's figures stand
      ++failed;
      std::printf("JSON %s\n", nlohmann::json{{"impl", "novalm"}, {"model", m}, {"batch", B}, {"error", e.what()}}.dump().c_str());
      std::fflush(stdout);
    }
  }
  std::printf("\npeak bf16 GEMM (cuBLASLt 8192^3, best of 8 algorithms x 5): %.1f TFLOP/s\n", peak);
  std::printf("%-15s %-5s %5s %10s %8s %8s %6s %7s %7s\n", "impl", "model", "batch", "tok/s", "step ms", "TFLOP/s",
              "MFU", "mem GiB", "loss");
  for (const Row& r : rows)
    std::printf("%-15s %-5s %5lld %10.0f %8.1f %8.1f %5.1f%% %7.1f %7.3f\n", o.fp32 ? "novalm-fp32" : "novalm-bf16",
                r.model.c_str(), (long long)r.batch, r.tok_s, r.step_ms, r.tflops, 100 * r.mfu, r.mem_gib, r.loss);
  return failed ? 1 : 0;
}

#endif  // NOVA_HAVE_CUDA

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!nova::bench::parse_flags(argc, argv, "bench/cuda_train.cpp",
                                  [&](const std::string& f, const std::string& v) { return set_flag(o, f, v); }))
      return 2;
    for (const std::string& m : o.models)
      if (o.every_batch == 0 && !o.batch.count(m)) nova::fail("bench_cuda_train", "--batch: no batch for " + m);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
#ifdef NOVA_HAVE_CUDA
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_train: %s\n", e.what());
    return 1;
  }
#else
  std::fprintf(stderr,
               "bench_cuda_train: this build has no CUDA: configure with -DNOVA_CUDA=ON (and "
               "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc) on a machine with nvcc, run on one with a GPU\n");
  return 1;
#endif
}
