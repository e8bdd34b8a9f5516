// bench_cuda_moe: an MoE model on the GPU — a random-weight Mixtral shape (hidden 2048, 16 layers,
// 16/8 heads, 8 experts of 5632, top-2, vocab 32000; 9.3 GB of bf16 weights) — decode tokens/s at
// batch 1 and batch 32 and prefill tokens/s of a 512-token prompt, with the routed experts run
// two ways in the same process: the CUDA backend's moe_experts kernels (device routing, grouped
// GEMMs, no host synchronisation) and Backend's composition (NOVA_CUDA_MOE=0: routing downloaded
// in every MoE layer, then one expert at a time). Batch 1 is printed beside its roofline: the
// bytes one decode step reads (attention, router, the two routed experts, LM head, KV) over the
// device-to-device copy bandwidth measured in the same run.
// Usage: bench_cuda_moe [--layers 16] [--experts 8] [--topk 2] [--inter 5632] [--hidden 2048]
//                       [--prompt 512] [--decode 32] [--context 256] [--batch 32 (0: skip)]
//                       [--micro 1 (0: skip)] [--device cuda]
// --micro times one layer's moe_experts alone (rows 1, 32, 512; the default composition beside
// it): weight bytes the call must read per second, and tensor FLOP/s.
// bench/torch_moe.py measures transformers' MixtralForCausalLM (eager, bf16) on the same shape.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"
#include "random_model.h"

namespace {

using nova::DType;
using nova::Tensor;
namespace fs = std::filesystem;

struct Options {
  int64_t hidden = 2048, layers = 16, heads = 16, kv_heads = 8, experts = 8, topk = 2, inter = 5632, vocab = 32000;
  int64_t prompt = 512, decode = 32, context = 256, batch = 32, micro = 1;
  std::string device = "cuda";
};

// Random bf16 values of scale 0.02, one 64 MiB block repeated: every matrix is a view of it.
class RandomPool {
 public:
  explicit RandomPool(size_t elems) : buf_(elems) {
    nova::bench::XorShift rng;
    const size_t block = std::min(elems, size_t{32} << 20);
    for (size_t i = 0; i < block; ++i) buf_[i] = nova::f32_to_bf16(0.02f * rng.uniform());
    for (size_t off = block; off < elems; off += block)
      std::memcpy(buf_.data() + off, buf_.data(), std::min(block, elems - off) * 2);
  }
  Tensor view(std::vector<int64_t> shape) const { return Tensor::view(DType::BF16, std::move(shape), buf_.data()); }

 private:
  std::vector<uint16_t> buf_;
};

struct Written {
  double total_bytes = 0, dense_bytes = 0, expert_bytes = 0, head_bytes = 0;  // per layer: dense, expert
};

// config.json + model.safetensors of a Mixtral-architecture model (per-expert w1/w2/w3 names).
Written write_mixtral(const std::string& dir, const Options& o, int64_t max_pos) {
  const int64_t hd = o.hidden / o.heads;
  const nlohmann::json config = {
      {"architectures", {"MixtralForCausalLM"}}, {"model_type", "mixtral"}, {"hidden_size", o.hidden},
      {"intermediate_size", o.inter}, {"num_hidden_layers", o.layers}, {"num_attention_heads", o.heads},
      {"num_key_value_heads", o.kv_heads}, {"head_dim", hd}, {"num_local_experts", o.experts},
      {"num_experts_per_tok", o.topk}, {"vocab_size", o.vocab}, {"max_position_embeddings", max_pos},
      {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6}, {"tie_word_embeddings", false}, {"sliding_window", nullptr},
      {"hidden_act", "silu"}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  std::ofstream(dir + "/config.json") << config.dump(2);
  const RandomPool pool(static_cast<size_t>(std::max({o.vocab * o.hidden, o.inter * o.hidden})));
  std::map<std::string, Tensor> t;
  Written w;
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    t[name] = pool.view({rows, cols});
    w.total_bytes += double(rows * cols * 2);
    return double(rows * cols * 2);
  };
  Tensor ones = Tensor::zeros(DType::F32, {o.hidden});
  for (int64_t i = 0; i < o.hidden; ++i) ones.data_as<float>()[i] = 1.0f;
  mat("model.embed_tokens.weight", o.vocab, o.hidden);
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    double dense = mat(p + "self_attn.q_proj.weight", o.heads * hd, o.hidden);
    dense += mat(p + "self_attn.k_proj.weight", o.kv_heads * hd, o.hidden);
    dense += mat(p + "self_attn.v_proj.weight", o.kv_heads * hd, o.hidden);
    dense += mat(p + "self_attn.o_proj.weight", o.hidden, o.heads * hd);
    dense += mat(p + "block_sparse_moe.gate.weight", o.experts, o.hidden);
    double expert = 0;
    for (int64_t e = 0; e < o.experts; ++e) {
      const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      expert = mat(q + "w1.weight", o.inter, o.hidden) + mat(q + "w3.weight", o.inter, o.hidden) +
               mat(q + "w2.weight", o.hidden, o.inter);
    }
    w.dense_bytes = dense;
    w.expert_bytes = expert;
    t[p + "input_layernorm.weight"] = ones;
    t[p + "post_attention_layernorm.weight"] = ones;
  }
  t["model.norm.weight"] = ones;
  w.head_bytes = mat("lm_head.weight", o.vocab, o.hidden);
  nova::formats::save_safetensors(dir + "/model.safetensors", t);
  return w;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Figures {
  double prefill = 0, decode1 = 0, decode_b = 0;
};

Figures measure(nova::model::Transformer& model, const Options& o) {
  Figures f;
  std::vector<float> logits;
  const int64_t V = o.vocab;
  {  // prefill: a warm-up, then best of 3
    const auto ids = nova::bench::prompt_ids(o.prompt, V);
    model.new_session(o.prompt + 8)->forward(ids, logits);
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
      auto session = model.new_session(o.prompt + 8);
      const double a = nova::bench::now_seconds();
      session->forward(ids, logits);
      best = std::min(best, nova::bench::now_seconds() - a);
    }
    f.prefill = double(o.prompt) / best;
  }
  {  // decode at batch 1 after `context` tokens: median step
    auto session = model.new_session(o.context + o.decode + 8);
    session->forward(nova::bench::prompt_ids(o.context, V), logits);
    std::vector<double> steps;
    int32_t next = 5;
    for (int64_t i = 0; i < o.decode + 4; ++i) {
      const double a = nova::bench::now_seconds();
      session->forward(std::span<const int32_t>(&next, 1), logits);
      if (i >= 4) steps.push_back(nova::bench::now_seconds() - a);
      next = nova::bench::argmax(logits.data(), V);
    }
    f.decode1 = 1.0 / median(steps);
  }
  if (o.batch > 0) {  // decode at batch B through forward_batch over a paged cache
    const int64_t bs = 16, B = o.batch;
    const int64_t per_seq = (o.context + o.decode + 8 + bs - 1) / bs;
    nova::model::PagedKvCache cache = model.new_paged_cache(per_seq * B, bs);
    std::vector<std::vector<int32_t>> tables(static_cast<size_t>(B)), prompts(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < per_seq; ++i) tables[b].push_back(static_cast<int32_t>(b * per_seq + i));
      prompts[b] = nova::bench::prompt_ids(o.context, V, b);
    }
    for (int64_t b = 0; b < B; b += 8) {
      nova::model::BatchInput in;
      for (int64_t j = b; j < std::min(B, b + 8); ++j) in.sequences.push_back({prompts[j], 0, tables[j], 1});
      model.forward_batch(in, cache, logits);
    }
    std::vector<int32_t> next(static_cast<size_t>(B), 5);
    std::vector<double> steps;
    const int64_t n_steps = std::min<int64_t>(o.decode, 16);
    for (int64_t i = 0; i < n_steps + 2; ++i) {
      nova::model::BatchInput in;
      for (int64_t b = 0; b < B; ++b)
        in.sequences.push_back({std::span<const int32_t>(&next[b], 1), o.context + i, tables[b], 1});
      const double a = nova::bench::now_seconds();
      model.forward_batch(in, cache, logits);
      if (i >= 2) steps.push_back(nova::bench::now_seconds() - a);
      for (int64_t b = 0; b < B; ++b) next[b] = nova::bench::argmax(logits.data() + b * V, V);
    }
    f.decode_b = double(B) / median(steps);
  }
  return f;
}

// One MoE layer's routed experts through Backend::moe_experts, x and router logits random.
void micro(nova::kernels::Backend& be, const Options& o, double copy_gbs) {
  const RandomPool pool(static_cast<size_t>(o.inter * o.hidden));
  std::vector<Tensor> w;
  for (int64_t e = 0; e < o.experts; ++e) {
    w.push_back(be.upload(pool.view({o.inter, o.hidden})));
    w.push_back(be.upload(pool.view({o.inter, o.hidden})));
    w.push_back(be.upload(pool.view({o.hidden, o.inter})));
  }
  std::vector<nova::kernels::MoeExpert> ex(static_cast<size_t>(o.experts));
  for (size_t e = 0; e < ex.size(); ++e) ex[e] = {&w[3 * e], &w[3 * e + 1], &w[3 * e + 2]};
  const double expert_bytes = double(3 * o.inter * o.hidden * 2);
  std::printf("\none layer's moe_experts (bf16 experts of %.0f MB; F32 x), per call:\n", expert_bytes / 1e6);
  nova::bench::XorShift rng;
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  for (const int64_t T : {int64_t{1}, int64_t{32}, int64_t{512}}) {
    Tensor xh = Tensor::zeros(DType::F32, {T, o.hidden}), lh = Tensor::zeros(DType::F32, {T, o.experts});
    for (int64_t i = 0; i < xh.numel(); ++i) xh.data_as<float>()[i] = rng.uniform();
    for (int64_t i = 0; i < lh.numel(); ++i) lh.data_as<float>()[i] = 2.0f * rng.uniform();
    const Tensor x = be.upload(xh), logits = be.upload(lh);
    Tensor out = be.alloc(DType::F32, {T, o.hidden});
    // Experts the call reads: those some row chose (the host's routing of the same logits).
    std::vector<char> used(static_cast<size_t>(o.experts), 0);
    const nova::kernels::Routing r = be.route_top_k(logits, static_cast<int>(o.topk), false);
    for (int32_t e : r.expert) used[static_cast<size_t>(e)] = 1;
    const double bytes = expert_bytes * double(std::count(used.begin(), used.end(), 1));
    const double flops = 2.0 * double(T * o.topk) * 3.0 * double(o.inter * o.hidden);
    for (const bool device_moe : {false, true}) {
      if (device_moe) unsetenv("NOVA_CUDA_MOE");
      else setenv("NOVA_CUDA_MOE", "0", 1);
      for (int i = 0; i < 3; ++i) be.moe_experts(x, logits, ex, static_cast<int>(o.topk), false, out);
      be.download(tiny, &sink);
      const int reps = 20;
      const double t0 = nova::bench::now_seconds();
      for (int i = 0; i < reps; ++i) be.moe_experts(x, logits, ex, static_cast<int>(o.topk), false, out);
      be.download(tiny, &sink);
      const double t = (nova::bench::now_seconds() - t0) / reps;
      std::printf("  rows %4lld %-12s %9.1f us | %5.0f GB/s of weights (%3.0f%% of copy) | %6.1f TFLOP/s\n",
                  (long long)T, device_moe ? "kernels" : "composition", t * 1e6, bytes / t / 1e9,
                  100 * bytes / t / 1e9 / copy_gbs, flops / t / 1e12);
    }
  }
  unsetenv("NOVA_CUDA_MOE");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto set = [&](const std::string& a, const std::string& v) {
    const int64_t n = std::atoll(v.c_str());
    if (a == "--layers") o.layers = n;
    else if (a == "--experts") o.experts = n;
    else if (a == "--topk") o.topk = n;
    else if (a == "--inter") o.inter = n;
    else if (a == "--hidden") o.hidden = n;
    else if (a == "--prompt") o.prompt = n;
    else if (a == "--decode") o.decode = n;
    else if (a == "--context") o.context = n;
    else if (a == "--batch") o.batch = n;
    else if (a == "--micro") o.micro = n;
    else if (a == "--device") o.device = v;
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/cuda_moe.cpp", set)) return 2;
  if (o.prompt < 1 || o.decode < 1 || o.context < 1 || o.layers < 1 || o.experts < 1 || o.topk < 1 ||
      o.topk > o.experts || o.hidden % o.heads != 0) {
    std::fprintf(stderr, "bench_cuda_moe: sizes must be positive, --topk <= --experts, hidden a multiple of 16\n");
    return 2;
  }
  try {
    setenv("NOVA_CUDA_GRAPHS", "0", 1);  // the copy bandwidth through plain launches
    const double copy_gbs = nova::bench::backend_copy_gbs(*nova::kernels::make_backend(o.device));
    unsetenv("NOVA_CUDA_GRAPHS");
    auto be = nova::kernels::make_backend(o.device);
    std::printf("device %s | copy %.0f GB/s (read + write)\n", o.device.c_str(), copy_gbs);
    if (o.micro) micro(*be, o, copy_gbs);
    const fs::path base = fs::exists("/dev/shm") && fs::space("/dev/shm").available > (size_t{16} << 30)
                              ? fs::path("/dev/shm")
                              : fs::temp_directory_path();
    const std::string dir = (base / ("nova_bench_moe_" + std::to_string(getpid()))).string();
    fs::create_directories(dir);
    double t0 = nova::bench::now_seconds();
    const int64_t max_pos = std::max(o.prompt, o.context) + o.decode + 64;
    const Written w = write_mixtral(dir, o, max_pos);
    const double t_write = nova::bench::now_seconds() - t0;
    t0 = nova::bench::now_seconds();
    auto model = nova::model::Transformer::create(nova::formats::load_hf_config(dir + "/config.json"),
                                                  nova::formats::Checkpoint::open_dir(dir), *be);
    const double t_load = nova::bench::now_seconds() - t0;
    fs::remove_all(dir);
    const int64_t hd = o.hidden / o.heads;
    const double kv_per_pos = 2.0 * double(nova::dtype_size(model->kv_dtype())) * double(o.layers * o.kv_heads * hd);
    const double step_bytes = double(o.layers) * (w.dense_bytes + double(o.topk) * w.expert_bytes) + w.head_bytes +
                              kv_per_pos * double(o.context + o.decode / 2);
    const double roof = copy_gbs * 1e9 / step_bytes;
    std::printf("\n== mixtral-shaped: hidden %lld, layers %lld, heads %lld/%lld, %lld experts of %lld, top-%lld, vocab "
                "%lld; bf16 weights %.2f GB (write %.1f s, load %.1f s); activations %s\n",
                (long long)o.hidden, (long long)o.layers, (long long)o.heads, (long long)o.kv_heads,
                (long long)o.experts, (long long)o.inter, (long long)o.topk, (long long)o.vocab, w.total_bytes / 1e9,
                t_write, t_load, std::string(nova::dtype_name(model->activation_dtype())).c_str());
    std::printf("batch-1 roofline: %.2f GB read per token -> %.1f tok/s\n", step_bytes / 1e9, roof);
    for (const bool device_moe : {false, true}) {
      if (device_moe) unsetenv("NOVA_CUDA_MOE");
      else setenv("NOVA_CUDA_MOE", "0", 1);
      const Figures f = measure(*model, o);
      std::printf("%-34s prefill %lld: %8.0f tok/s | decode batch 1 (context %lld): %7.1f tok/s (%.0f%% of roofline)",
                  device_moe ? "moe_experts kernels (after):" : "composition, NOVA_CUDA_MOE=0 (before):",
                  (long long)o.prompt, f.prefill, (long long)o.context, f.decode1, 100 * f.decode1 / roof);
      if (o.batch > 0) std::printf(" | decode batch %lld: %8.1f tok/s", (long long)o.batch, f.decode_b);
      std::printf("\n");
      std::fflush(stdout);
    }
    unsetenv("NOVA_CUDA_MOE");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_moe: %s\n", e.what());
    return 1;
  }
  return 0;
}
