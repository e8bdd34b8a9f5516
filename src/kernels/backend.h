// The op set a transformer forward needs, declared once. The model is written against this
// interface only; CpuBackend and the CUDA backend (kernels/cuda) implement it.
//
// Device neutrality: every tensor an op touches was made by the same backend (alloc / upload),
// so its data() may be host or device memory — only the backend dereferences it. Host data
// crosses the boundary explicitly through upload / download, and through the small host-side
// arguments below (token ids, routing decisions), which are plain values.
//
// Conventions: activations are float32, contiguous, row-major; "rows" is the first dimension
// (tokens). Weights may be F32 / BF16 / F16 (linear, embedding); norm weights and biases F32.
// Every op validates shapes and dtypes and throws nova::Error naming the op on misuse.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nova::kernels {

// One token row's expert choices: experts_per_token (expert, weight) pairs per row.
struct Routing {
  int64_t rows = 0;
  int k = 0;
  std::vector<int32_t> expert;  // [rows * k]
  std::vector<float> weight;    // [rows * k]
};

// One sequence of a paged_attention call: its query rows q[q_begin, q_begin + q_rows) sit at
// positions pos0 .. pos0 + q_rows - 1; its KV positions p live in block
// block_tables[table_begin + p / block_size], slot p % block_size.
struct PagedAttentionSeq {
  int64_t q_begin = 0;
  int64_t q_rows = 0;
  int64_t pos0 = 0;
  int64_t table_begin = 0;
  int64_t table_size = 0;  // blocks in its table; must cover positions [0, pos0 + q_rows)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // ---- memory ----
  // A zero-filled tensor in this backend's memory.
  virtual Tensor alloc(DType dtype, std::vector<int64_t> shape) = 0;
  // Makes a host tensor (e.g. a mmapped weight) usable by ops. The CPU backend returns the same
  // view, zero-copy; a device backend copies.
  virtual Tensor upload(const Tensor& host) = 0;
  // Copies a backend tensor's bytes to host memory of size t.nbytes().
  virtual void download(const Tensor& t, void* host_dst) = 0;
  // dst[row0 + i, ...] = src[i, ...] for every row i of src (same row size and dtype).
  virtual void copy_rows(const Tensor& src, Tensor& dst, int64_t row0) = 0;

  // ---- ops ----
  // out[i, :] = table[ids[i], :] converted to float32. Throws if an id is outside [0, rows).
  virtual void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) = 0;

  // y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]); w is [N, K] as nn.Linear stores it.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) = 0;

  // Each row of x (width = w.numel()): y = x * rsqrt(mean(x^2) + eps) * w, in float32.
  // x may be [rows, n * dim] and is then normalised per dim-wide group (per-head q/k norm).
  // y may alias x.
  virtual void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;

  // In-place rotary embedding, rotate_half convention: x is [rows, heads, head_dim]; cos and
  // sin are [rows, rotary_dim / 2] (the per-row, per-frequency table). The first rotary_dim
  // features of each head are rotated as pairs (i, i + rotary_dim/2); the rest pass through.
  virtual void rope(Tensor& x, const Tensor& cos, const Tensor& sin) = 0;

  // Causal attention of q rows at positions pos0 .. pos0+rows-1 over the cache rows
  // [0, pos0 + rows). q: [rows, q_heads, head_dim]; k_cache, v_cache: [capacity, kv_heads,
  // head_dim] with q_heads % kv_heads == 0 (GQA: q head h reads kv head h / (q_heads/kv_heads)).
  // Row at position p attends to j <= p, and with window > 0 only to p - j < window.
  // softmax(q.k * scale) . v in float32; out: [rows, q_heads, head_dim].
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0,
                         int window, float scale, Tensor& out) = 0;

  // attention() over a paged KV cache, for several sequences in one call (one launch on a
  // device; every (row, head) of every sequence is independent work). k_blocks, v_blocks:
  // [num_blocks, block_size, kv_heads, head_dim]; q, out: [total_rows, q_heads, head_dim]. Each
  // sequence's rows attend causally (and within `window`) over its own blocks only, with the
  // same math as attention(). Rows of q that no sequence names are left untouched in out.
  virtual void paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                               std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables,
                               int window, float scale, Tensor& out) = 0;

  // out = silu(gate) * up, elementwise (out may alias either input).
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  // a += b, elementwise.
  virtual void add(Tensor& a, const Tensor& b) = 0;
  // x[r, :] *= sigmoid(g[r, 0]) for every row (the shared-expert gate).
  virtual void scale_rows_by_sigmoid(Tensor& x, const Tensor& g) = 0;

  // MoE router: per row of logits [rows, experts], softmax in float32, the top k experts
  // (ties: lower index first), weights renormalised to sum 1 when `normalize`.
  virtual Routing route_top_k(const Tensor& logits, int k, bool normalize) = 0;
  // dst[i, :] = src[rows[i], :].
  virtual void gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) = 0;
  // dst[rows[i], :] = src[i, :] (e.g. this step's K/V rows into their paged-cache slots, with
  // dst viewed as [num_blocks * block_size, ...]); rows must not repeat.
  virtual void scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) = 0;
  // dst[rows[i], :] += weights[i] * src[i, :] (rows may repeat only across calls).
  virtual void scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                                Tensor& dst) = 0;

  // ---- fused ops ----
  // Each is defined as the composition of the ops above, and that composition is the default: a
  // backend needs to override none of them. A device backend does, to run a decode step in fewer
  // launches and passes over memory (each launch costs microseconds of host and GPU time at
  // batch 1). Overrides compute the same function (same fp32 math; reductions may be reordered).

  // A tensor like alloc()'s whose contents are unspecified, for outputs an op overwrites whole
  // (spares alloc()'s zero-fill). Default: alloc().
  virtual Tensor empty(DType dtype, std::vector<int64_t> shape) { return alloc(dtype, std::move(shape)); }

  // x += delta, then y = rmsnorm(x, w, eps): a residual add and the norm after it. y must not
  // alias x or delta.
  virtual void add_rmsnorm(Tensor& x, const Tensor& delta, const Tensor& w, float eps, Tensor& y) {
    add(x, delta);
    rmsnorm(x, w, eps, y);
  }

  // Several linears of one input (the q, k, v projections): *y = x w^T (+ *bias) for each part.
  struct LinearPart {
    const Tensor* w = nullptr;
    const Tensor* bias = nullptr;
    Tensor* y = nullptr;
  };
  virtual void linears(const Tensor& x, std::span<const LinearPart> parts) {
    for (const LinearPart& p : parts) linear(x, *p.w, p.bias, *p.y);
  }

  // out = silu(x w_gate^T) * (x w_up^T), out [rows, w_gate.dim(0)]: the gated MLP's first half
  // (linear, linear, swiglu) without biases.
  virtual void linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) {
    Tensor up = empty(DType::F32, out.shape());
    linear(x, w_gate, nullptr, out);
    linear(x, w_up, nullptr, up);
    swiglu(out, up, out);
  }

  // rope(q), rope(k), then this step's K/V rows into the cache: k_dst[rows[i]] = k[i] (rotated)
  // and v_dst[rows[i]] = v[i] (scatter_rows). q, k, v: [rows, heads, head_dim]; k_dst, v_dst:
  // [slots, kv_heads, head_dim] (a contiguous cache's rows, or a paged cache viewed as
  // [num_blocks * block_size, ...]).
  virtual void rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                             std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) {
    rope(q, cos, sin);
    rope(k, cos, sin);
    // A contiguous cache's rows (consecutive, one per K/V row): a plain row copy.
    bool consecutive = !rows.empty() && static_cast<int64_t>(rows.size()) == k.dim(0);
    for (size_t i = 1; i < rows.size() && consecutive; ++i) consecutive = rows[i] == rows[0] + static_cast<int32_t>(i);
    if (consecutive) {
      copy_rows(k, k_dst, rows[0]);
      copy_rows(v, v_dst, rows[0]);
    } else {
      scatter_rows(k, rows, k_dst);
      scatter_rows(v, rows, v_dst);
    }
  }
};

}  // namespace nova::kernels
