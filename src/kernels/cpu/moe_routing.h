// Mixture-of-experts routing and the row shuffles around expert calls.
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// Per row of logits [rows, experts]: p = softmax(row) in float32; the k largest p (descending,
// ties to the lower index) into expert[r*k ..], weight[r*k ..]; if normalize, weights /= their sum.
void route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                 float* weight);

// dst[i, :] = src[rows[i], :], rows of `width` floats.
void gather_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst);
// dst[rows[i], :] += weights[i] * src[i, :].
void scatter_add_rows(const float* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                      float* dst);

}  // namespace nova::kernels::cpu
