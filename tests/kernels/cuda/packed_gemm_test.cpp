// The CUDA backend's packed-weight GEMMs (cuda_backend_fused.cu): linears over q|k|v weights and
// linear_swiglu over gate|up weights that lie back to back in one allocation (as the model loader
// places them) run one GEMM over several rows, then split_columns / swiglu_packed (fused.cu).
// Against the CPU backend's composition on the same values, with poisoned outputs (every element
// must be written), for BF16 and F32 operands, outputs of the activation dtype and F32, and
// shapes the packed path cannot take (it must fall back and still be right). Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::Backend;
using kernels::CpuBackend;
using test::randn;
using test::to_host;

std::vector<float> round_to(DType dt, std::vector<float> v) {
  if (dt == DType::BF16)
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

// A device tensor of `dt` and `shape` filled with NaN (BF16 NaN too): unwritten elements show.
Tensor poisoned(Backend& be, DType dt, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return be.upload(test::host_of(dt, std::vector<float>(static_cast<size_t>(n), NAN), std::move(shape)));
}

// Matrices of `rows` rows and K columns, rounded to dt, concatenated (row-major) in one vector.
struct Parts {
  std::vector<std::vector<float>> w;
  std::vector<float> all;
};
Parts make_parts(DType dt, const std::vector<int64_t>& rows, int64_t K, uint32_t seed) {
  Parts p;
  for (int64_t r : rows) {
    p.w.push_back(round_to(dt, randn(static_cast<size_t>(r * K), seed++, 1.0f / std::sqrt(float(K)))));
    p.all.insert(p.all.end(), p.w.back().begin(), p.w.back().end());
  }
  return p;
}

// sum_k |x[m, k]| |w[n, k]|: the scale of output (m, n)'s accumulation.
std::vector<double> magnitudes(const std::vector<float>& x, const std::vector<float>& w, int64_t M, int64_t N,
                               int64_t K) {
  std::vector<double> mag(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double a = 0;
      for (int64_t k = 0; k < K; ++k) a += std::abs(double(x[m * K + k]) * w[n * K + k]);
      mag[m * N + n] = a;
    }
  return mag;
}

// One rounding of the output's dtype (2^-8 relative with margin for BF16) plus fp32 reordering
// noise relative to the accumulation's scale.
double rel_bound(DType yt) { return yt == DType::BF16 ? 1.0 / 256 : 2e-6; }

struct QkvShape {
  int64_t M, K, n0, n1, n2;
};

TEST(CudaPackedGemm, LinearsOverBackToBackWeightsMatchTheComposition) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  // n * element bytes a multiple of 16 takes the packed path; n1 = 12 (BF16: 24 bytes) falls back.
  const QkvShape shapes[] = {{2, 256, 64, 32, 32}, {37, 128, 128, 64, 64}, {300, 64, 64, 32, 32}, {5, 64, 64, 12, 12}};
  uint32_t seed = 900;
  for (DType wt : {DType::BF16, DType::F32})
    for (DType yt : {wt, DType::F32})
      for (const QkvShape& s : shapes) {
        if (wt == DType::F32 && yt == DType::F32 && s.M == 300) continue;  // (done once per dtype pair)
        const std::vector<int64_t> ns = {s.n0, s.n1, s.n2};
        const auto xv = round_to(wt, randn(static_cast<size_t>(s.M * s.K), ++seed));
        const Parts p = make_parts(wt, ns, s.K, seed += 3);
        const int64_t total = s.n0 + s.n1 + s.n2;
        // Back to back: views of one device matrix [n0 + n1 + n2, K].
        const Tensor packed = gpu->upload(test::host_of(wt, p.all, {total, s.K}));
        const Tensor x = gpu->upload(test::host_of(wt, xv, {s.M, s.K}));
        std::vector<Tensor> gw, got;
        int64_t row0 = 0;
        for (int64_t n : ns) {
          gw.push_back(packed.slice_rows(row0, row0 + n));
          row0 += n;
          got.push_back(poisoned(*gpu, yt, {s.M, n}));
        }
        std::vector<Backend::LinearPart> gp;
        for (int i = 0; i < 3; ++i) gp.push_back({&gw[i], nullptr, &got[i]});
        gpu->linears(x, gp);
        const std::string what = std::string(dtype_name(wt)) + " -> " + std::string(dtype_name(yt)) +
                                 " M=" + std::to_string(s.M) + " n1=" + std::to_string(s.n1);
        for (int i = 0; i < 3; ++i) {
          Tensor want = cpu.alloc(DType::F32, {s.M, ns[i]});
          cpu.linear(test::host_f32(xv, {s.M, s.K}), test::host_f32(p.w[i], {ns[i], s.K}), nullptr, want);
          const auto mag = magnitudes(xv, p.w[i], s.M, ns[i], s.K);
          const auto g = to_host(*gpu, got[i]);
          double worst = 0;
          for (size_t j = 0; j < g.size(); ++j) {
            const double w = want.data_as<float>()[j];
            worst = std::max(worst, std::isfinite(g[j]) ? std::abs(g[j] - w) / (rel_bound(yt) * (mag[j] + std::abs(w)) + 1e-6)
                                                        : INFINITY);
          }
          EXPECT_LE(worst, 1.0) << what << " part " << i;
        }
      }
}

TEST(CudaPackedGemm, LinearSwigluOverBackToBackGateUpMatchesTheComposition) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Shape {
    int64_t M, K, N;
  };
  // N % 8 == 0 takes the packed path; N = 12 falls back to linear, linear, swiglu.
  const Shape shapes[] = {{2, 128, 64}, {37, 64, 176}, {300, 64, 40}, {6, 64, 12}};
  uint32_t seed = 950;
  for (DType wt : {DType::BF16, DType::F32})
    for (DType yt : {wt, DType::F32})
      for (const Shape& s : shapes) {
        const auto xv = round_to(wt, randn(static_cast<size_t>(s.M * s.K), ++seed));
        const Parts p = make_parts(wt, {s.N, s.N}, s.K, seed += 3);
        const Tensor packed = gpu->upload(test::host_of(wt, p.all, {2 * s.N, s.K}));
        const Tensor gate = packed.slice_rows(0, s.N), up = packed.slice_rows(s.N, 2 * s.N);
        const Tensor x = gpu->upload(test::host_of(wt, xv, {s.M, s.K}));
        Tensor out = poisoned(*gpu, yt, {s.M, s.N});
        gpu->linear_swiglu(x, gate, up, out);
        // The composition on the CPU in fp32, then the bound: gate and up each carry the GEMM's
        // error (rounded to yt when BF16), which the SwiGLU passes on with |silu'| <= 1.1.
        Tensor g = cpu.alloc(DType::F32, {s.M, s.N}), u = cpu.alloc(DType::F32, {s.M, s.N});
        Tensor o = cpu.alloc(DType::F32, {s.M, s.N});
        const Tensor xh = test::host_f32(xv, {s.M, s.K});
        cpu.linear(xh, test::host_f32(p.w[0], {s.N, s.K}), nullptr, g);
        cpu.linear(xh, test::host_f32(p.w[1], {s.N, s.K}), nullptr, u);
        cpu.swiglu(g, u, o);
        const auto mg = magnitudes(xv, p.w[0], s.M, s.N, s.K), mu = magnitudes(xv, p.w[1], s.M, s.N, s.K);
        const auto got = to_host(*gpu, out);
        const double rel = rel_bound(yt);
        double worst = 0;
        for (size_t j = 0; j < got.size(); ++j) {
          const double gj = g.data_as<float>()[j], uj = u.data_as<float>()[j], oj = o.data_as<float>()[j];
          const double eg = rel * (mg[j] + std::abs(gj)), eu = rel * (mu[j] + std::abs(uj));
          const double bound = 1.2 * (eg * std::abs(uj) + eu * (std::abs(gj) + eg)) + rel * std::abs(oj) + 1e-6;
          worst = std::max(worst, std::isfinite(got[j]) ? std::abs(got[j] - oj) / bound : INFINITY);
        }
        EXPECT_LE(worst, 1.0) << dtype_name(wt) << " -> " << dtype_name(yt) << " M=" << s.M << " N=" << s.N;
      }
}

// Separately allocated weights (not back to back) and one-row calls keep their own paths; the
// results agree with the packed path's on the same values.
TEST(CudaPackedGemm, ApartWeightsAndOneRowAgreeWithThePackedPath) {
  NOVA_REQUIRE_CUDA(gpu);
  const int64_t K = 128, N = 64;
  for (int64_t M : {int64_t{1}, int64_t{33}}) {
    const auto xv = round_to(DType::BF16, randn(static_cast<size_t>(M * K), 990 + M));
    const Parts p = make_parts(DType::BF16, {N, N}, K, 995);
    const Tensor packed = gpu->upload(test::host_of(DType::BF16, p.all, {2 * N, K}));
    const Tensor gate = packed.slice_rows(0, N), up = packed.slice_rows(N, 2 * N);
    const Tensor gate_apart = gpu->upload(test::host_of(DType::BF16, p.w[0], {N, K}));
    const Tensor up_apart = gpu->upload(test::host_of(DType::BF16, p.w[1], {N, K}));
    const Tensor x = gpu->upload(test::host_of(DType::BF16, xv, {M, K}));
    Tensor a = poisoned(*gpu, DType::F32, {M, N}), b = poisoned(*gpu, DType::F32, {M, N});
    gpu->linear_swiglu(x, gate, up, a);
    gpu->linear_swiglu(x, gate_apart, up_apart, b);
    EXPECT_LE(test::scaled_error(to_host(*gpu, a), to_host(*gpu, b)), 1e-5) << "swiglu M=" << M;
    Tensor q0 = poisoned(*gpu, DType::F32, {M, N}), k0 = poisoned(*gpu, DType::F32, {M, N});
    Tensor q1 = poisoned(*gpu, DType::F32, {M, N}), k1 = poisoned(*gpu, DType::F32, {M, N});
    const Backend::LinearPart packed_parts[] = {{&gate, nullptr, &q0}, {&up, nullptr, &k0}};
    const Backend::LinearPart apart_parts[] = {{&gate_apart, nullptr, &q1}, {&up_apart, nullptr, &k1}};
    gpu->linears(x, packed_parts);
    gpu->linears(x, apart_parts);
    EXPECT_LE(test::scaled_error(to_host(*gpu, q0), to_host(*gpu, q1)), 1e-5) << "linears M=" << M;
    EXPECT_LE(test::scaled_error(to_host(*gpu, k0), to_host(*gpu, k1)), 1e-5) << "linears M=" << M;
  }
}

// linears_rope_store_kv: with q|k|v back to back, one GEMM read in place by the RoPE + K/V store
// kernel; apart, the composition. Against the CPU's linears then rope_store_kv on the same values
// (F32: 1e-5 of the outputs' scale; BF16: 1e-2, a rounding or two of bf16, while a misplaced
// column or row is off by O(1)); every q / k / v element written (poisoned first), the cache rows
// not named untouched. Cases: full and partial rotary, consecutive and scattered cache rows.
TEST(CudaPackedGemm, LinearsRopeStoreKvMatchesLinearsThenRopeStoreKv) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Case {
    int64_t M, K, hq, hkv, hd, half, slots;
    bool scattered, apart;
  };
  const Case cases[] = {{37, 128, 4, 2, 64, 32, 50, false, false}, {300, 64, 4, 2, 16, 8, 310, false, false},
                        {9, 64, 2, 1, 32, 8, 20, true, false},      {5, 64, 2, 1, 16, 8, 12, false, true},
                        {2, 64, 8, 8, 16, 4, 4, true, false}};
  uint32_t seed = 1200;
  for (DType dt : {DType::BF16, DType::F32})
    for (const Case& c : cases) {
      const int64_t nq = c.hq * c.hd, nk = c.hkv * c.hd;
      const auto xv = round_to(dt, randn(static_cast<size_t>(c.M * c.K), ++seed));
      const Parts p = make_parts(dt, {nq, nk, nk}, c.K, seed += 3);
      std::vector<float> cv(static_cast<size_t>(c.M * c.half)), sv(cv.size());
      const auto angles = randn(cv.size(), ++seed, 3.0f);
      for (size_t i = 0; i < cv.size(); ++i) cv[i] = std::cos(angles[i]), sv[i] = std::sin(angles[i]);
      const auto kc0 = round_to(dt, randn(static_cast<size_t>(c.slots * nk), ++seed));
      const auto vc0 = round_to(dt, randn(kc0.size(), ++seed));
      std::vector<int32_t> rows(static_cast<size_t>(c.M));
      for (int64_t i = 0; i < c.M; ++i)
        rows[i] = static_cast<int32_t>(c.scattered ? (c.slots - 1 - 2 * i) % c.slots : c.slots - c.M + i);
      // CPU: linears, then rope_store_kv, in fp32 on the same values.
      Tensor q = cpu.alloc(DType::F32, {c.M, c.hq, c.hd}), k = cpu.alloc(DType::F32, {c.M, c.hkv, c.hd}),
             v = cpu.alloc(DType::F32, {c.M, c.hkv, c.hd});
      Tensor kd = test::host_f32(kc0, {c.slots, c.hkv, c.hd}), vd = test::host_f32(vc0, {c.slots, c.hkv, c.hd});
      const Tensor wq = test::host_f32(p.w[0], {nq, c.K}), wk = test::host_f32(p.w[1], {nk, c.K}),
                   wv = test::host_f32(p.w[2], {nk, c.K});
      const Backend::LinearPart cp[] = {{&wq, nullptr, &q}, {&wk, nullptr, &k}, {&wv, nullptr, &v}};
      const Tensor cs = test::host_f32(cv, {c.M, c.half}), sn = test::host_f32(sv, {c.M, c.half});
      cpu.linears_rope_store_kv(test::host_f32(xv, {c.M, c.K}), cp, cs, sn, rows, kd, vd);
      // GPU: packed weights (or three apart: 16-row gaps between them), poisoned outputs.
      const int64_t gap = c.apart ? 16 : 0;
      std::vector<float> layout(static_cast<size_t>((nq + 2 * nk + 2 * gap) * c.K), 0.0f);
      std::copy(p.w[0].begin(), p.w[0].end(), layout.begin());
      std::copy(p.w[1].begin(), p.w[1].end(), layout.begin() + (nq + gap) * c.K);
      std::copy(p.w[2].begin(), p.w[2].end(), layout.begin() + (nq + nk + 2 * gap) * c.K);
      const Tensor packed = gpu->upload(test::host_of(dt, layout, {nq + 2 * nk + 2 * gap, c.K}));
      const Tensor gq = packed.slice_rows(0, nq), gk = packed.slice_rows(nq + gap, nq + gap + nk),
                   gv = packed.slice_rows(nq + nk + 2 * gap, nq + 2 * nk + 2 * gap);
      Tensor gq_out = poisoned(*gpu, dt, {c.M, c.hq, c.hd}), gk_out = poisoned(*gpu, dt, {c.M, c.hkv, c.hd}),
             gv_out = poisoned(*gpu, dt, {c.M, c.hkv, c.hd});
      Tensor gkd = gpu->upload(test::host_of(dt, kc0, {c.slots, c.hkv, c.hd}));
      Tensor gvd = gpu->upload(test::host_of(dt, vc0, {c.slots, c.hkv, c.hd}));
      const Backend::LinearPart gp[] = {{&gq, nullptr, &gq_out}, {&gk, nullptr, &gk_out}, {&gv, nullptr, &gv_out}};
      gpu->linears_rope_store_kv(gpu->upload(test::host_of(dt, xv, {c.M, c.K})), gp, gpu->upload(cs), gpu->upload(sn),
                                 rows, gkd, gvd);
      const double tol = dt == DType::BF16 ? 1e-2 : 1e-5;
      const std::string what = std::string(dtype_name(dt)) + " M=" + std::to_string(c.M) + " hd=" +
                               std::to_string(c.hd) + " half=" + std::to_string(c.half) +
                               (c.apart ? " apart" : "") + (c.scattered ? " scattered" : "");
      EXPECT_LE(test::scaled_error(to_host(*gpu, gq_out), test::values(q)), tol) << what << " q";
      EXPECT_LE(test::scaled_error(to_host(*gpu, gk_out), test::values(k)), tol) << what << " k";
      EXPECT_LE(test::scaled_error(to_host(*gpu, gv_out), test::values(v)), tol) << what << " v";
      EXPECT_LE(test::scaled_error(to_host(*gpu, gkd), test::values(kd)), tol) << what << " k cache";
      EXPECT_LE(test::scaled_error(to_host(*gpu, gvd), test::values(vd)), tol) << what << " v cache";
    }
}

}  // namespace
}  // namespace nova
