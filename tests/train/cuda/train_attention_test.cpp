// The fused causal GQA attention kernels (kernels/cuda/train) against train/layers/attention.cpp:
// out, lse (recomputed on the host in double), dq, dk, dv; GQA 8/2, MQA, multi-head, head_dim 64
// and 128 and a padded 40, T = 1 and T = 257 (a partial tile), sliding windows. fp32 mode to
// 2e-5 relative to each tensor's scale, bf16 mode (inputs rounded to bf16, the CPU layer on the
// rounded values) to 1e-2 for out and 2e-2 for the gradients (the tensor-core kernels round P and
// dS to bf16 before their products, as FlashAttention-2 does). Skipped without a GPU.
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "kernels/cuda/train/train_ops.h"
#include "train/layers/attention.h"
#include "train_ops_test_util.h"

namespace nova::test {
namespace {

namespace kt = kernels::cuda::train;
using bf16 = __nv_bfloat16;

// log-sum-exp of each row's visible scaled scores, [B, q_heads, T], in double.
std::vector<float> host_lse(const std::vector<float>& q, const std::vector<float>& k, const kt::AttentionDims& d) {
  std::vector<float> lse(d.B * d.q_heads * d.T);
  const int64_t G = d.q_heads / d.kv_heads;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.q_heads; ++h)
      for (int64_t t = 0; t < d.T; ++t) {
        const int64_t lo = d.window > 0 ? std::max<int64_t>(0, t - d.window + 1) : 0;
        std::vector<double> s;
        for (int64_t j = lo; j <= t; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d.head_dim; ++c)
            dot += double(q[((b * d.T + t) * d.q_heads + h) * d.head_dim + c]) *
                   k[((b * d.T + j) * d.kv_heads + h / G) * d.head_dim + c];
          s.push_back(dot * d.scale);
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double v : s) sum += std::exp(v - mx);
        lse[(b * d.q_heads + h) * d.T + t] = float(mx + std::log(sum));
      }
  return lse;
}

template <class T>
void check_attention(int64_t B, int64_t Tn, int64_t hq, int64_t hkv, int64_t D, int64_t window) {
  SCOPED_TRACE("B=" + std::to_string(B) + " T=" + std::to_string(Tn) + " heads " + std::to_string(hq) + "/" +
               std::to_string(hkv) + " D=" + std::to_string(D) + " window " + std::to_string(window));
  kt::AttentionDims d;
  d.B = B, d.T = Tn, d.q_heads = hq, d.kv_heads = hkv, d.head_dim = D, d.window = window;
  d.scale = 1.0f / std::sqrt(float(D));
  const int64_t nq = B * Tn * hq * D, nk = B * Tn * hkv * D;
  const auto q = rounded_to<T>(random_floats(nq, 1)), k = rounded_to<T>(random_floats(nk, 2)),
             v = rounded_to<T>(random_floats(nk, 3)), dout = rounded_to<T>(random_floats(nq, 4));
  DeviceArray<T> dq_(q), dk_(k), dv_(v), ddout(dout), out(nq), dq(nq), dk(nk), dv(nk);
  DeviceArray<float> lse(B * hq * Tn);
  DeviceArray<char> ws(kt::attention_workspace_bytes(d));
  kt::attention_forward<T>(out.get(), lse.get(), dq_.get(), dk_.get(), dv_.get(), d, ws.get(), nullptr);
  kt::attention_backward<T>(dq.get(), dk.get(), dv.get(), ddout.get(), out.get(), lse.get(), dq_.get(), dk_.get(),
                            dv_.get(), d, ws.get(), nullptr);

  train::AttentionShape s{B, Tn, hq, hkv, D, window, d.scale};
  std::vector<float> ro(nq), probs(s.probs_size()), rdq(nq), rdk(nk), rdv(nk);
  train::attention_forward(ro.data(), probs.data(), q.data(), k.data(), v.data(), s);
  train::attention_backward(rdq.data(), rdk.data(), rdv.data(), dout.data(), probs.data(), q.data(), k.data(),
                            v.data(), s);
  const bool f32 = std::is_same_v<T, float>;
  const double tol_out = f32 ? 2e-5 : 1e-2, tol_grad = f32 ? 2e-5 : 2e-2;
  EXPECT_LT(rel_error(out.download(), ro), tol_out) << "out";
  EXPECT_LT(rel_error(lse.download(), host_lse(q, k, d)), 1e-5) << "lse";
  EXPECT_LT(rel_error(dq.download(), rdq), tol_grad) << "dq";
  EXPECT_LT(rel_error(dk.download(), rdk), tol_grad) << "dk";
  EXPECT_LT(rel_error(dv.download(), rdv), tol_grad) << "dv";
  // Deterministic: a second backward gives the same bits.
  DeviceArray<T> dk2(nk);
  kt::attention_backward<T>(dq.get(), dk2.get(), dv.get(), ddout.get(), out.get(), lse.get(), dq_.get(), dk_.get(),
                            dv_.get(), d, ws.get(), nullptr);
  EXPECT_EQ(dk2.download(), dk.download()) << "dk not reproducible";
}

template <class T>
class TrainAttentionCuda : public ::testing::Test {};
struct TypeNames {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, float> ? "f32" : "bf16";
  }
};
using StorageTypes = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(TrainAttentionCuda, StorageTypes, TypeNames);

TYPED_TEST(TrainAttentionCuda, GqaPartialTile) {
  NOVA_REQUIRE_GPU();
  check_attention<TypeParam>(2, 257, 8, 2, 64, 0);
}
TYPED_TEST(TrainAttentionCuda, MqaHeadDim128Window) {
  NOVA_REQUIRE_GPU();
  check_attention<TypeParam>(2, 150, 4, 1, 128, 37);
}
TYPED_TEST(TrainAttentionCuda, SingleToken) {
  NOVA_REQUIRE_GPU();
  check_attention<TypeParam>(3, 1, 4, 2, 128, 0);
}
TYPED_TEST(TrainAttentionCuda, MultiHeadPaddedHeadDimWindow) {
  NOVA_REQUIRE_GPU();
  check_attention<TypeParam>(1, 130, 2, 2, 40, 64);
}

// The bf16 mode's CUDA-core fallback (taken for head dims other than 64 / 128 or unaligned
// tensors) at the dims the tensor-core kernels otherwise take.
TEST(TrainAttentionCudaBf16, CudaCoreFallback) {
  NOVA_REQUIRE_GPU();
  setenv("NOVA_TRAIN_ATTN", "simt", 1);
  check_attention<bf16>(2, 257, 8, 2, 64, 0);
  check_attention<bf16>(1, 100, 4, 1, 128, 30);
  unsetenv("NOVA_TRAIN_ATTN");
}

TEST(TrainAttentionCudaDims, RejectsUnsupportedHeadDim) {
  NOVA_REQUIRE_GPU();
  kt::AttentionDims d;
  d.B = 1, d.T = 4, d.q_heads = 2, d.kv_heads = 2, d.head_dim = 256;
  EXPECT_THROW(kt::attention_forward<float>(nullptr, nullptr, nullptr, nullptr, nullptr, d, nullptr, nullptr), Error);
  d.head_dim = 64, d.kv_heads = 3;
  EXPECT_THROW(kt::attention_forward<float>(nullptr, nullptr, nullptr, nullptr, nullptr, d, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
