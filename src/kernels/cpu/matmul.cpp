// matmul's driver: argument checks, choice of kernel tier and the split of work over threads.
// The kernels themselves live in matmul_{scalar,avx2,avx512}.cpp.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul_detail.h"

namespace nova::kernels::cpu {

namespace detail {

namespace {
using KernelFn = void (*)(const MatmulProblem&, int64_t, int64_t, int64_t, int64_t);

// Work units over N: 16 rows of W is one 64-byte line of y per row of x, so no two threads ever
// write the same cache line of y; 16 is also a multiple of every GEMM kernel's column tile.
constexpr int64_t kNUnit = 16;
// Below this many multiply-adds per thread, waking another thread costs more than it saves.
constexpr int64_t kMinFmasPerThread = 1 << 16;

void check(int64_t M, int64_t K, int64_t N, DType w_dtype, const void* W, const float* x, float* y) {
  require(M >= 0 && K >= 0 && N >= 0, "matmul",
          "negative shape M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N));
  require(w_dtype == DType::F32 || w_dtype == DType::BF16 || w_dtype == DType::F16, "matmul",
          "unsupported weight dtype " + std::string(dtype_name(w_dtype)));
  if (M > 0 && N > 0) require(y != nullptr, "matmul", "null output");
  if (M > 0 && N > 0 && K > 0) require(x != nullptr && W != nullptr, "matmul", "null input");
}
}  // namespace

void matmul_with_isa(IsaTier isa, const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N,
                     float* y) {
  check(M, K, N, w_dtype, W, x, y);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(y, y + M * N, 0.0f);
    return;
  }
  const CpuFeatures& cpu = cpu_features();
  require(isa != IsaTier::Avx512 || cpu.has_avx512_kernels(), "matmul", "this CPU lacks the avx512 kernels' ISA");
  require(isa != IsaTier::Avx2 || cpu.has_avx2_kernels(), "matmul", "this CPU lacks the avx2 kernels' ISA");
  KernelFn gemv = gemv_scalar, gemm = gemm_scalar;
  if (isa == IsaTier::Avx512) {
    gemv = gemv_avx512;
    gemm = gemm_avx512;
  } else if (isa == IsaTier::Avx2) {
    gemv = gemv_avx2;
    gemm = gemm_avx2;
  }
  const MatmulProblem p{x, M, K, W, w_dtype, N, y};
  ThreadPool& pool = ThreadPool::global();
  const int64_t n_units = (N + kNUnit - 1) / kNUnit;
  const int64_t fmas_per_unit = std::max<int64_t>(1, M * K * kNUnit);
  const int64_t grain = std::max<int64_t>(1, kMinFmasPerThread / fmas_per_unit);

  if (M <= kGemvMaxRows) {
    pool.parallel_for(
        n_units, [&](int64_t b, int64_t e) { gemv(p, 0, M, b * kNUnit, std::min(N, e * kNUnit)); }, grain);
    return;
  }
  // GEMM: split over N when there are enough columns for every thread (each thread then packs
  // only its own W panels); otherwise over M (e.g. a narrow output such as N = 1).
  if (n_units >= 2 * pool.size()) {
    pool.parallel_for(
        n_units, [&](int64_t b, int64_t e) { gemm(p, 0, M, b * kNUnit, std::min(N, e * kNUnit)); }, grain);
  } else {
    constexpr int64_t kMUnit = 24;  // a multiple of every GEMM kernel's row tile
    const int64_t m_units = (M + kMUnit - 1) / kMUnit;
    const int64_t m_grain = std::max<int64_t>(1, kMinFmasPerThread / std::max<int64_t>(1, kMUnit * K * N));
    pool.parallel_for(
        m_units, [&](int64_t b, int64_t e) { gemm(p, b * kMUnit, std::min(M, e * kMUnit), 0, N); }, m_grain);
  }
}

}  // namespace detail

void matmul(const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N, float* y) {
  detail::matmul_with_isa(active_isa(), x, M, K, W, w_dtype, N, y);
}

}  // namespace nova::kernels::cpu
