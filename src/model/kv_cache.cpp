#include "model/kv_cache.h"

namespace nova::model {

KvCache KvCache::allocate(kernels::Backend& backend, int layers, int64_t capacity, int kv_heads, int head_dim,
                          DType dtype) {
  KvCache c;
  c.capacity = capacity;
  // Not zero-filled (Backend::empty): every attention reads only positions the sequence has
  // written (keys before the last query row's position + 1; a cache poisoned with NaN gives the
  // same logits, tests/model/kv_cache_unwritten_test.cpp). A device's zero-fill is one memset per
  // layer and tensor queued ahead of the prompt's first kernel: the 1B's 32 at every new session.
  for (int l = 0; l < layers; ++l) {
    c.k.push_back(backend.empty(dtype, {capacity, kv_heads, head_dim}));
    c.v.push_back(backend.empty(dtype, {capacity, kv_heads, head_dim}));
  }
  return c;
}

KvCache KvCache::clone(kernels::Backend& backend, int64_t rows) const {
  KvCache c;
  c.capacity = capacity;
  for (size_t l = 0; l < k.size(); ++l) {
    Tensor nk = backend.empty(k[l].dtype(), k[l].shape()), nv = backend.empty(v[l].dtype(), v[l].shape());
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
