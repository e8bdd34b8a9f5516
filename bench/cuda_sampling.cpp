// bench_cuda_sampling: sampling on the GPU (Backend::sample_rows through engine::DeviceSampling)
// against the host Sampler, and what it changes end to end.
//   1. Time per sampled row at a vocabulary of --vocab (128256: Llama 3) for several parameter
//      sets: host = download the logits + engine::Sampler on the host (what the engine did before),
//      host-only = the Sampler alone on host memory, device = sample_rows on the logits where they
//      are (ids and logprobs come back). Rows per call: --rows.
//   2. Decode tokens/s of a random-weight Llama-3.2-1B shape (bf16) through LlmEngine with
//      temperature 0.8, top_p 0.95, top_k 50, repetition_penalty 1.1, device sampling off vs on,
//      at each batch of --batch (0: skip).
// Usage: bench_cuda_sampling [--vocab 128256] [--rows 1,32] [--reps 30] [--batch 1,32] [--decode 128]
//                            [--prompt 128] [--device cuda]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "engine/device_sampler.h"
#include "engine/llm_engine.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"
#include "random_model.h"

namespace {

using nova::DType;
using nova::Tensor;
using nova::engine::SamplingParams;
namespace fs = std::filesystem;

struct Options {
  int64_t vocab = 128256;
  std::vector<int> rows = {1, 32};
  int reps = 30;
  std::vector<int> batch = {1, 32};
  int decode = 128;
  int prompt = 128;
  std::string device = "cuda";
};

std::vector<int> parse_list(const std::string& v) {
  std::vector<int> out;
  std::stringstream ss(v);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(std::stoi(x));
  return out;
}

SamplingParams bench_params() {  // the brief's set: what chat front-ends commonly send
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.95f;
  p.top_k = 50;
  p.repetition_penalty = 1.1f;
  return p;
}

struct ParamSet {
  const char* name;
  SamplingParams p;
  int top_logprobs;
};

std::vector<ParamSet> param_sets() {
  std::vector<ParamSet> out;
  SamplingParams greedy;
  greedy.temperature = 0;
  out.push_back({"greedy", greedy, 0});
  out.push_back({"t0.8 top_k50 top_p0.95 rep1.1", bench_params(), 0});
  SamplingParams plain;
  out.push_back({"t1.0 (no truncation)", plain, 0});
  SamplingParams minp;
  minp.temperature = 0.7f;
  minp.min_p = 0.05f;
  out.push_back({"t0.7 min_p0.05 + 5 logprobs", minp, 5});
  return out;
}

void time_rows(nova::kernels::Backend& be, const Options& o) {
  const int64_t V = o.vocab;
  std::printf("\n== time per sampled row, vocabulary %lld (random logits, N(0, 3)), history 512 prompt + 64 "
              "generated tokens\n",
              (long long)V);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(V - 1));
  std::vector<int32_t> prompt(512), gen(64);
  for (auto& x : prompt) x = id(rng);
  for (auto& x : gen) x = id(rng);
  for (int R : o.rows) {
    std::vector<float> host(static_cast<size_t>(R * V));
    for (float& x : host) x = d(rng);
    const Tensor dev = be.upload(Tensor::view(DType::F32, {R, V}, host.data()));
    std::vector<float> back(host.size());
    for (const ParamSet& ps : param_sets()) {
      std::vector<std::unique_ptr<nova::engine::Sampler>> samplers;
      for (int r = 0; r < R; ++r) samplers.push_back(std::make_unique<nova::engine::Sampler>(ps.p, static_cast<int>(V)));
      auto rows_of = [&] {
        nova::engine::DeviceSampling ds;
        for (int r = 0; r < R; ++r) ds.add(*samplers[r], {prompt, gen}, ps.top_logprobs);
        return ds;
      };
      // device: DeviceSampling::run (row setup on the host + the kernels + the small download)
      double best_dev = 1e30, best_host = 1e30, best_host_only = 1e30;
      for (int rep = 0; rep < o.reps + 3; ++rep) {
        const auto ds = rows_of();
        const double t0 = nova::bench::now_seconds();
        const auto res = ds.run(be, dev);
        const double t = nova::bench::now_seconds() - t0;
        if (rep >= 3) best_dev = std::min(best_dev, t);
        if (!res[0].ok) nova::fail("bench", res[0].error_what);
      }
      for (int rep = 0; rep < std::max(3, o.reps / 3); ++rep) {
        const double t0 = nova::bench::now_seconds();
        be.download(dev, back.data());
        const double t1 = nova::bench::now_seconds();
        for (int r = 0; r < R; ++r)
          samplers[r]->sample(std::span<const float>(back.data() + r * V, static_cast<size_t>(V)), {prompt, gen},
                              ps.top_logprobs);
        const double t2 = nova::bench::now_seconds();
        best_host = std::min(best_host, t2 - t0);
        best_host_only = std::min(best_host_only, t2 - t1);
      }
      std::printf("rows %3d  %-32s host (download + Sampler) %8.1f us/row  [Sampler alone %8.1f us/row]  "
                  "device %7.1f us/row  = %5.1fx\n",
                  R, ps.name, 1e6 * best_host / R, 1e6 * best_host_only / R, 1e6 * best_dev / R, best_host / best_dev);
    }
  }
}

// Random bf16 matrices: views of one pool of small random values.
class Pool {
 public:
  explicit Pool(size_t elems) : buf_(elems) {
    nova::bench::XorShift rng;
    for (auto& v : buf_) v = nova::f32_to_bf16(0.02f * rng.uniform());
  }
  Tensor view(int64_t rows, int64_t cols) const {
    return Tensor::view(DType::BF16, {rows, cols}, const_cast<uint16_t*>(buf_.data()));
  }

 private:
  std::vector<uint16_t> buf_;
};

void decode_engine(nova::kernels::Backend& be, const Options& o) {
  const nova::bench::LlamaShape shape{2048, 8192, 16, 32, 8, 128256, true, o.prompt + o.decode + 64, 500000.0};
  const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const std::string dir = (base / ("nova_bench_sampling_" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  {
    const Pool pool(static_cast<size_t>(128256) * 2048);
    nova::bench::write_random_llama(dir, shape, [&](int64_t r, int64_t c, float) { return pool.view(r, c); });
  }
  std::shared_ptr<nova::model::Transformer> model = nova::model::Transformer::create(
      nova::formats::load_hf_config(dir + "/config.json"), nova::formats::Checkpoint::open_dir(dir), be);
  fs::remove_all(dir);
  std::printf("\n== decode through LlmEngine, random-weight Llama-3.2-1B shape (bf16, activations %s), prompt %d, "
              "%d tokens per request, temperature 0.8 top_p 0.95 top_k 50 repetition_penalty 1.1\n",
              std::string(nova::dtype_name(model->activation_dtype())).c_str(), o.prompt, o.decode);
  for (int B : o.batch) {
    if (B <= 0) continue;
    double tps[2] = {0, 0};
    for (int on = 0; on < 2; ++on) {
      nova::engine::EngineConfig c;
      c.background = false;
      c.max_running = B;
      c.block_size = 16;
      c.num_blocks = B * ((o.prompt + o.decode + 32) / 16 + 1);
      c.max_tokens_per_step = std::max(512, B * o.prompt);
      c.device_sampling = on == 1;
      nova::engine::LlmEngine engine(model, nullptr, c);
      std::vector<std::shared_ptr<nova::engine::RequestHandle>> handles;
      double first = 0, last = 0;
      int64_t tokens = 0;
      for (int b = 0; b < B; ++b) {
        nova::engine::EngineRequest r;
        r.prompt = nova::bench::prompt_ids(o.prompt, shape.vocab, b);
        r.max_tokens = o.decode;
        r.sampling = bench_params();
        r.sampling.seed = static_cast<uint64_t>(b);
        r.on_token = [&](const nova::engine::TokenEvent& ev) {
          const double t = nova::bench::now_seconds();
          if (ev.index == 0) {
            if (first == 0) first = t;
          } else {
            ++tokens;
          }
          last = t;
          return true;
        };
        handles.push_back(engine.submit(std::move(r)).handle);
      }
      while (engine.step()) {
      }
      // Tokens after each request's first (prefill) token, over the time from the first first token.
      tps[on] = double(tokens) / (last - first);
      std::printf("batch %3d  device sampling %-3s: %8.1f tok/s (%.3f ms per step)\n", B, on ? "on" : "off", tps[on],
                  1e3 * B / tps[on]);
    }
    std::printf("batch %3d  speed-up %.2fx\n", B, tps[1] / tps[0]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto set = [&](const std::string& f, const std::string& v) {
    if (f == "--vocab") o.vocab = std::stoll(v);
    else if (f == "--rows") o.rows = parse_list(v);
    else if (f == "--reps") o.reps = std::stoi(v);
    else if (f == "--batch") o.batch = parse_list(v);
    else if (f == "--decode") o.decode = std::stoi(v);
    else if (f == "--prompt") o.prompt = std::stoi(v);
    else if (f == "--device") o.device = v;
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/cuda_sampling.cpp", set)) return 2;
  try {
    auto be = nova::kernels::make_backend(o.device);
    if (!be->samples_on_device()) {
      std::fprintf(stderr, "bench_cuda_sampling: the %s backend does not sample on the device\n", o.device.c_str());
      return 2;
    }
    time_rows(*be, o);
    if (!o.batch.empty() && o.batch[0] > 0) decode_engine(*be, o);
  } catch (const nova::Error& e) {
    std::fprintf(stderr, "bench_cuda_sampling: %s\n", e.what());
    return 1;
  }
  return 0;
}
