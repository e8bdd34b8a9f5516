// The CUDA backend's ops on BF16 activations (backend.h's [bf16] ops) against the CPU backend's
// fp32 ops on the same values. Inputs are rounded to bf16 first and the CPU computes in fp32 on
// those rounded values, so what is left is the GPU's own rounding: one bf16 rounding of each
// BF16 output (relative error <= 2^-9, half an ulp) on top of fp32 arithmetic in another order.
// The bounds below are that plus margin, stated per op. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::Backend;
using test::to_host;
using kernels::CpuBackend;
using kernels::PagedAttentionSeq;
using test::randn;

using test::round_bf16;

// A backend tensor of `dtype` holding v (rounded when BF16).
Tensor put(Backend& be, DType dtype, const std::vector<float>& v, std::vector<int64_t> shape) {
  return be.upload(test::host_of(dtype, v, std::move(shape)));
}

std::vector<float> cpu_values(const Tensor& t) { return test::values(t); }

// max over i of |got - want| / (|want| * rel + abs): <= 1 passes.
double ratio(const std::vector<float>& got, const std::vector<float>& want, double rel, double abs) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    worst = std::max(worst, std::abs(double(got[i]) - want[i]) / (std::abs(double(want[i])) * rel + abs));
  }
  return worst;
}

// One bf16 rounding of an fp32 result, with room for fp32 reordering: 2^-8 relative.
constexpr double kBf16Rel = 1.0 / 256;

TEST(CudaBf16Ops, BackendsSayWhichActivationsTheyTake) {
  CpuBackend cpu;
  EXPECT_TRUE(cpu.supports_activation(DType::F32));
  EXPECT_FALSE(cpu.supports_activation(DType::BF16));
  // The CPU ops refuse BF16 activations with the op's name.
  Tensor x = cpu.alloc(DType::BF16, {2, 4}), w = cpu.alloc(DType::F32, {4}), y = cpu.alloc(DType::F32, {2, 4});
  try {
    cpu.rmsnorm(x, w, 1e-5f, y);
    ADD_FAILURE() << "CPU rmsnorm took a BF16 x";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rmsnorm"), std::string::npos) << e.what();
  }
  NOVA_REQUIRE_CUDA(gpu);
  EXPECT_TRUE(gpu->supports_activation(DType::F32));
  EXPECT_TRUE(gpu->supports_activation(DType::BF16));
  EXPECT_FALSE(gpu->supports_activation(DType::F16));
}

TEST(CudaBf16Ops, NormsRopeSwigluAddAndRowOps) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const int64_t rows = 5, width = 2048;
  const auto xv = randn(static_cast<size_t>(rows * width), 1), dv = round_bf16(randn(xv.size(), 2)),
             wv = randn(static_cast<size_t>(width), 3);
  const Tensor w_cpu = test::host_f32(wv, {width});
  const Tensor w = gpu->upload(w_cpu);

  // rmsnorm: F32 -> BF16, BF16 -> BF16 (in place, as q/k norm), BF16 -> F32; also a width the
  // vectorised kernel does not take (the loop kernel).
  for (int64_t wd : {width, int64_t{6}}) {
    const int64_t n = rows * wd;
    const std::vector<float> xr = round_bf16(std::vector<float>(xv.begin(), xv.begin() + n));
    const Tensor wc = test::host_f32(std::vector<float>(wv.begin(), wv.begin() + wd), {wd});
    Tensor want = cpu.alloc(DType::F32, {rows, wd});
    cpu.rmsnorm(test::host_f32(xr, {rows, wd}), wc, 1e-5f, want);
    const Tensor wg = gpu->upload(wc);
    Tensor y16 = gpu->alloc(DType::BF16, {rows, wd}), y32 = gpu->alloc(DType::F32, {rows, wd});
    gpu->rmsnorm(put(*gpu, DType::F32, xr, {rows, wd}), wg, 1e-5f, y16);
    EXPECT_LE(ratio(to_host(*gpu, y16), cpu_values(want), kBf16Rel, 1e-6), 1.0) << "F32 -> BF16, width " << wd;
    Tensor x16 = put(*gpu, DType::BF16, xr, {rows, wd});
    gpu->rmsnorm(x16, wg, 1e-5f, y32);
    EXPECT_LE(ratio(to_host(*gpu, y32), cpu_values(want), 1e-5, 1e-6), 1.0) << "BF16 -> F32 (exact input), width " << wd;
    gpu->rmsnorm(x16, wg, 1e-5f, x16);
    EXPECT_LE(ratio(to_host(*gpu, x16), cpu_values(want), kBf16Rel, 1e-6), 1.0) << "BF16 in place, width " << wd;
  }

  // add_rmsnorm: x F32 += delta BF16; y BF16. x must come out as the exact fp32 sum.
  {
    Tensor x_cpu = test::host_f32(xv, {rows, width}), y_cpu = cpu.alloc(DType::F32, {rows, width});
    cpu.add_rmsnorm(x_cpu, test::host_f32(dv, {rows, width}), w_cpu, 1e-5f, y_cpu);
    Tensor x = put(*gpu, DType::F32, xv, {rows, width}), y = gpu->alloc(DType::BF16, {rows, width});
    gpu->add_rmsnorm(x, put(*gpu, DType::BF16, dv, {rows, width}), w, 1e-5f, y);
    EXPECT_LE(ratio(to_host(*gpu, x), cpu_values(x_cpu), 0, 1e-30), 1.0) << "the residual stream";
    EXPECT_LE(ratio(to_host(*gpu, y), cpu_values(y_cpu), kBf16Rel, 1e-6), 1.0);
    // add: F32 += BF16 (exact fp32 sum) and BF16 += BF16 (one rounding).
    Tensor a = put(*gpu, DType::F32, xv, {rows, width});
    gpu->add(a, put(*gpu, DType::BF16, dv, {rows, width}));
    EXPECT_LE(ratio(to_host(*gpu, a), cpu_values(x_cpu), 0, 1e-30), 1.0);
    const auto xr = round_bf16(xv);
    Tensor s_cpu = test::host_f32(xr, {rows, width});
    cpu.add(s_cpu, test::host_f32(dv, {rows, width}));
    Tensor b = put(*gpu, DType::BF16, xr, {rows, width});
    gpu->add(b, put(*gpu, DType::BF16, dv, {rows, width}));
    EXPECT_LE(ratio(to_host(*gpu, b), cpu_values(s_cpu), kBf16Rel, 1e-6), 1.0);
    EXPECT_THROW(gpu->add(b, a), Error);  // BF16 += F32 is no op of ours
  }

  // swiglu and scale_rows_by_sigmoid, BF16 in and out.
  {
    const auto gv = round_bf16(randn(xv.size(), 4)), uv = round_bf16(randn(xv.size(), 5));
    Tensor want = cpu.alloc(DType::F32, {rows, width});
    cpu.swiglu(test::host_f32(gv, {rows, width}), test::host_f32(uv, {rows, width}), want);
    Tensor out = gpu->alloc(DType::BF16, {rows, width});
    gpu->swiglu(put(*gpu, DType::BF16, gv, {rows, width}), put(*gpu, DType::BF16, uv, {rows, width}), out);
    EXPECT_LE(ratio(to_host(*gpu, out), cpu_values(want), kBf16Rel, 1e-6), 1.0) << "swiglu";
    const auto g = randn(static_cast<size_t>(rows), 6);
    Tensor sc = test::host_f32(gv, {rows, width});
    cpu.scale_rows_by_sigmoid(sc, test::host_f32(g, {rows, 1}));
    Tensor sg = put(*gpu, DType::BF16, gv, {rows, width});
    gpu->scale_rows_by_sigmoid(sg, put(*gpu, DType::F32, g, {rows, 1}));
    EXPECT_LE(ratio(to_host(*gpu, sg), cpu_values(sc), kBf16Rel, 1e-6), 1.0) << "scale_rows_by_sigmoid";
  }

  // rope (BF16 in place; partial rotary: 16 of 32 features).
  {
    const int64_t heads = 3, hd = 32, half = 8;
    const auto qv = round_bf16(randn(static_cast<size_t>(rows * heads * hd), 7));
    const auto cv = randn(static_cast<size_t>(rows * half), 8), sv = randn(static_cast<size_t>(rows * half), 9);
    Tensor qc = test::host_f32(qv, {rows, heads, hd});
    cpu.rope(qc, test::host_f32(cv, {rows, half}), test::host_f32(sv, {rows, half}));
    Tensor qg = put(*gpu, DType::BF16, qv, {rows, heads, hd});
    gpu->rope(qg, put(*gpu, DType::F32, cv, {rows, half}), put(*gpu, DType::F32, sv, {rows, half}));
    EXPECT_LE(ratio(to_host(*gpu, qg), cpu_values(qc), kBf16Rel, 1e-6), 1.0) << "rope";
  }

  // gather / scatter (exact), scatter_add of BF16 rows into F32 (one fp32 multiply-add each).
  {
    const auto sv = round_bf16(randn(static_cast<size_t>(6 * 40), 10));
    const std::vector<int32_t> idx = {4, 0, 5};
    const Tensor src_cpu = test::host_f32(sv, {6, 40});
    Tensor gc = cpu.alloc(DType::F32, {3, 40});
    cpu.gather_rows(src_cpu, idx, gc);
    Tensor gg = gpu->alloc(DType::BF16, {3, 40});
    gpu->gather_rows(put(*gpu, DType::BF16, sv, {6, 40}), idx, gg);
    EXPECT_EQ(to_host(*gpu, gg), cpu_values(gc));
    Tensor dc = cpu.alloc(DType::F32, {6, 40}), dg = gpu->alloc(DType::BF16, {6, 40});
    cpu.scatter_rows(gc, idx, dc);
    gpu->scatter_rows(gg, idx, dg);
    EXPECT_EQ(to_host(*gpu, dg), cpu_values(dc));
    const std::vector<float> wts = {0.5f, -1.25f, 2.0f};
    Tensor ac = test::host_f32(xv, {static_cast<int64_t>(xv.size()) / 40, 40});
    Tensor ag = put(*gpu, DType::F32, xv, {static_cast<int64_t>(xv.size()) / 40, 40});
    cpu.scatter_add_rows(gc, idx, wts, ac);
    gpu->scatter_add_rows(gg, idx, wts, ag);
    EXPECT_LE(ratio(to_host(*gpu, ag), cpu_values(ac), 1e-6, 1e-6), 1.0) << "scatter_add_rows";
    Tensor mixed = gpu->alloc(DType::F32, {3, 40});
    EXPECT_THROW(gpu->gather_rows(put(*gpu, DType::BF16, sv, {6, 40}), idx, mixed), Error);
  }
}

TEST(CudaBf16Ops, RopeStoreKvIntoBf16AndF32Caches) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const int64_t n = 4, hq = 4, hkv = 2, hd = 64, half = 32, slots = 9;
  const auto qv = round_bf16(randn(static_cast<size_t>(n * hq * hd), 20));
  const auto kv = round_bf16(randn(static_cast<size_t>(n * hkv * hd), 21));
  const auto vv = round_bf16(randn(static_cast<size_t>(n * hkv * hd), 22));
  const auto cv = randn(static_cast<size_t>(n * half), 23), sv = randn(static_cast<size_t>(n * half), 24);
  const std::vector<int32_t> rows = {7, 2, 3, 0};
  Tensor qc = test::host_f32(qv, {n, hq, hd}), kc = test::host_f32(kv, {n, hkv, hd});
  Tensor kdc = cpu.alloc(DType::F32, {slots, hkv, hd}), vdc = cpu.alloc(DType::F32, {slots, hkv, hd});
  const Tensor cos_c = test::host_f32(cv, {n, half}), sin_c = test::host_f32(sv, {n, half});
  cpu.rope_store_kv(qc, kc, test::host_f32(vv, {n, hkv, hd}), cos_c, sin_c, rows, kdc, vdc);
  for (DType cache : {DType::BF16, DType::F32}) {
    Tensor q = put(*gpu, DType::BF16, qv, {n, hq, hd}), k = put(*gpu, DType::BF16, kv, {n, hkv, hd});
    Tensor kd = gpu->alloc(cache, {slots, hkv, hd}), vd = gpu->alloc(cache, {slots, hkv, hd});
    gpu->rope_store_kv(q, k, put(*gpu, DType::BF16, vv, {n, hkv, hd}), gpu->upload(cos_c), gpu->upload(sin_c), rows,
                       kd, vd);
    const char* what = cache == DType::BF16 ? "bf16 cache" : "f32 cache";
    EXPECT_LE(ratio(to_host(*gpu, q), cpu_values(qc), kBf16Rel, 1e-6), 1.0) << what;
    EXPECT_LE(ratio(to_host(*gpu, k), cpu_values(kc), kBf16Rel, 1e-6), 1.0) << what;
    EXPECT_LE(ratio(to_host(*gpu, kd), cpu_values(kdc), kBf16Rel, 1e-6), 1.0) << what;
    EXPECT_EQ(to_host(*gpu, vd), cpu_values(vdc)) << what;  // v is copied, not rounded again
  }
}

// GEMM / GEMV paths: bf16 x bf16 with fp32 accumulation, y BF16 (one rounding) or F32. Against the
// CPU's fp32 matmul of the same bf16 values; the bound is per element relative to the row's
// sum of |x||w| (the accumulation's scale), 2^-8 of that for BF16 y, 1e-5 for F32 y.
TEST(CudaBf16Ops, LinearLinearsAndLinearSwigluOnBf16Activations) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (int64_t M : {int64_t{1}, int64_t{3}, int64_t{70}}) {
    const int64_t N = 96, K = 256;
    const auto xv = round_bf16(randn(static_cast<size_t>(M * K), 30 + M));
    const auto wv = round_bf16(randn(static_cast<size_t>(N * K), 31, 0.1f));
    const auto bv = randn(static_cast<size_t>(N), 32);
    const Tensor w_host = test::host_of(DType::BF16, wv, {N, K});
    const Tensor w = gpu->upload(w_host);
    const Tensor w_f32 = test::host_f32(wv, {N, K});
    // The scale of each output: sum_k |x||w|.
    std::vector<float> mag(static_cast<size_t>(M * N));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t nn = 0; nn < N; ++nn) {
        double a = 0;
        for (int64_t kk = 0; kk < K; ++kk) a += std::abs(double(xv[m * K + kk]) * wv[nn * K + kk]);
        mag[m * N + nn] = static_cast<float>(a);
      }
    auto check = [&](const std::vector<float>& got, const std::vector<float>& want, double rel, const char* what) {
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(double(got[i]) - want[i]) / (rel * (mag[i] + std::abs(want[i])) + 1e-6));
      EXPECT_LE(worst, 1.0) << what << " M=" << M;
    };
    Tensor want = cpu.alloc(DType::F32, {M, N}), want_b = cpu.alloc(DType::F32, {M, N});
    const Tensor bias_host = test::host_f32(bv, {N});
    cpu.linear(test::host_f32(xv, {M, K}), w_f32, nullptr, want);
    cpu.linear(test::host_f32(xv, {M, K}), w_f32, &bias_host, want_b);
    const Tensor x = put(*gpu, DType::BF16, xv, {M, K});
    Tensor y16 = gpu->alloc(DType::BF16, {M, N}), y32 = gpu->alloc(DType::F32, {M, N});
    gpu->linear(x, w, nullptr, y16);
    check(to_host(*gpu, y16), cpu_values(want), kBf16Rel, "bf16 -> bf16");
    gpu->linear(x, w, nullptr, y32);
    check(to_host(*gpu, y32), cpu_values(want), 1e-5, "bf16 -> f32");
    const Tensor bias = gpu->upload(bias_host);
    gpu->linear(x, w, &bias, y16);
    check(to_host(*gpu, y16), cpu_values(want_b), kBf16Rel, "bf16 -> bf16 + bias");

    // linears (q|k|v: one GEMV launch at M = 1) and linear_swiglu.
    Tensor ya = gpu->alloc(DType::BF16, {M, N}), yb = gpu->alloc(DType::BF16, {M, N});
    const Backend::LinearPart parts[] = {{&w, nullptr, &ya}, {&w, nullptr, &yb}};
    gpu->linears(x, parts);
    check(to_host(*gpu, ya), cpu_values(want), kBf16Rel, "linears part 0");
    check(to_host(*gpu, yb), cpu_values(want), kBf16Rel, "linears part 1");
    const auto uv = round_bf16(randn(static_cast<size_t>(N * K), 33, 0.1f));
    const Tensor wu = gpu->upload(test::host_of(DType::BF16, uv, {N, K}));
    Tensor up = cpu.alloc(DType::F32, {M, N}), sw = cpu.alloc(DType::F32, {M, N});
    cpu.linear(test::host_f32(xv, {M, K}), test::host_f32(uv, {N, K}), nullptr, up);
    // The composed (M > 1) path rounds gate and up to bf16 before the SwiGLU: with silu' <= 1.1,
    // |error| <= 2^-9 (2.1 |gate| |up| + |out|) plus fp32 noise; the bound doubles that.
    cpu.swiglu(want, up, sw);
    Tensor out = gpu->alloc(DType::BF16, {M, N});
    gpu->linear_swiglu(x, w, wu, out);
    const auto got = to_host(*gpu, out);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double g = want.data_as<float>()[i], u = up.data_as<float>()[i], o = sw.data_as<float>()[i];
      const double bound = std::ldexp(1.0, -7) * (1.2 * std::abs(g * u) + std::abs(o)) + 1e-5;
      worst = std::max(worst, std::abs(got[i] - o) / bound);
    }
    EXPECT_LE(worst, 1.0) << "linear_swiglu M=" << M;

    // Mixed dtypes convert x to the weight's dtype (exact here: x is bf16-representable, and F16
    // holds these values exactly) and y from fp32: BF16 x with F32 and F16 weights, F32 x with F32
    // weights into a BF16 y.
    gpu->linear(x, gpu->upload(w_f32), nullptr, y32);
    check(to_host(*gpu, y32), cpu_values(want), 1e-5, "bf16 x, f32 w -> f32");
    gpu->linear(x, gpu->upload(test::host_of(DType::F16, wv, {N, K})), nullptr, y16);
    check(to_host(*gpu, y16), cpu_values(want), kBf16Rel, "bf16 x, f16 w -> bf16");
    gpu->linear(put(*gpu, DType::F32, xv, {M, K}), gpu->upload(w_f32), nullptr, y16);
    check(to_host(*gpu, y16), cpu_values(want), kBf16Rel, "f32 x, f32 w -> bf16");
  }
}

// Prefill attention on BF16 q / KV (the mma.sync kernel for >= 256 query rows, head_dim 64 and
// 128; the fp32-math kernel otherwise) against the CPU's fp32 attention on the same bf16 values.
// P is rounded to bf16 for the P.V mma and the output once: relative to the output's scale, below
// 1e-2 (as the F32 tensor-core path's test). Poisoned outputs: every row must be written.
struct Bf16AttnCase {
  int64_t rows, pos0, hq, hkv, d;
  int window;
};

TEST(CudaBf16Ops, PrefillAttentionOnBf16CacheMatchesFp32) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const Bf16AttnCase cases[] = {{300, 0, 8, 2, 64, 0},    {257, 3, 4, 4, 128, 0},  {513, 17, 6, 3, 128, 100},
                                {700, 0, 32, 8, 64, 0},    {256, 1000, 8, 8, 128, 300}, {320, 64, 4, 1, 64, 64},
                                {19, 5, 4, 2, 64, 0},      {300, 40, 12, 4, 80, 0}};
  uint32_t seed = 4000;
  for (const Bf16AttnCase& c : cases) {
    const int64_t cap = c.pos0 + c.rows + 5;
    const auto qv = round_bf16(randn(static_cast<size_t>(c.rows * c.hq * c.d), ++seed));
    const auto kv = round_bf16(randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed));
    const auto vv = round_bf16(randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed));
    const float scale = 1.0f / std::sqrt(float(c.d));
    Tensor want = cpu.alloc(DType::F32, {c.rows, c.hq, c.d});
    cpu.attention(test::host_f32(qv, {c.rows, c.hq, c.d}), test::host_f32(kv, {cap, c.hkv, c.d}),
                  test::host_f32(vv, {cap, c.hkv, c.d}), c.pos0, c.window, scale, want);
    Tensor got = put(*gpu, DType::BF16, std::vector<float>(static_cast<size_t>(c.rows * c.hq * c.d), NAN),
                     {c.rows, c.hq, c.d});
    gpu->attention(put(*gpu, DType::BF16, qv, {c.rows, c.hq, c.d}), put(*gpu, DType::BF16, kv, {cap, c.hkv, c.d}),
                   put(*gpu, DType::BF16, vv, {cap, c.hkv, c.d}), c.pos0, c.window, scale, got);
    EXPECT_LE(test::scaled_error(to_host(*gpu, got), cpu_values(want)), 1e-2)
        << "rows " << c.rows << " pos0 " << c.pos0 << " heads " << c.hq << "/" << c.hkv << " d " << c.d << " window "
        << c.window;
  }
}

TEST(CudaBf16Ops, PagedPrefillAttentionOnBf16BlocksMatchesFp32) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (int64_t d : {int64_t{64}, int64_t{128}})
    for (int window : {0, 50}) {
      const int64_t hq = 8, hkv = 2, bs = 16;
      // 640 rows over 4 sequences: the mma path, chunked prefills (pos0 > 0) and a decode row.
      const test::PagedLayout lay = test::paged_layout({{300, 0}, {1, 500}, {299, 77}, {40, 9}}, bs, 3,
                                                       static_cast<uint32_t>(13 + d + window));
      const auto& ds = lay.seqs;
      const auto& tables = lay.tables;
      const int64_t total_rows = lay.total_rows, nblocks = lay.num_blocks;
      const auto qv = round_bf16(randn(static_cast<size_t>(total_rows * hq * d), 500 + window));
      const auto kv = round_bf16(randn(static_cast<size_t>(nblocks * bs * hkv * d), 501));
      const auto vv = round_bf16(randn(static_cast<size_t>(nblocks * bs * hkv * d), 502));
      const float scale = 1.0f / std::sqrt(float(d));
      Tensor want = cpu.alloc(DType::F32, {total_rows, hq, d});
      cpu.paged_attention(test::host_f32(qv, {total_rows, hq, d}), test::host_f32(kv, {nblocks, bs, hkv, d}),
                          test::host_f32(vv, {nblocks, bs, hkv, d}), ds, tables, window, scale, want);
      Tensor got = put(*gpu, DType::BF16, std::vector<float>(static_cast<size_t>(total_rows * hq * d), NAN),
                       {total_rows, hq, d});
      gpu->paged_attention(put(*gpu, DType::BF16, qv, {total_rows, hq, d}),
                           put(*gpu, DType::BF16, kv, {nblocks, bs, hkv, d}),
                           put(*gpu, DType::BF16, vv, {nblocks, bs, hkv, d}), ds, tables, window, scale, got);
      EXPECT_LE(test::scaled_error(to_host(*gpu, got), cpu_values(want)), 1e-2) << "d " << d << " window " << window;
    }
}

}  // namespace
}  // namespace nova
