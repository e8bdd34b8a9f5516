#include "train/layers/linear.h"

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "train/step_profile.h"

namespace nova::train {

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t M, int64_t K, int64_t N) {
  PhaseScope scope(Phase::MatmulFwd);
  kernels::cpu::matmul(x, M, K, w, DType::F32, N, y);
  if (b) {
    ThreadPool::global().parallel_for(M, [&](int64_t mb, int64_t me) {
      for (int64_t m = mb; m < me; ++m)
        for (int64_t n = 0; n < N; ++n) y[m * N + n] += b[n];
    }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, N)));
  }
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t M,
                     int64_t K, int64_t N) {
  if (M == 0) return;
  if (dx) {
    PhaseScope scope(Phase::MatmulDx);
    // dx[M, K] += dy[M, N] . w[N, K]
    kernels::cpu::gemm_f32({.M = M, .N = K, .K = N, .A = dy, .lda = N, .B = w, .ldb = K, .C = dx, .ldc = K,
                            .accumulate = true});
  }
  PhaseScope scope(Phase::MatmulDw);
  // dw[N, K] += dy^T [N, M] . x[M, K]
  kernels::cpu::gemm_f32({.M = N, .N = K, .K = M, .A = dy, .lda = N, .trans_a = true, .B = x, .ldb = K, .C = dw,
                          .ldc = K, .accumulate = true});
  if (db) {
    // Column sums of dy, each thread owning a block of columns; rows summed in order (double).
    ThreadPool::global().parallel_for(N, [&](int64_t nb, int64_t ne) {
      std::vector<double> acc(static_cast<size_t>(ne - nb), 0.0);
      for (int64_t m = 0; m < M; ++m) {
        const float* row = dy + m * N;
        for (int64_t n = nb; n < ne; ++n) acc[n - nb] += row[n];
      }
      for (int64_t n = nb; n < ne; ++n) db[n] += static_cast<float>(acc[n - nb]);
    }, 64);
  }
}

}  // namespace nova::train
