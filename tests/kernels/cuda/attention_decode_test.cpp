// The decode attention kernel (attention_decode.cu) against a float64 host reference: GQA groups
// 1/4/8, head_dim 64/128, sliding windows, block sizes from 1 slot to one contiguous block,
// contexts 1..32k, several sequences of different lengths in one call (decode rows and
// speculative tails of a few rows), every (activation, K/V) dtype pair, and 1..64 splits merged
// by the last split block. Outputs are poisoned with NaN first: every row must be written.
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "decode_test_util.h"
#include "kernels/cuda/ops.cuh"

namespace nova::test {
namespace {

namespace kc = kernels::cuda;

struct SeqSpec {
  int64_t rows, len;  // query rows (the last `rows` positions) and keys the sequence holds
};

struct Problem {
  int64_t q_heads, kv_heads, D, block_size;
  int window;
  std::vector<kc::AttnSeq> seqs;
  std::vector<int32_t> tables;
  int64_t blocks = 0, total_rows = 0, max_keys = 0;
  std::vector<float> q, k, v;  // bf16-rounded: every dtype pair sees the same numbers

  // block_size 0: the contiguous cache (one block of max_keys slots).
  Problem(int64_t group, int64_t kvh, int64_t d, int64_t bs, int win, const std::vector<SeqSpec>& specs, uint32_t seed)
      : q_heads(group * kvh), kv_heads(kvh), D(d), block_size(bs), window(win) {
    for (const SeqSpec& s : specs) max_keys = std::max(max_keys, s.len);
    if (block_size == 0) block_size = max_keys;
    std::vector<int32_t> phys;
    for (const SeqSpec& s : specs) {
      const int64_t nb = (s.len + block_size - 1) / block_size;
      seqs.push_back({total_rows, s.rows, s.len - s.rows, static_cast<int64_t>(tables.size())});
      for (int64_t b = 0; b < nb; ++b) tables.push_back(static_cast<int32_t>(blocks++));
      total_rows += s.rows;
    }
    std::mt19937 rng(seed);
    std::shuffle(tables.begin(), tables.end(), rng);
    const size_t cache = static_cast<size_t>(blocks * block_size * kv_heads * D);
    q = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(total_rows * q_heads * D), seed + 1));
    k = rounded_to<__nv_bfloat16>(random_floats(cache, seed + 2));
    v = rounded_to<__nv_bfloat16>(random_floats(cache, seed + 3));
  }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(D)); }

  std::vector<double> reference() const {
    return paged_attention_reference(q, k, v, seqs, tables, q_heads, kv_heads, D, block_size, window);
  }

  // One launch_attention_decode call (descriptors in device arrays) with `splits` key splits.
  std::vector<float> run(DType act, DType kvt, int splits) const {
    const Act qd(act, q), kd(kvt, k), vd(kvt, v);
    const Act out(act, std::vector<float>(q.size(), std::numeric_limits<float>::quiet_NaN()));
    const int64_t group = q_heads / kv_heads;
    std::vector<kc::AttnTile> tiles;
    for (size_t i = 0; i < seqs.size(); ++i)
      for (int64_t v0 = 0; v0 < seqs[i].q_rows * group; v0 += kc::kAttnDecodeRows)
        tiles.push_back({static_cast<int32_t>(i), static_cast<int32_t>(v0),
                         static_cast<int32_t>(std::min<int64_t>(kc::kAttnDecodeRows, seqs[i].q_rows * group - v0))});
    const DeviceArray<kc::AttnSeq> dseqs(seqs);
    const DeviceArray<kc::AttnTile> dtiles(tiles);
    const DeviceArray<int32_t> dtables(tables);
    kc::AttnArgs a;
    std::memset(&a, 0, sizeof a);
    a.seqs = dseqs.get();
    a.tiles = dtiles.get();
    a.tables = dtables.get();
    a.q = qd.ptr();
    a.k = kd.ptr();
    a.v = vd.ptr();
    a.block_size = block_size;
    a.num_tiles = static_cast<int>(tiles.size());
    a.q_heads = static_cast<int>(q_heads);
    a.kv_heads = static_cast<int>(kv_heads);
    a.head_dim = static_cast<int>(D);
    a.window = window;
    a.splits = splits;
    for (const kc::AttnTile& t : tiles) a.tile_rows = std::max(a.tile_rows, t.nv);
    a.total_rows = total_rows;
    a.scale = scale();
    a.act = act;
    a.kv = kvt;
    a.out = out.ptr();
    DeviceArray<float> part(static_cast<size_t>(splits * total_rows * q_heads * (D + 2)));
    DeviceArray<int> count(tiles.size() * static_cast<size_t>(kv_heads));
    if (splits > 1) {
      a.part_o = part.get();
      a.part_ml = part.get() + splits * total_rows * q_heads * D;
      a.counters = count.get();
    }
    kc::launch_attention_decode(a, nullptr);
    std::vector<float> got = out.download();
    if (splits > 1) {  // the last block of each tile leaves its counter at zero
      const std::vector<float> c = count.download();
      EXPECT_EQ(*std::max_element(c.begin(), c.end()), 0.0f);
    }
    return got;
  }
};

// Runs every dtype pair at each split count and compares with the float64 reference.
void check(const Problem& pb, const std::vector<int>& split_counts, const std::string& what) {
  const std::vector<double> want = pb.reference();
  for (int splits : split_counts)
    for (DType act : {DType::F32, DType::BF16})
      for (DType kvt : {DType::F32, DType::BF16}) {
        const std::vector<float> got = pb.run(act, kvt, splits);
        // fp32 math against float64: ~1e-6 (scores ~N(0,1)); a bf16 output adds its rounding
        // (2^-9 relative). NaN (an unwritten output) fails.
        double worst = 0;
        size_t at = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          const double tol = 3e-5 + (act == DType::BF16 ? std::abs(want[i]) / 256 : 0.0);
          const double e = std::isfinite(got[i]) ? std::abs(got[i] - want[i]) / tol : INFINITY;
          if (!(e <= worst)) worst = e, at = i;
        }
        EXPECT_LE(worst, 1.0) << what << " splits " << splits << " act " << dtype_name(act) << " kv "
                              << dtype_name(kvt) << ": out[" << at << "] = " << got[at] << ", want " << want[at];
      }
}

TEST(CudaDecodeAttention, GroupsHeadDimsWindowsAndSplits) {
  NOVA_REQUIRE_GPU();
  uint32_t seed = 1;
  for (int64_t group : {1, 4, 8})
    for (int64_t D : {64, 128})
      for (int window : {0, 37}) {
        // Decode rows at lengths around tile and block edges, and speculative tails of 2 and 3
        // rows (3 x 8 virtual rows: three tiles of the sequence).
        const Problem pb(group, 2, D, 16, window, {{1, 1}, {1, 33}, {2, 161}, {1, 300}, {3, 47}}, seed++);
        check(pb, {1, 3, 64},
              "group " + std::to_string(group) + " D " + std::to_string(D) + " window " + std::to_string(window));
      }
}

TEST(CudaDecodeAttention, BlockSizesFromOneSlotToTheContiguousCache) {
  NOVA_REQUIRE_GPU();
  // Block size 1 at 2000 keys: more table entries than a block stages (read from memory instead).
  for (int64_t bs : {1, 7, 64, 0}) {
    const Problem pb(4, 2, 64, bs, 0, {{1, 2000}, {1, 129}}, 40 + static_cast<uint32_t>(bs));
    check(pb, {1, 5}, "block size " + std::to_string(bs));
  }
}

TEST(CudaDecodeAttention, LongContextsBatchOfLengths) {
  NOVA_REQUIRE_GPU();
  // 8B-like heads (group 4, head_dim 128) at 32k keys, with shorter neighbours in the same call,
  // at the split count the backend picks for an H100 and at the most splits.
  const Problem pb(4, 1, 128, 16, 0, {{1, 32768}, {1, 4097}, {1, 1}}, 77);
  check(pb, {1, kc::attention_decode_splits(3, 32768, 132), kc::kAttnMaxSplits}, "32k");
  const Problem win(8, 1, 64, 16, 4096, {{1, 8191}, {2, 5000}}, 78);
  check(win, {1, 16}, "8k, window 4096");
}

TEST(CudaDecodeAttention, SplitsFromTheCapacityKeepAWave) {
  EXPECT_EQ(kc::attention_decode_splits(8, 544, 132), 8);     // 1B at context 512: 64 keys or more each
  EXPECT_EQ(kc::attention_decode_splits(8, 32768, 132), 16);  // one wave of 128 blocks
  EXPECT_EQ(kc::attention_decode_splits(256, 32768, 132), 1);
  EXPECT_EQ(kc::attention_decode_splits(1, 1 << 20, 132), kc::kAttnMaxSplits);
  EXPECT_EQ(kc::attention_decode_splits(8, 16, 132), 1);
}

TEST(CudaDecodeAttention, RefusesOtherDtypesAndHeadDims) {
  NOVA_REQUIRE_GPU();
  const Problem pb(4, 2, 64, 16, 0, {{1, 10}}, 3);
  EXPECT_THROW(pb.run(DType::F16, DType::F32, 1), Error);
  EXPECT_THROW(pb.run(DType::F32, DType::F16, 1), Error);
  const Problem odd(4, 2, 96, 16, 0, {{1, 10}}, 3);
  EXPECT_THROW(odd.run(DType::F32, DType::F32, 1), Error);
  EXPECT_TRUE(kc::attention_decode_supports(64) && kc::attention_decode_supports(128));
  EXPECT_FALSE(kc::attention_decode_supports(96));
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
