// bench_decode: prefill and decode speed of a random-weight Llama-style model, and decode's
// achieved weight-streaming bandwidth (linear-layer weight bytes per token / time per token)
// against the machine's read bandwidth measured in the same run.
// Usage: bench_decode [--dtype f32|bf16|f16 (default: f32 and bf16)] [--hidden 2048] [--inter 5632]
//                     [--layers 4] [--heads 16] [--kv-heads 4] [--vocab 32000] [--prompt 128] [--decode 32]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/tensor.h"
#include "model/transformer.h"
#include "random_model.h"

namespace {

using nova::DType;
using nova::Tensor;

struct Config {
  int64_t hidden = 2048, inter = 5632, layers = 4, heads = 16, kv_heads = 4, vocab = 32000;
  int64_t prompt = 128, decode = 32;
};

Tensor random_tensor(DType dtype, std::vector<int64_t> shape, float scale, nova::bench::XorShift& rng) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  const int64_t n = t.numel();
  if (dtype == DType::F32) {
    float* p = t.data_as<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = scale * rng.uniform();
  } else {
    uint16_t* p = t.data_as<uint16_t>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = dtype == DType::BF16 ? nova::f32_to_bf16(scale * rng.uniform()) : nova::f32_to_f16(scale * rng.uniform());
  }
  return t;
}

// Writes config.json and model.safetensors; returns the bytes of weights one decode token reads.
double write_model(const std::string& dir, const Config& c, DType dtype) {
  nova::bench::XorShift rng;
  const nova::bench::LlamaShape shape{c.hidden, c.inter, c.layers, c.heads, c.kv_heads, c.vocab,
                                      /*tied=*/false, /*max_positions=*/c.prompt + c.decode + 16};
  return nova::bench::write_random_llama(dir, shape, [&](int64_t rows, int64_t cols, float scale) {
    return random_tensor(dtype, {rows, cols}, scale, rng);
  });
}

void run(const Config& c, DType dtype, const nova::bench::MachineBaseline& base) {
  const std::string name =
      "nova_bench_decode_" + std::to_string(getpid()) + "_" + std::string(nova::dtype_name(dtype));
  const std::string dir = (std::filesystem::temp_directory_path() / name).string();
  std::filesystem::create_directories(dir);
  const double w_bytes = write_model(dir, c, dtype);
  {
    auto model = nova::model::Transformer::load(dir);
    const std::vector<int32_t> prompt = nova::bench::prompt_ids(c.prompt, c.vocab);
    std::vector<float> logits;

    // Warm-up: fault the mapped weights in, so the timings measure compute, not the page cache.
    model->new_session(c.prompt + c.decode + 8)->forward(std::span<const int32_t>(prompt.data(), 8), logits);

    // Prefill: best of three fresh sessions; the last one goes on to decode.
    std::unique_ptr<nova::model::Session> session;
    double prefill_s = 1e30;
    for (int r = 0; r < 3; ++r) {
      session = model->new_session(c.prompt + c.decode + 8);
      const double t0 = nova::bench::now_seconds();
      session->forward(prompt, logits);
      prefill_s = std::min(prefill_s, nova::bench::now_seconds() - t0);
    }

    std::vector<double> step(c.decode);
    int32_t next = 5;
    for (int64_t i = 0; i < c.decode; ++i) {
      const double s0 = nova::bench::now_seconds();
      session->forward(std::span<const int32_t>(&next, 1), logits);
      step[i] = nova::bench::now_seconds() - s0;
      next = static_cast<int32_t>((next * 31 + 7) % c.vocab);
    }
    std::sort(step.begin(), step.end());
    double total = 0;
    for (double s : step) total += s;
    const double best = step.front(), median = step[step.size() / 2];
    const double gbs = w_bytes / best / 1e9;
    std::printf("%-5s weights %.0f MB/token | prefill %lld tok: %.1f tok/s (best of 3) | decode: best %.2f tok/s "
                "(%.1f ms), median %.2f tok/s (%.1f ms), mean %.1f ms | best %.1f GB/s = %.0f%% of read, "
                "%.0f%% of copy bandwidth\n",
                std::string(nova::dtype_name(dtype)).c_str(), w_bytes / 1e6, (long long)c.prompt,
                double(c.prompt) / prefill_s, 1.0 / best, best * 1e3, 1.0 / median, median * 1e3,
                total / double(step.size()) * 1e3, gbs, 100 * gbs / base.read_gbs, 100 * gbs / base.copy_gbs);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::vector<DType> dtypes = {DType::F32, DType::BF16};
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--dtype") dtypes = {v == "f32" ? DType::F32 : v == "bf16" ? DType::BF16 : DType::F16};
    else if (a == "--hidden") c.hidden = std::atoll(v.c_str());
    else if (a == "--inter") c.inter = std::atoll(v.c_str());
    else if (a == "--layers") c.layers = std::atoll(v.c_str());
    else if (a == "--heads") c.heads = std::atoll(v.c_str());
    else if (a == "--kv-heads") c.kv_heads = std::atoll(v.c_str());
    else if (a == "--vocab") c.vocab = std::atoll(v.c_str());
    else if (a == "--prompt") c.prompt = std::atoll(v.c_str());
    else if (a == "--decode") c.decode = std::atoll(v.c_str());
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/decode.cpp", set)) return 2;
  const nova::bench::MachineBaseline base = nova::bench::measure_baseline(nova::active_isa());
  nova::bench::print_baseline(base, nova::active_isa());
  std::printf("model: llama hidden %lld inter %lld layers %lld heads %lld/%lld vocab %lld | kernels %s\n",
              (long long)c.hidden, (long long)c.inter, (long long)c.layers, (long long)c.heads, (long long)c.kv_heads,
              (long long)c.vocab, nova::isa_name(nova::active_isa()));
  try {
    for (DType d : dtypes) run(c, d, base);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_decode: %s\n", e.what());
    return 1;
  }
  return 0;
}
