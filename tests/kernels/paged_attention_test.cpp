// paged_attention against the contiguous attention op: the same K/V scattered into shuffled
// blocks must give bit-identical outputs (both kernels share the per-row code, and the batched
// serving path relies on reproducing the single-sequence one exactly).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::PagedAttentionSeq;

struct SeqCase {
  int64_t rows, pos0;
};

void run_case(int64_t hq, int64_t hkv, int64_t d, int64_t block_size, int window, const std::vector<SeqCase>& cases,
              uint32_t seed) {
  kernels::CpuBackend& be = kernels::CpuBackend::instance();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  int64_t total_rows = 0, total_blocks = 0;
  for (const auto& c : cases) {
    total_rows += c.rows;
    total_blocks += (c.pos0 + c.rows + block_size - 1) / block_size;
  }
  total_blocks += 3;  // unused blocks in between
  std::vector<int32_t> perm(static_cast<size_t>(total_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));

  Tensor kb = be.alloc(DType::F32, {total_blocks, block_size, hkv, d});
  Tensor vb = be.alloc(DType::F32, {total_blocks, block_size, hkv, d});
  const auto garbage = test::random_floats(static_cast<size_t>(kb.numel()), seed + 7);
  std::copy(garbage.begin(), garbage.end(), kb.data_as<float>());  // slots nobody owns hold junk
  std::copy(garbage.begin(), garbage.end(), vb.data_as<float>());
  Tensor q = be.alloc(DType::F32, {total_rows, hq, d});
  Tensor out = be.alloc(DType::F32, {total_rows, hq, d});
  std::vector<float> expect(static_cast<size_t>(q.numel()));

  std::vector<PagedAttentionSeq> seqs;
  std::vector<int32_t> tables;
  size_t next_block = 0;
  int64_t q_begin = 0;
  const int64_t row = hkv * d;
  for (size_t i = 0; i < cases.size(); ++i) {
    const SeqCase& c = cases[i];
    const int64_t len = c.pos0 + c.rows;
    const auto qs = test::random_floats(static_cast<size_t>(c.rows * hq * d), seed + 11 * static_cast<uint32_t>(i));
    const auto ks = test::random_floats(static_cast<size_t>(len * row), seed + 13 * static_cast<uint32_t>(i) + 1);
    const auto vs = test::random_floats(static_cast<size_t>(len * row), seed + 17 * static_cast<uint32_t>(i) + 2);
    std::copy(qs.begin(), qs.end(), q.data_as<float>() + q_begin * hq * d);

    PagedAttentionSeq s;
    s.q_begin = q_begin;
    s.q_rows = c.rows;
    s.pos0 = c.pos0;
    s.table_begin = static_cast<int64_t>(tables.size());
    s.table_size = (len + block_size - 1) / block_size;
    for (int64_t b = 0; b < s.table_size; ++b) tables.push_back(perm[next_block++]);
    for (int64_t p = 0; p < len; ++p) {
      const int64_t slot = tables[s.table_begin + p / block_size] * block_size + p % block_size;
      std::copy_n(ks.data() + p * row, row, kb.data_as<float>() + slot * row);
      std::copy_n(vs.data() + p * row, row, vb.data_as<float>() + slot * row);
    }
    seqs.push_back(s);

    // The contiguous op on this sequence alone.
    Tensor qc = Tensor::view(DType::F32, {c.rows, hq, d}, qs.data());
    Tensor kc = Tensor::view(DType::F32, {len, hkv, d}, ks.data());
    Tensor vc = Tensor::view(DType::F32, {len, hkv, d}, vs.data());
    Tensor oc = be.alloc(DType::F32, {c.rows, hq, d});
    be.attention(qc, kc, vc, c.pos0, window, scale, oc);
    std::copy_n(oc.data_as<float>(), oc.numel(), expect.data() + q_begin * hq * d);
    q_begin += c.rows;
  }

  be.paged_attention(q, kb, vb, seqs, tables, window, scale, out);
  const float* o = out.data_as<float>();
  for (size_t i = 0; i < expect.size(); ++i) ASSERT_EQ(o[i], expect[i]) << "element " << i;
}

TEST(PagedAttention, MatchesContiguousAttentionBitForBit) {
  // Prefill chunks, decodes, a chunk after cached rows, sequences ending mid-block.
  run_case(4, 2, 16, 4, 0, {{7, 0}, {1, 12}, {5, 9}, {1, 0}, {16, 0}}, 1);
  run_case(4, 4, 8, 16, 0, {{1, 40}, {3, 30}}, 2);    // MHA, big blocks
  run_case(6, 1, 33, 3, 0, {{2, 5}, {1, 1}}, 3);       // MQA, odd head_dim and block size
  run_case(4, 2, 16, 4, 8, {{19, 0}, {1, 18}, {3, 4}}, 4);  // sliding window crossed
  run_case(2, 2, 8, 1, 3, {{4, 2}}, 5);                // one slot per block
}

TEST(PagedAttention, RejectsBadTablesAndShapes) {
  kernels::CpuBackend& be = kernels::CpuBackend::instance();
  Tensor kb = be.alloc(DType::F32, {4, 2, 1, 8}), vb = be.alloc(DType::F32, {4, 2, 1, 8});
  Tensor q = be.alloc(DType::F32, {3, 2, 8}), out = be.alloc(DType::F32, {3, 2, 8});
  const std::vector<int32_t> tables = {0, 3, 5};
  PagedAttentionSeq ok{0, 3, 0, 0, 2};
  EXPECT_NO_THROW(be.paged_attention(q, kb, vb, std::vector<PagedAttentionSeq>{ok}, std::span(tables).first(2), 0,
                                     1.0f, out));
  PagedAttentionSeq short_table{0, 3, 2, 0, 2};  // 5 positions do not fit 2 blocks of 2
  EXPECT_THROW(be.paged_attention(q, kb, vb, std::vector<PagedAttentionSeq>{short_table}, std::span(tables).first(2),
                                  0, 1.0f, out),
               Error);
  EXPECT_THROW(be.paged_attention(q, kb, vb, std::vector<PagedAttentionSeq>{{0, 1, 0, 2, 1}}, tables, 0, 1.0f, out),
               Error);  // block 5 of 4
  EXPECT_THROW(be.paged_attention(q, kb, vb, std::vector<PagedAttentionSeq>{{2, 2, 0, 0, 1}}, tables, 0, 1.0f, out),
               Error);  // q rows past the end
  EXPECT_THROW(
      be.paged_attention(q, kb, vb, std::vector<PagedAttentionSeq>{{0, 2, 0, 0, 1}, {1, 1, 0, 1, 1}}, tables, 0, 1.0f,
                         out),
      Error);  // a q row in two sequences
  Tensor q3 = be.alloc(DType::F32, {3, 3, 8}), out3 = be.alloc(DType::F32, {3, 3, 8});
  Tensor kb2 = be.alloc(DType::F32, {4, 2, 2, 8}), vb2 = be.alloc(DType::F32, {4, 2, 2, 8});
  EXPECT_THROW(be.paged_attention(q3, kb2, vb2, std::vector<PagedAttentionSeq>{ok}, tables, 0, 1.0f, out3), Error);
}

TEST(ScatterRows, WritesRowsAndRejectsRepeats) {
  kernels::CpuBackend& be = kernels::CpuBackend::instance();
  const std::vector<float> src = {1, 2, 3, 4, 5, 6};
  Tensor s = Tensor::view(DType::F32, {3, 2}, src.data());
  Tensor d = be.alloc(DType::F32, {5, 2});
  be.scatter_rows(s, std::vector<int32_t>{4, 0, 2}, d);
  const std::vector<float> want = {3, 4, 0, 0, 5, 6, 0, 0, 1, 2};
  EXPECT_EQ(std::vector<float>(d.data_as<float>(), d.data_as<float>() + 10), want);
  EXPECT_THROW(be.scatter_rows(s, std::vector<int32_t>{1, 1, 2}, d), Error);
  EXPECT_THROW(be.scatter_rows(s, std::vector<int32_t>{1, 5, 2}, d), Error);
  EXPECT_THROW(be.scatter_rows(s, std::vector<int32_t>{1, 2}, d), Error);
}

}  // namespace
}  // namespace nova
