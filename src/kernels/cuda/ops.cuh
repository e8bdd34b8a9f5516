// Launchers of the CUDA backend's kernels (one .cu file per op family). Pointers are device
// pointers; every launcher enqueues on `stream` and returns without synchronising. Shapes were
// validated by CudaBackend before these are called.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace nova::kernels::cuda {

// ---- elementwise.cu ----
// Activations (`act`, `xt`, ... arguments) are F32 or BF16 (backend.h's [bf16] ops): kernels load
// either into fp32 registers, compute in fp32, and round once when they store BF16.
// Table rows [vocab, dim]; an id outside [0, vocab) (device-held ids, never checked on the host)
// reads row 0.
void launch_embedding(const void* table, DType dtype, int64_t vocab, int64_t dim, const int32_t* ids, int64_t n,
                      float* out, cudaStream_t s);
void launch_rmsnorm(const void* x, DType xt, int64_t groups, int64_t dim, const float* w, float eps, void* y, DType yt,
                    cudaStream_t s);
// The rmsnorm of rows (x_in + delta, when delta is given), the sum also written to x_out (F32) when
// given (fused.cu): rows held in registers with 16-byte (F32) / 8-byte (BF16) loads where they fit
// (width a multiple of 4 up to 8192, aligned pointers), else one block looping over each row.
void launch_norm(const void* x_in, DType xt, const void* delta, DType dt, float* x_out, int64_t groups, int64_t dim,
                 const float* w, float eps, void* y, DType yt, cudaStream_t s);
// x (F32) += delta, then y = rmsnorm(x) (y aliases neither).
void launch_add_rmsnorm(float* x, const void* delta, DType dt, int64_t groups, int64_t dim, const float* w, float eps,
                        void* y, DType yt, cudaStream_t s);
// rope() of q and k in place, then k_dst[rows[i]] = k[i], v_dst[rows[i]] = v[i] (rows on the device).
// q, k, v hold `act` elements, k_dst and v_dst `kv` elements.
struct RopeStoreArgs {
  void* q;
  void* k;
  const void* v;
  const float* cos;
  const float* sin;
  const int32_t* rows;
  void* k_dst;
  void* v_dst;
  int64_t n, q_heads, kv_heads, head_dim, half;
  DType act, kv;
  // Optional: q, k and v read from one [n, packed_row] matrix (q | k | v columns, `act` elements:
  // a q|k|v GEMM's output) instead of q, k, v, which are then written whole (rotated / as read).
  const void* packed;
  int64_t packed_row;
};
void launch_rope_store_kv(const RopeStoreArgs& a, cudaStream_t s);
// Whether launch_rope_store_kv can take `a` with a.packed set (and a.packed_row): the vectorised
// kernel's layout (half and head_dim multiples of 4, aligned rows).
bool rope_store_kv_reads_packed(const RopeStoreArgs& a);
// Prefill with packed weights (fused.cu; CudaBackend::linears / linear_swiglu when a layer's
// q|k|v or gate|up weights lie back to back): the columns of one [rows, sum of parts] GEMM output
// into separate [rows, part] matrices, each part's row `bytes` a multiple of 16, every pointer
// 16-byte aligned.
constexpr int kSplitMaxParts = 3;
struct ColumnSplit {
  void* dst[kSplitMaxParts];
  int64_t bytes[kSplitMaxParts];
  int64_t parts;  // 64-bit: no padding (the bytes are a launch signature)
};
void launch_split_columns(const void* src, int64_t rows, const ColumnSplit& p, cudaStream_t s);
// out[r, j] = silu(gu[r, j]) * gu[r, n + j]: the SwiGLU of a GEMM over packed gate|up weights
// (gu [rows, 2n], out [rows, n], both `act`; n % 8 == 0, 16-byte aligned).
void launch_swiglu_packed(const void* gu, int64_t rows, int64_t n, void* out, DType act, cudaStream_t s);
void launch_rope(void* x, DType act, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                 int64_t half, cudaStream_t s);
void launch_swiglu(const void* gate, const void* up, int64_t n, void* out, DType act, cudaStream_t s);
// a += b: a F32 and b F32 or BF16, or both BF16.
void launch_add(void* a, DType at, const void* b, DType bt, int64_t n, cudaStream_t s);
void launch_scale_rows_by_sigmoid(void* x, DType act, int64_t rows, int64_t width, const float* g, cudaStream_t s);
void launch_add_bias(void* y, DType act, int64_t rows, int64_t n, const float* bias, cudaStream_t s);
void launch_gather_rows(const void* src, DType act, int64_t width, const int32_t* rows, int64_t n, void* dst,
                        cudaStream_t s);
void launch_scatter_rows(const void* src, DType act, int64_t width, const int32_t* rows, int64_t n, void* dst,
                         cudaStream_t s);
// dst (F32) rows += weights[i] * src rows (src F32 or BF16).
void launch_scatter_add_rows(const void* src, DType act, int64_t width, const int32_t* rows, const float* weights,
                             int64_t n, float* dst, cudaStream_t s);
// dst (dt) = src (st), through fp32, rounding to nearest even; st, dt in {F32, BF16, F16}.
void launch_convert(const void* src, DType st, int64_t n, void* dst, DType dt, cudaStream_t s);

// ---- gemv.cu ----
// y[n] = sum_k x[k] * w[n, k] for one row x (decode at batch 1), w BF16 or F16, fp32 math.
// x (xt) and y (yt) are F32 or BF16 activations; K a multiple of 8 (gemv_supports).
void launch_gemv(const void* x, DType xt, const void* w, DType wt, int64_t N, int64_t K, void* y, DType yt,
                 cudaStream_t s);
bool gemv_supports(DType dtype, int64_t K);
// Several matrices of one input in one launch (q, k, v): y[i] = w[i] x, w[i] [rows[i], K].
constexpr int kGemvMaxParts = 3;
struct GemvParts {
  const void* w[kGemvMaxParts];
  void* y[kGemvMaxParts];  // each of launch_gemv_parts' yt
  int64_t rows[kGemvMaxParts];
  int64_t parts;  // 64-bit: no padding (the bytes are a launch signature)
};
void launch_gemv_parts(const void* x, DType xt, const GemvParts& p, DType wt, int64_t K, DType yt, cudaStream_t s);
// out[n] = silu(w_gate[n] . x) * (w_up[n] . x), both [N, K]: the gated MLP's first half.
void launch_gemv_swiglu(const void* x, DType xt, const void* w_gate, const void* w_up, DType wt, int64_t N, int64_t K,
                        void* out, DType yt, cudaStream_t s);
// Decode fusions. The same with RMSNorm folded in: y = w . (rmsnorm(x) * norm_w) for an F32 row x
// of K (every warp sums x^2 along its own pass over x: no normalised row in memory, no norm kernel).
void launch_rmsnorm_gemv_parts(const float* x, const float* norm_w, float eps, const GemvParts& p, DType wt, int64_t K,
                               DType yt, cudaStream_t s);
void launch_rmsnorm_gemv_swiglu(const float* x, const float* norm_w, float eps, const void* w_gate, const void* w_up,
                                DType wt, int64_t N, int64_t K, void* out, DType yt, cudaStream_t s);
// y (F32) += w x: a projection with the residual add in its epilogue.
void launch_gemv_add(const void* x, DType xt, const void* w, DType wt, int64_t N, int64_t K, float* y, cudaStream_t s);

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
// q and out hold `act` elements (F32 or BF16), the K/V cache `kv` elements (F32 or BF16); the
// math is fp32 either way (scores, softmax, the partials of part_o/part_ml).
struct AttnArgs {
  const void* q;
  const void* k;
  const void* v;
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
  DType act, kv;
  void* out;
  float* part_o;   // [splits, total_rows, q_heads, head_dim] when splits > 1
  float* part_ml;  // [splits, total_rows, q_heads, 2] when splits > 1
  int* counters;   // [num_tiles, kv_heads], zero, when splits > 1: the last split block merges
  int tile_rows;   // attention_decode.cu: the most virtual rows of any tile (0: kAttnDecodeRows)
  // attention_decode.cu only, rope_cos non-null: RoPE and the K/V store fused into the call
  // (Backend::rope_store_attention). q holds this step's rows unrotated (the kernel rotates them as
  // it loads them, q itself stays as it is); each sequence's rows q_begin .. + q_rows of new_k
  // (unrotated) and new_v ([total_rows, kv_heads, head_dim], `act`) are its positions pos0 ..,
  // which the split block covering them rotates and writes into the cache at the slots the block
  // tables give (reading them back only after a barrier). Needs one tile per sequence (q_rows *
  // group <= tile rows), full or partial rotary with rope_half % 8 == 0, cos/sin [total_rows,
  // rope_half]; new_k, new_v, cos and sin 16-byte aligned.
  const void* new_k;
  const void* new_v;
  const float* rope_cos;
  const float* rope_sin;
  int64_t rope_half;
};
void launch_attention(const AttnArgs& a, cudaStream_t s);
// Once per backend, before any capture: raises the kernel's shared-memory limit.
void prepare_attention();

// ---- attention_decode.cu ----
// The same call for decode-shaped work (a few query rows per sequence): tiles of at most
// kAttnDecodeRows virtual rows (AttnArgs::tile_rows: the most of any tile), head_dim 64 or 128,
// q / k / v / out 16-byte aligned. Splits > 1 merge in a thread-block cluster (Hopper, up to 8
// splits) or else through part_o, part_ml and counters (the last split block of a tile merges),
// in split order either way; pass all three.
constexpr int kAttnDecodeRows = 8;
bool attention_decode_supports(int head_dim);  // false for all under NOVA_CUDA_ATTN_DECODE=0
// Flash-decoding splits for `blocks` (tiles x kv heads) and a cache of max_keys positions.
int attention_decode_splits(int64_t blocks, int64_t max_keys, int sm_count);
void launch_attention_decode(const AttnArgs& a, cudaStream_t s);
// Whether a call of `splits` takes the fused RoPE + K/V store (AttnArgs::rope_cos): one split or a
// cluster's merge, i.e. batch-1 decode at short contexts, where it was measured end to end (H100:
// 1B at 512 positions 875.6 -> 898.1 tok/s). Longer contexts keep rope_store_kv + the plain call,
// whose forward key order their bandwidth figures were measured with (the fused call visits a
// split's keys from its end down; not yet measured there).
bool attention_decode_fuses_rope(int splits);
// What CudaBackend::run_attention needs for the fused RoPE + K/V store (AttnArgs::rope_cos):
// this step's k / v rows (unrotated, q's dtype) and the RoPE rows of the step's rows.
struct AttnRopeStore {
  const void* k;
  const void* v;
  const float* cos;
  const float* sin;
  int64_t half;
};

// ---- attention_tc.cu ----
// The same call on tensor cores (bf16 operands, fp32 accumulation) for large prefills: tiles of
// attention_tc_tile_rows(head_dim) virtual rows, splits == 1, head_dim a multiple of 16 up to
// kAttnTcMaxHeadDim.
int attention_tc_tile_rows(int head_dim);
constexpr int kAttnTcMaxHeadDim = 128;
void launch_attention_tc(const AttnArgs& a, cudaStream_t s);
void prepare_attention_tc();

// ---- attention_prefill.cu ----
// The same call for BF16 q / out and a BF16 KV cache on mma.sync (FlashAttention-2, the training
// forward's tile code): tiles of attention_prefill_tile_rows(head_dim) query rows of one sequence
// (AttnTile: seq, v0 = its first query row, nv = its rows), one block per (tile, q head),
// splits == 1; head_dim 64 or 128, q / k / v / out 16-byte aligned.
bool attention_prefill_supports(int head_dim);
int attention_prefill_tile_rows(int head_dim);
void launch_attention_prefill(const AttnArgs& a, cudaStream_t s);
void prepare_attention_prefill();

// ---- routing.cu ----
void launch_route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                        float* weight, cudaStream_t s);

}  // namespace nova::kernels::cuda
