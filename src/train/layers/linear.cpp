#include "train/layers/linear.h"

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"

namespace nova::train {

namespace {
constexpr int64_t kTile = 32;

void add_into(float* dst, const float* src, int64_t n) {
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] += src[i];
  }, 1 << 15);
}
}  // namespace

void transpose(const float* a, int64_t rows, int64_t cols, float* out) {
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  ThreadPool::global().parallel_for(row_tiles, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) out[c * rows + r] = a[r * cols + c];
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, cols)));
}

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t M, int64_t K, int64_t N) {
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
  std::vector<float> dy_t(static_cast<size_t>(N * M));
  transpose(dy, M, N, dy_t.data());
  if (dx) {
    // dx[m, k] = sum_n dy[m, n] w[n, k]: matmul of dy with the [K, N] "weight" w^T.
    std::vector<float> w_t(static_cast<size_t>(K * N)), tmp(static_cast<size_t>(M * K));
    transpose(w, N, K, w_t.data());
    kernels::cpu::matmul(dy, M, N, w_t.data(), DType::F32, K, tmp.data());
    add_into(dx, tmp.data(), M * K);
  }
  {
    // dw[n, k] = sum_m dy[m, n] x[m, k]: matmul of dy^T [N, M] with the [K, M] "weight" x^T.
    std::vector<float> x_t(static_cast<size_t>(K * M)), tmp(static_cast<size_t>(N * K));
    transpose(x, M, K, x_t.data());
    kernels::cpu::matmul(dy_t.data(), N, M, x_t.data(), DType::F32, K, tmp.data());
    add_into(dw, tmp.data(), N * K);
  }
  if (db) {
    ThreadPool::global().parallel_for(N, [&](int64_t nb, int64_t ne) {
      for (int64_t n = nb; n < ne; ++n) {
        const float* row = dy_t.data() + n * M;
        double s = 0.0;
        for (int64_t m = 0; m < M; ++m) s += row[m];
        db[n] += static_cast<float>(s);
      }
    }, 16);
  }
}

}  // namespace nova::train
