// The serving KV cache: for every layer K and V as fixed-size blocks
// [num_blocks, block_size, kv_heads, head_dim] (float32, or BF16 under BF16 activations:
// Transformer::kv_dtype()), shared by all running sequences.
// Which blocks a sequence owns is its block table (position p -> block table[p / block_size],
// slot p % block_size); the engine's block manager hands those out, the model only reads them.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace nova::model {

struct PagedKvCache {
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  std::vector<Tensor> k, v;  // per layer

  // Throws nova::Error for non-positive sizes.
  static PagedKvCache allocate(kernels::Backend& backend, int layers, int64_t num_blocks, int64_t block_size,
                               int kv_heads, int head_dim, DType dtype = DType::F32);
};

}  // namespace nova::model
