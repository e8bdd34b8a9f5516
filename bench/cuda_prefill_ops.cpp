// bench_cuda_prefill_ops: where a prefill's time goes on the GPU — each op of one transformer layer
// of the Llama-3.2-1B / Llama-3.1-8B shapes at M prompt tokens, timed alone through
// kernels::Backend (plain launches, NOVA_CUDA_GRAPHS=0; best of 5 after a warm-up, each a batch of
// calls closed by a download), in the activation dtype given (bf16: BF16 activations and KV cache,
// the Transformer's BF16 mode; f32: its F32 mode). GEMMs and attention print TFLOP/s (attention:
// causal, 4 T^2 d / 2 per head), elementwise ops GB/s of their own reads + writes.
// Then (--forward 1, the default) a whole 1B prefill at each token count: wall vs host enqueue time.
// Usage: bench_cuda_prefill_ops [--models 1b,8b] [--tokens 512,8192] [--act bf16|f32] [--device cuda]
//                               [--forward 0|1]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

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
using nova::kernels::Backend;

struct Shape {
  std::string name;
  int64_t hidden, inter, heads, kv_heads, head_dim;
};
const Shape kShapes[] = {{"1b", 2048, 8192, 32, 8, 64}, {"8b", 4096, 14336, 32, 8, 128}};

// A tensor of small finite values (a fixed pattern: only the timing matters here).
Tensor filled(Backend& be, DType dt, std::vector<int64_t> shape) {
  Tensor host = Tensor::zeros(dt, shape);
  for (int64_t i = 0; i < host.numel(); ++i) {
    const float v = 0.02f * static_cast<float>((i * 37 + 11) % 101 - 50) / 50.0f;
    if (dt == DType::F32) host.data_as<float>()[i] = v;
    else host.data_as<uint16_t>()[i] = nova::f32_to_bf16(v);
  }
  return be.upload(host);
}

double last_host_seconds = 0;  // seconds_per_call's last host time per call

// The best of 5 batches of 5 calls, each closed by a download; *host gets the best host time to
// enqueue one call (before the download), which bounds the wall time of ops the host cannot
// launch as fast as the GPU runs them (a prefill launches its ops one by one).
template <class Fn>
double seconds_per_call(Backend& be, Fn&& fn, double* host = nullptr) {
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  fn();
  be.download(tiny, &sink);
  double best = 1e30, best_host = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = nova::bench::now_seconds();
    for (int i = 0; i < 5; ++i) fn();
    best_host = std::min(best_host, (nova::bench::now_seconds() - t0) / 5);
    be.download(tiny, &sink);
    best = std::min(best, (nova::bench::now_seconds() - t0) / 5);
  }
  if (host) *host = best_host;
  last_host_seconds = best_host;
  return best;
}

void run(Backend& be, const Shape& s, int64_t M, DType act) {
  const int64_t H = s.hidden, I = s.inter, D = s.head_dim, Hq = s.heads, Hkv = s.kv_heads;
  const float eps = 1e-5f;
  Tensor x = filled(be, DType::F32, {M, H}), h = be.empty(act, {M, H});
  // q|k|v and gate|up back to back in one allocation each, as the model loader places them
  // (the backend then runs one GEMM per group); "apart" rows time separately allocated copies.
  const Tensor wqkv = filled(be, DType::BF16, {(Hq + 2 * Hkv) * D, H}), wgu = filled(be, DType::BF16, {2 * I, H});
  Tensor wq = wqkv.slice_rows(0, Hq * D), wk = wqkv.slice_rows(Hq * D, (Hq + Hkv) * D),
         wv = wqkv.slice_rows((Hq + Hkv) * D, (Hq + 2 * Hkv) * D), wo = filled(be, DType::BF16, {H, Hq * D});
  Tensor wg = wgu.slice_rows(0, I), wu = wgu.slice_rows(I, 2 * I);
  // (Apart: with a gap of 16 rows between parts, so they are never back to back by chance.)
  const Tensor gapped_qkv = filled(be, DType::BF16, {(Hq + 2 * Hkv) * D + 32, H});
  const Tensor wq_apart = gapped_qkv.slice_rows(0, Hq * D),
               wk_apart = gapped_qkv.slice_rows(Hq * D + 16, (Hq + Hkv) * D + 16),
               wv_apart = gapped_qkv.slice_rows((Hq + Hkv) * D + 32, (Hq + 2 * Hkv) * D + 32);
  const Tensor gapped_gu = filled(be, DType::BF16, {2 * I + 16, H});
  const Tensor wg_apart = gapped_gu.slice_rows(0, I), wu_apart = gapped_gu.slice_rows(I + 16, 2 * I + 16);
  Tensor wd = filled(be, DType::BF16, {H, I});
  Tensor nw = filled(be, DType::F32, {H});
  Tensor q = be.empty(act, {M, Hq, D}), k = be.empty(act, {M, Hkv, D}), v = be.empty(act, {M, Hkv, D});
  Tensor attn = be.alloc(act, {M, Hq, D}), proj = be.empty(act, {M, H}), gate = be.empty(act, {M, I});
  Tensor kc = be.alloc(act, {M, Hkv, D}), vc = be.alloc(act, {M, Hkv, D});
  Tensor cos = filled(be, DType::F32, {M, D / 2}), sin = filled(be, DType::F32, {M, D / 2});
  std::vector<int32_t> rows(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) rows[i] = static_cast<int32_t>(i);
  const double ab = double(nova::dtype_size(act));
  struct Row {
    const char* name;
    double sec, flops, bytes, host = 0;
  };
  std::vector<Row> out;
  // Each row with the host time of its own seconds_per_call (called just before).
  auto add = [&](Row r) {
    r.host = last_host_seconds;
    out.push_back(r);
  };
  auto gemm = [&](const char* name, const Tensor& in, const Tensor& w, Tensor& y) {
    const double t = seconds_per_call(be, [&] { be.linear(in, w, nullptr, y); });
    add({name, t, 2.0 * double(M) * double(w.dim(0)) * double(w.dim(1)), 0});
  };
  add({"add_rmsnorm", seconds_per_call(be, [&] { be.add_rmsnorm(x, proj, nw, eps, h); }), 0,
                 double(M * H) * (4 + ab + 4 + ab)});
  const Backend::LinearPart qkv[] = {{&wq, nullptr, &q}, {&wk, nullptr, &k}, {&wv, nullptr, &v}};
  const double qkv_flops = 2.0 * double(M) * double((Hq + 2 * Hkv) * D) * double(H);
  add({"q|k|v (linears)", seconds_per_call(be, [&] { be.linears(h, qkv); }), qkv_flops, 0});
  {
    const Backend::LinearPart apart[] = {{&wq_apart, nullptr, &q}, {&wk_apart, nullptr, &k}, {&wv_apart, nullptr, &v}};
    add({"q|k|v apart", seconds_per_call(be, [&] { be.linears(h, apart); }), qkv_flops, 0});
  }
  add({"q|k|v + rope_store", seconds_per_call(be, [&] { be.linears_rope_store_kv(h, qkv, cos, sin, rows, kc, vc); }),
       qkv_flops, 0});  // as a layer runs them (one GEMM, one kernel when packed)
  add({"rope_store_kv", seconds_per_call(be, [&] { be.rope_store_kv(q, k, v, cos, sin, rows, kc, vc); }), 0,
                 double(M * (Hq + 2 * Hkv) * D) * ab * 2 + double(M * 2 * Hkv * D) * ab});
  {
    const float scale = 1.0f / std::sqrt(float(D));
    const double t = seconds_per_call(be, [&] { be.attention(q, kc, vc, 0, 0, scale, attn); });
    add({"attention (causal)", t, 4.0 * double(M) * double(M) * double(D) * double(Hq) / 2, 0});
  }
  Tensor a2 = attn.reshape({M, Hq * D});
  gemm("o", a2, wo, proj);
  add({"gate|up + swiglu", seconds_per_call(be, [&] { be.linear_swiglu(h, wg, wu, gate); }),
                 4.0 * double(M) * double(I) * double(H), 0});
  add({"gate|up apart", seconds_per_call(be, [&] { be.linear_swiglu(h, wg_apart, wu_apart, gate); }),
                 4.0 * double(M) * double(I) * double(H), 0});
  {
    Tensor up = be.empty(act, {M, I});
    const double t = seconds_per_call(be, [&] { be.swiglu(gate, up, gate); });
    add({"swiglu alone", t, 0, double(M * I) * ab * 3});
  }
  gemm("down", gate, wd, proj);
  double total = 0;
  std::printf("\n== %s, %lld tokens, %s activations: one layer\n", s.name.c_str(), (long long)M,
              std::string(nova::dtype_name(act)).c_str());
  for (const Row& r : out) {
    const std::string n = r.name;
    // The layer: fused q|k|v + rope_store, attention, o, norms, gate|up + swiglu, down.
    if (n != "swiglu alone" && n.find("apart") == std::string::npos && n != "q|k|v (linears)" && n != "rope_store_kv")
      total += r.sec;
    std::printf("  %-20s %9.1f us (host %5.1f us)", r.name, r.sec * 1e6, r.host * 1e6);
    if (r.flops > 0) std::printf("  %7.1f TFLOP/s", r.flops / r.sec / 1e12);
    if (r.bytes > 0) std::printf("  %7.0f GB/s", r.bytes / r.sec / 1e9);
    std::printf("\n");
  }
  std::printf("  layer total %.1f us (the fused q|k|v + rope_store row, not its parts; no 'apart' rows, no 'swiglu alone')\n",
              total * 1e6);
}

// A whole prefill of the 1B shape (random bf16 weights, Llama-3.2-1B dimensions, tied head):
// the wall time of Session::forward_logits plus a synchronisation, and the host's share — the
// time until forward_logits returns, every op enqueued (a prefill launches its ops directly) —
// so a gap between the kernels' sum (ncu) and the wall time can be told apart: host-bound
// (enqueue ~ wall) or idle GPU between kernels (enqueue << wall). Best and median of 7.
void forward(Backend& be, const std::vector<int64_t>& tokens) {
  namespace fs = std::filesystem;
  const int64_t H = 2048, I = 8192, L = 16, V = 128256;
  const std::string dir = (fs::temp_directory_path() / ("nova_prefill_fwd_" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  {
    std::vector<uint16_t> pool(static_cast<size_t>(V * H));
    nova::bench::XorShift rng;
    for (auto& v : pool) v = nova::f32_to_bf16(0.02f * rng.uniform());
    const int64_t max_t = *std::max_element(tokens.begin(), tokens.end());
    nova::bench::write_random_llama(dir, {H, I, L, 32, 8, V, true, max_t + 64, 500000.0},
                                    [&](int64_t r, int64_t c, float) { return Tensor::view(DType::BF16, {r, c}, pool.data()); });
  }
  auto model = nova::model::Transformer::create(nova::formats::load_hf_config(dir + "/config.json"),
                                                nova::formats::Checkpoint::open_dir(dir), be);
  fs::remove_all(dir);
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  for (int64_t T : tokens) {
    const auto ids = nova::bench::prompt_ids(T, V);
    std::vector<double> wall, host;
    for (int r = 0; r < 8; ++r) {
      auto session = model->new_session(T + 8);
      be.download(tiny, &sink);
      const double t0 = nova::bench::now_seconds();
      const Tensor logits = session->forward_logits(ids);
      const double t1 = nova::bench::now_seconds();
      be.download(tiny, &sink);
      const double t2 = nova::bench::now_seconds();
      if (r == 0) continue;  // warm-up
      wall.push_back(t2 - t0);
      host.push_back(t1 - t0);
    }
    std::sort(wall.begin(), wall.end());
    std::sort(host.begin(), host.end());
    std::printf("\n== 1b forward_logits, %lld tokens: wall best %.3f ms, median %.3f ms (%.0f tok/s); host enqueue "
                "best %.3f ms, median %.3f ms\n",
                (long long)T, wall[0] * 1e3, wall[wall.size() / 2] * 1e3, double(T) / wall[0], host[0] * 1e3,
                host[host.size() / 2] * 1e3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"1b", "8b"};
  std::vector<int64_t> tokens = {512, 8192};
  std::string act = "bf16", device = "cuda";
  bool fwd = true;
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--models") models = nova::bench::split_list(v);
    else if (a == "--tokens") {
      tokens.clear();
      for (const auto& t : nova::bench::split_list(v)) tokens.push_back(std::atoll(t.c_str()));
    } else if (a == "--act") act = v;
    else if (a == "--device") device = v;
    else if (a == "--forward") fwd = v != "0";
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/cuda_prefill_ops.cpp", set)) return 2;
  if (act != "bf16" && act != "f32") {
    std::fprintf(stderr, "bench_cuda_prefill_ops: --act is bf16 or f32\n");
    return 2;
  }
  try {
    setenv("NOVA_CUDA_GRAPHS", "0", 1);
    auto be = nova::kernels::make_backend(device);
    const DType dt = act == "bf16" ? DType::BF16 : DType::F32;
    for (const std::string& m : models)
      for (const Shape& s : kShapes)
        if (s.name == m)
          for (int64_t t : tokens) run(*be, s, t, dt);
    if (fwd && dt == DType::BF16) {  // as a model runs: graphs on (a prefill launches directly anyway)
      unsetenv("NOVA_CUDA_GRAPHS");
      auto model_be = nova::kernels::make_backend(device);
      forward(*model_be, tokens);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_prefill_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
