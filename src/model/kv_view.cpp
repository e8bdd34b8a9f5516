#include "model/kv_view.h"

#include "core/error.h"

namespace nova::model {

ContiguousKvView::ContiguousKvView(kernels::Backend& backend, KvCache& cache, int64_t pos0, int64_t rows)
    : backend_(backend), cache_(cache), pos0_(pos0) {
  positions_.reserve(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) positions_.push_back(static_cast<int32_t>(pos0 + i));
}

void ContiguousKvView::rope_store(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                  const Tensor& sin) const {
  backend_.rope_store_kv(q, k, v, cos, sin, positions_, cache_.k[layer], cache_.v[layer]);
}

void ContiguousKvView::project_rope_store(int layer, const Tensor& x, std::span<const kernels::Backend::LinearPart> qkv,
                                          const Tensor& cos, const Tensor& sin) const {
  backend_.linears_rope_store_kv(x, qkv, cos, sin, positions_, cache_.k[layer], cache_.v[layer]);
}

void ContiguousKvView::attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const {
  backend_.attention(q, cache_.k[layer], cache_.v[layer], pos0_, window, scale, out);
}

void ContiguousKvView::rope_store_attend(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                         const Tensor& sin, int window, float scale, Tensor& out) const {
  backend_.rope_store_attention(q, k, v, cos, sin, cache_.k[layer], cache_.v[layer], pos0_, window, scale, out);
}

void PagedKvView::rope_store(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                             const Tensor& sin) const {
  const int64_t slots = cache_.num_blocks * cache_.block_size;
  Tensor kf = cache_.k[layer].reshape({slots, k.dim(1), k.dim(2)});
  Tensor vf = cache_.v[layer].reshape({slots, v.dim(1), v.dim(2)});
  backend_.rope_store_kv(q, k, v, cos, sin, slots_, kf, vf);
}

void PagedKvView::project_rope_store(int layer, const Tensor& x, std::span<const kernels::Backend::LinearPart> qkv,
                                     const Tensor& cos, const Tensor& sin) const {
  if (qkv.size() != 3) fail("project_rope_store", "needs the q, k and v parts");
  const Tensor& k = *qkv[1].y;
  const int64_t slots = cache_.num_blocks * cache_.block_size;
  Tensor kf = cache_.k[layer].reshape({slots, k.dim(1), k.dim(2)});
  Tensor vf = cache_.v[layer].reshape({slots, k.dim(1), k.dim(2)});
  backend_.linears_rope_store_kv(x, qkv, cos, sin, slots_, kf, vf);
}

void PagedKvView::attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const {
  backend_.paged_attention(q, cache_.k[layer], cache_.v[layer], seqs_, tables_, window, scale, out);
}

void PagedKvView::rope_store_attend(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                    const Tensor& sin, int window, float scale, Tensor& out) const {
  backend_.rope_store_paged_attention(q, k, v, cos, sin, cache_.k[layer], cache_.v[layer], seqs_, tables_, window,
                                      scale, out);
}

}  // namespace nova::model
