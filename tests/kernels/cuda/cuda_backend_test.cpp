// Every CudaBackend op against CpuBackend on fresh random inputs. Skipped (with the reason) when
// this build has no CUDA or the machine no GPU; scripts/test_gpu.sh runs them on the GPU machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

using kernels::CpuBackend;
using kernels::PagedAttentionSeq;
using test::host_f32;
using test::randn;
using test::scaled_error;
using test::to_host;
using test::values;

TEST(BackendFactory, NamesCpuAndExplainsMissingOrUnknownDevices) {
  EXPECT_EQ(kernels::make_backend("cpu")->name(), "cpu");
  EXPECT_THROW(kernels::make_backend("tpu"), Error);
  EXPECT_THROW(kernels::make_backend("cuda:x"), Error);
  try {
    auto b = kernels::make_backend("cuda");
    EXPECT_EQ(b->name(), "cuda");
  } catch (const Error& e) {  // no CUDA here: the message must say why
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kernels::default_backend().name(), "cpu");
}

TEST(CudaBackend, AllocIsZeroAndUploadDownloadCopyRowsRoundTrip) {
  NOVA_REQUIRE_CUDA(gpu);
  Tensor z = gpu->alloc(DType::F32, {3, 5});
  EXPECT_EQ(to_host(*gpu, z), std::vector<float>(15, 0.0f));
  const auto v = randn(4 * 6, 1);
  Tensor d = gpu->upload(host_f32(v, {4, 6}));
  EXPECT_EQ(to_host(*gpu, d), v);
  Tensor dst = gpu->alloc(DType::F32, {10, 6});
  gpu->copy_rows(d, dst, 5);
  const auto got = to_host(*gpu, dst);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(got[i], i < 30 || i >= 54 ? 0.0f : v[i - 30]) << i;
  EXPECT_THROW(gpu->copy_rows(d, dst, 7), Error);
}

TEST(CudaBackend, EmbeddingOfEveryWeightDtype) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    const Tensor table = test::host_of(dt, randn(50 * 24, 2), {50, 24});
    const std::vector<int32_t> ids = {3, 0, 49, 3, 17};
    Tensor want = cpu.alloc(DType::F32, {5, 24}), got = gpu->alloc(DType::F32, {5, 24});
    cpu.embedding(table, ids, want);
    gpu->embedding(gpu->upload(table), ids, got);
    EXPECT_EQ(to_host(*gpu, got), values(want)) << dtype_name(dt);
    const std::vector<int32_t> bad = {50};
    Tensor one = gpu->alloc(DType::F32, {1, 24});
    EXPECT_THROW(gpu->embedding(gpu->upload(table), bad, one), Error);
    // Ids held by the device (a sample's picks): the same rows; an id outside the vocabulary,
    // never seen by the host, reads row 0.
    const std::vector<int32_t> held = {3, 0, 49, 50, -1};
    Tensor held_ids = Tensor::zeros(DType::I32, {5});
    std::copy(held.begin(), held.end(), held_ids.data_as<int32_t>());
    const std::vector<int32_t> clamped = {3, 0, 49, 0, 0};
    cpu.embedding(table, clamped, want);
    gpu->embedding_ids(gpu->upload(table), gpu->upload(held_ids), got);
    EXPECT_EQ(to_host(*gpu, got), values(want)) << dtype_name(dt) << " device ids";
  }
}

// linear against the CPU: F32 weights exactly in fp32 (TF32 off), 16-bit weights at batch 1 through
// the GEMV (fp32 activations), and at larger M through tensor cores with activations rounded to
// the weight type (so the CPU reference gets the same rounded activations).
TEST(CudaBackend, LinearMatchesCpuForEveryDtypeAndShape) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  struct Shape {
    int64_t M, N, K;
  };
  const Shape shapes[] = {{1, 64, 256}, {1, 300, 520}, {1, 33, 7}, {3, 64, 256}, {17, 130, 96}, {64, 256, 512}};
  uint32_t seed = 10;
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (const Shape& s : shapes)
      for (bool with_bias : {false, true}) {
        auto xv = randn(static_cast<size_t>(s.M * s.K), ++seed);
        const auto wv = randn(static_cast<size_t>(s.N * s.K), ++seed, 1.0f / std::sqrt(float(s.K)));
        const auto bv = randn(static_cast<size_t>(s.N), ++seed);
        const Tensor w = test::host_of(dt, wv, {s.N, s.K});
        const Tensor b = host_f32(bv, {s.N});
        const bool rounds_x = dt != DType::F32 && !(s.M == 1 && s.K % 8 == 0);
        std::vector<float> x_ref = xv;
        if (rounds_x)
          for (float& x : x_ref) x = dt == DType::BF16 ? bf16_to_f32(f32_to_bf16(x)) : f16_to_f32(f32_to_f16(x));
        Tensor want = cpu.alloc(DType::F32, {s.M, s.N});
        cpu.linear(host_f32(x_ref, {s.M, s.K}), w, with_bias ? &b : nullptr, want);
        Tensor got = gpu->alloc(DType::F32, {s.M, s.N});
        const Tensor bd = gpu->upload(b);
        gpu->linear(gpu->upload(host_f32(xv, {s.M, s.K})), gpu->upload(w), with_bias ? &bd : nullptr, got);
        EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 2e-5)
            << dtype_name(dt) << " M=" << s.M << " N=" << s.N << " K=" << s.K << " bias=" << with_bias;
      }
}

TEST(CudaBackend, LinearOnUnalignedRowSlices) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  // Row 1 of a [3, 20] tensor starts 80 bytes in: not 256-byte aligned, as logits' last-row slices.
  const auto xv = randn(3 * 20, 3);
  const auto wv = randn(11 * 20, 4);
  const Tensor x = host_f32(xv, {3, 20}), w = host_f32(wv, {11, 20});
  Tensor want = cpu.alloc(DType::F32, {1, 11}), got = gpu->alloc(DType::F32, {1, 11});
  cpu.linear(x.slice_rows(1, 2), w, nullptr, want);
  gpu->linear(gpu->upload(x).slice_rows(1, 2), gpu->upload(w), nullptr, got);
  EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-6);
  Tensor wrong = gpu->alloc(DType::F32, {2, 11});
  EXPECT_THROW(gpu->linear(gpu->upload(x), gpu->upload(w), nullptr, wrong), Error);
}

TEST(CudaBackend, RmsnormRopeAndElementwiseOps) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  // rmsnorm over rows of 96 and per-head groups of 32, in place.
  for (int64_t dim : {96, 32, 2048}) {
    const auto xv = randn(static_cast<size_t>(5 * 96 * (dim == 2048 ? 64 : 1)), 20 + dim);
    const int64_t width = dim == 2048 ? 2048 * 3 : 96;
    const int64_t rows = static_cast<int64_t>(xv.size()) / width;
    const auto wv = randn(static_cast<size_t>(dim), 21);
    Tensor cx = host_f32(xv, {rows, width});
    cpu.rmsnorm(cx, host_f32(wv, {dim}), 1e-6f, cx);
    Tensor gx = gpu->upload(host_f32(xv, {rows, width}));
    gpu->rmsnorm(gx, gpu->upload(host_f32(wv, {dim})), 1e-6f, gx);
    EXPECT_LE(scaled_error(to_host(*gpu, gx), values(cx)), 1e-6) << dim;
  }
  {  // rope with partial rotary (rotary_dim 8 of head_dim 12)
    const int64_t rows = 7, heads = 3, hd = 12, half = 4;
    const auto xv = randn(static_cast<size_t>(rows * heads * hd), 30);
    const auto cv = randn(static_cast<size_t>(rows * half), 31), sv = randn(static_cast<size_t>(rows * half), 32);
    Tensor cx = host_f32(xv, {rows, heads, hd});
    cpu.rope(cx, host_f32(cv, {rows, half}), host_f32(sv, {rows, half}));
    Tensor gx = gpu->upload(host_f32(xv, {rows, heads, hd}));
    gpu->rope(gx, gpu->upload(host_f32(cv, {rows, half})), gpu->upload(host_f32(sv, {rows, half})));
    EXPECT_EQ(to_host(*gpu, gx), values(cx));
  }
  const int64_t n = 4099;
  const auto av = randn(n, 40), bv = randn(n, 41);
  {
    Tensor ca = host_f32(av, {n}), ga = gpu->upload(host_f32(av, {n}));
    cpu.swiglu(ca, host_f32(bv, {n}), ca);
    gpu->swiglu(ga, gpu->upload(host_f32(bv, {n})), ga);
    EXPECT_LE(scaled_error(to_host(*gpu, ga), values(ca)), 1e-6);
  }
  {
    Tensor ca = host_f32(av, {n}), ga = gpu->upload(host_f32(av, {n}));
    cpu.add(ca, host_f32(bv, {n}));
    gpu->add(ga, gpu->upload(host_f32(bv, {n})));
    EXPECT_EQ(to_host(*gpu, ga), values(ca));
  }
  {
    const auto gv = randn(7, 42);
    Tensor cx = host_f32(std::vector<float>(av.begin(), av.begin() + 7 * 50), {7, 50});
    Tensor gx = gpu->upload(cx.to_f32());
    cpu.scale_rows_by_sigmoid(cx, host_f32(gv, {7, 1}));
    gpu->scale_rows_by_sigmoid(gx, gpu->upload(host_f32(gv, {7, 1})));
    EXPECT_LE(scaled_error(to_host(*gpu, gx), values(cx)), 1e-6);
  }
  Tensor a = gpu->alloc(DType::F32, {4}), b = gpu->alloc(DType::F32, {5});
  EXPECT_THROW(gpu->add(a, b), Error);
}

TEST(CudaBackend, GatherScatterAndScatterAddRows) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const auto sv = randn(6 * 10, 50), dv = randn(9 * 10, 51);
  const std::vector<int32_t> rows = {4, 0, 8, 2, 7, 1};
  const std::vector<float> w = {0.5f, -1.0f, 2.0f, 0.25f, 1.0f, 3.0f};
  const Tensor src = host_f32(sv, {6, 10});
  {
    Tensor want = cpu.alloc(DType::F32, {6, 10}), got = gpu->alloc(DType::F32, {6, 10});
    const Tensor big = host_f32(dv, {9, 10});
    cpu.gather_rows(big, rows, want);
    gpu->gather_rows(gpu->upload(big), rows, got);
    EXPECT_EQ(to_host(*gpu, got), values(want));
  }
  {
    Tensor want = host_f32(dv, {9, 10}), got = gpu->upload(host_f32(dv, {9, 10}));
    cpu.scatter_rows(src, rows, want);
    gpu->scatter_rows(gpu->upload(src), rows, got);
    EXPECT_EQ(to_host(*gpu, got), values(want));
    const std::vector<int32_t> repeat = {1, 1, 2, 3, 4, 5};
    EXPECT_THROW(gpu->scatter_rows(gpu->upload(src), repeat, got), Error);
  }
  {
    Tensor want = host_f32(dv, {9, 10}), got = gpu->upload(host_f32(dv, {9, 10}));
    cpu.scatter_add_rows(src, rows, w, want);
    gpu->scatter_add_rows(gpu->upload(src), rows, w, got);
    EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-6);
  }
}

TEST(CudaBackend, RouteTopKPicksTheCpuExperts) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  for (int64_t experts : {4, 8, 60}) {
    auto lv = randn(static_cast<size_t>(33 * experts), 60 + experts, 2.0f);
    for (int64_t e = 0; e < experts; e += 3) lv[e] = lv[1];  // ties in row 0: lower index first
    const Tensor logits = host_f32(lv, {33, experts});
    for (bool norm : {false, true}) {
      const kernels::Routing want = cpu.route_top_k(logits, 2, norm);
      const kernels::Routing got = gpu->route_top_k(gpu->upload(logits), 2, norm);
      EXPECT_EQ(got.expert, want.expert) << experts;
      ASSERT_EQ(got.weight.size(), want.weight.size());
      for (size_t i = 0; i < want.weight.size(); ++i) EXPECT_NEAR(got.weight[i], want.weight[i], 1e-6);
    }
  }
}

struct AttnCase {
  int64_t rows, pos0, hq, hkv, d;
  int window;
};

TEST(CudaBackend, AttentionMatchesCpuForPrefillDecodeGqaAndWindows) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const AttnCase cases[] = {
      {19, 0, 4, 2, 16, 0},     {19, 0, 4, 2, 16, 8},   {1, 37, 4, 4, 32, 0},    {5, 60, 8, 2, 64, 0},
      {1, 2000, 32, 8, 128, 0}, {1, 700, 4, 1, 256, 0}, {200, 0, 6, 3, 128, 0},  {3, 90, 8, 8, 12, 16},
      {1, 4095, 16, 4, 64, 512}, {64, 100, 12, 4, 80, 33}};
  uint32_t seed = 100;
  for (const AttnCase& c : cases) {
    const int64_t cap = c.pos0 + c.rows + 3;
    const auto qv = randn(static_cast<size_t>(c.rows * c.hq * c.d), ++seed);
    const auto kv = randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed);
    const auto vv = randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed);
    const float scale = 1.0f / std::sqrt(float(c.d));
    const Tensor q = host_f32(qv, {c.rows, c.hq, c.d}), k = host_f32(kv, {cap, c.hkv, c.d}),
                 v = host_f32(vv, {cap, c.hkv, c.d});
    Tensor want = cpu.alloc(DType::F32, {c.rows, c.hq, c.d}), got = gpu->alloc(DType::F32, {c.rows, c.hq, c.d});
    cpu.attention(q, k, v, c.pos0, c.window, scale, want);
    gpu->attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), c.pos0, c.window, scale, got);
    EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-5)
        << "rows " << c.rows << " pos0 " << c.pos0 << " heads " << c.hq << "/" << c.hkv << " d " << c.d << " window "
        << c.window;
  }
}

// Prefills of >= 256 query rows with head_dim a multiple of 16 (<= 128) run on tensor cores: Q, K,
// V and the probabilities are rounded to bf16 (unit roundoff 2^-9 each), scores and sums stay
// fp32. Against the fp32 CPU result the error relative to the output's scale stays below 1e-2
// (the fp32 kernel: 1e-5); a NaN or an unwritten row fails it. GQA, windows, odd lengths, a
// decode-sized tile and head_dims 16/64/80/128 (both kernel instantiations).
TEST(CudaBackend, PrefillAttentionOnTensorCoresMatchesCpuToBf16Precision) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const AttnCase cases[] = {{300, 0, 8, 2, 64, 0},   {257, 3, 4, 4, 128, 0}, {513, 17, 6, 3, 128, 100},
                            {300, 40, 12, 4, 80, 0}, {261, 0, 4, 1, 16, 7},  {700, 0, 32, 8, 64, 0},
                            {256, 1000, 8, 8, 128, 300}};
  uint32_t seed = 900;
  for (const AttnCase& c : cases) {
    const int64_t cap = c.pos0 + c.rows + 5;
    const auto qv = randn(static_cast<size_t>(c.rows * c.hq * c.d), ++seed);
    const auto kv = randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed);
    const auto vv = randn(static_cast<size_t>(cap * c.hkv * c.d), ++seed);
    const float scale = 1.0f / std::sqrt(float(c.d));
    const Tensor q = host_f32(qv, {c.rows, c.hq, c.d}), k = host_f32(kv, {cap, c.hkv, c.d}),
                 v = host_f32(vv, {cap, c.hkv, c.d});
    Tensor want = cpu.alloc(DType::F32, {c.rows, c.hq, c.d});
    // Poisoned output: every element must be written.
    Tensor got = gpu->upload(host_f32(std::vector<float>(static_cast<size_t>(c.rows * c.hq * c.d), NAN),
                                      {c.rows, c.hq, c.d}));
    cpu.attention(q, k, v, c.pos0, c.window, scale, want);
    gpu->attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), c.pos0, c.window, scale, got);
    EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-2)
        << "rows " << c.rows << " pos0 " << c.pos0 << " heads " << c.hq << "/" << c.hkv << " d " << c.d << " window "
        << c.window;
  }
}

TEST(CudaBackend, PagedPrefillOnTensorCoresMatchesCpuOverShuffledBlocks) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const int64_t hq = 8, hkv = 2, d = 64, bs = 16;
  for (int window : {0, 50}) {
    // 640 rows over 4 sequences (>= 64 each on average): the tensor-core path, a decode row included.
    const test::PagedLayout lay = test::paged_layout({{300, 0}, {1, 500}, {299, 77}, {40, 9}}, bs, 3, 11);
    const auto& ds = lay.seqs;
    const auto& tables = lay.tables;
    const int64_t total_rows = lay.total_rows, nblocks = lay.num_blocks;
    const auto qv = randn(static_cast<size_t>(total_rows * hq * d), 300 + window);
    const auto kv = randn(static_cast<size_t>(nblocks * bs * hkv * d), 301);
    const auto vv = randn(static_cast<size_t>(nblocks * bs * hkv * d), 302);
    const Tensor q = host_f32(qv, {total_rows, hq, d}), k = host_f32(kv, {nblocks, bs, hkv, d}),
                 v = host_f32(vv, {nblocks, bs, hkv, d});
    Tensor want = cpu.alloc(DType::F32, {total_rows, hq, d});
    Tensor got = gpu->upload(host_f32(std::vector<float>(static_cast<size_t>(total_rows * hq * d), NAN),
                                      {total_rows, hq, d}));
    cpu.paged_attention(q, k, v, ds, tables, window, 0.125f, want);
    gpu->paged_attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), ds, tables, window, 0.125f, got);
    EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-2) << "window " << window;
  }
}

TEST(CudaBackend, PagedAttentionMatchesCpuOverShuffledBlocks) {
  NOVA_REQUIRE_CUDA(gpu);
  CpuBackend cpu;
  const int64_t hq = 8, hkv = 2, d = 64, bs = 16;
  for (int window : {0, 40}) {
    // Row 0 is named by no sequence.
    const test::PagedLayout lay =
        test::paged_layout({{1, 300}, {12, 0}, {1, 5}, {7, 33}, {1, 1000}}, bs, 4, 7, /*first_row=*/1);
    const auto& ds = lay.seqs;
    const auto& tables = lay.tables;
    const int64_t total_rows = lay.total_rows, nblocks = lay.num_blocks;
    const auto qv = randn(static_cast<size_t>(total_rows * hq * d), 200 + window);
    const auto kv = randn(static_cast<size_t>(nblocks * bs * hkv * d), 201);
    const auto vv = randn(static_cast<size_t>(nblocks * bs * hkv * d), 202);
    const auto ov = randn(static_cast<size_t>(total_rows * hq * d), 203);
    const Tensor q = host_f32(qv, {total_rows, hq, d}), k = host_f32(kv, {nblocks, bs, hkv, d}),
                 v = host_f32(vv, {nblocks, bs, hkv, d});
    Tensor want = host_f32(ov, {total_rows, hq, d}), got = gpu->upload(host_f32(ov, {total_rows, hq, d}));
    cpu.paged_attention(q, k, v, ds, tables, window, 0.125f, want);
    gpu->paged_attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), ds, tables, window, 0.125f, got);
    EXPECT_LE(scaled_error(to_host(*gpu, got), values(want)), 1e-5) << "window " << window;
    std::vector<int32_t> bad_tables = tables;
    bad_tables[0] = static_cast<int32_t>(nblocks);
    EXPECT_THROW(gpu->paged_attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), ds, bad_tables, window, 0.125f,
                                      got),
                 Error);
  }
}

}  // namespace
}  // namespace nova
