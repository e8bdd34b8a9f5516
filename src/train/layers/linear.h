// The linear layer y = x W^T + b (W [N, K] as nn.Linear stores it), forward and backward, all on
// the packed GEMM kernels of kernels/cpu: the forward through matmul, the backward's two products
// (dx = dy W and dW = dy^T x) through gemm_f32, which reads the transposed operands in place and
// accumulates straight into the gradients (no transposed copies, no temporaries).
#pragma once

#include <cstdint>

namespace nova::train {

// x [M, K], w [N, K], b [N] or null; y [M, N] written.
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t M, int64_t K, int64_t N);
// dx [M, K] += dy W (skipped when dx is null); dw [N, K] += dy^T x; db [N] += column sums of dy
// (skipped when null).
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t M,
                     int64_t K, int64_t N);

}  // namespace nova::train
