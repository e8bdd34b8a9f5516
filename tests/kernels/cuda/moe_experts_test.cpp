// Backend::moe_experts: its default composition (CpuBackend) against a direct evaluation of the
// definition, its argument checks, and the CUDA override (routing, plan, grouped GEMMs, combine
// on the device) against the CPU default on random inputs: one token and many, experts with no
// rows and one with many tiles, k = 1, 2, 4, normalisation on and off, 8 and 60 experts, BF16 and
// F32 weights (F16 falls back to the composition), F32 and (where the backend takes them) BF16
// activations. The GPU cases skip without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::Backend;
using kernels::CpuBackend;
using kernels::MoeExpert;
using test::host_f32;
using test::randn;

float round_to(DType dt, float v) {
  if (dt == DType::BF16) return bf16_to_f32(f32_to_bf16(v));
  if (dt == DType::F16) return f16_to_f32(f32_to_f16(v));
  return v;
}

// A problem on the host: x [T, H], logits [T, E], experts' weights (values already rounded to
// the weight dtype, so a float evaluation sees what the kernels see), out's initial values.
struct Problem {
  int64_t T, H, I, E;
  int k;
  bool normalize;
  DType wdt;
  std::vector<float> x, logits, out0;
  std::vector<std::vector<float>> gate, up, down;
  std::vector<Tensor> host_w;  // per expert: gate, up, down in wdt

  Problem(int64_t T_, int64_t H_, int64_t I_, int64_t E_, int k_, bool norm, DType wdt_, uint32_t seed)
      : T(T_), H(H_), I(I_), E(E_), k(k_), normalize(norm), wdt(wdt_) {
    x = randn(static_cast<size_t>(T * H), seed);
    logits = randn(static_cast<size_t>(T * E), seed + 1, 2.0f);
    out0 = randn(static_cast<size_t>(T * H), seed + 2);
    for (int64_t e = 0; e < E; ++e) {
      auto make = [&](int64_t rows, int64_t cols, uint32_t s) {
        auto v = randn(static_cast<size_t>(rows * cols), s, 1.0f / std::sqrt(float(cols)));
        for (float& f : v) f = round_to(wdt, f);
        host_w.push_back(test::host_of(wdt, v, {rows, cols}));
        return v;
      };
      const uint32_t s = seed + 10 + 3 * static_cast<uint32_t>(e);
      gate.push_back(make(I, H, s));
      up.push_back(make(I, H, s + 1));
      down.push_back(make(H, I, s + 2));
    }
  }
  // Router logits that send every token to experts 0 and 1 (the others get no rows).
  void crowd_two_experts() {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < E; ++e) logits[static_cast<size_t>(t * E + e)] += e < 2 ? 20.0f : 0.0f;
  }
  std::vector<MoeExpert> experts(const std::vector<Tensor>& w) const {
    std::vector<MoeExpert> ex(static_cast<size_t>(E));
    for (size_t e = 0; e < ex.size(); ++e) ex[e] = {&w[3 * e], &w[3 * e + 1], &w[3 * e + 2]};
    return ex;
  }
  // The op on `be` (tensors uploaded there), x stored as x_dtype; out downloaded.
  std::vector<float> run(Backend& be, DType x_dtype) const {
    std::vector<Tensor> w;
    for (const Tensor& t : host_w) w.push_back(be.upload(t));
    const Tensor gx = be.upload(test::host_of(x_dtype, x, {T, H}));
    const Tensor gl = be.upload(host_f32(logits, {T, E}));
    Tensor out = be.upload(host_f32(out0, {T, H}));
    const auto ex = experts(w);
    be.moe_experts(gx, gl, ex, k, normalize, out);
    return test::to_host(be, out);
  }
};

// The definition, evaluated directly in double: softmax, top k (lower index on ties), optional
// renormalisation, each chosen expert's gated MLP, summed onto out0.
std::vector<float> evaluate(const Problem& p) {
  std::vector<float> out = p.out0;
  for (int64_t t = 0; t < p.T; ++t) {
    std::vector<double> prob(static_cast<size_t>(p.E));
    const float* l = &p.logits[static_cast<size_t>(t * p.E)];
    const double mx = *std::max_element(l, l + p.E);
    double sum = 0;
    for (int64_t e = 0; e < p.E; ++e) sum += prob[static_cast<size_t>(e)] = std::exp(double{l[e]} - mx);
    std::vector<int> order(static_cast<size_t>(p.E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return prob[size_t(a)] > prob[size_t(b)]; });
    double top = 0;
    for (int i = 0; i < p.k; ++i) top += prob[size_t(order[size_t(i)])] / sum;
    const float* xr = &p.x[static_cast<size_t>(t * p.H)];
    for (int i = 0; i < p.k; ++i) {
      const int e = order[size_t(i)];
      const double w = prob[size_t(e)] / sum / (p.normalize ? top : 1.0);
      std::vector<double> h(static_cast<size_t>(p.I));
      for (int64_t n = 0; n < p.I; ++n) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < p.H; ++c) {
          g += double{p.gate[size_t(e)][size_t(n * p.H + c)]} * xr[c];
          u += double{p.up[size_t(e)][size_t(n * p.H + c)]} * xr[c];
        }
        h[size_t(n)] = g / (1 + std::exp(-g)) * u;
      }
      for (int64_t c = 0; c < p.H; ++c) {
        double y = 0;
        for (int64_t n = 0; n < p.I; ++n) y += double{p.down[size_t(e)][size_t(c * p.I + n)]} * h[size_t(n)];
        out[size_t(t * p.H + c)] += static_cast<float>(w * y);
      }
    }
  }
  return out;
}

TEST(MoeExperts, CpuCompositionComputesTheDefinition) {
  CpuBackend& cpu = CpuBackend::instance();
  for (int k : {1, 2})
    for (bool norm : {false, true}) {
      Problem p(7, 24, 16, 5, k, norm, DType::F32, 100 + static_cast<uint32_t>(k) * 2 + norm);
      EXPECT_LE(test::scaled_error(p.run(cpu, DType::F32), evaluate(p)), 1e-5) << "k=" << k << " normalize=" << norm;
    }
  Problem crowded(9, 16, 8, 6, 2, true, DType::BF16, 7);
  crowded.crowd_two_experts();
  EXPECT_LE(test::scaled_error(crowded.run(cpu, DType::F32), evaluate(crowded)), 1e-5);
}

TEST(MoeExperts, RefusesMisshapenArguments) {
  CpuBackend& cpu = CpuBackend::instance();
  const Problem p(3, 8, 4, 3, 2, true, DType::F32, 5);
  const Tensor x = host_f32(p.x, {3, 8}), logits = host_f32(p.logits, {3, 3});
  Tensor out = Tensor::zeros(DType::F32, {3, 8});
  const auto ex = p.experts(p.host_w);
  EXPECT_THROW(cpu.moe_experts(x, logits, ex, 0, true, out), Error);
  EXPECT_THROW(cpu.moe_experts(x, logits, ex, 4, true, out), Error);
  EXPECT_THROW(cpu.moe_experts(x, logits, std::span<const MoeExpert>(ex).first(2), 2, true, out), Error);
  Tensor bad_out = Tensor::zeros(DType::F32, {3, 7});
  EXPECT_THROW(cpu.moe_experts(x, logits, ex, 2, true, bad_out), Error);
  const Tensor bad_logits = Tensor::zeros(DType::F32, {2, 3});
  EXPECT_THROW(cpu.moe_experts(x, bad_logits, ex, 2, true, out), Error);
  auto swapped = ex;
  swapped[1].gate = ex[1].down;  // [8, 4] where [4, 8] belongs
  EXPECT_THROW(cpu.moe_experts(x, logits, swapped, 2, true, out), Error);
  auto missing = ex;
  missing[2].up = nullptr;
  EXPECT_THROW(cpu.moe_experts(x, logits, missing, 2, true, out), Error);
  const Tensor short_bias = Tensor::zeros(DType::F32, {3});
  auto biased = ex;
  biased[0].down_bias = &short_bias;
  EXPECT_THROW(cpu.moe_experts(x, logits, biased, 2, true, out), Error);
  const Tensor x16 = test::host_of(DType::BF16, p.x, {3, 8});
  EXPECT_THROW(cpu.moe_experts(x16, logits, ex, 2, true, out), Error);  // the CPU backend is F32-only
  std::string why;
  if (Backend* gpu = test::cuda_backend(&why); gpu && gpu->supports_activation(DType::BF16)) {
    std::vector<Tensor> w;
    for (const Tensor& t : p.host_w) w.push_back(gpu->upload(t));  // F32 weights
    const Tensor gx16 = gpu->upload(x16), glogits = gpu->upload(logits);
    Tensor gout = gpu->alloc(DType::F32, {3, 8});
    EXPECT_THROW(gpu->moe_experts(gx16, glogits, p.experts(w), 2, true, gout), Error);  // BF16 x, F32 weights
  }
}

struct GpuCase {
  int64_t T, H, I, E;
  int k;
  bool normalize;
  DType wdt;
  bool crowd;
};

std::string describe(const GpuCase& c) {
  return "T=" + std::to_string(c.T) + " H=" + std::to_string(c.H) + " I=" + std::to_string(c.I) +
         " E=" + std::to_string(c.E) + " k=" + std::to_string(c.k) + " normalize=" + std::to_string(c.normalize) +
         " w=" + std::string(dtype_name(c.wdt)) + (c.crowd ? " crowded" : "");
}

TEST(CudaMoeExperts, MatchesTheCpuComposition) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend& cpu = CpuBackend::instance();
  const GpuCase cases[] = {
      // BF16: T <= 4 runs the GEMV kernels, more the tensor-core grouped GEMMs.
      {1, 256, 512, 8, 2, true, DType::BF16, false},   {1, 256, 512, 8, 1, false, DType::BF16, false},
      {3, 256, 512, 8, 2, false, DType::BF16, false},  {4, 128, 64, 60, 4, false, DType::BF16, false},
      {5, 256, 512, 8, 2, true, DType::BF16, false},   {64, 256, 512, 8, 2, true, DType::BF16, false},
      {300, 128, 192, 8, 2, false, DType::BF16, false}, {150, 72, 40, 8, 1, true, DType::BF16, true},
      {37, 128, 64, 60, 4, false, DType::BF16, false}, {20, 64, 48, 4, 2, false, DType::BF16, false},
      {200, 64, 176, 4, 2, true, DType::BF16, true},
      // Few rows per expert and a deep K: down splits K (8 and 4 ways) and the combine sums the splits.
      {8, 128, 2048, 8, 2, true, DType::BF16, false},  {40, 128, 1024, 8, 1, false, DType::BF16, false},
      // F32 weights: the GEMV kernels at every size.
      {1, 64, 176, 4, 2, true, DType::F32, false},     {50, 64, 48, 4, 2, false, DType::F32, false},
      {70, 128, 64, 60, 4, false, DType::F32, true},
      // Fallbacks to the composition: F16 weights, a width not a multiple of 8.
      {9, 64, 48, 4, 2, true, DType::F16, false},      {6, 20, 12, 4, 2, true, DType::BF16, false},
  };
  uint32_t seed = 900;
  for (const GpuCase& c : cases) {
    Problem p(c.T, c.H, c.I, c.E, c.k, c.normalize, c.wdt, seed += 50);
    if (c.crowd) p.crowd_two_experts();
    // The tensor-core path rounds x and the SwiGLU output to BF16 (as linear() rounds x for
    // cuBLASLt): compare on x pre-rounded, with room for h's rounding.
    const bool tensor_cores = c.wdt != DType::F32 && c.T > 4;
    if (tensor_cores)
      for (float& v : p.x) v = round_to(c.wdt, v);
    const auto want = p.run(cpu, DType::F32);
    const auto got = p.run(*gpu, DType::F32);
    EXPECT_LE(test::scaled_error(got, want), tensor_cores ? 1e-2 : 1e-4) << describe(c);
    if (gpu->supports_activation(DType::BF16) && c.wdt == DType::BF16) {  // BF16 activations: x rounded
      for (float& v : p.x) v = round_to(DType::BF16, v);
      const auto want16 = p.run(cpu, DType::F32);
      EXPECT_LE(test::scaled_error(p.run(*gpu, DType::BF16), want16), tensor_cores ? 1e-2 : 1e-4)
          << describe(c) << " x BF16";
    }
  }
}

TEST(CudaMoeExperts, RepeatsBitForBit) {
  NOVA_REQUIRE_CUDA(gpu);
  for (int64_t T : {2, 333}) {
    const Problem p(T, 128, 256, 8, 2, true, DType::BF16, 77);
    const auto a = p.run(*gpu, DType::F32), b = p.run(*gpu, DType::F32);
    EXPECT_TRUE(a == b) << "T=" << T;
  }
}

}  // namespace
}  // namespace nova
