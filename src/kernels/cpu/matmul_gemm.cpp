// gemm_f32's driver: argument checks, choice of kernel tier and the split of work over threads
// (the same split as matmul's: over N in 16-column units when there are enough of them,
// otherwise over M). The kernels live in matmul_{scalar,avx2}.cpp.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_detail.h"

namespace nova::kernels::cpu {

namespace detail {

namespace {
constexpr int64_t kNUnit = 16;  // one 64-byte line of C per row: threads never share a line
constexpr int64_t kMUnit = 24;  // a multiple of the GEMM row tile
constexpr int64_t kMinFmasPerThread = 1 << 16;

void check(const GemmF32& g) {
  const auto s = [](int64_t v) { return std::to_string(v); };
  require(g.M >= 0 && g.N >= 0 && g.K >= 0, "gemm_f32", "negative shape M=" + s(g.M) + " N=" + s(g.N) + " K=" + s(g.K));
  if (g.M == 0 || g.N == 0) return;
  require(g.C != nullptr, "gemm_f32", "null output");
  require(g.ldc >= g.N, "gemm_f32", "ldc " + s(g.ldc) + " < N " + s(g.N));
  if (g.K == 0) return;
  require(g.A != nullptr && g.B != nullptr, "gemm_f32", "null input");
  require(g.lda >= (g.trans_a ? g.M : g.K), "gemm_f32", "lda " + s(g.lda) + " is shorter than a row of A");
  require(g.ldb >= (g.trans_b ? g.K : g.N), "gemm_f32", "ldb " + s(g.ldb) + " is shorter than a row of B");
}

using KernelFn = void (*)(const GemmF32&, int64_t, int64_t, int64_t, int64_t);
}  // namespace

void gemm_f32_with_isa(IsaTier isa, const GemmF32& g) {
  check(g);
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {
    if (!g.accumulate)
      for (int64_t m = 0; m < g.M; ++m) std::fill_n(g.C + m * g.ldc, g.N, 0.0f);
    return;
  }
  const CpuFeatures& cpu = cpu_features();
  require(isa != IsaTier::Avx512 || cpu.has_avx512_kernels(), "gemm_f32", "this CPU lacks the avx512 kernels' ISA");
  require(isa != IsaTier::Avx2 || cpu.has_avx2_kernels(), "gemm_f32", "this CPU lacks the avx2 kernels' ISA");
  // Every AVX-512 CPU with the avx512 tier's extensions also has AVX2 + FMA + F16C.
  const KernelFn kernel = isa == IsaTier::Scalar || !cpu.has_avx2_kernels() ? sgemm_scalar : sgemm_avx2;
  ThreadPool& pool = ThreadPool::global();
  const int64_t n_units = (g.N + kNUnit - 1) / kNUnit;
  if (n_units >= 2 * pool.size()) {
    const int64_t grain = std::max<int64_t>(1, kMinFmasPerThread / std::max<int64_t>(1, g.M * g.K * kNUnit));
    pool.parallel_for(
        n_units, [&](int64_t b, int64_t e) { kernel(g, 0, g.M, b * kNUnit, std::min(g.N, e * kNUnit)); }, grain);
  } else {
    const int64_t m_units = (g.M + kMUnit - 1) / kMUnit;
    const int64_t grain = std::max<int64_t>(1, kMinFmasPerThread / std::max<int64_t>(1, kMUnit * g.K * g.N));
    pool.parallel_for(
        m_units, [&](int64_t b, int64_t e) { kernel(g, b * kMUnit, std::min(g.M, e * kMUnit), 0, g.N); }, grain);
  }
}

}  // namespace detail

void gemm_f32(const GemmF32& g) { detail::gemm_f32_with_isa(active_isa(), g); }

}  // namespace nova::kernels::cpu
