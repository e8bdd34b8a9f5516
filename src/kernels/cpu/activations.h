// Elementwise ops of the feed-forward blocks.
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)). out may alias gate or up.
void swiglu(const float* gate, const float* up, int64_t n, float* out);
// a[i] += b[i].
void add(float* a, const float* b, int64_t n);
// x[r, :] *= sigmoid(g[r]) for r < rows, rows of width `width`.
void scale_rows_by_sigmoid(float* x, int64_t rows, int64_t width, const float* g);

}  // namespace nova::kernels::cpu
