// bench_cuda_prefill_ops: where a prefill's time goes on the GPU — each op of one transformer layer
// of the Llama-3.2-1B / Llama-3.1-8B shapes at M prompt tokens, timed alone through
// kernels::Backend (plain launches, NOVA_CUDA_GRAPHS=0; best of 5 after a warm-up, each a batch of
// calls closed by a download), in the activation dtype given (bf16: BF16 activations and KV cache,
// the Transformer's BF16 mode; f32: its F32 mode). GEMMs and attention print TFLOP/s (attention:
// causal, 4 T^2 d / 2 per head), elementwise ops GB/s of their own reads + writes.
// Usage: bench_cuda_prefill_ops [--models 1b,8b] [--tokens 512,8192] [--act bf16|f32] [--device cuda]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "kernels/backend_factory.h"

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

template <class Fn>
double seconds_per_call(Backend& be, Fn&& fn) {
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  fn();
  be.download(tiny, &sink);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = nova::bench::now_seconds();
    for (int i = 0; i < 5; ++i) fn();
    be.download(tiny, &sink);
    best = std::min(best, (nova::bench::now_seconds() - t0) / 5);
  }
  return best;
}

void run(Backend& be, const Shape& s, int64_t M, DType act) {
  const int64_t H = s.hidden, I = s.inter, D = s.head_dim, Hq = s.heads, Hkv = s.kv_heads;
  const float eps = 1e-5f;
  Tensor x = filled(be, DType::F32, {M, H}), h = be.empty(act, {M, H});
  Tensor wq = filled(be, DType::BF16, {Hq * D, H}), wk = filled(be, DType::BF16, {Hkv * D, H}),
         wv = filled(be, DType::BF16, {Hkv * D, H}), wo = filled(be, DType::BF16, {H, Hq * D});
  Tensor wg = filled(be, DType::BF16, {I, H}), wu = filled(be, DType::BF16, {I, H});
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
    double sec, flops, bytes;
  };
  std::vector<Row> out;
  auto gemm = [&](const char* name, const Tensor& in, const Tensor& w, Tensor& y) {
    const double t = seconds_per_call(be, [&] { be.linear(in, w, nullptr, y); });
    out.push_back({name, t, 2.0 * double(M) * double(w.dim(0)) * double(w.dim(1)), 0});
  };
  out.push_back({"add_rmsnorm", seconds_per_call(be, [&] { be.add_rmsnorm(x, proj, nw, eps, h); }), 0,
                 double(M * H) * (4 + ab + 4 + ab)});
  const Backend::LinearPart qkv[] = {{&wq, nullptr, &q}, {&wk, nullptr, &k}, {&wv, nullptr, &v}};
  {
    const double t = seconds_per_call(be, [&] { be.linears(h, qkv); });
    out.push_back({"q|k|v (linears)", t, 2.0 * double(M) * double((Hq + 2 * Hkv) * D) * double(H), 0});
  }
  out.push_back({"rope_store_kv", seconds_per_call(be, [&] { be.rope_store_kv(q, k, v, cos, sin, rows, kc, vc); }), 0,
                 double(M * (Hq + 2 * Hkv) * D) * ab * 2 + double(M * 2 * Hkv * D) * ab});
  {
    const float scale = 1.0f / std::sqrt(float(D));
    const double t = seconds_per_call(be, [&] { be.attention(q, kc, vc, 0, 0, scale, attn); });
    out.push_back({"attention (causal)", t, 4.0 * double(M) * double(M) * double(D) * double(Hq) / 2, 0});
  }
  Tensor a2 = attn.reshape({M, Hq * D});
  gemm("o", a2, wo, proj);
  {
    const double t = seconds_per_call(be, [&] { be.linear_swiglu(h, wg, wu, gate); });
    out.push_back({"gate|up + swiglu", t, 4.0 * double(M) * double(I) * double(H), 0});
  }
  {
    Tensor up = be.empty(act, {M, I});
    const double t = seconds_per_call(be, [&] { be.swiglu(gate, up, gate); });
    out.push_back({"swiglu alone", t, 0, double(M * I) * ab * 3});
  }
  gemm("down", gate, wd, proj);
  double total = 0;
  std::printf("\n== %s, %lld tokens, %s activations: one layer\n", s.name.c_str(), (long long)M,
              std::string(nova::dtype_name(act)).c_str());
  for (const Row& r : out) {
    if (std::string(r.name) != "swiglu alone") total += r.sec;
    std::printf("  %-20s %9.1f us", r.name, r.sec * 1e6);
    if (r.flops > 0) std::printf("  %7.1f TFLOP/s", r.flops / r.sec / 1e12);
    if (r.bytes > 0) std::printf("  %7.0f GB/s", r.bytes / r.sec / 1e9);
    std::printf("\n");
  }
  std::printf("  layer total %.1f us (without 'swiglu alone')\n", total * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"1b", "8b"};
  std::vector<int64_t> tokens = {512, 8192};
  std::string act = "bf16", device = "cuda";
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--models") models = nova::bench::split_list(v);
    else if (a == "--tokens") {
      tokens.clear();
      for (const auto& t : nova::bench::split_list(v)) tokens.push_back(std::atoll(t.c_str()));
    } else if (a == "--act") act = v;
    else if (a == "--device") device = v;
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_prefill_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
