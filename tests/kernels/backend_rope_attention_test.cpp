// Backend::rope_store_attention / rope_store_paged_attention's defaults (backend_rope_attention.cpp)
// on CpuBackend: exactly the composition they define (rope_store_kv into the slots the positions
// and block tables give, then attention / paged_attention), and refusals of rows that store nowhere
// or twice. The CUDA overrides are compared with these in tests/kernels/cuda/rope_attention_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/rope_attention.h"

namespace nova::kernels {
namespace {

Tensor random_f32(std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::zeros(t.dtype(), t.shape());
  std::copy(t.data_as<float>(), t.data_as<float>() + t.numel(), c.data_as<float>());
  return c;
}

std::vector<float> values(const Tensor& t) { return {t.data_as<float>(), t.data_as<float>() + t.numel()}; }

TEST(BackendRopeAttention, PagedDefaultIsTheComposition) {
  CpuBackend be;
  const int64_t hq = 4, hkv = 2, D = 16, half = 8, bs = 4, blocks = 6;
  // Two sequences: 2 rows at positions 5, 6 (its second block: 1) and 1 row at position 2 (block 4).
  const std::vector<PagedAttentionSeq> seqs = {{0, 2, 5, 0, 2}, {2, 1, 2, 2, 1}};
  const std::vector<int32_t> tables = {3, 1, 4};
  const Tensor q0 = random_f32({3, hq, D}, 1), k0 = random_f32({3, hkv, D}, 2), v = random_f32({3, hkv, D}, 3);
  const Tensor cs = random_f32({3, half}, 4), sn = random_f32({3, half}, 5);
  const Tensor kc0 = random_f32({blocks, bs, hkv, D}, 6), vc0 = random_f32({blocks, bs, hkv, D}, 7);

  Tensor q = copy_of(q0), k = copy_of(k0), kc = copy_of(kc0), vc = copy_of(vc0);
  Tensor out = Tensor::zeros(DType::F32, {3, hq, D});
  be.rope_store_paged_attention(q, k, v, cs, sn, kc, vc, seqs, tables, 0, 0.25f, out);

  Tensor q2 = copy_of(q0), k2 = copy_of(k0), kc2 = copy_of(kc0), vc2 = copy_of(vc0);
  Tensor out2 = Tensor::zeros(DType::F32, {3, hq, D});
  const std::vector<int32_t> slots = {1 * 4 + 1, 1 * 4 + 2, 4 * 4 + 2};
  EXPECT_EQ(paged_step_slots(3, seqs, tables, bs, "test"), slots);
  Tensor kf = kc2.reshape({blocks * bs, hkv, D}), vf = vc2.reshape({blocks * bs, hkv, D});
  be.rope_store_kv(q2, k2, v, cs, sn, slots, kf, vf);
  be.paged_attention(q2, kc2, vc2, seqs, tables, 0, 0.25f, out2);
  EXPECT_EQ(values(out), values(out2));
  EXPECT_EQ(values(kc), values(kc2));
  EXPECT_EQ(values(vc), values(vc2));
}

TEST(BackendRopeAttention, ContiguousDefaultIsTheComposition) {
  CpuBackend be;
  const int64_t hq = 2, hkv = 1, D = 8, half = 4, cap = 10, pos0 = 6;
  const Tensor q0 = random_f32({2, hq, D}, 11), k0 = random_f32({2, hkv, D}, 12), v = random_f32({2, hkv, D}, 13);
  const Tensor cs = random_f32({2, half}, 14), sn = random_f32({2, half}, 15);
  const Tensor kc0 = random_f32({cap, hkv, D}, 16), vc0 = random_f32({cap, hkv, D}, 17);
  Tensor q = copy_of(q0), k = copy_of(k0), kc = copy_of(kc0), vc = copy_of(vc0);
  Tensor out = Tensor::zeros(DType::F32, {2, hq, D});
  be.rope_store_attention(q, k, v, cs, sn, kc, vc, pos0, 3, 0.5f, out);
  Tensor q2 = copy_of(q0), k2 = copy_of(k0), kc2 = copy_of(kc0), vc2 = copy_of(vc0);
  Tensor out2 = Tensor::zeros(DType::F32, {2, hq, D});
  const std::vector<int32_t> rows = {6, 7};
  be.rope_store_kv(q2, k2, v, cs, sn, rows, kc2, vc2);
  be.attention(q2, kc2, vc2, pos0, 3, 0.5f, out2);
  EXPECT_EQ(values(out), values(out2));
  EXPECT_EQ(values(kc), values(kc2));
  EXPECT_THROW(be.rope_store_attention(q, k, v, cs, sn, kc, vc, 9, 0, 0.5f, out), Error);  // past capacity
}

TEST(BackendRopeAttention, RefusesRowsThatStoreNowhereOrTwice) {
  CpuBackend be;
  Tensor q = random_f32({2, 2, 8}, 1), k = random_f32({2, 1, 8}, 2), v = random_f32({2, 1, 8}, 3);
  const Tensor cs = random_f32({2, 4}, 4);
  Tensor kc = random_f32({2, 4, 1, 8}, 5), vc = random_f32({2, 4, 1, 8}, 6), out = Tensor::zeros(DType::F32, {2, 2, 8});
  const std::vector<int32_t> tables = {0, 1, 0};
  const std::vector<PagedAttentionSeq> one = {{0, 1, 2, 0, 1}};  // row 1 belongs to no sequence
  EXPECT_THROW(be.rope_store_paged_attention(q, k, v, cs, cs, kc, vc, one, tables, 0, 1.0f, out), Error);
  const std::vector<PagedAttentionSeq> shared = {{0, 1, 2, 0, 1}, {1, 1, 2, 2, 1}};  // both into slot 2
  EXPECT_THROW(be.rope_store_paged_attention(q, k, v, cs, cs, kc, vc, shared, tables, 0, 1.0f, out), Error);
}

}  // namespace
}  // namespace nova::kernels
