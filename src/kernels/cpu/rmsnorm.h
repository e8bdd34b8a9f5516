// RMSNorm over groups of `dim` floats: y = (x * rsqrt(mean(x^2) + eps)) * w, float32 like
// transformers' LlamaRMSNorm (the product x * rsqrt is rounded before the weight multiplies).
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// x, y: [groups, dim] (y may equal x); w: [dim].
// rstd (optional, [groups]) receives each group's 1/sqrt(mean(x^2)+eps), which training's
// backward pass needs.
void rmsnorm(const float* x, int64_t groups, int64_t dim, const float* w, float eps, float* y,
             float* rstd = nullptr);

}  // namespace nova::kernels::cpu
