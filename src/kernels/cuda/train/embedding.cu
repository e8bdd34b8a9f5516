// Token embedding: the forward gathers table rows; the backward adds each distinct token's
// output-gradient rows into its table row in the order build_embedding_groups listed them, one
// thread per (token, column): no atomics, so the sum is the same every run.
#include <vector>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

__global__ void embedding_forward_kernel(float* out, const int32_t* ids, int64_t n, const float* table, int64_t dim,
                                         bool vec) {
  if (vec) {  // dim % 4 == 0 and 16-byte aligned rows: float4 copies
    const int64_t d4 = dim / 4, total = n * d4;
    for (int64_t t = global_thread(); t < total; t += grid_threads()) {
      const int64_t row = t / d4, c = t % d4;
      reinterpret_cast<float4*>(out)[row * d4 + c] = reinterpret_cast<const float4*>(table)[int64_t(ids[row]) * d4 + c];
    }
  } else {
    const int64_t total = n * dim;
    for (int64_t t = global_thread(); t < total; t += grid_threads()) {
      const int64_t row = t / dim, c = t % dim;
      out[t] = table[int64_t(ids[row]) * dim + c];
    }
  }
}

__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* unique_ids,
                                          const int32_t* offsets, const int32_t* positions, int64_t n_unique,
                                          int64_t dim) {
  const int64_t total = n_unique * dim;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t u = t / dim, c = t % dim;
    float acc = 0.0f;
    for (int32_t k = offsets[u]; k < offsets[u + 1]; ++k) acc += dout[int64_t(positions[k]) * dim + c];
    float* row = dtable + int64_t(unique_ids[u]) * dim;
    row[c] += acc;
  }
}

}  // namespace

int64_t build_embedding_groups(const int32_t* ids, int64_t n, int64_t vocab, int32_t* unique_ids, int32_t* offsets,
                               int32_t* positions, std::vector<int32_t>& counts) {
  counts.assign(static_cast<size_t>(vocab) + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++counts[static_cast<size_t>(ids[i]) + 1];
  int64_t n_unique = 0;
  for (int64_t id = 0; id < vocab; ++id) {  // counts[id] := first slot of id (exclusive prefix sum)
    const int32_t c = counts[static_cast<size_t>(id) + 1];
    if (c > 0) {
      unique_ids[n_unique] = static_cast<int32_t>(id);
      offsets[n_unique] = counts[static_cast<size_t>(id)];
      ++n_unique;
    }
    counts[static_cast<size_t>(id) + 1] += counts[static_cast<size_t>(id)];
  }
  offsets[n_unique] = static_cast<int32_t>(n);
  for (int64_t i = 0; i < n; ++i) positions[counts[static_cast<size_t>(ids[i])]++] = static_cast<int32_t>(i);
  return n_unique;
}

void embedding_forward(float* out, const int32_t* ids, int64_t n, const float* table, int64_t dim,
                       cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const bool vec = dim % 4 == 0 && aligned16(out) && aligned16(table);
  embedding_forward_kernel<<<grid_for(n * (vec ? dim / 4 : dim), 256), 256, 0, stream>>>(out, ids, n, table, dim,
                                                                                          vec);
  check_launch("embedding_forward_kernel");
}

void embedding_backward(float* dtable, const float* dout, const int32_t* unique_ids, const int32_t* offsets,
                        const int32_t* positions, int64_t n_unique, int64_t dim, cudaStream_t stream) {
  if (n_unique <= 0 || dim <= 0) return;
  embedding_backward_kernel<<<grid_for(n_unique * dim, 256), 256, 0, stream>>>(dtable, dout, unique_ids, offsets,
                                                                               positions, n_unique, dim);
  check_launch("embedding_backward_kernel");
}

}  // namespace nova::kernels::cuda::train
