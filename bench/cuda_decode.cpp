// bench_cuda_decode: NovaLM on the GPU with random-weight Llama-3.2-1B and Llama-3.1-8B shapes in
// bf16 — decode tokens/s at batch 1 (and 32), prefill tokens/s for 512- and 8192-token prompts —
// beside the HBM roofline: (weight + KV bytes one decode step reads) / device-to-device copy
// bandwidth measured in the same run (bytes read + written, as copy benchmarks count them).
// Usage: bench_cuda_decode [--models 1b,8b] [--prompts 512,8192] [--decode 64] [--context 512]
//                          [--batch 32 (0: skip)] [--micro 1 (0: skip; 2: only the persistent-kernel
//                           probe, cuda_gemv_chain.h)] [--device cuda]
//                          [--host-sampling 1: download the logits, argmax on the host]
//                          [--overlap 0: batch-1 decode steps wait for their token on the host
//                           (default 1: engine::generate's overlapped steps)]
//                          [--graphs 0: launch every op on its own (NOVA_CUDA_GRAPHS=0); default 1,
//                           each step replayed as CUDA graphs, the backend's default]
//                          [--model-dir DIR: time this Hugging Face folder (config.json + safetensors,
//                           e.g. ../shared/peers/make_model.py's, whose GGUF twin llama.cpp reads)
//                           instead of --models; shape from its config, roofline from its bytes]
// Runs entirely through kernels::Backend and model::Transformer, as `nova generate --device cuda`.
#include <unistd.h>

#ifdef NOVA_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench_util.h"
#ifdef NOVA_HAVE_CUDA
#include "cuda_gemv_chain.h"
#include "cuda_gemv_micro.h"
#endif
#include "core/error.h"
#include "engine/generate.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"
#include "random_model.h"

namespace {

using nova::DType;
using nova::Tensor;
namespace fs = std::filesystem;

struct Shape {
  std::string name;
  int64_t hidden, inter, layers, heads, kv_heads, vocab;
  bool tied;
  int64_t head_dim;
};

const Shape kShapes[] = {
    {"1b", 2048, 8192, 16, 32, 8, 128256, true, 64},     // Llama-3.2-1B
    {"8b", 4096, 14336, 32, 32, 8, 128256, false, 128},  // Llama-3.1-8B
};

// The shape of an existing Hugging Face folder (--model-dir), named after the folder.
Shape shape_of(const std::string& dir, const nova::formats::ModelConfig& c) {
  const std::string name = fs::path(dir).lexically_normal().filename().string();
  return {name.empty() ? dir : name, c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads,
          c.num_kv_heads, c.vocab_size, c.tie_word_embeddings, c.head_dim};
}

// Bytes one decode step reads from an existing checkpoint: every tensor once (the tied embedding
// as the LM head), except an untied embedding, of which a step reads one row.
double checkpoint_decode_bytes(const nova::formats::Checkpoint& ckpt, bool tied) {
  double bytes = 0;
  for (const std::string& name : ckpt.names())
    if (tied || name != "model.embed_tokens.weight") bytes += double(ckpt.get(name).nbytes());
  return bytes;
}

// Random bf16 values, tiled: every matrix is a view into one 64 MiB random block (repeated), so
// an 8B checkpoint is written at memory speed. Values matter only for being finite and non-zero.
class RandomPool {
 public:
  explicit RandomPool(size_t bytes) : block_(kBlock / 2) {
    nova::bench::XorShift rng;
    for (auto& v : block_) v = nova::f32_to_bf16(0.02f * rng.uniform());
    buf_.resize(bytes / 2);
    for (size_t off = 0; off < buf_.size(); off += block_.size())
      std::memcpy(buf_.data() + off, block_.data(), std::min(block_.size(), buf_.size() - off) * 2);
  }
  Tensor view(std::vector<int64_t> shape) const { return Tensor::view(DType::BF16, std::move(shape), buf_.data()); }

 private:
  static constexpr size_t kBlock = size_t{64} << 20;
  std::vector<uint16_t> block_;
  std::vector<uint16_t> buf_;
};

// Writes config.json + model.safetensors for `s`; returns the bytes of matrices a decode step
// reads. All matrices are views of one random pool (their `scale` does not matter here).
double write_model(const std::string& dir, const Shape& s, int64_t max_pos) {
  const RandomPool pool(static_cast<size_t>(std::max(s.vocab * s.hidden, s.inter * s.hidden)) * 2);
  const nova::bench::LlamaShape shape{s.hidden, s.inter, s.layers, s.heads, s.kv_heads, s.vocab, s.tied, max_pos,
                                      /*rope_theta=*/500000.0};
  return nova::bench::write_random_llama(dir, shape,
                                         [&](int64_t rows, int64_t cols, float) { return pool.view({rows, cols}); });
}

// Micro-benchmarks that explain the decode figures: the decode GEMVs' kernel time per shape
// (cuda_gemv_micro.h: graph replays timed with events, beside the copy bandwidth), a 1B layer's
// GEMV chain (cuda_gemv_chain.h), and the host-side cost of one small op (enqueue only, and
// enqueue + execution). Level 2: only the chain against its persistent-kernel probe.
void micro(nova::kernels::Backend& be, double copy_gbs, int64_t level) {
#ifdef NOVA_HAVE_CUDA
  if (be.name() == "cuda") {
    if (level == 2) {  // only the persistent-kernel probe against the PDL chain (cuda_gemv_chain.h)
      nova::bench::print_persistent_chain(copy_gbs);
      return;
    }
    nova::bench::print_gemv_kernel_times(copy_gbs);
    nova::bench::print_gemv_chain_time(copy_gbs);
  }
#else
  (void)copy_gbs;
  (void)level;
#endif
  float sink = 0;
  Tensor tiny = be.alloc(DType::F32, {1});
  Tensor a = be.alloc(DType::F32, {64}), b = be.alloc(DType::F32, {64});
  be.download(tiny, &sink);
  const int n = 2000;
  double t0 = nova::bench::now_seconds();
  for (int i = 0; i < n; ++i) be.add(a, b);
  const double enqueue = (nova::bench::now_seconds() - t0) / n;
  be.download(tiny, &sink);
  const double total = (nova::bench::now_seconds() - t0) / n;
  t0 = nova::bench::now_seconds();
  for (int i = 0; i < n; ++i) Tensor t = be.alloc(DType::F32, {64, 64});
  be.download(tiny, &sink);
  const double alloc = (nova::bench::now_seconds() - t0) / n;
  std::printf("one small op (add of 64 floats): enqueue %.2f us, enqueue+run %.2f us; alloc+free of 16 KB %.2f us\n",
              enqueue * 1e6, total * 1e6, alloc * 1e6);
}

struct Options {
  std::vector<std::string> models = {"1b", "8b"};
  std::string model_dir;  // --model-dir: an existing HF folder instead of --models
  std::vector<int64_t> prompts = {512, 8192};
  int64_t decode = 64, context = 512, batch = 32, micro = 1;
  bool graphs = true, host_sampling = false, overlap = true;
  std::string device = "cuda";
};

// Device memory in use (total - free; every allocation of this process and the context), so the
// difference across a model load is what its weights take on the device. The stream-ordered pool
// keeps freed blocks (e.g. the bandwidth test's 1 GiB buffers) unless trimmed first. 0 without CUDA.
double device_used_bytes() {
#ifdef NOVA_HAVE_CUDA
  int dev = 0;
  cudaMemPool_t pool = nullptr;
  size_t free_b = 0, total_b = 0;
  if (cudaDeviceSynchronize() == cudaSuccess && cudaGetDevice(&dev) == cudaSuccess &&
      cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess && cudaMemPoolTrimTo(pool, 0) == cudaSuccess &&
      cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
    return double(total_b - free_b);
#endif
  return 0.0;
}

// Peak bf16 GEMM FLOP/s through the backend (an 8192^3 bf16 x bf16 -> bf16 linear, best of 5),
// the denominator of prefill MFU (as bench_cuda_train's peak, measured in the same process).
double peak_gemm_flops(nova::kernels::Backend& be) {
  static double peak = 0;
  if (peak > 0) return peak;
  const int64_t n = 8192;
  const RandomPool pool(static_cast<size_t>(n * n) * 2);
  const Tensor w = be.upload(pool.view({n, n}));
  const Tensor x = be.upload(pool.view({n, n}));
  Tensor y = be.empty(DType::BF16, {n, n});
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  be.linear(x, w, nullptr, y);
  be.download(tiny, &sink);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = nova::bench::now_seconds();
    for (int i = 0; i < 4; ++i) be.linear(x, w, nullptr, y);
    be.download(tiny, &sink);
    best = std::min(best, (nova::bench::now_seconds() - t0) / 4);
  }
  peak = 2.0 * double(n) * double(n) * double(n) / best;
  return peak;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void run_model(const Shape& s, const Options& o, nova::kernels::Backend& be, double copy_gbs) {
  const int64_t max_prompt = *std::max_element(o.prompts.begin(), o.prompts.end());
  const int64_t max_pos = std::max(max_prompt, o.context) + o.decode + 64;
  const fs::path base = fs::exists("/dev/shm") && fs::space("/dev/shm").available > (size_t{20} << 30)
                            ? fs::path("/dev/shm")
                            : fs::temp_directory_path();
  const bool own_model = o.model_dir.empty();  // else the folder of --model-dir, read as it is
  const std::string dir =
      own_model ? (base / ("nova_bench_cuda_" + std::to_string(getpid()) + "_" + s.name)).string() : o.model_dir;
  double t0 = nova::bench::now_seconds();
  double w_bytes = 0;
  if (own_model) {
    fs::create_directories(dir);
    w_bytes = write_model(dir, s, max_pos);
  }
  const double t_write = nova::bench::now_seconds() - t0;
  const double used_before = device_used_bytes();
  t0 = nova::bench::now_seconds();
  nova::formats::Checkpoint checkpoint = nova::formats::Checkpoint::open_dir(dir);
  if (!own_model) w_bytes = checkpoint_decode_bytes(checkpoint, s.tied);
  auto model = nova::model::Transformer::create(nova::formats::load_hf_config(dir + "/config.json"),
                                                std::move(checkpoint), be);
  const double t_load = nova::bench::now_seconds() - t0;
  if (own_model) fs::remove_all(dir);  // the weights are on the device now
  const double weights_on_device = device_used_bytes() - used_before;
  const int64_t hd = s.head_dim;
  // K and V of the model's KV dtype (BF16 under BF16 activations, else F32).
  const double kv_bytes_per_pos =
      2.0 * double(nova::dtype_size(model->kv_dtype())) * double(s.layers * s.kv_heads * hd);
  std::printf("\n== %s %s: hidden %lld inter %lld layers %lld heads %lld/%lld vocab %lld, bf16 weights %.2f GB "
              "(write %.1f s, load+upload %.1f s); device memory taken by the load: %.2f GB\n",
              model->config().model_type.c_str(), s.name.c_str(), (long long)s.hidden, (long long)s.inter,
              (long long)s.layers, (long long)s.heads, (long long)s.kv_heads, (long long)s.vocab, w_bytes / 1e9, t_write,
              t_load, weights_on_device / 1e9);
  std::vector<float> logits;

  // Prefill: a warm-up, then best of 2 per prompt length. MFU = model FLOPs / the peak bf16 GEMM
  // FLOP/s measured in this process; model FLOPs per token 2 N_matmul + 4 L d T (the forward third
  // of bench_cuda_train's 6 N + 12 L d T; LM head counted, as there). A prefill computes the LM head
  // for the last row only, so the figure without it is printed too.
  std::printf("activations %s, KV cache %s (a CUDA backend made under NOVA_CUDA_ACT=f32 keeps F32)\n",
              std::string(nova::dtype_name(model->activation_dtype())).c_str(),
              std::string(nova::dtype_name(model->kv_dtype())).c_str());
  const double peak = peak_gemm_flops(be);
  const double n_matmul = w_bytes / 2.0, n_head = double(s.vocab * s.hidden);
  std::printf("peak bf16 GEMM (8192^3 through the backend): %.1f TFLOP/s\n", peak / 1e12);
  model->new_session(64)->forward(nova::bench::prompt_ids(16, s.vocab), logits);
  for (int64_t p : o.prompts) {
    const auto ids = nova::bench::prompt_ids(p, s.vocab);
    double best = 1e30;
    for (int r = 0; r < 2; ++r) {
      auto session = model->new_session(p + 8);
      const double a = nova::bench::now_seconds();
      session->forward(ids, logits);
      best = std::min(best, nova::bench::now_seconds() - a);
    }
    const double flops = 2.0 * n_matmul * double(p);  // matmul FLOPs only (LM head for every row)
    const double attn = 4.0 * double(s.layers * s.heads * s.head_dim) * double(p) * double(p);
    const double mfu = (flops + attn) / best / peak;
    const double mfu_nohead = (flops - 2.0 * n_head * double(p - 1) + attn) / best / peak;
    std::printf("prefill %5lld tokens: %9.0f tok/s (%.1f ms, matmul %.0f TFLOP/s) | MFU %.1f%% (without the LM head "
                "of rows never computed: %.1f%%)\n",
                (long long)p, double(p) / best, best * 1e3, flops / best / 1e12, 100 * mfu, 100 * mfu_nohead);
  }

  // Decode at batch 1 after a prompt of `context` tokens, greedy, the way `nova generate` runs it:
  // the logits stay on the device and the backend picks the token (Backend::sample_rows); only the
  // id comes back. (--host-sampling 1: download the logits and take the argmax on the host.)
  const bool host_sampling = o.host_sampling || !be.samples_on_device();
  auto greedy = [&](const Tensor& device_logits, int64_t rows) {
    nova::kernels::SamplingRow row;
    row.temperature = 0;  // greedy
    return be.sample_rows(device_logits, std::vector<nova::kernels::SamplingRow>(static_cast<size_t>(rows), row), {});
  };
  {
    auto session = model->new_session(o.context + o.decode + 8);
    std::vector<double> steps;
    if (host_sampling) {
      session->forward(nova::bench::prompt_ids(o.context, s.vocab), logits);
      int32_t next = 5;
      for (int64_t i = 0; i < o.decode + 4; ++i) {
        const double a = nova::bench::now_seconds();
        session->forward(std::span<const int32_t>(&next, 1), logits);
        next = nova::bench::argmax(logits.data(), static_cast<int64_t>(logits.size()));
        if (i >= 4) steps.push_back(nova::bench::now_seconds() - a);  // 4 warm-up steps
      }
    } else {
      // engine::generate, as `nova generate` runs it: greedy on the device, each step enqueued on
      // the device-held token while the host reads it (--overlap 0: each step waits for its
      // token). A step's time is the interval between two tokens reaching the callback.
      nova::engine::GenerationRequest req;
      req.prompt = nova::bench::prompt_ids(o.context, s.vocab);
      req.max_tokens = static_cast<int>(o.decode + 4);
      req.sampling.temperature = 0;
      req.overlap_steps = o.overlap;
      double last = 0;
      nova::engine::generate(*session, nullptr, req, [&](const nova::engine::TokenEvent& ev) {
        const double now = nova::bench::now_seconds();
        if (ev.index >= 4) steps.push_back(now - last);  // 4 warm-up steps
        last = now;
        return true;
      });
    }
    const double step = median(steps);
    const double bytes = w_bytes + kv_bytes_per_pos * double(o.context + o.decode / 2);
    const double roof = copy_gbs * 1e9 / bytes;
    std::printf("decode batch 1 (context %lld, greedy on the %s): %7.1f tok/s (median %.3f ms/token) | roofline %.1f "
                "tok/s (%.2f GB/token at %.0f GB/s) = %.0f%% of roofline\n",
                (long long)o.context,
                host_sampling ? "host" : (o.overlap ? "device, steps overlapped" : "device, steps not overlapped"),
                1.0 / step, step * 1e3, roof, bytes / 1e9, copy_gbs, 100.0 / step / roof);
  }

  // Decode at batch `batch` through forward_batch over a paged cache, each sequence at `context`.
  if (o.batch > 0) {
    const int64_t bs = 16, B = o.batch;
    const int64_t per_seq = (o.context + o.decode + 8 + bs - 1) / bs;
    nova::model::PagedKvCache cache = model->new_paged_cache(per_seq * B, bs);
    std::vector<std::vector<int32_t>> tables(static_cast<size_t>(B)), prompts(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < per_seq; ++i) tables[b].push_back(static_cast<int32_t>(b * per_seq + i));
      prompts[b] = nova::bench::prompt_ids(o.context, s.vocab, b);
    }
    for (int64_t b = 0; b < B; b += 8) {  // prefill 8 sequences per step
      nova::model::BatchInput in;
      for (int64_t j = b; j < std::min(B, b + 8); ++j) in.sequences.push_back({prompts[j], 0, tables[j], 1});
      model->forward_batch(in, cache, logits);
    }
    std::vector<int32_t> next(static_cast<size_t>(B), 5);
    std::vector<double> steps;
    const int64_t n_steps = std::min<int64_t>(o.decode, 32);
    for (int64_t i = 0; i < n_steps + 2; ++i) {
      nova::model::BatchInput in;
      for (int64_t b = 0; b < B; ++b)
        in.sequences.push_back({std::span<const int32_t>(&next[b], 1), o.context + i, tables[b], 1});
      const double a = nova::bench::now_seconds();
      if (host_sampling) {
        model->forward_batch(in, cache, logits);
        for (int64_t b = 0; b < B; ++b) next[b] = nova::bench::argmax(logits.data() + b * s.vocab, s.vocab);
      } else {
        const auto picked = greedy(model->forward_batch_logits(in, cache), B);
        for (int64_t b = 0; b < B; ++b) next[b] = picked[static_cast<size_t>(b)].id;
      }
      if (i >= 2) steps.push_back(nova::bench::now_seconds() - a);
    }
    const double step = median(steps);
    const double bytes = w_bytes + double(B) * kv_bytes_per_pos * double(o.context + n_steps / 2);
    const double roof = double(B) * copy_gbs * 1e9 / bytes;
    std::printf("decode batch %lld (context %lld): %7.1f tok/s (median %.3f ms/step) | roofline %.1f tok/s = %.0f%%\n",
                (long long)B, (long long)o.context, double(B) / step, step * 1e3, roof, 100.0 * double(B) / step / roof);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--models") o.models = nova::bench::split_list(v);
    else if (a == "--model-dir") o.model_dir = v;
    else if (a == "--prompts") {
      o.prompts.clear();
      for (const auto& p : nova::bench::split_list(v)) o.prompts.push_back(std::atoll(p.c_str()));
    } else if (a == "--decode") o.decode = std::atoll(v.c_str());
    else if (a == "--context") o.context = std::atoll(v.c_str());
    else if (a == "--batch") o.batch = std::atoll(v.c_str());
    else if (a == "--device") o.device = v;
    else if (a == "--micro") o.micro = std::atoll(v.c_str());
    else if (a == "--graphs") o.graphs = v == "1";
    else if (a == "--host-sampling") o.host_sampling = v == "1";
    else if (a == "--overlap") o.overlap = v == "1";
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/cuda_decode.cpp", set)) return 2;
  if (o.prompts.empty() || o.decode < 1 || o.context < 1) {
    std::fprintf(stderr, "bench_cuda_decode: --prompts, --decode and --context must be positive\n");
    return 2;
  }
  try {
    // The copy bandwidth through plain launches (a captured copy would time the capture too).
    setenv("NOVA_CUDA_GRAPHS", "0", 1);
    const double copy_gbs = nova::bench::backend_copy_gbs(*nova::kernels::make_backend(o.device));
    setenv("NOVA_CUDA_GRAPHS", o.graphs ? "1" : "0", 1);
    auto be = nova::kernels::make_backend(o.device);
    std::printf("device %s | CUDA graphs %s | device-to-device copy %.0f GB/s (read + write)\n", o.device.c_str(),
                o.graphs ? "on" : "off", copy_gbs);
    if (o.micro) micro(*be, copy_gbs, o.micro);
    if (!o.model_dir.empty()) {
      run_model(shape_of(o.model_dir, nova::formats::load_hf_config(o.model_dir + "/config.json")), o, *be, copy_gbs);
      o.models.clear();
    }
    for (const std::string& m : o.models) {
      const Shape* s = nullptr;
      for (const Shape& k : kShapes)
        if (k.name == m) s = &k;
      if (!s) {
        std::fprintf(stderr, "bench_cuda_decode: unknown model '%s' (1b, 8b)\n", m.c_str());
        return 2;
      }
      run_model(*s, o, *be, copy_gbs);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_decode: %s\n", e.what());
    return 1;
  }
  return 0;
}
