// How the layer code reaches K/V, so that one layer function serves both the single-sequence
// contiguous cache (forward) and the paged cache of a batch (forward_batch): store this step's
// K/V rows, then attend over everything the sequence(s) hold so far.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kernels/backend.h"
#include "model/kv_cache.h"
#include "model/paged_kv_cache.h"

namespace nova::model {

class KvView {
 public:
  virtual ~KvView() = default;
  // Rotates q and k (RoPE rows cos/sin) and stores this step's K/V rows, in one backend op
  // (Backend::rope_store_kv). q: [rows, q_heads, head_dim]; k, v: [rows, kv_heads, head_dim].
  virtual void rope_store(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                          const Tensor& sin) const = 0;
  // The q/k/v projections of x (parts {q, k, v} of linears, writing q, k, v), then rope_store, in
  // one backend op (Backend::linears_rope_store_kv).
  virtual void project_rope_store(int layer, const Tensor& x, std::span<const kernels::Backend::LinearPart> qkv,
                                  const Tensor& cos, const Tensor& sin) const = 0;
  // q, out: [rows, q_heads, head_dim].
  virtual void attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const = 0;
  // rope_store then attend, in one backend op (Backend::rope_store_attention /
  // rope_store_paged_attention: one kernel on a device); q and k are left unspecified.
  virtual void rope_store_attend(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                 const Tensor& sin, int window, float scale, Tensor& out) const = 0;
};

// One sequence's rows at positions pos0.. in a contiguous KvCache.
class ContiguousKvView final : public KvView {
 public:
  // `rows`: this step's token count (positions pos0 .. pos0 + rows - 1).
  ContiguousKvView(kernels::Backend& backend, KvCache& cache, int64_t pos0, int64_t rows);
  void rope_store(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                  const Tensor& sin) const override;
  void project_rope_store(int layer, const Tensor& x, std::span<const kernels::Backend::LinearPart> qkv,
                          const Tensor& cos, const Tensor& sin) const override;
  void attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const override;
  void rope_store_attend(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                         int window, float scale, Tensor& out) const override;

 private:
  kernels::Backend& backend_;
  KvCache& cache_;
  int64_t pos0_;
  std::vector<int32_t> positions_;  // the cache rows this step writes
};

// The rows of several sequences (in batch order) over a PagedKvCache. The constructor turns the
// batch's block tables into the per-row slots and per-sequence descriptors the ops take.
class PagedKvView final : public KvView {
 public:
  PagedKvView(kernels::Backend& backend, PagedKvCache& cache, const std::vector<kernels::PagedAttentionSeq>& seqs,
              std::vector<int32_t> tables, std::vector<int32_t> slots)
      : backend_(backend), cache_(cache), seqs_(seqs), tables_(std::move(tables)), slots_(std::move(slots)) {}
  void rope_store(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                  const Tensor& sin) const override;
  void project_rope_store(int layer, const Tensor& x, std::span<const kernels::Backend::LinearPart> qkv,
                          const Tensor& cos, const Tensor& sin) const override;
  void attend(int layer, const Tensor& q, int window, float scale, Tensor& out) const override;
  void rope_store_attend(int layer, Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                         int window, float scale, Tensor& out) const override;

 private:
  kernels::Backend& backend_;
  PagedKvCache& cache_;
  std::vector<kernels::PagedAttentionSeq> seqs_;
  std::vector<int32_t> tables_;  // every sequence's table, concatenated
  std::vector<int32_t> slots_;   // per row: block * block_size + offset
};

}  // namespace nova::model
