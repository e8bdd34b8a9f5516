// The decode GEMV kernels (gemv.cu) at every activation dtype pair against a float64 product of
// the same (already rounded) inputs, and the bf16-activation variants against the float32 ones.
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

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
  Weights(DType wt, int64_t n, uint32_t seed) : dev(static_cast<size_t>(n)), host(random_floats(n, seed, 0.05f)) {
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
  // K = 2056: the unrolled loop (8 loads x 32 lanes x 8 weights = 2048) plus a tail chunk;
  // K = 4104 and 8200: with NOVA_CUDA_GEMV_SPLIT=1, rows split over 2 and 4 warps, each slice
  // with a tail. N = 37: a partial block.
  const int64_t N = 37;
  for (int64_t K : {2056, 4104, 8200}) {
    for (DType wt : {DType::BF16, DType::F16}) {
      const Weights w(wt, N * K, 11);
      for (DType xt : {DType::F32, DType::BF16}) {
        std::vector<float> x = random_floats(static_cast<size_t>(K), 12);
        if (xt == DType::BF16) x = rounded_to<__nv_bfloat16>(x);
        const Act xd(xt, x);
        const std::vector<float> want = matvec(w.host, x, N, K);
        for (DType yt : {DType::F32, DType::BF16})
          for (const char* split : {static_cast<const char*>(nullptr), "1"}) {
            const ScopedEnv env("NOVA_CUDA_GEMV_SPLIT", split);
            Act y(yt, static_cast<size_t>(N));
            kc::launch_gemv(xd.ptr(), xt, w.dev.get(), wt, N, K, y.ptr(), yt, nullptr);
            expect_close(y.download(), want, yt == DType::BF16 ? kBf16Rel : 0.0, kSumAbs,
                         std::string(split ? "split, " : "") + "K " + std::to_string(K) + " w " +
                             std::string(dtype_name(wt)) + " x " + std::string(dtype_name(xt)) + " y " +
                             std::string(dtype_name(yt)));
          }
      }
    }
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
  const int64_t rows[3] = {64, 16, 24};  // q, k, v of a small GQA layer
  std::vector<float> x = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(K), 31));
  const Act xd(DType::BF16, x);
  for (DType yt : {DType::F32, DType::BF16}) {
    std::deque<Weights> ws;  // not movable: device buffers
    std::deque<Act> ys;
    kc::GemvParts p{};
    p.parts = 3;
    for (int i = 0; i < 3; ++i) {
      ws.emplace_back(DType::BF16, rows[i] * K, 40 + i);
      ys.emplace_back(yt, static_cast<size_t>(rows[i]));
      p.w[i] = ws[i].dev.get();
      p.y[i] = ys[i].ptr();
      p.rows[i] = rows[i];
    }
    kc::launch_gemv_parts(xd.ptr(), DType::BF16, p, DType::BF16, K, yt, nullptr);
    for (int i = 0; i < 3; ++i)
      expect_close(ys[i].download(), matvec(ws[i].host, x, rows[i], K), yt == DType::BF16 ? kBf16Rel : 0.0, kSumAbs,
                   "part " + std::to_string(i) + " y " + std::string(dtype_name(yt)));

    const int64_t N = 40;
    const Weights wg(DType::BF16, N * K, 50), wu(DType::BF16, N * K, 51);
    Act out(yt, static_cast<size_t>(N));
    kc::launch_gemv_swiglu(xd.ptr(), DType::BF16, wg.dev.get(), wu.dev.get(), DType::BF16, N, K, out.ptr(), yt,
                           nullptr);
    const std::vector<float> g = matvec(wg.host, x, N, K), u = matvec(wu.host, x, N, K);
    std::vector<float> want(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) want[n] = static_cast<float>(g[n] / (1.0 + std::exp(-double(g[n]))) * u[n]);
    // |g|, |u| ~ 1: the products' summation error times the other factor.
    expect_close(out.download(), want, yt == DType::BF16 ? kBf16Rel : 1e-5, 1e-5, "swiglu y " + std::string(dtype_name(yt)));
  }
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
