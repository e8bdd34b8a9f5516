// Shape and dtype validation shared by every Backend implementation, so each op's contract
// (documented in backend.h) is checked in exactly one place: a backend's op calls the check of
// the same name first, then runs.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace nova::kernels::checks {

// ---- one check per Backend op: throws nova::Error naming the op on misuse ----
// `bf16`: the calling backend takes BF16 activations (Backend::supports_activation) — the
// activation arguments backend.h marks [bf16] may then be F32 or BF16 as it states; otherwise F32.
void download(const Tensor& t);
void copy_rows(const Tensor& src, const Tensor& dst, int64_t row0);
void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out);
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, bool bf16 = false);
void rmsnorm(const Tensor& x, const Tensor& w, const Tensor& y, bool bf16 = false);
void rope(const Tensor& x, const Tensor& cos, const Tensor& sin, bool bf16 = false);
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
               const Tensor& out, bool bf16 = false);
void paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                     std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables, int window,
                     const Tensor& out, bool bf16 = false);
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out, bool bf16 = false);
void add(const Tensor& a, const Tensor& b, bool bf16 = false);
void scale_rows_by_sigmoid(const Tensor& x, const Tensor& g, bool bf16 = false);
void route_top_k(const Tensor& logits, int k);
void gather_rows(const Tensor& src, std::span<const int32_t> rows, const Tensor& dst, bool bf16 = false);
void scatter_rows(const Tensor& src, std::span<const int32_t> rows, const Tensor& dst, bool bf16 = false);
void scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                      const Tensor& dst, bool bf16 = false);

// ---- building blocks ----
// A contiguous float32 tensor with `ndim` dims (ndim < 0: any).
void f32(const Tensor& t, const char* op, const char* arg, int ndim = -1);
// An activation: as f32(), or also BF16 when `bf16`.
void act(const Tensor& t, const char* op, const char* arg, bool bf16, int ndim = -1);
// a and b of one dtype.
void same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* what);
// Row count = first dim; row width = product of the remaining dims.
int64_t rows_of(const Tensor& t);
int64_t row_width(const Tensor& t);
void same_numel(const Tensor& a, const Tensor& b, const char* op);
void weight(const Tensor& w, const char* op);  // contiguous 2-D F32/BF16/F16

[[noreturn]] void bad(const char* op, const std::string& what);

}  // namespace nova::kernels::checks
