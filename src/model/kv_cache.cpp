#include "model/kv_cache.h"

namespace nova::model {

KvCache KvCache::allocate(kernels::Backend& backend, int layers, int64_t capacity, int kv_heads, int head_dim,
                          DType dtype) {
  KvCache c;
  c.capacity = capacity;
  for (int l = 0; l < layers; ++l) {
    c.k.push_back(backend.alloc(dtype, {capacity, kv_heads, head_dim}));
    c.v.push_back(backend.alloc(dtype, {capacity, kv_heads, head_dim}));
  }
  return c;
}

KvCache KvCache::clone(kernels::Backend& backend, int64_t rows) const {
  KvCache c;
  c.capacity = capacity;
  for (size_t l = 0; l < k.size(); ++l) {
    Tensor nk = backend.alloc(k[l].dtype(), k[l].shape()), nv = backend.alloc(v[l].dtype(), v[l].shape());
    if (rows > 0) {
      backend.copy_rows(k[l].slice_rows(0, rows), nk, 0);
      backend.copy_rows(v[l].slice_rows(0, rows), nv, 0);
    }
    c.k.push_back(std::move(nk));
    c.v.push_back(std::move(nv));
  }
  return c;
}

}  // namespace nova::model
