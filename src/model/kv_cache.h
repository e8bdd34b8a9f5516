// The per-sequence key/value cache: for every layer a contiguous [capacity, kv_heads, head_dim]
// K and V (float32, or BF16 when the model runs BF16 activations: Transformer::kv_dtype()), rows
// indexed by position. Kept behind this small struct so a paged layout
// can replace it without touching the layer code (which only sees per-layer K/V tensors).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace nova::model {

struct KvCache {
  int64_t capacity = 0;
  std::vector<Tensor> k, v;  // per layer

  static KvCache allocate(kernels::Backend& backend, int layers, int64_t capacity, int kv_heads, int head_dim,
                          DType dtype = DType::F32);
  // A copy holding the first `rows` positions. Positions a sequence has not written yet hold
  // unspecified values in both (allocate(): nothing reads them before they are written).
  KvCache clone(kernels::Backend& backend, int64_t rows) const;
};

}  // namespace nova::model
