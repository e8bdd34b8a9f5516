// The GPU training kernels (kernels/cuda/train/train_ops.h) against the CPU training layers
// (train/layers/*, themselves checked against PyTorch) and train/adamw.cpp: fp32 mode to ~1e-5
// relative, bf16 mode (inputs rounded to bf16, the CPU layer run on the rounded values) to 1e-2
// relative to the output's scale, the optimiser bit for bit, the sums against host doubles.
// Attention is in train_attention_test.cpp. Skipped without a GPU (CI).
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "kernels/cuda/train/train_ops.h"
#include "train/adamw.h"
#include "train/layers/cross_entropy.h"
#include "train/layers/embedding.h"
#include "train/layers/linear.h"
#include "train/layers/rmsnorm.h"
#include "train/layers/rope.h"
#include "train/layers/swiglu.h"
#include "train/param_store.h"
#include "train_ops_test_util.h"

namespace nova::test {
namespace {

namespace kt = kernels::cuda::train;
using bf16 = __nv_bfloat16;

template <class T>
class TrainOpsCuda : public ::testing::Test {};
struct TypeNames {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, float> ? "f32" : "bf16";
  }
};
using StorageTypes = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(TrainOpsCuda, StorageTypes, TypeNames);

template <class T>
void check_gemm(int64_t M, int64_t N, int64_t K, bool with_bias) {
  SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
  const auto x = rounded_to<T>(random_floats(M * K, 1)), w = rounded_to<T>(random_floats(N * K, 2, 0.5f));
  const auto bias = random_floats(N, 3), dy = rounded_to<T>(random_floats(M * N, 4));
  const auto dx0 = rounded_to<T>(random_floats(M * K, 5)), dw0 = random_floats(N * K, 6), db0 = random_floats(N, 7);
  DeviceArray<T> dx_(x), dw_(w), ddy(dy), dy_out(M * N), ddx(dx0), ddx2(dx0);
  DeviceArray<float> dbias(bias), ddw(dw0), ddb(db0);
  kt::TrainGemm gemm;
  gemm.forward<T>(dy_out.get(), dx_.get(), dw_.get(), with_bias ? dbias.get() : nullptr, M, N, K, nullptr);
  gemm.backward_input<T>(ddx.get(), ddy.get(), dw_.get(), M, N, K, true, nullptr);
  gemm.backward_input<T>(ddx2.get(), ddy.get(), dw_.get(), M, N, K, false, nullptr);
  gemm.backward_weight<T>(ddw.get(), ddy.get(), dx_.get(), M, N, K, nullptr);
  kt::bias_backward<T>(ddb.get(), ddy.get(), M, N, nullptr);

  std::vector<float> y(M * N), dx = dx0, dx2(M * K, 0.0f), dw = dw0, db = db0, dw_unused(N * K);
  train::linear_forward(y.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, M, K, N);
  train::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), M, K, N);
  train::linear_backward(dx2.data(), dw_unused.data(), nullptr, dy.data(), x.data(), w.data(), M, K, N);
  EXPECT_LT(rel_error(dy_out.download(), y), kTol<T>) << "forward";
  EXPECT_LT(rel_error(ddx.download(), dx), kTol<T>) << "backward_input, accumulate";
  EXPECT_LT(rel_error(ddx2.download(), dx2), kTol<T>) << "backward_input, overwrite";
  EXPECT_LT(rel_error(ddw.download(), dw), 1e-5) << "backward_weight (fp32 gradient)";
  EXPECT_LT(rel_error(ddb.download(), db), 1e-5) << "bias_backward";
}

TYPED_TEST(TrainOpsCuda, GemmMatchesCpuLinear) {
  NOVA_REQUIRE_GPU();
  check_gemm<TypeParam>(37, 48, 72, true);   // rows not a multiple of 8
  check_gemm<TypeParam>(1, 40, 64, false);   // one row
  if (std::is_same_v<TypeParam, float>) check_gemm<TypeParam>(29, 23, 67, true);  // odd everything
}

TEST(TrainOpsCudaF32, EmbeddingForwardBackward) {
  NOVA_REQUIRE_GPU();
  for (int64_t dim : {36, 37}) {  // float4 path and scalar path
    const int64_t V = 13, n = 41;
    std::vector<int32_t> ids(n);
    std::mt19937 rng(9);
    for (auto& id : ids) id = int32_t(rng() % 7) * 2;  // repeats; odd ids never read
    const auto table = random_floats(V * dim, 10), dout = random_floats(n * dim, 11), dt0 = random_floats(V * dim, 12);
    DeviceArray<int32_t> dids(ids);
    DeviceArray<float> dtable(table), dout_(dout), dgrad(dt0), out(n * dim);
    kt::embedding_forward(out.get(), dids.get(), n, dtable.get(), dim, nullptr);
    std::vector<int32_t> unique(n), offsets(n + 1), positions(n), counts;
    const int64_t n_unique =
        kt::build_embedding_groups(ids.data(), n, V, unique.data(), offsets.data(), positions.data(), counts);
    ASSERT_EQ(n_unique, int64_t(std::set<int32_t>(ids.begin(), ids.end()).size()));
    DeviceArray<int32_t> du(unique), doff(offsets), dpos(positions);
    kt::embedding_backward(dgrad.get(), dout_.get(), du.get(), doff.get(), dpos.get(), n_unique, dim, nullptr);
    std::vector<float> ref(n * dim), dref = dt0;
    train::embedding_forward(ref.data(), ids.data(), n, table.data(), dim);
    train::embedding_backward(dref.data(), dout.data(), ids.data(), n, dim);
    EXPECT_EQ(out.download(), ref) << "dim " << dim;
    EXPECT_LT(rel_error(dgrad.download(), dref), 1e-6) << "dim " << dim;
  }
}

template <class TIn, class TOut>
void check_rmsnorm(int64_t groups, int64_t dim) {
  SCOPED_TRACE("groups=" + std::to_string(groups) + " dim=" + std::to_string(dim));
  const auto x = rounded_to<TIn>(random_floats(groups * dim, 20, 2.0f));
  auto w = random_floats(dim, 21, 0.3f);
  for (float& v : w) v += 1.0f;
  const auto dy = rounded_to<TOut>(random_floats(groups * dim, 22)), dx0 = rounded_to<TIn>(random_floats(groups * dim, 23));
  const auto dw0 = random_floats(dim, 24);
  DeviceArray<TIn> dx_(x), ddx(dx0);
  DeviceArray<TOut> y(groups * dim), ddy(dy);
  DeviceArray<float> dw_(w), rstd(groups), ddw(dw0), scratch(kt::rmsnorm_backward_scratch_floats(groups, dim));
  kt::rmsnorm_forward<TIn, TOut>(y.get(), rstd.get(), dx_.get(), dw_.get(), groups, dim, 1e-6f, nullptr);
  kt::rmsnorm_backward<TIn, TOut>(ddx.get(), ddw.get(), ddy.get(), dx_.get(), dw_.get(), rstd.get(), groups, dim,
                                  scratch.get(), nullptr);
  std::vector<float> yr(groups * dim), rr(groups), dxr = dx0, dwr = dw0;
  train::rmsnorm_forward(yr.data(), rr.data(), x.data(), w.data(), groups, dim, 1e-6f);
  train::rmsnorm_backward(dxr.data(), dwr.data(), dy.data(), x.data(), w.data(), rr.data(), groups, dim);
  EXPECT_LT(rel_error(y.download(), yr), kTol<TOut>) << "y";
  EXPECT_LT(rel_error(rstd.download(), rr), 1e-6) << "rstd";
  EXPECT_LT(rel_error(ddx.download(), dxr), kTol<TIn>) << "dx";
  EXPECT_LT(rel_error(ddw.download(), dwr), 1e-5) << "dw";
}

TEST(TrainOpsCudaRmsNorm, F32ToF32) {
  NOVA_REQUIRE_GPU();
  check_rmsnorm<float, float>(300, 67);  // several dw chunks, odd dim
  check_rmsnorm<float, float>(5, 2048);
}
TEST(TrainOpsCudaRmsNorm, F32ToBf16) {
  NOVA_REQUIRE_GPU();
  check_rmsnorm<float, bf16>(300, 67);
}
TEST(TrainOpsCudaRmsNorm, Bf16ToBf16PerHead) {
  NOVA_REQUIRE_GPU();
  check_rmsnorm<bf16, bf16>(37 * 4, 128);  // the q/k norm: [rows * heads, head_dim]
}

TYPED_TEST(TrainOpsCuda, RopeForwardBackward) {
  NOVA_REQUIRE_GPU();
  using T = TypeParam;
  for (auto [head_dim, half] : {std::pair<int64_t, int64_t>{64, 32}, {10, 4}}) {  // full and partial rotation
    const int64_t rows = 37, heads = 3, n = rows * heads * head_dim;
    const auto x = rounded_to<T>(random_floats(n, 30)), ang = random_floats(rows * half, 31, 3.0f);
    std::vector<float> c(rows * half), s(rows * half);
    for (size_t i = 0; i < ang.size(); ++i) c[i] = std::cos(ang[i]), s[i] = std::sin(ang[i]);
    DeviceArray<T> fwd(x), bwd(x);
    DeviceArray<float> dc(c), ds(s);
    kt::rope_forward<T>(fwd.get(), rows, heads, head_dim, dc.get(), ds.get(), half, nullptr);
    kt::rope_backward<T>(bwd.get(), rows, heads, head_dim, dc.get(), ds.get(), half, nullptr);
    std::vector<float> rf = x, rb = x;
    train::rope_forward(rf.data(), rows, heads, head_dim, c.data(), s.data(), half);
    train::rope_backward(rb.data(), rows, heads, head_dim, c.data(), s.data(), half);
    EXPECT_LT(rel_error(fwd.download(), rf), kTol<T>) << "forward, head_dim " << head_dim;
    EXPECT_LT(rel_error(bwd.download(), rb), kTol<T>) << "backward, head_dim " << head_dim;
  }
}

TYPED_TEST(TrainOpsCuda, SwigluForwardBackward) {
  NOVA_REQUIRE_GPU();
  using T = TypeParam;
  const int64_t n = 1003;  // a tail past the 8-wide vectors
  const auto g = rounded_to<T>(random_floats(n, 40, 2.0f)), u = rounded_to<T>(random_floats(n, 41)),
             d = rounded_to<T>(random_floats(n, 42));
  DeviceArray<T> dg(g), du(u), dd(d), out(n), dgate(n), dup(n);
  kt::swiglu_forward<T>(out.get(), dg.get(), du.get(), n, nullptr);
  kt::swiglu_backward<T>(dgate.get(), dup.get(), dd.get(), dg.get(), du.get(), n, nullptr);
  std::vector<float> ro(n), rg(n), ru(n);
  train::swiglu_forward(ro.data(), g.data(), u.data(), n);
  train::swiglu_backward(rg.data(), ru.data(), d.data(), g.data(), u.data(), n);
  EXPECT_LT(rel_error(out.download(), ro), kTol<T>);
  EXPECT_LT(rel_error(dgate.download(), rg), kTol<T>);
  EXPECT_LT(rel_error(dup.download(), ru), kTol<T>);
  // In place: the gradients overwrite gate and up.
  kt::swiglu_backward<T>(dg.get(), du.get(), dd.get(), dg.get(), du.get(), n, nullptr);
  EXPECT_EQ(dg.download(), dgate.download());
  EXPECT_EQ(du.download(), dup.download());
}

TYPED_TEST(TrainOpsCuda, ResidualAddAndConvert) {
  NOVA_REQUIRE_GPU();
  using T = TypeParam;
  const int64_t n = 1003;
  const auto x = random_floats(n, 50), delta = rounded_to<T>(random_floats(n, 51));
  DeviceArray<float> dx(x);
  DeviceArray<T> dd(delta), conv(n);
  kt::residual_add<T>(dx.get(), dx.get(), dd.get(), n, nullptr);  // out aliases x
  std::vector<float> ref(n);
  for (int64_t i = 0; i < n; ++i) ref[i] = x[i] + delta[i];
  EXPECT_EQ(dx.download(), ref);
  kt::convert<T, float>(conv.get(), dx.get(), n, nullptr);
  EXPECT_EQ(conv.download(), rounded_to<T>(ref));
  DeviceArray<float> back(n);
  if constexpr (std::is_same_v<T, bf16>) {
    kt::convert<float, bf16>(back.get(), conv.get(), n, nullptr);
    EXPECT_EQ(back.download(), rounded_to<T>(ref));
  }
}

TYPED_TEST(TrainOpsCuda, CrossEntropyWithIgnoredRows) {
  NOVA_REQUIRE_GPU();
  using T = TypeParam;
  for (int64_t vocab : {1001, 1024}) {  // scalar and vectorised paths
    const int64_t rows = 13;
    const auto logits = rounded_to<T>(random_floats(rows * vocab, 60, 3.0f));
    std::vector<int32_t> targets(rows);
    std::mt19937 rng(61);
    for (auto& t : targets) t = int32_t(rng() % vocab);
    targets[2] = targets[7] = train::kIgnoreIndex;
    targets[5] = 0, targets[9] = int32_t(vocab - 1);
    const float dloss = 1.0f / 11.0f;
    DeviceArray<T> dl(logits);
    DeviceArray<int32_t> dt(targets);
    DeviceArray<float> loss(rows);
    kt::cross_entropy_forward_backward<T>(dl.get(), loss.get(), dt.get(), rows, vocab, dloss, nullptr);
    std::vector<float> grad = logits, row_ref(rows, 0.0f);
    const train::CrossEntropySum sum =
        train::cross_entropy_forward_backward(grad.data(), targets.data(), rows, vocab, dloss);
    for (int64_t r = 0; r < rows; ++r)
      row_ref[r] = float(train::cross_entropy_forward(logits.data() + r * vocab, &targets[r], 1, vocab).loss_sum);
    const auto got = loss.download();
    EXPECT_LT(rel_error(got, row_ref), 1e-5) << "row losses, vocab " << vocab;
    EXPECT_NEAR(std::accumulate(got.begin(), got.end(), 0.0), sum.loss_sum, 1e-5 * sum.loss_sum);
    EXPECT_EQ(got[2], 0.0f);
    const auto g = dl.download();
    EXPECT_LT(rel_error(g, grad), kTol<T>) << "gradient, vocab " << vocab;
    for (int64_t j = 0; j < vocab; ++j) ASSERT_EQ(g[7 * vocab + j], 0.0f) << "ignored row";
  }
}

TEST(TrainOpsCudaF32, DeterministicSums) {
  NOVA_REQUIRE_GPU();
  for (int64_t n : {1, 5, 1000003}) {
    const auto x = random_floats(n + 1, 70);
    DeviceArray<float> dx(x);
    DeviceArray<double> out(2), scratch(kt::sum_scratch_doubles(n));
    for (bool square : {false, true}) {
      for (int misaligned : {0, 1}) {  // float4 path and scalar path
        double ref = 0;
        for (int64_t i = 0; i < n; ++i) ref += square ? double(x[i + misaligned]) * x[i + misaligned] : x[i + misaligned];
        kt::sum_f32(out.get(), dx.get() + misaligned, n, square, scratch.get(), nullptr);
        kt::sum_f32(out.get() + 1, dx.get() + misaligned, n, square, scratch.get(), nullptr);
        const auto got = out.raw();
        EXPECT_NEAR(got[0], ref, 1e-12 * std::max(1.0, std::abs(ref))) << "n " << n << " square " << square;
        EXPECT_EQ(std::memcmp(&got[0], &got[1], sizeof(double)), 0) << "not reproducible";
      }
    }
  }
}

// Three AdamW steps on four parameters (matrices decay, vectors do not; one segment offset not a
// multiple of 4), against train::AdamW bit for bit; grad_scale as a clip factor applied to the
// CPU's grads beforehand.
void check_adamw(float grad_scale) {
  train::ParamStore store;
  const std::vector<std::vector<int64_t>> shapes = {{11, 91}, {7}, {64, 64}, {5}};
  std::vector<kt::AdamSegment> segs;
  int64_t total = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    train::Param& p = store.add("p" + std::to_string(i), shapes[i]);
    const auto init = random_floats(size_t(p.numel()), 80 + uint32_t(i), 0.1f);
    std::copy(init.begin(), init.end(), p.data());
    segs.push_back({total, p.numel(), p.decays() ? 1 : 0});
    total += p.numel();
  }
  train::AdamWConfig cfg;
  train::AdamW opt(store, cfg);
  std::vector<float> params;
  for (auto& p : store.params()) params.insert(params.end(), p.data(), p.data() + p.numel());
  DeviceArray<float> dp(params), dm(total), dv(total), dg(total);
  DeviceArray<bf16> dpb(total);
  DeviceArray<kt::AdamSegment> dseg(segs);
  const double lr = 3e-3;
  for (int step = 1; step <= 3; ++step) {
    const auto grads = random_floats(size_t(total), 90 + uint32_t(step), 0.01f);
    dg.upload(grads);
    int64_t off = 0;
    for (auto& p : store.params()) {
      for (int64_t j = 0; j < p.numel(); ++j) p.grad_data()[j] = grads[off + j] * grad_scale;
      off += p.numel();
    }
    opt.step(lr);
    // AdamScalars as train/adamw.cpp derives them.
    const double t = step, bias1 = 1.0 - std::pow(cfg.beta1, t), bias2 = 1.0 - std::pow(cfg.beta2, t);
    kt::AdamScalars s;
    s.neg_step_size = float(-(lr / bias1));
    s.bias2_sqrt = float(std::sqrt(bias2));
    s.one_minus_beta1 = float(1.0 - cfg.beta1);
    s.beta2 = float(cfg.beta2);
    s.one_minus_beta2 = float(1.0 - cfg.beta2);
    s.eps = float(cfg.eps);
    s.decay = float(1.0 - lr * cfg.weight_decay);
    s.grad_scale = grad_scale;
    kt::adamw_step(dp.get(), dm.get(), dv.get(), dg.get(), dpb.get(), dseg.get(), int32_t(segs.size()), s, nullptr);
  }
  const auto got_p = dp.raw(), got_m = dm.raw(), got_v = dv.raw();
  const auto got_b = dpb.raw();
  const auto state = opt.state_tensors();
  int64_t off = 0;
  for (auto& p : store.params()) {
    const float* m = state.at("exp_avg." + p.name).data_as<float>();
    const float* v = state.at("exp_avg_sq." + p.name).data_as<float>();
    for (int64_t j = 0; j < p.numel(); ++j) {
      ASSERT_EQ(got_p[off + j], p.data()[j]) << p.name << "[" << j << "]";
      ASSERT_EQ(got_m[off + j], m[j]) << p.name << "[" << j << "]";
      ASSERT_EQ(got_v[off + j], v[j]) << p.name << "[" << j << "]";
      uint16_t bits;
      std::memcpy(&bits, &got_b[off + j], 2);
      ASSERT_EQ(bits, f32_to_bf16(p.data()[j])) << p.name << "[" << j << "] bf16 copy";
    }
    off += p.numel();
  }
}

TEST(TrainOpsCudaF32, AdamWMatchesCpuBitForBit) {
  NOVA_REQUIRE_GPU();
  check_adamw(1.0f);
  check_adamw(0.37f);
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
