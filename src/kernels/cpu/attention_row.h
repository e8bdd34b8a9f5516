// The attention of one query row and head over a run of cache positions, shared by the
// contiguous and the paged kernels so that both give bit-identical results for the same K/V
// (the batched serving path must reproduce the single-sequence one). Only how a position's K/V
// row is found differs between them: that is the `row_of` callable.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace nova::kernels::cpu::detail {

inline float attention_dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// out[0, head_dim) = softmax_j(q . k_j * scale) . v_j over positions j in [lo, lo + n), where
// row_of(j) gives the offset (in floats) of position j's row for this kv head in k and v.
// `scores` and `acc` are the caller's per-worker scratch.
template <class RowOf>
inline void attend_row(const float* qv, const float* k, const float* v, int64_t head_dim, int64_t lo, int64_t n,
                       const RowOf& row_of, float scale, std::vector<float>& scores, std::vector<double>& acc,
                       float* out) {
  scores.resize(static_cast<size_t>(n));
  acc.assign(static_cast<size_t>(head_dim), 0.0);
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = attention_dot(qv, k + row_of(lo + j), head_dim) * scale;
    mx = std::max(mx, scores[j]);
  }
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - mx);
    sum += scores[j];
  }
  for (int64_t j = 0; j < n; ++j) {
    const float* vr = v + row_of(lo + j);
    const double pj = scores[j];
    for (int64_t d = 0; d < head_dim; ++d) acc[d] += pj * vr[d];
  }
  for (int64_t d = 0; d < head_dim; ++d) out[d] = static_cast<float>(acc[d] / sum);
}

}  // namespace nova::kernels::cpu::detail
