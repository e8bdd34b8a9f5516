// Decode at batch 1: y = W x with W [N, K] in bf16/f16 and x, y float32 or bf16. The step is bound
// by streaming W once from HBM, so the kernels are built around bytes in flight and nothing else
// moving:
//   - a block of 256 threads owns a tile of kRows (8) rows and spans K: thread t reads 16-byte
//     chunks t, t + 256, ... of every row of the tile (a warp reads 512 contiguous bytes of a row
//     per load), all 8 rows' loads in flight before the first is used (32 KB per block, 4 blocks
//     per SM: 128 KB in flight per SM; more rounds ahead or 128-thread blocks measured no faster);
//   - x is read once per block and reused from registers by the tile's 8 rows (the previous
//     kernel had one warp per row, each re-reading x and, with the RMSNorm folded in, the norm
//     weights: 4x the weight bytes through L1 for q|k|v, 11.8 us in ncu against 8.8 us now);
//   - the folded RMSNorm's sum of squares is one block reduction over the x the block reads anyway;
//   - weights bypass L1 and are marked evict-first in L2 (read once per step; measured neutral in
//     the micro-benchmark, kept so activations and the KV cache keep L2).
// The rows' partial sums are reduced across the block in a fixed order (deterministic; no atomics).
//
// Programmatic dependent launch (pdl_launch.cuh): on Hopper each GEMV starts while the kernel
// before it finishes, issues its first weight loads (which depend on nothing) and only then waits
// for x: the weights stream across kernel boundaries. It lets the launch after it start once x
// has arrived. NOVA_CUDA_PDL=0 turns it off.
//
// Fused forms: several matrices of one input in one launch (q, k and v: rows of the parts are
// numbered one after another), gate/up pairs with silu(gate) * up in the epilogue, the RMSNorm of
// x folded into the prologue, and the residual add y += W x in the epilogue.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 8;    // weight rows per block (4 gate/up pairs for the SwiGLU form)
// Resident blocks per SM the registers must allow: 4 (64 registers a thread) for the parts kernel,
// 3 for the SwiGLU one (its epilogue needs more; at 64 it spills).
constexpr int kMinBlocksParts = 4, kMinBlocksSwiglu = 3;

// Streams the weights: no L1 allocation, first to be evicted from L2.
__device__ __forceinline__ uint4 load_weights(const uint4* p, uint64_t policy) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p), "l"(policy));
  return v;
}

__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

__device__ __forceinline__ void unpack8(const uint4& p, float (&f)[8], const __nv_bfloat16*) {
  const uint32_t u[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(u[i] << 16);
    f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
  }
}

__device__ __forceinline__ void unpack8(const uint4& p, float (&f)[8], const __half*) {
  const __half2* h = reinterpret_cast<const __half2*>(&p);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __half22float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

// 16 bytes of an activation, written by the kernel before this one: a plain coherent load, kept
// after pdl_wait() (volatile, memory clobber). Not ld.global.nc (__ldg): that path assumes the data
// is constant for the kernel's lifetime, which under programmatic dependent launch it is not (the
// kernel before may still be writing it when this one starts). With __ldg here the bf16 fixtures'
// decode went wrong with PDL on (greedy agreement 2/32 per fixture instead of 31/32; right with
// NOVA_CUDA_PDL=0 or with this load).
__device__ __forceinline__ uint4 load_act(const void* p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

// Eight activations x[8c .. 8c + 8) as float32 (one 16-byte load of bf16, two of float).
__device__ __forceinline__ void load_x8(const float* x, int64_t c, float (&f)[8]) {
  const uint4 a = load_act(reinterpret_cast<const uint4*>(x) + 2 * c);
  const uint4 b = load_act(reinterpret_cast<const uint4*>(x) + 2 * c + 1);
  f[0] = __uint_as_float(a.x), f[1] = __uint_as_float(a.y), f[2] = __uint_as_float(a.z), f[3] = __uint_as_float(a.w);
  f[4] = __uint_as_float(b.x), f[5] = __uint_as_float(b.y), f[6] = __uint_as_float(b.z), f[7] = __uint_as_float(b.w);
}
__device__ __forceinline__ void load_x8(const __nv_bfloat16* x, int64_t c, float (&f)[8]) {
  unpack8(load_act(reinterpret_cast<const uint4*>(x) + c), f, x);
}
// The RMSNorm weights: constant for the model's lifetime.
__device__ __forceinline__ void load_norm8(const float* w, int64_t c, float (&f)[8]) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(w) + 2 * c);
  const float4 b = __ldg(reinterpret_cast<const float4*>(w) + 2 * c + 1);
  f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}

// y[n] = v, rounded to bf16 when the output is bf16.
__device__ __forceinline__ void store_y(void* y, bool y16, int64_t n, float v) {
  if (y16) static_cast<__nv_bfloat16*>(y)[n] = __float2bfloat16_rn(v);
  else static_cast<float*>(y)[n] = v;
}

template <class T>
__device__ __forceinline__ float dot8(const uint4& p, const float (&x)[8]) {
  float f[8];
  unpack8(p, f, static_cast<const T*>(nullptr));
  float s = f[0] * x[0];
#pragma unroll
  for (int i = 1; i < 8; ++i) s = fmaf(f[i], x[i], s);
  return s;
}

// The fusions a launch may add around its dot products (kernel parameters): RMSNorm folded into
// the prologue (norm_w non-null, x float32), and the residual add in the epilogue (accumulate:
// y float32, y += w . x).
struct Fuse {
  const float* norm_w;
  float eps;
  int accumulate;
};

// out[r] = row r of w . x over all K / 8 chunks, for the block's kRows rows (w[r] the rows' starts),
// valid in threads 0 .. kRows - 1 (the others' are partial). NORM: x is multiplied by f.norm_w and
// the results scaled by the RMSNorm factor of x (rmsnorm()'s arithmetic: 1 / sqrt(mean x^2 + eps)).
// Every thread of the block must call it.
template <class T, class XT, bool NORM>
__device__ __forceinline__ void tile_dot(const uint4* const (&w)[kRows], const XT* __restrict__ x, int64_t chunks,
                                         const Fuse& f, float (&out)[kRows]) {
  const uint64_t policy = evict_first_policy();
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  float sq = 0.0f;  // this thread's share of sum x^2 (NORM)
  // The first round's weights depend on nothing: asked for before x (the previous kernel's
  // output) may be read, so that they stream while that kernel finishes.
  int64_t c = threadIdx.x;
  uint4 p[kRows];
  if (c < chunks)
#pragma unroll
    for (int r = 0; r < kRows; ++r) p[r] = load_weights(w[r] + c, policy);
  pdl_wait();
  // The next launch may start now that x is here (not at this kernel's start): its weight loads
  // then overlap this kernel's stream, not the latency-bound kernel before it (1B decode on an
  // H100: +0.6%, three interleaved pairs).
  pdl_trigger();
  for (; c < chunks; c += kThreads) {
    if (c != threadIdx.x)
#pragma unroll
      for (int r = 0; r < kRows; ++r) p[r] = load_weights(w[r] + c, policy);
    float xv[8];
    load_x8(x, c, xv);
    if constexpr (NORM) {
      float g[8];
      load_norm8(f.norm_w, c, g);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        sq = fmaf(xv[i], xv[i], sq);
        xv[i] *= g[i];
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] += dot8<T>(p[r], xv);
  }
  NOVA_TRACE_POINT(2);
  // Block reduction in a fixed order: warp sums, then thread r adds the warps' sums of row r.
  __shared__ float part[kWarps][kRows + 1];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = warp_sum(acc[r]);
  if constexpr (NORM) sq = warp_sum(sq);
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) part[warp][r] = acc[r];
    part[warp][kRows] = sq;
  }
  __syncthreads();
  NOVA_TRACE_POINT(3);
  if (threadIdx.x >= kRows) return;
  float inv = 1.0f;
  if constexpr (NORM) {
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < kWarps; ++j) ss += part[j][kRows];
    inv = 1.0f / sqrtf(ss / static_cast<float>(chunks * 8) + f.eps);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < kWarps; ++j) s += part[j][r];
    out[r] = s * inv;
  }
}

template <class T, class XT, bool NORM>
__global__ void __launch_bounds__(kThreads, kMinBlocksParts) gemv_parts_kernel(const XT* __restrict__ x,
                                                              const __grid_constant__ GemvParts g, int64_t K,
                                                              bool y16, Fuse f) {
  NOVA_TRACE_POINT(0);
  // The tile's rows, numbered across the parts; rows past the last part read the first row
  // again (valid memory, result dropped).
  const uint4* w[kRows];
  const int64_t first = int64_t{blockIdx.x} * kRows;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    int64_t n = first + r;
    int part = 0;
    while (part < g.parts && n >= g.rows[part]) n -= g.rows[part++];
    if (part == g.parts) part = 0, n = 0;
    w[r] = reinterpret_cast<const uint4*>(static_cast<const T*>(g.w[part]) + n * K);
  }
  float out[kRows];
  tile_dot<T, XT, NORM>(w, x, K / 8, f, out);
  if (threadIdx.x >= kRows) return;
  // Thread r stores row r (a run-time row: find its part again, outside the unrolled tile).
  int64_t n = first + threadIdx.x;
  int part = 0;
  while (part < g.parts && n >= g.rows[part]) n -= g.rows[part++];
  if (part == g.parts) return;
  float v = 0.0f;
#pragma unroll
  for (int r = 0; r < kRows; ++r)
    if (r == static_cast<int>(threadIdx.x)) v = out[r];
  if (f.accumulate) static_cast<float*>(g.y[part])[n] += v;
  else store_y(g.y[part], y16, n, v);
}

// Rows 0 .. kRows / 2 - 1 of the tile are gate rows n0 .., the others the up rows of the same n.
template <class T, class XT, bool NORM>
__global__ void __launch_bounds__(kThreads, kMinBlocksSwiglu) gemv_swiglu_kernel(const XT* __restrict__ x,
                                                               const T* __restrict__ w_gate,
                                                               const T* __restrict__ w_up, int64_t N, int64_t K,
                                                               void* __restrict__ out, bool y16, Fuse f) {
  NOVA_TRACE_POINT(0);
  constexpr int kPairs = kRows / 2;
  const int64_t n0 = int64_t{blockIdx.x} * kPairs;
  const uint4* w[kRows];
#pragma unroll
  for (int r = 0; r < kPairs; ++r) {
    const int64_t n = n0 + r < N ? n0 + r : 0;
    w[r] = reinterpret_cast<const uint4*>(w_gate + n * K);
    w[r + kPairs] = reinterpret_cast<const uint4*>(w_up + n * K);
  }
  float acc[kRows];
  tile_dot<T, XT, NORM>(w, x, K / 8, f, acc);
  if (threadIdx.x >= kPairs || n0 + threadIdx.x >= N) return;
  float gv = 0.0f, uv = 0.0f;
#pragma unroll
  for (int r = 0; r < kPairs; ++r)
    if (r == static_cast<int>(threadIdx.x)) gv = acc[r], uv = acc[r + kPairs];
  // swiglu()'s arithmetic exactly: silu(g) = g / (1 + e^-g), one rounded product.
  store_y(out, y16, n0 + threadIdx.x, __fmul_rn(gv / (1.0f + expf(-gv)), uv));
}

unsigned blocks_for(int64_t rows, int per_block) { return static_cast<unsigned>((rows + per_block - 1) / per_block); }

template <class Kernel, class... A>
void launch(Kernel kernel, unsigned blocks, cudaStream_t s, const A&... args) {
  launch_pdl(kernel, dim3(blocks), dim3(kThreads), 0, s, 1, "gemv launch", args...);
}

// The activation dtypes the kernels take: F32 or BF16.
void check_act(DType t, const char* what) {
  if (t != DType::F32 && t != DType::BF16) fail("gemv", std::string(what) + " must be F32 or BF16");
}

}  // namespace

bool gemv_supports(DType dtype, int64_t K) { return (dtype == DType::BF16 || dtype == DType::F16) && K % 8 == 0; }

namespace {

// One launch of a parts kernel for weights T: x's dtype picks the kernel (the norm-folded form
// exists only for float32 x, the residual stream).
template <class T>
void parts_for(const void* x, DType xt, const GemvParts& p, int64_t K, bool y16, const Fuse& f, int64_t rows,
               cudaStream_t s) {
  const unsigned blocks = blocks_for(rows, kRows);
  if (f.norm_w) launch(gemv_parts_kernel<T, float, true>, blocks, s, static_cast<const float*>(x), p, K, y16, f);
  else if (xt == DType::BF16)
    launch(gemv_parts_kernel<T, __nv_bfloat16, false>, blocks, s, static_cast<const __nv_bfloat16*>(x), p, K, y16, f);
  else launch(gemv_parts_kernel<T, float, false>, blocks, s, static_cast<const float*>(x), p, K, y16, f);
}

void parts(const void* x, DType xt, const GemvParts& p, DType wt, int64_t K, DType yt, const Fuse& f, cudaStream_t s) {
  check_act(xt, "x");
  check_act(yt, "y");
  if (f.norm_w && xt != DType::F32) fail("gemv", "the norm-folded GEMV takes F32 x");
  if (f.accumulate && yt != DType::F32) fail("gemv", "the accumulating GEMV writes F32 y");
  int64_t rows = 0;
  for (int i = 0; i < p.parts; ++i) rows += p.rows[i];
  if (rows == 0) return;
  const bool y16 = yt == DType::BF16;
  if (wt == DType::BF16) parts_for<__nv_bfloat16>(x, xt, p, K, y16, f, rows, s);
  else parts_for<__half>(x, xt, p, K, y16, f, rows, s);
}

template <class T>
void swiglu_for(const void* x, DType xt, const void* w_gate, const void* w_up, int64_t N, int64_t K, void* out,
                bool y16, const Fuse& f, cudaStream_t s) {
  const auto* g = static_cast<const T*>(w_gate);
  const auto* u = static_cast<const T*>(w_up);
  const unsigned blocks = blocks_for(N, kRows / 2);
  if (f.norm_w)
    launch(gemv_swiglu_kernel<T, float, true>, blocks, s, static_cast<const float*>(x), g, u, N, K, out, y16, f);
  else if (xt == DType::BF16)
    launch(gemv_swiglu_kernel<T, __nv_bfloat16, false>, blocks, s, static_cast<const __nv_bfloat16*>(x), g, u, N, K,
           out, y16, f);
  else launch(gemv_swiglu_kernel<T, float, false>, blocks, s, static_cast<const float*>(x), g, u, N, K, out, y16, f);
}

void swiglu(const void* x, DType xt, const void* w_gate, const void* w_up, DType wt, int64_t N, int64_t K, void* out,
            DType yt, const Fuse& f, cudaStream_t s) {
  check_act(xt, "x");
  check_act(yt, "y");
  if (f.norm_w && xt != DType::F32) fail("gemv", "the norm-folded GEMV takes F32 x");
  if (N == 0) return;
  if (wt == DType::BF16) swiglu_for<__nv_bfloat16>(x, xt, w_gate, w_up, N, K, out, yt == DType::BF16, f, s);
  else swiglu_for<__half>(x, xt, w_gate, w_up, N, K, out, yt == DType::BF16, f, s);
}

// One matrix w [N, K] into y as a launch of the parts kernel.
GemvParts one_part(const void* w, int64_t N, void* y) {
  GemvParts p{};
  p.parts = 1;
  p.w[0] = w;
  p.y[0] = y;
  p.rows[0] = N;
  return p;
}

}  // namespace

void launch_gemv_parts(const void* x, DType xt, const GemvParts& p, DType wt, int64_t K, DType yt, cudaStream_t s) {
  parts(x, xt, p, wt, K, yt, Fuse{nullptr, 0.0f, 0}, s);
}

void launch_gemv(const void* x, DType xt, const void* w, DType wt, int64_t N, int64_t K, void* y, DType yt,
                 cudaStream_t s) {
  parts(x, xt, one_part(w, N, y), wt, K, yt, Fuse{nullptr, 0.0f, 0}, s);
}

void launch_gemv_swiglu(const void* x, DType xt, const void* w_gate, const void* w_up, DType wt, int64_t N, int64_t K,
                        void* out, DType yt, cudaStream_t s) {
  swiglu(x, xt, w_gate, w_up, wt, N, K, out, yt, Fuse{nullptr, 0.0f, 0}, s);
}

void launch_rmsnorm_gemv_parts(const float* x, const float* norm_w, float eps, const GemvParts& p, DType wt, int64_t K,
                               DType yt, cudaStream_t s) {
  parts(x, DType::F32, p, wt, K, yt, Fuse{norm_w, eps, 0}, s);
}

void launch_rmsnorm_gemv_swiglu(const float* x, const float* norm_w, float eps, const void* w_gate, const void* w_up,
                                DType wt, int64_t N, int64_t K, void* out, DType yt, cudaStream_t s) {
  swiglu(x, DType::F32, w_gate, w_up, wt, N, K, out, yt, Fuse{norm_w, eps, 0}, s);
}

void launch_gemv_add(const void* x, DType xt, const void* w, DType wt, int64_t N, int64_t K, float* y,
                     cudaStream_t s) {
  parts(x, xt, one_part(w, N, y), wt, K, DType::F32, Fuse{nullptr, 0.0f, 1}, s);
}

}  // namespace nova::kernels::cuda
