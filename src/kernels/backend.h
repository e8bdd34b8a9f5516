// The op set a transformer forward needs, declared once. The model is written against this
// interface only; CpuBackend and the CUDA backend (kernels/cuda) implement it.
//
// Device neutrality: every tensor an op touches was made by the same backend (alloc / upload),
// so its data() may be host or device memory — only the backend dereferences it. Host data
// crosses the boundary explicitly through upload / download, and through the small host-side
// arguments below (token ids, routing decisions), which are plain values.
//
// Conventions: activations are contiguous, row-major; "rows" is the first dimension (tokens).
// Weights may be F32 / BF16 / F16 (linear, embedding); norm weights, biases, RoPE tables F32.
// Every op validates shapes and dtypes and throws nova::Error naming the op on misuse.
//
// Activation dtypes: every backend takes F32 activations. A backend whose
// supports_activation(DType::BF16) is true (the CUDA backend; the CPU backend is F32-only) also
// takes BF16 activations in the ops marked [bf16] below: each such tensor argument may be F32 or
// BF16 independently (e.g. a residual stream x in F32 with a BF16 delta), and the math stays fp32
// in registers (GEMMs accumulate in fp32; norms, softmax, RoPE, SwiGLU compute in fp32 and round
// once when they store BF16). Ops not marked take F32 only. The Transformer runs all-F32 or
// "BF16 mode" (model/transformer.h says which tensors are BF16 there).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace nova::kernels {

// One token row's expert choices: experts_per_token (expert, weight) pairs per row.
struct Routing {
  int64_t rows = 0;
  int k = 0;
  std::vector<int32_t> expert;  // [rows * k]
  std::vector<float> weight;    // [rows * k]
};

// One routed expert of an MoE block (a gated MLP: down(silu(gate x) * up x)), for
// Backend::moe_experts. Weights [inter, hidden] (gate, up) and [hidden, inter] (down); biases
// F32, optional (no checkpoint we load has them; the composition handles them anyway).
struct MoeExpert {
  const Tensor* gate = nullptr;
  const Tensor* up = nullptr;
  const Tensor* down = nullptr;
  const Tensor* gate_bias = nullptr;
  const Tensor* up_bias = nullptr;
  const Tensor* down_bias = nullptr;
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

// ---- sampling on the device (Backend::sample_rows) ----
// One row's sampling parameters: engine::SamplingParams' fields plus what the host Sampler would
// draw or compute itself (engine/device_sampler.h fills it). Plain values, copied to the device.
struct SamplingRow {
  float temperature = 1;  // <= 0: greedy (argmax, lowest id on ties; temperature 1 for logprobs)
  int32_t top_k = 0;      // 0: off
  float top_p = 1;        // 1: off
  float min_p = 0;        // 0: off
  float repetition_penalty = 1, presence_penalty = 0, frequency_penalty = 0;
  int32_t top_logprobs = 0;   // the n best logprobs to return
  double uniform = 0;         // [0, 1): the inverse-CDF draw (ignored when greedy)
  int64_t penalty_begin = 0;  // this row's entries in sample_rows' `penalties`
  int64_t penalty_count = 0;
};
// A token a row's penalties apply to, at most once per row: every id of the prompt and the
// generated tokens when repetition_penalty != 1 (else only generated ones), with how many times
// it was generated (presence / frequency penalty).
struct PenaltyEntry {
  int32_t id = 0;
  int32_t generated = 0;
};
struct SampledRow {
  enum class Status : int32_t {
    Ok = 0,
    BadLogit = 1,       // a NaN or +inf logit
    NoFiniteLogit = 2,  // every logit is -inf (after the penalties)
    NeedsHost = 3,      // outside what the device op decides exactly (see sample_rows): sample on the host
  };
  Status status = Status::Ok;
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // top_logprobs (id, logprob), best first, lowest id on ties
};

// Backend::sample_rows_async's result: the sampling is enqueued (and running), the chosen ids
// stay on the backend as ids() — the next decode step embeds them (Backend::embedding_ids) before
// the host has seen them — and wait() brings sample_rows()'s result to the host.
class PendingSamples {
 public:
  virtual ~PendingSamples() = default;
  // I32 [rows] on the backend: each row's chosen id; 0 for a row whose status is not Ok (that
  // row's host fallback or error decides, see wait()).
  const Tensor& ids() const { return ids_; }
  // What sample_rows() would have returned; waits for the backend the first time only.
  const std::vector<SampledRow>& wait();

 protected:
  explicit PendingSamples(Tensor ids) : ids_(std::move(ids)) {}
  virtual std::vector<SampledRow> finish() = 0;

 private:
  Tensor ids_;
  bool finished_ = false;
  std::vector<SampledRow> rows_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Whether the ops marked [bf16] take activations of `dtype` (F32: every backend).
  virtual bool supports_activation(DType dtype) const { return dtype == DType::F32; }

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
  // The same for ids held by this backend (I32 [n]: a PendingSamples' ids(), not yet on the host,
  // hence not checked: an id outside [0, rows) embeds row 0). Default: downloads them, embedding().
  virtual void embedding_ids(const Tensor& table, const Tensor& ids, Tensor& out);

  // [bf16] y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]); w is [N, K] as nn.Linear stores it.
  // x and y F32 or BF16, any weight dtype; the fast case of BF16 activations is BF16 w (tensor
  // cores: bf16 x bf16, fp32 accumulation, y rounded once), which the Transformer's BF16 mode uses.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) = 0;

  // [bf16] Each row of x (width = w.numel()): y = x * rsqrt(mean(x^2) + eps) * w, in float32.
  // x may be [rows, n * dim] and is then normalised per dim-wide group (per-head q/k norm).
  // y may alias x.
  virtual void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;

  // [bf16] In-place rotary embedding, rotate_half convention: x is [rows, heads, head_dim]; cos and
  // sin are [rows, rotary_dim / 2] (the per-row, per-frequency table). The first rotary_dim
  // features of each head are rotated as pairs (i, i + rotary_dim/2); the rest pass through.
  virtual void rope(Tensor& x, const Tensor& cos, const Tensor& sin) = 0;

  // [bf16: q and out of one dtype, the caches of one dtype] Causal attention of q rows at positions pos0
  // .. pos0+rows-1 over the cache rows [0, pos0 + rows). q: [rows, q_heads, head_dim]; k_cache, v_cache:
  // [capacity, kv_heads, head_dim] with q_heads % kv_heads == 0 (GQA: q head h reads kv head h /
  // (q_heads/kv_heads)). Row at position p attends to j <= p, and with window > 0 only to p - j <
  // window. softmax(q.k * scale) . v in float32; out: [rows, q_heads, head_dim].
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

  // [bf16] out = silu(gate) * up, elementwise (out may alias either input).
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  // [bf16] a += b, elementwise (a F32, b F32 or BF16 — the residual add — or both BF16).
  virtual void add(Tensor& a, const Tensor& b) = 0;
  // [bf16] x[r, :] *= sigmoid(g[r, 0]) for every row (the shared-expert gate; g F32).
  virtual void scale_rows_by_sigmoid(Tensor& x, const Tensor& g) = 0;

  // MoE router: per row of logits [rows, experts], softmax in float32, the top k experts
  // (ties: lower index first), weights renormalised to sum 1 when `normalize`.
  virtual Routing route_top_k(const Tensor& logits, int k, bool normalize) = 0;
  // [bf16] dst[i, :] = src[rows[i], :] (src and dst of one dtype).
  virtual void gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) = 0;
  // [bf16] dst[rows[i], :] = src[i, :], src and dst of one dtype (e.g. this step's K/V rows into their
  // paged-cache slots, with dst viewed as [num_blocks * block_size, ...]); rows must not repeat.
  virtual void scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) = 0;
  // [bf16] dst[rows[i], :] += weights[i] * src[i, :] (rows may repeat only across calls; dst F32,
  // src F32 or BF16).
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

  // [bf16] x += delta, then y = rmsnorm(x, w, eps): a residual add and the norm after it. y must not
  // alias x or delta. x is F32 (the residual stream); delta and y F32 or BF16.
  virtual void add_rmsnorm(Tensor& x, const Tensor& delta, const Tensor& w, float eps, Tensor& y) {
    add(x, delta);
    rmsnorm(x, w, eps, y);
  }

  // [bf16] Several linears of one input (the q, k, v projections): *y = x w^T (+ *bias) for each part.
  struct LinearPart {
    const Tensor* w = nullptr;
    const Tensor* bias = nullptr;
    Tensor* y = nullptr;
  };
  virtual void linears(const Tensor& x, std::span<const LinearPart> parts) {
    for (const LinearPart& p : parts) linear(x, *p.w, p.bias, *p.y);
  }

  // [bf16] out = silu(x w_gate^T) * (x w_up^T), out [rows, w_gate.dim(0)]: the gated MLP's first half
  // (linear, linear, swiglu) without biases.
  virtual void linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) {
    Tensor up = empty(out.dtype(), out.shape());
    linear(x, w_gate, nullptr, out);
    linear(x, w_up, nullptr, up);
    swiglu(out, up, out);
  }

  // [bf16: y, out, a] Decode fusions (one GEMV each on a device at batch 1): rmsnorm(x) then the
  // parts' linears, and rmsnorm(x) then linear_swiglu, with x F32 (the residual stream) and the
  // normalised rows (in the outputs' dtype) left unwritten; linear_add: x (F32) += a w^T (+ bias),
  // a projection and its residual add.
  virtual void rmsnorm_linears(const Tensor& x, const Tensor& norm_w, float eps, std::span<const LinearPart> parts) {
    Tensor h = empty(parts.empty() ? x.dtype() : parts[0].y->dtype(), x.shape());
    rmsnorm(x, norm_w, eps, h);
    linears(h, parts);
  }
  virtual void rmsnorm_linear_swiglu(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w_gate,
                                     const Tensor& w_up, Tensor& out) {
    Tensor h = empty(out.dtype(), x.shape());
    rmsnorm(x, norm_w, eps, h);
    linear_swiglu(h, w_gate, w_up, out);
  }
  virtual void linear_add(const Tensor& a, const Tensor& w, const Tensor* bias, Tensor& x) {
    Tensor y = empty(a.dtype(), x.shape());
    linear(a, w, bias, y);
    add(x, y);
  }

  // [bf16: x, with BF16 expert weights] The routed experts of an MoE block: route_top_k(router_logits, k, normalize), then
  // out[r, :] += sum over row r's k experts e, in expert-index order, of
  // weight(r, e) * down_e(silu(gate_e x[r]) * up_e x[r]). x: [rows, hidden]; router_logits:
  // [rows, experts.size()] F32; out: [rows, hidden] F32. Default (moe_experts.cpp): routing on the
  // host, then per expert in index order gather_rows, linear_swiglu, linear, scatter_add_rows —
  // the order transformers accumulates in. A device backend overrides it to route, permute and
  // run every expert in a few launches without a host synchronisation.
  virtual void moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                           bool normalize, Tensor& out);

  // [bf16: q, k, v of one dtype; k_dst, v_dst of one dtype, which may differ] rope(q), rope(k),
  // then this step's K/V rows into the cache: k_dst[rows[i]] = k[i] (rotated) and
  // v_dst[rows[i]] = v[i] (scatter_rows). q, k, v: [rows, heads, head_dim]; k_dst, v_dst:
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

  // [bf16] A layer's q/k/v projections, then RoPE and the K/V store after them: linears(x, qkv)
  // with qkv = {q, k, v} parts (outputs q, k, v as rope_store_kv takes them), then
  // rope_store_kv(q, k, v, cos, sin, rows, k_dst, v_dst). A device backend runs a prefill's as one
  // GEMM (q|k|v weights back to back) and one kernel reading the GEMM's output in place.
  virtual void linears_rope_store_kv(const Tensor& x, std::span<const LinearPart> qkv, const Tensor& cos,
                                     const Tensor& sin, std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) {
    if (qkv.size() != 3) fail("linears_rope_store_kv", "needs the q, k and v parts");
    linears(x, qkv);
    rope_store_kv(*qkv[0].y, *qkv[1].y, *qkv[2].y, cos, sin, rows, k_dst, v_dst);
  }

  // [bf16] RoPE, this step's K/V store and the attention after it (a decode step's middle): the
  // rows of q/k/v ([rows, heads, head_dim]) sit at positions pos0 .., so rope_store_kv(q, k, v,
  // cos, sin, {pos0, pos0 + 1, ..}, k_cache, v_cache) then attention(q, k_cache, v_cache, pos0,
  // window, scale, out). q and k are left unspecified (the composition rotates them in place; a
  // device backend's one kernel reads them as given). Default: that composition
  // (backend_rope_attention.cpp).
  virtual void rope_store_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                    Tensor& k_cache, Tensor& v_cache, int64_t pos0, int window, float scale,
                                    Tensor& out);
  // The same over a paged cache: each sequence's rows q_begin .. + q_rows go to its positions
  // pos0 .., stored at the slots its block table gives (block * block_size + p % block_size of
  // k_blocks / v_blocks viewed as [num_blocks * block_size, kv_heads, head_dim]), then
  // paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, scale, out).
  virtual void rope_store_paged_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                          const Tensor& sin, Tensor& k_blocks, Tensor& v_blocks,
                                          std::span<const PagedAttentionSeq> seqs,
                                          std::span<const int32_t> block_tables, int window, float scale,
                                          Tensor& out);

  // ---- sampling ----
  // Whether sample_rows() runs here (a device backend). The CPU backend says no: the engine then
  // downloads the logits and samples with engine::Sampler on the host.
  virtual bool samples_on_device() const { return false; }
  // Samples one token per row of logits [rows.size(), vocab] F32 (the backend's tensor, left
  // unchanged) with engine::Sampler's exact algorithm (engine/sampler.h): penalties, temperature,
  // top_k (ties at the k-th value survive), top_p (most-likely-first, the crossing token kept),
  // min_p, the inverse-CDF draw at `uniform` (id order, or most likely first after top_p), the
  // chosen id's logprob and the top_logprobs best — only those come back. Doubles where the
  // Sampler uses doubles; sums may be reordered, so a draw within rounding of a cumulative sum may
  // pick a neighbour. A row the device cannot decide exactly (the top_k / top_logprobs / top_p
  // survivors past the device's candidate list, kernels/cuda/sampling.cuh) comes back NeedsHost.
  // Synchronous (the results are on the host on return). Default: throws (no device sampling).
  virtual std::vector<SampledRow> sample_rows(const Tensor& logits, std::span<const SamplingRow> rows,
                                              std::span<const PenaltyEntry> penalties);
  // sample_rows() without waiting: returns once the work is enqueued (the logits may be released
  // meanwhile: the pending result keeps what it needs). A device backend also closes the step
  // here, so the host can record the next one while this one runs. Default: sample_rows() now.
  virtual std::unique_ptr<PendingSamples> sample_rows_async(const Tensor& logits, std::span<const SamplingRow> rows,
                                                            std::span<const PenaltyEntry> penalties);
};

}  // namespace nova::kernels
