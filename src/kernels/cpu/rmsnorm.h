// RMSNorm over groups of `dim` floats: y = (x * rsqrt(mean(x^2) + eps)) * w, float32 like
// transformers' LlamaRMSNorm (the product x * rsqrt is rounded before the weight multiplies).
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// x, y: [groups, dim] (y may equal x); w: [dim].
void rmsnorm(const float* x, int64_t groups, int64_t dim, const float* w, float eps, float* y);

}  // namespace nova::kernels::cpu
