// The decode GEMV kernels (gemv.cu) at every activation dtype pair against a float64 product of
// the same (already rounded) inputs, and the bf16-activation variants against the float32 ones.
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/cuda/ops.cuh"
#include "decode_test_util.h"

namespace nova::test {
namespace {

namespace kc = kernels::cuda;

// Weights of `wt` on the device (host values rounded to it) and the rounded values.
struct Weights {
  DeviceArray<uint16_t> dev;
  std::vector<float> host;
  Weights(DType wt, int64_t n, uint32_t seed, float scale = 0.05f)
      : dev(static_cast<size_t>(n)), host(random_floats(n, seed, scale)) {
    std::vector<uint16_t> bits(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      bits[i] = wt == DType::BF16 ? f32_to_bf16(host[i]) : f32_to_f16(host[i]);
      host[i] = wt == DType::BF16 ? bf16_to_f32(bits[i]) : f16_to_f32(bits[i]);
    }
    dev.upload(bits);
  }
};

std::vector<float> matvec(const std::vector<float>& w, const std::vector<float>& x, int64_t N, int64_t K) {
  std::vector<float> y(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += double(w[n * K + k]) * x[k];
    y[n] = static_cast<float>(s);
  }
  return y;
}

// Every y within `rel` of its reference value plus `abs` (fp32 summation order; bf16 output
// rounding: 2^-8 of the value).
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (!(std::abs(double(got[i]) - want[i]) <= rel * std::abs(double(want[i])) + abs)) {
      ++bad;
      ADD_FAILURE() << what << ": y[" << i << "] = " << got[i] << ", want " << want[i];
    }
}

// The summation error bound of the kernels' fp32 dot products relative to |w| . |x| ~ sqrt(K)
// terms of 0.05 * 1: a few fp32 ulps of the partial sums.
constexpr double kSumAbs = 1e-4;
constexpr double kBf16Rel = 1.0 / 256;  // one rounding to bf16 (2^-8 relative, round to nearest: half that)

TEST(CudaGemv, EveryDtypePairMatchesTheProductOfItsInputs) {
  NOVA_REQUIRE_GPU();
  // The kernels' tile: 8 rows per block of 256 threads, thread t reading 8-weight chunks t, t + 256,
  // ... of each row. K = 24: fewer chunks than threads; 2056: one round plus a chunk only thread 0
  // reads; 8200: four rounds plus that chunk. N = 37: a partial last tile. The output is poisoned
  // (NaN) first: every element must be written.
  const int64_t N = 37;
  for (int64_t K : {24, 2056, 8200}) {
    for (DType wt : {DType::BF16, DType::F16}) {
      const Weights w(wt, N * K, 11);
      for (DType xt : {DType::F32, DType::BF16}) {
        std::vector<float> x = random_floats(static_cast<size_t>(K), 12);
        if (xt == DType::BF16) x = rounded_to<__nv_bfloat16>(x);
        const Act xd(xt, x);
        const std::vector<float> want = matvec(w.host, x, N, K);
        for (DType yt : {DType::F32, DType::BF16}) {
          Act y(yt, std::vector<float>(static_cast<size_t>(N), std::nanf("")));
          kc::launch_gemv(xd.ptr(), xt, w.dev.get(), wt, N, K, y.ptr(), yt, nullptr);
          expect_close(y.download(), want, yt == DType::BF16 ? kBf16Rel : 0.0, kSumAbs,
                       "K " + std::to_string(K) + " w " + std::string(dtype_name(wt)) + " x " +
                           std::string(dtype_name(xt)) + " y " + std::string(dtype_name(yt)));
        }
      }
    }
  }
}

TEST(CudaGemv, AddAccumulatesIntoYAndRepeatsBitForBit) {
  NOVA_REQUIRE_GPU();
  // y += w x (the residual add of the o / down projections), then the same again from the same y:
  // the block reduction's fixed order gives identical bits.
  const int64_t N = 45, K = 4104;
  const Weights w(DType::BF16, N * K, 61);
  const std::vector<float> x = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(K), 62));
  const std::vector<float> y0 = random_floats(static_cast<size_t>(N), 63);
  const Act xd(DType::BF16, x);
  std::vector<float> want = matvec(w.host, x, N, K);
  for (int64_t n = 0; n < N; ++n) want[n] += y0[n];
  std::vector<float> first;
  for (int rep = 0; rep < 2; ++rep) {
    Act y(DType::F32, y0);
    kc::launch_gemv_add(xd.ptr(), DType::BF16, w.dev.get(), DType::BF16, N, K, static_cast<float*>(y.ptr()), nullptr);
    const std::vector<float> got = y.download();
    expect_close(got, want, 0.0, kSumAbs, "add");
    if (rep == 0) first = got;
    else EXPECT_EQ(got, first);
  }
}

TEST(CudaGemv, Bf16ActivationsStayWithinTheirRoundingOfTheF32Kernel) {
  NOVA_REQUIRE_GPU();
  // A decode-shaped matrix: bf16 x (rounded from the f32 one) and bf16 y against the f32 kernel.
  // x's rounding moves each product by <= 2^-9 relative, so y by <= 2^-9 sum |w x| (~0.05 *
  // 0.8 * K ~ 80 here: 0.16), y's by 2^-9 of |y|; measured errors are far smaller (random signs).
  const int64_t N = 256, K = 2048;
  const Weights w(DType::BF16, N * K, 21);
  const std::vector<float> x = random_floats(static_cast<size_t>(K), 22);
  const Act x32(DType::F32, x), x16(DType::BF16, x);
  Act y32(DType::F32, static_cast<size_t>(N)), y16(DType::BF16, static_cast<size_t>(N));
  kc::launch_gemv(x32.ptr(), DType::F32, w.dev.get(), DType::BF16, N, K, y32.ptr(), DType::F32, nullptr);
  kc::launch_gemv(x16.ptr(), DType::BF16, w.dev.get(), DType::BF16, N, K, y16.ptr(), DType::BF16, nullptr);
  const std::vector<float> a = y32.download(), b = y16.download();
  double worst = 0, bound = 0;
  for (int64_t n = 0; n < N; ++n) {
    double sum_abs = 0;
    for (int64_t k = 0; k < K; ++k) sum_abs += std::abs(double(w.host[n * K + k]) * x[k]);
    const double tol = sum_abs / 512 + std::abs(double(a[n])) / 256 + kSumAbs;
    EXPECT_LE(std::abs(double(b[n]) - a[n]), tol) << "row " << n;
    worst = std::max(worst, std::abs(double(b[n]) - a[n]));
    bound = std::max(bound, tol);
  }
  RecordProperty("max_abs_error", std::to_string(worst));
}

TEST(CudaGemv, PartsAndSwigluAtBf16MatchTheirReferences) {
  NOVA_REQUIRE_GPU();
  const int64_t K = 512;
  const int64_t rows[3] = {61, 13, 27};  // q, k, v: parts end inside the kernels' 8-row tiles
  std::vector<float> x = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(K), 31));
  const Act xd(DType::BF16, x);
  for (DType yt : {DType::F32, DType::BF16}) {
    std::deque<Weights> ws;  // not movable: device buffers
    std::deque<Act> ys;
    kc::GemvParts p{};
    p.parts = 3;
    for (int i = 0; i < 3; ++i) {
      ws.emplace_back(DType::BF16, rows[i] * K, 40 + i);
      ys.emplace_back(yt, std::vector<float>(static_cast<size_t>(rows[i]), std::nanf("")));  // poisoned
      p.w[i] = ws[i].dev.get();
      p.y[i] = ys[i].ptr();
      p.rows[i] = rows[i];
    }
    kc::launch_gemv_parts(xd.ptr(), DType::BF16, p, DType::BF16, K, yt, nullptr);
    for (int i = 0; i < 3; ++i)
      expect_close(ys[i].download(), matvec(ws[i].host, x, rows[i], K), yt == DType::BF16 ? kBf16Rel : 0.0, kSumAbs,
                   "part " + std::to_string(i) + " y " + std::string(dtype_name(yt)));

    const int64_t N = 37;  // a partial tile of gate/up pairs
    const Weights wg(DType::BF16, N * K, 50), wu(DType::BF16, N * K, 51);
    Act out(yt, std::vector<float>(static_cast<size_t>(N), std::nanf("")));
    kc::launch_gemv_swiglu(xd.ptr(), DType::BF16, wg.dev.get(), wu.dev.get(), DType::BF16, N, K, out.ptr(), yt,
                           nullptr);
    const std::vector<float> g = matvec(wg.host, x, N, K), u = matvec(wu.host, x, N, K);
    std::vector<float> want(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) want[n] = static_cast<float>(g[n] / (1.0 + std::exp(-double(g[n]))) * u[n]);
    // |g|, |u| ~ 1: the products' summation error times the other factor.
    expect_close(out.download(), want, yt == DType::BF16 ? kBf16Rel : 1e-5, 1e-5, "swiglu y " + std::string(dtype_name(yt)));
  }
}

// The largest |a - b| over the largest |b|.
double scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(double(a[i]) - b[i]));
    den = std::max(den, std::abs(double(b[i])));
  }
  return std::isnan(num) ? 1e30 : num / den;
}

TEST(CudaGemv, ChainsOfDependentLaunchesReadEachInputOnlyOnceWritten) {
  NOVA_REQUIRE_GPU();
  // A decode step launches GEMVs back to back with programmatic dependent launch: each starts
  // while the one before still runs and must read its x only after that one finished writing it.
  // Chains of GEMVs, each reading the previous one's output, captured into a CUDA graph so they
  // run back to back as a decode step's do (launched one by one they may not overlap at all); an
  // early read returns the buffer's older contents and derails the chain. Plain bf16 GEMVs, and
  // the RMSNorm-folded form on float32 (q|k|v's, here one part), interleaved.
  cudaStream_t st = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
  constexpr int kSteps = 8;
  for (int64_t D : {64, 264, 2048}) {
    const Weights w(DType::BF16, D * D, 70 + static_cast<uint32_t>(D), 1.7f / std::sqrt(static_cast<float>(D)));
    const std::vector<float> x0 = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(D), 71));
    const std::vector<float> ones(static_cast<size_t>(D), 1.0f);
    // References: y = round_bf16(W x) per step; z = W rmsnorm(z) with float32 outputs.
    std::vector<float> want16 = x0, want32 = x0;
    for (int i = 0; i < kSteps; ++i) {
      want16 = rounded_to<__nv_bfloat16>(matvec(w.host, want16, D, D));
      double ss = 0;
      for (float v : want32) ss += double(v) * v;
      const double inv = 1.0 / std::sqrt(ss / double(D) + 1e-5);
      std::vector<float> h(want32.size());
      for (size_t k = 0; k < h.size(); ++k) h[k] = static_cast<float>(want32[k] * inv);
      want32 = matvec(w.host, h, D, D);
    }
    const DeviceArray<float> norm(ones);
    const Act x16(DType::BF16, x0), x32(DType::F32, x0);
    Act a16(DType::BF16, static_cast<size_t>(D)), b16(DType::BF16, static_cast<size_t>(D));
    Act a32(DType::F32, static_cast<size_t>(D)), b32(DType::F32, static_cast<size_t>(D));
    const size_t n = static_cast<size_t>(D);
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    // Fresh inputs, the other buffers poisoned (NaN), then the chains.
    cudaMemcpyAsync(a16.ptr(), x16.ptr(), n * 2, cudaMemcpyDeviceToDevice, st);
    cudaMemcpyAsync(a32.ptr(), x32.ptr(), n * 4, cudaMemcpyDeviceToDevice, st);
    cudaMemsetAsync(b16.ptr(), 0xff, n * 2, st);
    cudaMemsetAsync(b32.ptr(), 0xff, n * 4, st);
    for (int i = 0; i < kSteps; ++i) {
      const bool odd = i % 2 == 1;
      kc::launch_gemv((odd ? b16 : a16).ptr(), DType::BF16, w.dev.get(), DType::BF16, D, D, (odd ? a16 : b16).ptr(),
                      DType::BF16, st);
      kc::GemvParts p{};
      p.parts = 1;
      p.w[0] = w.dev.get();
      p.y[0] = (odd ? a32 : b32).ptr();
      p.rows[0] = D;
      kc::launch_rmsnorm_gemv_parts(static_cast<const float*>((odd ? b32 : a32).ptr()), norm.get(), 1e-5f, p,
                                    DType::BF16, D, DType::F32, st);
    }
    ASSERT_EQ(cudaStreamEndCapture(st, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int rep = 0; rep < 20; ++rep) {
      ASSERT_EQ(cudaGraphLaunch(exec, st), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(st), cudaSuccess);
      const std::string what = "D " + std::to_string(D) + " rep " + std::to_string(rep);
      // kSteps is even: the last outputs are in a16 / a32.
      EXPECT_LE(scaled_diff(a16.download(), want16), 2e-2) << what << " bf16 chain";
      EXPECT_LE(scaled_diff(a32.download(), want32), 1e-4) << what << " rmsnorm chain";
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  cudaStreamDestroy(st);
}

TEST(CudaGemv, RefusesOtherActivationDtypes) {
  NOVA_REQUIRE_GPU();
  DeviceArray<float> x(16), y(2);
  DeviceArray<uint16_t> w(32);
  EXPECT_THROW(kc::launch_gemv(x.get(), DType::F16, w.get(), DType::BF16, 2, 16, y.get(), DType::F32, nullptr), Error);
  EXPECT_THROW(kc::launch_gemv(x.get(), DType::F32, w.get(), DType::BF16, 2, 16, y.get(), DType::I32, nullptr), Error);
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
