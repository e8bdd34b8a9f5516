// The paged attention kernel (attention.cu) at every (activation, KV cache) dtype pair: float32
// against a float64 reference, and the bf16 forms against the float32 kernel run on the same
// bf16-rounded values (identical fp32 math: only the output's rounding differs). Decode rows and
// a prefill chunk, GQA, a sliding window, flash-decoding splits merged by the last split block
// (counters) or by the separate combine kernel. (Decode-shaped calls of head_dim 64/128 go to
// attention_decode.cu: attention_decode_test.cpp.)
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// A paged cache holding two sequences: a decode row at position 150 and a 5-row prefill chunk at
// positions 40..44; their blocks shuffled through the physical cache.
struct Problem {
  int64_t q_heads = 8, kv_heads = 2, D, block_size = 16;
  int window = 0;
  std::vector<kc::AttnSeq> seqs;
  std::vector<int32_t> tables;
  int64_t blocks = 0, total_rows = 0;
  std::vector<float> q, k, v;  // bf16-rounded values: every dtype pair sees the same numbers

  Problem(int64_t d, int win) : D(d), window(win) {
    const int64_t lens[2] = {151, 45};   // keys each sequence holds
    const int64_t rows[2] = {1, 5};      // its query rows (the last positions)
    std::vector<int32_t> phys;
    for (int s = 0; s < 2; ++s) {
      const int64_t nb = (lens[s] + block_size - 1) / block_size;
      seqs.push_back({total_rows, rows[s], lens[s] - rows[s], static_cast<int64_t>(tables.size())});
      for (int64_t b = 0; b < nb; ++b) tables.push_back(static_cast<int32_t>(blocks++));
      total_rows += rows[s];
    }
    std::mt19937 rng(7);
    std::shuffle(tables.begin(), tables.end(), rng);
    const size_t cache = static_cast<size_t>(blocks * block_size * kv_heads * D);
    q = rounded_to<__nv_bfloat16>(random_floats(static_cast<size_t>(total_rows * q_heads * D), 1));
    k = rounded_to<__nv_bfloat16>(random_floats(cache, 2));
    v = rounded_to<__nv_bfloat16>(random_floats(cache, 3));
  }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(D)); }

  std::vector<float> reference() const {
    const std::vector<double> r =
        paged_attention_reference(q, k, v, seqs, tables, q_heads, kv_heads, D, block_size, window);
    return std::vector<float>(r.begin(), r.end());
  }

  // One launch_attention call in the given dtypes with `splits` key splits; `counters` selects
  // the in-kernel merge.
  std::vector<float> run(DType act, DType kvt, int splits, bool counters) const {
    const Act qd(act, q), kd(kvt, k), vd(kvt, v);
    Act out(act, q.size());
    kc::AttnArgs a;
    std::memset(&a, 0, sizeof a);
    const int64_t group = q_heads / kv_heads;
    int tiles = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      a.seqs_inline[i] = seqs[i];
      for (int64_t v0 = 0; v0 < seqs[i].q_rows * group; v0 += kc::kAttnTileRows)
        a.tiles_inline[tiles++] = {static_cast<int32_t>(i), static_cast<int32_t>(v0),
                                   static_cast<int32_t>(std::min<int64_t>(kc::kAttnTileRows, seqs[i].q_rows * group - v0))};
    }
    std::copy(tables.begin(), tables.end(), a.tables_inline);
    a.q = qd.ptr();
    a.k = kd.ptr();
    a.v = vd.ptr();
    a.block_size = block_size;
    a.num_tiles = tiles;
    a.q_heads = static_cast<int>(q_heads);
    a.kv_heads = static_cast<int>(kv_heads);
    a.head_dim = static_cast<int>(D);
    a.window = window;
    a.splits = splits;
    a.total_rows = total_rows;
    a.scale = scale();
    a.act = act;
    a.kv = kvt;
    a.out = out.ptr();
    DeviceArray<float> part(static_cast<size_t>(splits * total_rows * q_heads * (D + 2)));
    DeviceArray<int> count(static_cast<size_t>(tiles * kv_heads));
    if (splits > 1) {
      a.part_o = part.get();
      a.part_ml = part.get() + splits * total_rows * q_heads * D;
      a.counters = counters ? count.get() : nullptr;
    }
    kc::prepare_attention();  // the kernel's shared-memory limit (a CudaBackend sets it once when made)
    kc::launch_attention(a, nullptr);
    std::vector<float> got = out.download();
    if (counters && splits > 1) {  // the last block of each tile leaves its counter at zero
      const std::vector<float> c = count.download();
      EXPECT_EQ(*std::max_element(c.begin(), c.end()), 0.0f);
    }
    return got;
  }
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::isfinite(a[i]) ? std::abs(double(a[i]) - b[i]) : INFINITY);
  return e;
}

TEST(CudaAttention, EveryDtypePairMatchesTheFloat32Kernel) {
  NOVA_REQUIRE_GPU();
  for (int64_t D : {64, 128})
    for (int window : {0, 24}) {
      const Problem pb(D, window);
      const std::vector<float> want = pb.reference();
      struct Split {
        int splits;
        bool counters;
      };
      for (const Split sp : {Split{1, false}, Split{4, true}, Split{6, false}, Split{40, true}, Split{40, false}}) {
        const std::string where = "D " + std::to_string(D) + " window " + std::to_string(window) + " splits " +
                                  std::to_string(sp.splits) + (sp.counters ? " (counters)" : "");
        const std::vector<float> f32 = pb.run(DType::F32, DType::F32, sp.splits, sp.counters);
        // Scores are sums of D products of N(0,1) values (|s| ~ 1 after scaling): fp32 order
        // and expf against float64 leave ~1e-6.
        EXPECT_LE(max_abs_diff(f32, want), 2e-5) << where;
        for (DType act : {DType::F32, DType::BF16})
          for (DType kvt : {DType::F32, DType::BF16}) {
            if (act == DType::F32 && kvt == DType::F32) continue;
            const std::vector<float> got = pb.run(act, kvt, sp.splits, sp.counters);
            // Same fp32 values and math as the f32 kernel: equal up to the output's bf16
            // rounding (2^-9 relative to nearest even; |out| < 3 here).
            for (size_t i = 0; i < got.size(); ++i) {
              const double tol = act == DType::BF16 ? std::abs(double(f32[i])) / 256 + 1e-6 : 1e-6;
              if (!(std::abs(double(got[i]) - f32[i]) <= tol)) {
                ADD_FAILURE() << where << " act " << std::string(dtype_name(act)) << " kv "
                              << std::string(dtype_name(kvt)) << ": out[" << i << "] = " << got[i]
                              << ", f32 kernel " << f32[i];
                break;
              }
            }
          }
      }
    }
}

TEST(CudaAttention, RefusesOtherDtypes) {
  NOVA_REQUIRE_GPU();
  const Problem pb(64, 0);
  EXPECT_THROW(pb.run(DType::F16, DType::F32, 1, false), Error);
  EXPECT_THROW(pb.run(DType::F32, DType::F16, 1, false), Error);
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
