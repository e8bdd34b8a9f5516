#include "model/paged_kv_cache.h"

#include <string>

#include "core/error.h"

namespace nova::model {

PagedKvCache PagedKvCache::allocate(kernels::Backend& backend, int layers, int64_t num_blocks, int64_t block_size,
                                    int kv_heads, int head_dim, DType dtype) {
  require(layers > 0 && num_blocks > 0 && block_size > 0 && kv_heads > 0 && head_dim > 0, "PagedKvCache",
          "sizes must be positive (layers " + std::to_string(layers) + ", blocks " + std::to_string(num_blocks) +
              ", block_size " + std::to_string(block_size) + ")");
  PagedKvCache c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  // Not zero-filled, as KvCache::allocate: attention reads only slots its sequence has written.
  for (int l = 0; l < layers; ++l) {
    c.k.push_back(backend.empty(dtype, {num_blocks, block_size, kv_heads, head_dim}));
    c.v.push_back(backend.empty(dtype, {num_blocks, block_size, kv_heads, head_dim}));
  }
  return c;
}

}  // namespace nova::model
