// Backend::rope_store_attention / rope_store_paged_attention on the CUDA backend (RoPE and the
// K/V store inside the decode attention kernel) against the same backend's composition
// (rope_store_kv, then attention / paged_attention: the same cache, the output to rounding) and
// against CpuBackend's (float32: within rounding, or the bf16 rounding of q, k and the cache).
// Contiguous and paged caches, F32 and BF16 activations and caches, GQA groups 1/4/8, head_dim
// 64/128, full and partial rotary, sliding windows, several sequences, and calls the kernel does
// not take (they fall back to the composition). Whether the fused kernel ran is seen from q: the
// composition rotates it in place, the kernel leaves it as given. Skips without a GPU.
// The cache comes out bit-identical; the output agrees to rounding (the fused call visits a
// split's keys from its end down, the plain one from its start: another summation order).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "kernels/cpu/cpu_backend.h"

#ifdef NOVA_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace nova {
namespace {

using kernels::Backend;
using kernels::CpuBackend;
using test::host_f32;
using test::host_of;
using test::randn;
using test::round_bf16;
using test::scaled_error;
using test::SeqShape;
using test::to_host;


struct Case {
  int64_t group, kv_heads, D, half;
  int window;
  bool paged;
  DType act, kv;
  std::vector<SeqShape> seqs;  // contiguous: one sequence
  int64_t block_size;          // paged
  int fuses;                   // 1: the kernel takes it, 2: on Hopper (cluster-merged splits), 0: never
  std::string name() const {
    return "g" + std::to_string(group) + " kvh" + std::to_string(kv_heads) + " D" + std::to_string(D) + " half" +
           std::to_string(half) + " win" + std::to_string(window) + (paged ? " paged" : " contiguous") + " act " +
           std::string(dtype_name(act)) + " kv " + std::string(dtype_name(kv)) + " seqs " +
           std::to_string(seqs.size()) + " rows " + std::to_string(seqs[0].rows);
  }
};

// One call's inputs (host, float32 values exact in bf16) and layout.
struct Inputs {
  test::PagedLayout layout;
  int64_t rows = 0, slots = 0, cap = 0;
  std::vector<float> q, k, v, cos, sin, kc, vc;
};

Inputs make_inputs(const Case& c, uint32_t seed) {
  Inputs in;
  const int64_t hq = c.group * c.kv_heads;
  if (c.paged) {
    in.layout = test::paged_layout(c.seqs, c.block_size, 3, seed);
    in.rows = in.layout.total_rows;
    in.slots = in.layout.num_blocks * c.block_size;
  } else {
    in.rows = c.seqs[0].rows;
    in.cap = c.seqs[0].pos0 + in.rows + 5;
    in.slots = in.cap;
  }
  in.q = round_bf16(randn(static_cast<size_t>(in.rows * hq * c.D), seed + 1));
  in.k = round_bf16(randn(static_cast<size_t>(in.rows * c.kv_heads * c.D), seed + 2));
  in.v = round_bf16(randn(static_cast<size_t>(in.rows * c.kv_heads * c.D), seed + 3));
  const std::vector<float> angle = randn(static_cast<size_t>(in.rows * c.half), seed + 4, 3.0f);
  for (float a : angle) in.cos.push_back(std::cos(a)), in.sin.push_back(std::sin(a));
  in.kc = round_bf16(randn(static_cast<size_t>(in.slots * c.kv_heads * c.D), seed + 5));
  in.vc = round_bf16(randn(static_cast<size_t>(in.slots * c.kv_heads * c.D), seed + 6));
  return in;
}

struct Outputs {
  std::vector<float> out, kc, vc, q;
};

// The op (fused: the backend's rope_store_*attention; else rope_store_kv then attention) on `be`
// with activations `act` and a cache of `kv`.
Outputs run(Backend& be, const Case& c, const Inputs& in, DType act, DType kv, bool fused) {
  const int64_t hq = c.group * c.kv_heads;
  Tensor q = be.upload(host_of(act, in.q, {in.rows, hq, c.D}));
  Tensor k = be.upload(host_of(act, in.k, {in.rows, c.kv_heads, c.D}));
  Tensor v = be.upload(host_of(act, in.v, {in.rows, c.kv_heads, c.D}));
  const Tensor cs = be.upload(host_f32(in.cos, {in.rows, c.half})), sn = be.upload(host_f32(in.sin, {in.rows, c.half}));
  Tensor out = be.alloc(act, {in.rows, hq, c.D});
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.D));
  Tensor kc, vc;
  if (c.paged) {
    const std::vector<int64_t> shape = {in.layout.num_blocks, c.block_size, c.kv_heads, c.D};
    kc = be.upload(host_of(kv, in.kc, shape));
    vc = be.upload(host_of(kv, in.vc, shape));
    if (fused) {
      be.rope_store_paged_attention(q, k, v, cs, sn, kc, vc, in.layout.seqs, in.layout.tables, c.window, scale, out);
    } else {
      // The composition spelled out (Backend's default is the op under test on the CPU).
      std::vector<int32_t> slots(static_cast<size_t>(in.rows));
      for (const auto& s : in.layout.seqs)
        for (int64_t i = 0; i < s.q_rows; ++i) {
          const int64_t p = s.pos0 + i;
          const int64_t blk = in.layout.tables[static_cast<size_t>(s.table_begin + p / c.block_size)];
          slots[static_cast<size_t>(s.q_begin + i)] = static_cast<int32_t>(blk * c.block_size + p % c.block_size);
        }
      Tensor kf = kc.reshape({in.slots, c.kv_heads, c.D}), vf = vc.reshape({in.slots, c.kv_heads, c.D});
      be.rope_store_kv(q, k, v, cs, sn, slots, kf, vf);
      be.paged_attention(q, kc, vc, in.layout.seqs, in.layout.tables, c.window, scale, out);
    }
  } else {
    const std::vector<int64_t> shape = {in.cap, c.kv_heads, c.D};
    kc = be.upload(host_of(kv, in.kc, shape));
    vc = be.upload(host_of(kv, in.vc, shape));
    const int64_t pos0 = c.seqs[0].pos0;
    if (fused) {
      be.rope_store_attention(q, k, v, cs, sn, kc, vc, pos0, c.window, scale, out);
    } else {
      std::vector<int32_t> rows;
      for (int64_t i = 0; i < in.rows; ++i) rows.push_back(static_cast<int32_t>(pos0 + i));
      be.rope_store_kv(q, k, v, cs, sn, rows, kc, vc);
      be.attention(q, kc, vc, pos0, c.window, scale, out);
    }
  }
  return {to_host(be, out), to_host(be, kc), to_host(be, vc), to_host(be, q)};
}

// Hopper or later: thread-block clusters, which the fused call needs for more than one split.
bool has_clusters() {
#ifdef NOVA_HAVE_CUDA
  int dev = 0, major = 0;
  return cudaGetDevice(&dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 9;
#else
  return false;
#endif
}

std::vector<Case> cases() {
  const DType F = DType::F32, B = DType::BF16;
  std::vector<Case> v;
  // Decode shapes (one row a sequence): the 1B's (8 kv heads, group 4, head_dim 64) and the 8B's.
  v.push_back({4, 8, 64, 32, 0, false, B, B, {{1, 511}}, 0, 2});
  v.push_back({4, 8, 64, 32, 0, true, B, B, {{1, 511}}, 16, 2});
  v.push_back({4, 8, 128, 64, 0, true, B, B, {{1, 300}, {1, 17}, {1, 0}}, 16, 2});
  v.push_back({4, 2, 64, 32, 0, false, F, F, {{1, 77}}, 0, 1});
  v.push_back({4, 2, 64, 32, 0, true, F, B, {{1, 40}, {1, 3}}, 8, 1});
  v.push_back({1, 4, 128, 64, 0, true, B, F, {{1, 1000}, {1, 64}}, 16, 2});
  // Splits merged through memory: the composition (attention_decode_fuses_rope).
  v.push_back({8, 2, 64, 32, 0, false, B, B, {{1, 2500}}, 0, 0});
  v.push_back({8, 1, 128, 64, 0, true, F, F, {{1, 5000}}, 32, 0});
  // Sliding windows, partial rotary, a few rows a sequence (speculative tails), the first position.
  v.push_back({4, 2, 64, 32, 16, true, B, B, {{1, 100}, {1, 5}}, 16, 1});
  v.push_back({2, 2, 128, 64, 50, false, F, F, {{2, 300}}, 0, 2});
  v.push_back({4, 2, 64, 16, 0, true, B, B, {{2, 33}, {1, 70}}, 16, 1});
  v.push_back({1, 2, 64, 8, 0, false, F, B, {{4, 60}}, 0, 1});
  v.push_back({4, 2, 64, 32, 0, false, B, B, {{1, 0}}, 0, 1});
  // Not taken by the kernel: more virtual rows than a tile, a rotary half not a multiple of 8, a
  // head dim it has no code for.
  v.push_back({4, 2, 64, 32, 0, true, B, B, {{3, 40}, {1, 9}}, 16, 0});
  v.push_back({4, 2, 64, 4, 0, false, F, F, {{1, 20}}, 0, 0});
  v.push_back({2, 2, 32, 16, 0, false, F, F, {{1, 20}}, 0, 0});
  return v;
}

TEST(CudaRopeAttention, MatchesTheCompositionAndTheCpu) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  uint32_t seed = 100;
  for (const Case& c : cases()) {
    const Inputs in = make_inputs(c, seed += 10);
    const Outputs fused = run(*gpu, c, in, c.act, c.kv, true);
    const Outputs composed = run(*gpu, c, in, c.act, c.kv, false);
    const Outputs ref = run(cpu, c, in, DType::F32, DType::F32, false);
    const bool bf16 = c.act == DType::BF16 || c.kv == DType::BF16;
    // One bf16 rounding of the output apart at most, or float32 summation order.
    EXPECT_LE(scaled_error(fused.out, composed.out), c.act == DType::BF16 ? 1e-2 : 1e-5) << c.name();
    EXPECT_EQ(fused.kc, composed.kc) << c.name();
    EXPECT_EQ(fused.vc, composed.vc) << c.name();
    // The kernel leaves q as given; the composition rotates it in place.
    if (c.fuses == 1 || (c.fuses == 2 && has_clusters())) {
      EXPECT_EQ(fused.q, in.q) << c.name();
    } else if (c.fuses == 0) {
      EXPECT_EQ(fused.q, composed.q) << c.name();
    }
    const double tol = bf16 ? 3e-2 : 2e-5;
    EXPECT_LE(scaled_error(fused.out, ref.out), tol) << c.name();
    EXPECT_LE(scaled_error(fused.kc, ref.kc), bf16 ? 1e-2 : 1e-6) << c.name();
    EXPECT_LE(scaled_error(fused.vc, ref.vc), 0.0) << c.name();
  }
}

// Decode steps as a session runs them: each step stores its row and attends over the cache so
// far, then downloads the output — the same ops every step, so later steps replay a captured
// graph. Each must see its own position, rows and RoPE table.
TEST(CudaRopeAttention, ReplayedDecodeStepsMatchTheCpu) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (const bool paged : {false, true}) {
    const Case c{4, 2, 64, 32, 0, paged, DType::BF16, DType::BF16, {{1, 0}}, 8, 1};
    const int64_t hq = c.group * c.kv_heads, cap = 48, steps = 20;
    const std::vector<int64_t> shape = paged ? std::vector<int64_t>{cap / c.block_size, c.block_size, c.kv_heads, c.D}
                                             : std::vector<int64_t>{cap, c.kv_heads, c.D};
    const std::vector<float> init = round_bf16(randn(static_cast<size_t>(cap * c.kv_heads * c.D), 7));
    Tensor gk = gpu->upload(host_of(DType::BF16, init, shape)), gv = gpu->upload(host_of(DType::BF16, init, shape));
    Tensor ck = host_f32(init, shape), cv = host_f32(init, shape);
    std::vector<int32_t> tables = {5, 0, 3, 1, 4, 2};  // block order of the one sequence
    for (int64_t pos = 0; pos < steps; ++pos) {
      const auto seed = static_cast<uint32_t>(1000 + 10 * pos);
      const std::vector<float> q = round_bf16(randn(static_cast<size_t>(hq * c.D), seed));
      const std::vector<float> k = round_bf16(randn(static_cast<size_t>(c.kv_heads * c.D), seed + 1));
      const std::vector<float> v = round_bf16(randn(static_cast<size_t>(c.kv_heads * c.D), seed + 2));
      std::vector<float> cs, sn;
      for (int64_t i = 0; i < c.half; ++i) {
        const double a = double(pos) / std::pow(10000.0, double(i) / double(c.half));
        cs.push_back(static_cast<float>(std::cos(a))), sn.push_back(static_cast<float>(std::sin(a)));
      }
      const std::vector<kernels::PagedAttentionSeq> seqs = {{0, 1, pos, 0, static_cast<int64_t>(tables.size())}};
      auto step = [&](Backend& be, DType act, Tensor& kc, Tensor& vc) {
        Tensor tq = be.upload(host_of(act, q, {1, hq, c.D}));
        Tensor tk = be.upload(host_of(act, k, {1, c.kv_heads, c.D}));
        Tensor tv = be.upload(host_of(act, v, {1, c.kv_heads, c.D}));
        const Tensor tc = be.upload(host_f32(cs, {1, c.half})), ts = be.upload(host_f32(sn, {1, c.half}));
        Tensor out = be.alloc(act, {1, hq, c.D});
        if (paged) be.rope_store_paged_attention(tq, tk, tv, tc, ts, kc, vc, seqs, tables, 0, 0.125f, out);
        else be.rope_store_attention(tq, tk, tv, tc, ts, kc, vc, pos, 0, 0.125f, out);
        return to_host(be, out);
      };
      const auto want = step(cpu, DType::F32, ck, cv);
      const auto got = step(*gpu, DType::BF16, gk, gv);
      EXPECT_LE(scaled_error(got, want), 3e-2) << (paged ? "paged" : "contiguous") << " step " << pos;
    }
  }
}

TEST(CudaRopeAttention, RefusesMismatchedRows) {
  NOVA_REQUIRE_CUDA(gpu);
  Tensor q = gpu->alloc(DType::F32, {1, 4, 64}), k = gpu->alloc(DType::F32, {1, 2, 64});
  Tensor k_wide = gpu->alloc(DType::F32, {1, 4, 64}), v = gpu->alloc(DType::F32, {1, 2, 64});
  Tensor cs = gpu->alloc(DType::F32, {1, 32}), out = gpu->alloc(DType::F32, {1, 4, 64});
  Tensor kc = gpu->alloc(DType::F32, {8, 2, 64}), vc = gpu->alloc(DType::F32, {8, 2, 64});
  EXPECT_THROW(gpu->rope_store_attention(q, k_wide, k_wide, cs, cs, kc, vc, 0, 0, 1.0f, out), Error);
  EXPECT_THROW(gpu->rope_store_attention(q, k, v, cs, cs, kc, vc, 8, 0, 1.0f, out), Error);  // past capacity
  Tensor kb = gpu->alloc(DType::F32, {2, 4, 2, 64}), vb = gpu->alloc(DType::F32, {2, 4, 2, 64});
  Tensor q2 = gpu->alloc(DType::F32, {2, 4, 64}), k2 = gpu->alloc(DType::F32, {2, 2, 64});
  Tensor v2 = gpu->alloc(DType::F32, {2, 2, 64}), cs2 = gpu->alloc(DType::F32, {2, 32});
  Tensor out2 = gpu->alloc(DType::F32, {2, 4, 64});
  const std::vector<int32_t> tables = {0, 1, 0};
  // Row 1 belongs to no sequence: its K/V row would go nowhere.
  const std::vector<kernels::PagedAttentionSeq> one = {{0, 1, 2, 0, 1}};
  EXPECT_THROW(gpu->rope_store_paged_attention(q2, k2, v2, cs2, cs2, kb, vb, one, tables, 0, 1.0f, out2), Error);
  // Two sequences storing into one slot (tables sharing block 0 at the same offset).
  const std::vector<kernels::PagedAttentionSeq> shared = {{0, 1, 2, 0, 1}, {1, 1, 2, 2, 1}};
  EXPECT_THROW(gpu->rope_store_paged_attention(q2, k2, v2, cs2, cs2, kb, vb, shared, tables, 0, 1.0f, out2), Error);
}

}  // namespace
}  // namespace nova
