// The CPU implementation of Backend: tensors live in host memory; each op validates through
// kernels/op_checks.h and calls its per-op kernel file (rmsnorm.cpp, attention.cpp, ...).
#pragma once

#include "kernels/backend.h"

namespace nova::kernels {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  Tensor alloc(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const Tensor& host) override { return host; }
  void download(const Tensor& t, void* host_dst) override;
  void copy_rows(const Tensor& src, Tensor& dst, int64_t row0) override;

  void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) override;
  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override;
  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override;
  void rope(Tensor& x, const Tensor& cos, const Tensor& sin) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                 float scale, Tensor& out) override;
  void paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                       std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables, int window,
                       float scale, Tensor& out) override;
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override;
  void add(Tensor& a, const Tensor& b) override;
  void scale_rows_by_sigmoid(Tensor& x, const Tensor& g) override;
  Routing route_top_k(const Tensor& logits, int k, bool normalize) override;
  void gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) override;
  void scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) override;
  void scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                        Tensor& dst) override;

  // The process-wide instance (the backend is stateless).
  static CpuBackend& instance();
};

}  // namespace nova::kernels
