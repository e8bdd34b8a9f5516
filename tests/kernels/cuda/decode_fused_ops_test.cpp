// Backend's decode fusions (rmsnorm_linears, rmsnorm_linear_swiglu, linear_add): CpuBackend's
// defaults equal the plain ops they compose, exactly; the CUDA backend's (one GEMV each at batch 1,
// the fallback elsewhere) match CpuBackend on the same inputs. The CUDA half skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "decode_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::Backend;
using kernels::CpuBackend;
using test::host_f32;
using test::randn;
using test::scaled_error;
using test::to_host;
using test::values;

// One problem: x [M, K] (the residual stream, scale 3 so the norm matters), norm weights, q/k/v-like
// parts, gate/up of width N, a down projection back to K.
struct Problem {
  int64_t M, K, N;
  DType wt;
  Tensor x, norm_w, w[3], gate, up, down, bias;
  int64_t rows[3];
  Problem(int64_t m, int64_t k, int64_t n, DType w_type, uint32_t seed) : M(m), K(k), N(n), wt(w_type) {
    x = host_f32(randn(static_cast<size_t>(M * K), seed, 3.0f), {M, K});
    std::vector<float> g = randn(static_cast<size_t>(K), seed + 1, 0.2f);
    for (float& v : g) v += 1.0f;
    norm_w = host_f32(g, {K});
    const float ws = 1.0f / std::sqrt(static_cast<float>(K));
    const int64_t r[3] = {N, N / 4 + 1, N / 4 + 3};
    for (int i = 0; i < 3; ++i) {
      rows[i] = r[i];
      w[i] = test::host_of(wt, randn(static_cast<size_t>(r[i] * K), seed + 2 + i, ws), {r[i], K});
    }
    gate = test::host_of(wt, randn(static_cast<size_t>(N * K), seed + 6, ws), {N, K});
    up = test::host_of(wt, randn(static_cast<size_t>(N * K), seed + 7, ws), {N, K});
    down = test::host_of(wt, randn(static_cast<size_t>(K * N), seed + 8, 1.0f / std::sqrt(static_cast<float>(N))),
                         {K, N});
    bias = host_f32(randn(static_cast<size_t>(K), seed + 9), {K});
  }
};

// The three fusions on backend `be` (tensors uploaded there), results downloaded: the parts'
// outputs, the SwiGLU output, and x after x += swiglu_out down^T (+ bias).
struct Results {
  std::vector<float> parts[3], swiglu, x;
};

// A backend tensor's values as floats (BF16 widened exactly).
std::vector<float> floats(Backend& be, const Tensor& t) {
  if (t.dtype() != DType::BF16) return to_host(be, t);
  std::vector<uint16_t> raw(static_cast<size_t>(t.numel()));
  be.download(t, raw.data());
  std::vector<float> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = bf16_to_f32(raw[i]);
  return out;
}

Results run(Backend& be, const Problem& p, DType out_dtype, bool with_bias) {
  const Tensor x = be.upload(p.x), nw = be.upload(p.norm_w);
  Tensor ws[3], ys[3];
  std::vector<Backend::LinearPart> parts;
  for (int i = 0; i < 3; ++i) {
    ws[i] = be.upload(p.w[i]);
    ys[i] = be.alloc(out_dtype, {p.M, p.rows[i]});
  }
  for (int i = 0; i < 3; ++i) parts.push_back({&ws[i], nullptr, &ys[i]});
  be.rmsnorm_linears(x, nw, 1e-5f, parts);
  Tensor g = be.alloc(out_dtype, {p.M, p.N});
  be.rmsnorm_linear_swiglu(x, nw, 1e-5f, be.upload(p.gate), be.upload(p.up), g);
  Tensor xr = be.upload(host_f32(values(p.x), p.x.shape()));  // a copy: CpuBackend's upload shares storage
  const Tensor bias = be.upload(p.bias);
  be.linear_add(g, be.upload(p.down), with_bias ? &bias : nullptr, xr);
  Results r;
  for (int i = 0; i < 3; ++i) r.parts[i] = floats(be, ys[i]);
  r.swiglu = floats(be, g);
  r.x = floats(be, xr);
  return r;
}

TEST(DecodeFusedOps, CpuDefaultsEqualThePlainOps) {
  CpuBackend cpu;
  const Problem p(2, 64, 48, DType::BF16, 3);
  const Results got = run(cpu, p, DType::F32, true);
  Tensor h = cpu.alloc(DType::F32, {p.M, p.K});
  cpu.rmsnorm(p.x, p.norm_w, 1e-5f, h);
  for (int i = 0; i < 3; ++i) {
    Tensor y = cpu.alloc(DType::F32, {p.M, p.rows[i]});
    cpu.linear(h, p.w[i], nullptr, y);
    EXPECT_EQ(got.parts[i], values(y)) << "part " << i;
  }
  Tensor g = cpu.alloc(DType::F32, {p.M, p.N});
  cpu.linear_swiglu(h, p.gate, p.up, g);
  EXPECT_EQ(got.swiglu, values(g));
  Tensor d = cpu.alloc(DType::F32, {p.M, p.K});
  cpu.linear(g, p.down, &p.bias, d);
  Tensor x = host_f32(values(p.x), p.x.shape());
  cpu.add(x, d);
  EXPECT_EQ(got.x, values(x));
}

TEST(DecodeFusedOps, CudaMatchesCpu) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Shape {
    int64_t M, K, N;
  };
  // M = 1 with K % 8 == 0: the fused GEMVs (K 2056 and 8200: full rounds of the 256-thread
  // blocks plus a chunk only thread 0 reads; K 264: fewer chunks than threads; the parts' rows
  // N + N/4+1 + N/4+3 and N 8200 end inside the 8-row tiles); M = 3 and K = 20: the fallbacks.
  uint32_t seed = 900;
  for (const Shape s : {Shape{1, 2048, 512}, Shape{1, 2056, 96}, Shape{1, 8200, 64}, Shape{1, 264, 8200},
                        Shape{3, 256, 64}, Shape{1, 20, 16}})
    for (DType wt : {DType::BF16, DType::F16})
      for (DType out : {DType::F32, DType::BF16}) {
        if (out == DType::BF16 && wt != DType::BF16) continue;  // BF16 activations need BF16 weights
        for (bool with_bias : {false, true}) {
          const Problem p(s.M, s.K, s.N, wt, seed += 10);
          const Results want = run(cpu, p, DType::F32, with_bias);
          {
            const Results got = run(*gpu, p, out, with_bias);
            const std::string what = "M " + std::to_string(s.M) + " K " + std::to_string(s.K) + " w " +
                                     std::string(dtype_name(wt)) + " out " + std::string(dtype_name(out)) +
                                     (with_bias ? " bias" : "");
            // The fused GEMVs with F32 outputs: fp32 reduction order (the CPU sums squares in
            // double). BF16 outputs, and the fallbacks' tensor cores (x rounded to the 16-bit
            // weight type), round to 16 bits: 2^-8 relative each, a few through the SwiGLU and
            // down projection.
            const bool fused = s.M == 1 && s.K % 8 == 0;
            const double tol = out == DType::F32 && fused ? 2e-5 : 2e-2;
            for (int i = 0; i < 3; ++i)
              EXPECT_LE(scaled_error(got.parts[i], want.parts[i]), tol) << what << " part " << i;
            EXPECT_LE(scaled_error(got.swiglu, want.swiglu), tol) << what << " swiglu";
            EXPECT_LE(scaled_error(got.x, want.x), tol) << what << " x";
          }
        }
      }
}

TEST(DecodeFusedOps, CudaRefusesANonF32ResidualStream) {
  NOVA_REQUIRE_CUDA(gpu);
  const Problem p(1, 64, 16, DType::BF16, 77);
  const Tensor x16 = gpu->upload(test::host_of(DType::BF16, values(p.x), {1, 64}));
  Tensor y = gpu->alloc(DType::F32, {1, 16});
  const Tensor w = gpu->upload(p.w[0]), nw = gpu->upload(p.norm_w);
  const Backend::LinearPart part{&w, nullptr, &y};
  EXPECT_THROW(gpu->rmsnorm_linears(x16, nw, 1e-5f, std::span<const Backend::LinearPart>(&part, 1)), Error);
  Tensor a = gpu->alloc(DType::F32, {1, 16});
  const Tensor down = gpu->upload(p.down);  // [64, 16]
  Tensor x16m = gpu->upload(test::host_of(DType::BF16, values(p.x), {1, 64}));
  EXPECT_THROW(gpu->linear_add(a, down, nullptr, x16m), Error);
}

}  // namespace
}  // namespace nova
