// Launchers of the CUDA backend's kernels (one .cu file per op family). Pointers are device
// pointers; every launcher enqueues on `stream` and returns without synchronising. Shapes were
// validated by CudaBackend before these are called.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace nova::kernels::cuda {

// ---- elementwise.cu ----
void launch_embedding(const void* table, DType dtype, int64_t dim, const int32_t* ids, int64_t n, float* out,
                      cudaStream_t s);
void launch_rmsnorm(const float* x, int64_t groups, int64_t dim, const float* w, float eps, float* y, cudaStream_t s);
// The rmsnorm of rows (x_in + delta, when delta is given), the sum also written to x_out when
// given (fused.cu): rows held in registers with 16-byte loads where they fit (width a multiple of
// 4 up to 8192, 16-byte aligned pointers), else one block looping over each row.
void launch_norm(const float* x_in, const float* delta, float* x_out, int64_t groups, int64_t dim, const float* w,
                 float eps, float* y, cudaStream_t s);
// x += delta, then y = rmsnorm(x) (y aliases neither).
void launch_add_rmsnorm(float* x, const float* delta, int64_t groups, int64_t dim, const float* w, float eps, float* y,
                        cudaStream_t s);
// rope() of q and k in place, then k_dst[rows[i]] = k[i], v_dst[rows[i]] = v[i] (rows on the device).
struct RopeStoreArgs {
  float* q;
  float* k;
  const float* v;
  const float* cos;
  const float* sin;
  const int32_t* rows;
  float* k_dst;
  float* v_dst;
  int64_t n, q_heads, kv_heads, head_dim, half;
};
void launch_rope_store_kv(const RopeStoreArgs& a, cudaStream_t s);
void launch_rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                 int64_t half, cudaStream_t s);
void launch_swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t s);
void launch_add(float* a, const float* b, int64_t n, cudaStream_t s);
void launch_scale_rows_by_sigmoid(float* x, int64_t rows, int64_t width, const float* g, cudaStream_t s);
void launch_add_bias(float* y, int64_t rows, int64_t n, const float* bias, cudaStream_t s);
void launch_gather_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst, cudaStream_t s);
void launch_scatter_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst, cudaStream_t s);
void launch_scatter_add_rows(const float* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                             float* dst, cudaStream_t s);
// dst (BF16 or F16) = round-to-nearest-even of src.
void launch_convert_f32(const float* src, int64_t n, void* dst, DType dtype, cudaStream_t s);

// ---- gemv.cu ----
// y[n] = sum_k x[k] * w[n, k] for one row x (decode at batch 1), w BF16 or F16, fp32 math.
void launch_gemv(const float* x, const void* w, DType dtype, int64_t N, int64_t K, float* y, cudaStream_t s);
bool gemv_supports(DType dtype, int64_t K);
// Several matrices of one input in one launch (q, k, v): y[i] = w[i] x, w[i] [rows[i], K].
constexpr int kGemvMaxParts = 3;
struct GemvParts {
  const void* w[kGemvMaxParts];
  float* y[kGemvMaxParts];
  int64_t rows[kGemvMaxParts];
  int64_t parts;  // 64-bit: no padding (the bytes are a launch signature)
};
void launch_gemv_parts(const float* x, const GemvParts& p, DType dtype, int64_t K, cudaStream_t s);
// out[n] = silu(w_gate[n] . x) * (w_up[n] . x), both [N, K]: the gated MLP's first half.
void launch_gemv_swiglu(const float* x, const void* w_gate, const void* w_up, DType dtype, int64_t N, int64_t K,
                        float* out, cudaStream_t s);

// ---- attention.cu ----
// One sequence's share of a paged attention call, on the device.
struct AttnSeq {
  int64_t q_begin, q_rows, pos0, table_begin;
};
// A block's work: virtual rows [v0, v0 + nv) of sequence `seq`, where virtual row v is
// (query row v / group, q head kv_head * group + v % group).
struct AttnTile {
  int32_t seq, v0, nv;
};
constexpr int kAttnTileRows = 16;
constexpr int kAttnMaxHeadDim = 256;
constexpr int kAttnMaxSplits = 64;  // flash-decoding splits per tile, at most
// Small calls (decode: a sequence or two) carry their descriptors inside the kernel parameters,
// saving the staging copy's driver calls, which dominate a decode step's host time.
constexpr int kAttnInlineSeqs = 4, kAttnInlineTiles = 16, kAttnInlineTables = 512;
struct AttnArgs {
  const float* q;
  const float* k;
  const float* v;
  const AttnSeq* seqs;  // device arrays, or null when the inline copies below are used
  const AttnTile* tiles;
  const int32_t* tables;
  AttnSeq seqs_inline[kAttnInlineSeqs];
  AttnTile tiles_inline[kAttnInlineTiles];
  int32_t tables_inline[kAttnInlineTables];
  int64_t block_size;
  int num_tiles, q_heads, kv_heads, head_dim, window, splits;
  int64_t total_rows;
  float scale;
  float* out;
  float* part_o;   // [splits, total_rows, q_heads, head_dim] when splits > 1
  float* part_ml;  // [splits, total_rows, q_heads, 2] when splits > 1
  int* counters;   // [num_tiles, kv_heads], zero, when splits > 1: the last split block merges
};
void launch_attention(const AttnArgs& a, cudaStream_t s);
// Once per backend, before any capture: raises the kernel's shared-memory limit.
void prepare_attention();

// ---- attention_tc.cu ----
// The same call on tensor cores (bf16 operands, fp32 accumulation) for large prefills: tiles of
// attention_tc_tile_rows(head_dim) virtual rows, splits == 1, head_dim a multiple of 16 up to
// kAttnTcMaxHeadDim.
int attention_tc_tile_rows(int head_dim);
constexpr int kAttnTcMaxHeadDim = 128;
void launch_attention_tc(const AttnArgs& a, cudaStream_t s);
void prepare_attention_tc();

// ---- routing.cu ----
void launch_route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                        float* weight, cudaStream_t s);

}  // namespace nova::kernels::cuda
