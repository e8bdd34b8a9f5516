#include "train/layers/embedding.h"

#include "core/dtype.h"
#include "kernels/cpu/embedding.h"
#include "train/step_profile.h"

namespace nova::train {

void embedding_forward(float* out, const int32_t* ids, int64_t n, const float* table, int64_t dim) {
  PhaseScope scope(Phase::Embedding);
  kernels::cpu::embedding(table, DType::F32, dim, ids, n, out);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t dim) {
  PhaseScope scope(Phase::Embedding);
  // Serial: rows may repeat, and this is O(n * dim), negligible beside the matmuls.
  for (int64_t i = 0; i < n; ++i) {
    float* d = dtable + static_cast<int64_t>(ids[i]) * dim;
    const float* g = dout + i * dim;
    for (int64_t j = 0; j < dim; ++j) d[j] += g[j];
  }
}

}  // namespace nova::train
