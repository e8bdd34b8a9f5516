#include "model/kv_view.h"

namespace nova::model {

void ContiguousKvView::store(int layer, const Tensor& k, const Tensor& v) const {
  backend_.copy_rows(k, cache_.k[layer], pos0_);
  backend_.copy_rows(v, cache_.v[layer], pos0_);
}

void ContiguousKvView::attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const {
  backend_.attention(q, cache_.k[layer], cache_.v[layer], pos0_, window, scale, out);
}

void PagedKvView::store(int layer, const Tensor& k, const Tensor& v) const {
  const int64_t slots = cache_.num_blocks * cache_.block_size;
  Tensor kf = cache_.k[layer].reshape({slots, k.dim(1), k.dim(2)});
  Tensor vf = cache_.v[layer].reshape({slots, v.dim(1), v.dim(2)});
  backend_.scatter_rows(k, slots_, kf);
  backend_.scatter_rows(v, slots_, vf);
}

void PagedKvView::attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const {
  backend_.paged_attention(q, cache_.k[layer], cache_.v[layer], seqs_, tables_, window, scale, out);
}

}  // namespace nova::model
