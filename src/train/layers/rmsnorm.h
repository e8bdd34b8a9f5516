// RMSNorm over groups of `dim` floats, y = w * (x * rstd), rstd = 1 / sqrt(mean(x^2) + eps),
// rounded exactly as the inference kernel (kernels/cpu/rmsnorm.h) rounds it. Also the per-head
// q/k norm of Qwen3: x is then [rows * heads, head_dim] and w is [head_dim].
#pragma once

#include <cstdint>

namespace nova::train {

// y, rstd ([groups]) written. y may not alias x (the backward needs x).
void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t groups, int64_t dim, float eps);
// dx += d/dx, dw += d/dw (dx may be null when the input needs no gradient).
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim);

}  // namespace nova::train
