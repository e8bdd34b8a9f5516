// The CUDA backend's fused ops (Backend::empty, add_rmsnorm, linears, linear_swiglu,
// rope_store_kv) against CpuBackend, whose versions are the ops' definitions (the composition of
// the plain ops), on fresh random inputs; and decode-like steps whose graphs are replayed with new
// token ids and positions each time. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::Backend;
using kernels::CpuBackend;
using test::host_f32;
using test::randn;
using test::scaled_error;
using test::to_host;
using test::values;

TEST(CudaFusedOps, LinearsAndLinearSwigluMatchTheirComposition) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Shape {
    int64_t M, K, n0, n1, n2;
  };
  // M = 1 with K % 8 == 0 runs fused GEMVs; the others fall back to the plain ops.
  const Shape shapes[] = {{1, 2048, 2048, 512, 512}, {1, 520, 300, 33, 7}, {1, 64, 8, 1, 24}, {3, 256, 64, 32, 32},
                          {1, 20, 16, 8, 8}};
  uint32_t seed = 500;
  for (DType dt : {DType::BF16, DType::F16, DType::F32})
    for (const Shape& s : shapes)
      for (bool with_bias : {false, true}) {
        const auto xv = randn(static_cast<size_t>(s.M * s.K), ++seed);
        const Tensor x = host_f32(xv, {s.M, s.K});
        const Tensor gx = gpu->upload(x);
        const int64_t ns[3] = {s.n0, s.n1, s.n2};
        std::vector<Tensor> w, b, gw, gb, want, got;
        for (int i = 0; i < 3; ++i) {
          w.push_back(test::host_of(dt, randn(static_cast<size_t>(ns[i] * s.K), ++seed, 1.0f / std::sqrt(float(s.K))),
                                    {ns[i], s.K}));
          b.push_back(host_f32(randn(static_cast<size_t>(ns[i]), ++seed), {ns[i]}));
          gw.push_back(gpu->upload(w.back()));
          gb.push_back(gpu->upload(b.back()));
          want.push_back(cpu.alloc(DType::F32, {s.M, ns[i]}));
          got.push_back(gpu->upload(host_f32(std::vector<float>(static_cast<size_t>(s.M * ns[i]), NAN), {s.M, ns[i]})));
        }
        // Tensor cores (M > 1 with 16-bit weights) see x rounded to the weight type.
        const bool rounds_x = dt != DType::F32 && !(s.M == 1 && s.K % 8 == 0);
        std::vector<float> xr = xv;
        if (rounds_x)
          for (float& v : xr) v = dt == DType::BF16 ? bf16_to_f32(f32_to_bf16(v)) : f16_to_f32(f32_to_f16(v));
        const Tensor x_ref = host_f32(xr, {s.M, s.K});
        std::vector<Backend::LinearPart> cp, gp;
        for (int i = 0; i < 3; ++i) {
          cp.push_back({&w[i], with_bias ? &b[i] : nullptr, &want[i]});
          gp.push_back({&gw[i], with_bias ? &gb[i] : nullptr, &got[i]});
        }
        cpu.linears(x_ref, cp);
        gpu->linears(gx, gp);
        const std::string what = std::string(dtype_name(dt)) + " M=" + std::to_string(s.M) + " K=" +
                                 std::to_string(s.K) + " bias=" + std::to_string(with_bias);
        for (int i = 0; i < 3; ++i) EXPECT_LE(scaled_error(to_host(*gpu, got[i]), values(want[i])), 2e-5) << what << " part " << i;

        if (with_bias) continue;
        // gate = part 0, up = a second matrix of part 0's shape.
        const Tensor up = test::host_of(dt, randn(static_cast<size_t>(s.n0 * s.K), ++seed, 1.0f / std::sqrt(float(s.K))),
                                        {s.n0, s.K});
        Tensor sw_want = cpu.alloc(DType::F32, {s.M, s.n0});
        Tensor sw_got = gpu->upload(host_f32(std::vector<float>(static_cast<size_t>(s.M * s.n0), NAN), {s.M, s.n0}));
        cpu.linear_swiglu(x_ref, w[0], up, sw_want);
        gpu->linear_swiglu(gx, gw[0], gpu->upload(up), sw_got);
        EXPECT_LE(scaled_error(to_host(*gpu, sw_got), values(sw_want)), 2e-5) << what << " swiglu";
      }
  const Tensor x = gpu->upload(host_f32(randn(64, 1), {1, 64}));
  const Tensor w = gpu->upload(test::host_of(DType::BF16, randn(32 * 64, 2), {32, 64}));
  Tensor wrong = gpu->alloc(DType::F32, {1, 31});
  EXPECT_THROW(gpu->linear_swiglu(x, w, w, wrong), Error);
  const Backend::LinearPart bad[] = {{&w, nullptr, &wrong}, {&w, nullptr, &wrong}};
  EXPECT_THROW(gpu->linears(x, bad), Error);
}

TEST(CudaFusedOps, AddRmsnormMatchesAddThenRmsnorm) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (int64_t dim : {2048, 96, 32}) {
    const int64_t rows = 5, width = dim == 32 ? 96 : dim;  // dim 32: per-head groups
    const auto xv = randn(static_cast<size_t>(rows * width), 70 + dim), dv = randn(static_cast<size_t>(rows * width), 71);
    const auto wv = randn(static_cast<size_t>(dim), 72);
    Tensor cx = host_f32(xv, {rows, width}), cy = cpu.alloc(DType::F32, {rows, width});
    cpu.add_rmsnorm(cx, host_f32(dv, {rows, width}), host_f32(wv, {dim}), 1e-5f, cy);
    Tensor gx = gpu->upload(host_f32(xv, {rows, width})), gy = gpu->empty(DType::F32, {rows, width});
    gpu->add_rmsnorm(gx, gpu->upload(host_f32(dv, {rows, width})), gpu->upload(host_f32(wv, {dim})), 1e-5f, gy);
    EXPECT_EQ(to_host(*gpu, gx), values(cx)) << dim;
    EXPECT_LE(scaled_error(to_host(*gpu, gy), values(cy)), 1e-6) << dim;
  }
  Tensor x = gpu->alloc(DType::F32, {2, 8}), w = gpu->alloc(DType::F32, {8});
  EXPECT_THROW(gpu->add_rmsnorm(x, x, w, 1e-5f, x), Error);
}

// rope_store_kv into a contiguous cache (consecutive rows) and a paged one (scattered slots), with
// partial rotary: q and k rotated in place, K/V rows written, every other cache row untouched.
TEST(CudaFusedOps, RopeStoreKvMatchesRopeThenScatter) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Case {
    int64_t rows, hq, hkv, hd, half, slots;
    std::vector<int32_t> dst_rows;
  };
  const Case cases[] = {{1, 32, 8, 64, 32, 600, {517}},
                        {3, 4, 2, 12, 4, 10, {5, 6, 7}},
                        {4, 8, 4, 128, 64, 64, {40, 3, 17, 63}},
                        {2, 2, 1, 6, 3, 4, {0, 2}},  // half % 4 != 0: the scalar kernel
                        {300, 4, 2, 16, 8, 310, {}}};  // a prefill's rows (consecutive from 5)
  uint32_t seed = 800;
  for (Case c : cases) {
    if (c.dst_rows.empty())
      for (int64_t r = 0; r < c.rows; ++r) c.dst_rows.push_back(static_cast<int32_t>(5 + r));
    const auto qv = randn(static_cast<size_t>(c.rows * c.hq * c.hd), ++seed);
    const auto kv = randn(static_cast<size_t>(c.rows * c.hkv * c.hd), ++seed);
    const auto vv = randn(static_cast<size_t>(c.rows * c.hkv * c.hd), ++seed);
    const auto cv = randn(static_cast<size_t>(c.rows * c.half), ++seed), sv = randn(static_cast<size_t>(c.rows * c.half), ++seed);
    const auto kc = randn(static_cast<size_t>(c.slots * c.hkv * c.hd), ++seed), vc = randn(kc.size(), ++seed);
    Tensor q = host_f32(qv, {c.rows, c.hq, c.hd}), k = host_f32(kv, {c.rows, c.hkv, c.hd});
    Tensor kd = host_f32(kc, {c.slots, c.hkv, c.hd}), vd = host_f32(vc, {c.slots, c.hkv, c.hd});
    const Tensor v = host_f32(vv, {c.rows, c.hkv, c.hd}), cs = host_f32(cv, {c.rows, c.half}), sn = host_f32(sv, {c.rows, c.half});
    cpu.rope_store_kv(q, k, v, cs, sn, c.dst_rows, kd, vd);
    Tensor gq = gpu->upload(host_f32(qv, {c.rows, c.hq, c.hd})), gk = gpu->upload(host_f32(kv, {c.rows, c.hkv, c.hd}));
    Tensor gkd = gpu->upload(host_f32(kc, {c.slots, c.hkv, c.hd})), gvd = gpu->upload(host_f32(vc, {c.slots, c.hkv, c.hd}));
    gpu->rope_store_kv(gq, gk, gpu->upload(v), gpu->upload(cs), gpu->upload(sn), c.dst_rows, gkd, gvd);
    EXPECT_EQ(to_host(*gpu, gq), values(q)) << c.hd;
    EXPECT_EQ(to_host(*gpu, gk), values(k)) << c.hd;
    EXPECT_EQ(to_host(*gpu, gkd), values(kd)) << c.hd;
    EXPECT_EQ(to_host(*gpu, gvd), values(vd)) << c.hd;
  }
  Tensor q = gpu->alloc(DType::F32, {2, 2, 8}), k = gpu->alloc(DType::F32, {2, 1, 8}), v = gpu->alloc(DType::F32, {2, 1, 8});
  Tensor cs = gpu->alloc(DType::F32, {2, 4}), kd = gpu->alloc(DType::F32, {6, 1, 8}), vd = gpu->alloc(DType::F32, {6, 1, 8});
  const std::vector<int32_t> repeat = {3, 3}, outside = {1, 6}, one = {1}, run_past = {5, 6}, run_before = {-1, 0};
  EXPECT_THROW(gpu->rope_store_kv(q, k, v, cs, cs, repeat, kd, vd), Error);
  EXPECT_THROW(gpu->rope_store_kv(q, k, v, cs, cs, outside, kd, vd), Error);
  EXPECT_THROW(gpu->rope_store_kv(q, k, v, cs, cs, run_past, kd, vd), Error);  // consecutive rows: no sort
  EXPECT_THROW(gpu->rope_store_kv(q, k, v, cs, cs, run_before, kd, vd), Error);
  EXPECT_THROW(gpu->rope_store_kv(q, k, v, cs, cs, one, kd, vd), Error);
}

// Decode-like steps: embedding of a new token id, K/V stored at a new position, attention over
// the cache so far, then a download — the same ops every step, so from the second or third step
// on each step's graph is replayed, not captured. Every step must see its own ids and positions
// (they reach the kernels through the step's argument block, not the graph).
TEST(CudaFusedOps, ReplayedStepsSeeEachStepsIdsAndPositions) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const int64_t vocab = 50, hq = 4, hkv = 2, hd = 16, half = 8, cap = 40, width = hkv * hd;
  const Tensor table = host_f32(randn(static_cast<size_t>(vocab * hq * hd), 1), {vocab, hq * hd});
  const Tensor gtable = gpu->upload(table);
  Tensor ck = cpu.alloc(DType::F32, {cap, hkv, hd}), cv = cpu.alloc(DType::F32, {cap, hkv, hd});
  Tensor gk = gpu->alloc(DType::F32, {cap, hkv, hd}), gv = gpu->alloc(DType::F32, {cap, hkv, hd});
  std::mt19937 rng(3);
  for (int64_t pos = 0; pos < 12; ++pos) {
    const std::vector<int32_t> ids = {static_cast<int32_t>(rng() % vocab)};
    const std::vector<int32_t> rows = {static_cast<int32_t>(pos)};
    const auto cosv = randn(half, 10 + static_cast<uint32_t>(pos)), sinv = randn(half, 40 + static_cast<uint32_t>(pos));
    auto step = [&](Backend& be, const Tensor& tab, Tensor& kc, Tensor& vc) {
      Tensor x = be.empty(DType::F32, {1, hq * hd});
      be.embedding(tab, ids, x);
      Tensor q = x.reshape({1, hq, hd});
      Tensor k = be.empty(DType::F32, {1, hkv, hd}), v = be.empty(DType::F32, {1, hkv, hd});
      be.copy_rows(x.reshape({2, width}).slice_rows(0, 1).reshape({1, hkv, hd}), k, 0);
      be.copy_rows(x.reshape({2, width}).slice_rows(1, 2).reshape({1, hkv, hd}), v, 0);
      be.rope_store_kv(q, k, v, be.upload(host_f32(cosv, {1, half})), be.upload(host_f32(sinv, {1, half})), rows, kc, vc);
      Tensor out = be.alloc(DType::F32, {1, hq, hd});
      be.attention(q, kc, vc, pos, 0, 0.25f, out);
      std::vector<float> host(static_cast<size_t>(out.numel()));
      be.download(out, host.data());
      return host;
    };
    const auto want = step(cpu, table, ck, cv);
    const auto got = step(*gpu, gtable, gk, gv);
    EXPECT_LE(scaled_error(got, want), 1e-5) << "step " << pos;
  }
}

}  // namespace
}  // namespace nova
