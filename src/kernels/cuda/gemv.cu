// Decode at batch 1: y = W x with W [N, K] in bf16/f16 and x, y in float32. The step is bound by
// streaming W once from HBM, so each warp owns one output row (two for the SwiGLU pair) and reads
// it with 16-byte loads, 8 weights per lane per load, with kLoads loads in flight per lane before
// any is used: a 2048-wide row is a single round trip to memory, and enough bytes are in flight
// per SM to cover the latency even for the small 2048 x 2048 matrices (the previous kernel kept
// 2 loads in flight and reached 39% of copy bandwidth there). Weights bypass L1
// (ld.global.nc.L1::no_allocate) so x, read by every warp, stays there. x is float32 or bf16
// (the backend's activation dtype), y float32 or bf16 (rounded once, at the store); the
// products are exact in fp32 either way.
//
// Programmatic dependent launch (device_math.cuh): on Hopper each GEMV is launched so that it
// starts while the kernel before it finishes, issues its first weight loads (which depend on
// nothing) and only then waits for x: the weights stream across kernel boundaries instead of
// the memory system idling for each launch. NOVA_CUDA_PDL=0 turns it off.
//
// Fused forms: several matrices of one input in one launch (q, k and v: rows of the parts are
// numbered one after another), and gate/up pairs with silu(gate) * up in the epilogue.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kLoads = 8;  // 16-byte weight loads in flight per lane

__device__ __forceinline__ uint4 load_weights(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
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

// Eight activations x[8c .. 8c + 8) as float32 (one 16-byte load of bf16, two of float).
__device__ __forceinline__ void load_x8(const float* x, int64_t c, float4& a, float4& b) {
  a = __ldg(reinterpret_cast<const float4*>(x) + 2 * c);
  b = __ldg(reinterpret_cast<const float4*>(x) + 2 * c + 1);
}
__device__ __forceinline__ void load_x8(const __nv_bfloat16* x, int64_t c, float4& a, float4& b) {
  float f[8];
  unpack8(__ldg(reinterpret_cast<const uint4*>(x) + c), f, x);
  a = make_float4(f[0], f[1], f[2], f[3]);
  b = make_float4(f[4], f[5], f[6], f[7]);
}

// y[n] = v, rounded to bf16 when the output is bf16.
__device__ __forceinline__ void store_y(void* y, bool y16, int64_t n, float v) {
  if (y16) static_cast<__nv_bfloat16*>(y)[n] = __float2bfloat16_rn(v);
  else static_cast<float*>(y)[n] = v;
}

template <class T>
__device__ __forceinline__ float dot8(const uint4& p, const float4& a, const float4& b) {
  float f[8];
  unpack8(p, f, static_cast<const T*>(nullptr));
  return f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
}

// The fusions a launch may add around its dot products (kernel parameters): RMSNorm folded into
// the prologue (norm_w non-null, x float32: every warp sums x^2 along its own pass over x, so the
// normalised row never exists and needs no kernel of its own), and the residual add in the
// epilogue (accumulate: y float32, y += w . x).
struct Fuse {
  const float* norm_w;
  float eps;
  int accumulate;
};

__device__ __forceinline__ float4 mul4(const float4& a, const float4& b) {
  return make_float4(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w);
}
__device__ __forceinline__ float sq4(const float4& a) { return a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w; }

// acc[r] = row r of w . x over the 8-weight chunks [c0, c1) of the row, summed over the warp
// (every lane gets the sums). R rows share the x loads; U * R loads per lane are issued before the
// first is used. NORM: x is multiplied by f.norm_w, and ss gets the warp's sum of x^2 over the
// range (the caller scales by the row's rmsnorm factor once all of K is summed).
template <class T, class XT, int R, int U, bool NORM>
__device__ __forceinline__ void dot_rows(const uint4* const (&w)[R], const XT* x, int64_t c0, int64_t c1,
                                         const Fuse& f, float (&acc)[R], float& ss) {
  const int lane = threadIdx.x & 31;
  float a[R];
#pragma unroll
  for (int r = 0; r < R; ++r) a[r] = 0.0f;
  float sq = 0.0f;  // this lane's share of sum x^2 (NORM)
  // The next 8 activations, normalisation weights applied.
  auto next_x = [&](int64_t c, float4& x0, float4& x1) {
    load_x8(x, c, x0, x1);
    if constexpr (NORM) {
      sq += sq4(x0) + sq4(x1);
      float4 g0, g1;
      load_x8(f.norm_w, c, g0, g1);
      x0 = mul4(x0, g0);
      x1 = mul4(x1, g1);
    }
  };
  int64_t c = c0 + lane;
  bool waited = false;
  for (; c + (U - 1) * 32 < c1; c += U * 32) {
    uint4 p[R][U];
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int r = 0; r < R; ++r) p[r][u] = load_weights(w[r] + c + u * 32);
    if (!waited) {  // x is the previous kernel's output
      pdl_wait();
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float4 x0, x1;
      next_x(c + u * 32, x0, x1);
#pragma unroll
      for (int r = 0; r < R; ++r) a[r] += dot8<T>(p[r][u], x0, x1);
    }
  }
  if (!waited) pdl_wait();
  for (; c < c1; c += 32) {
    float4 x0, x1;
    next_x(c, x0, x1);
#pragma unroll
    for (int r = 0; r < R; ++r) a[r] += dot8<T>(load_weights(w[r] + c), x0, x1);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_sum(a[r]);
  ss = NORM ? warp_sum(sq) : 0.0f;
}

// Where a warp works: `split` consecutive warps share a row, each summing one slice of its K
// chunks (long rows: fewer dependent rounds of loads per warp, more warps for few rows).
struct WarpSlice {
  int64_t row;     // the block's rows, numbered across the grid
  int64_t c0, c1;  // this warp's chunks of the row
  int slice;       // 0 .. split - 1
};
__device__ __forceinline__ WarpSlice warp_slice(int64_t chunks, int split) {
  const int warp = threadIdx.x / 32;
  WarpSlice ws;
  ws.row = int64_t{blockIdx.x} * (kWarps / split) + warp / split;
  ws.slice = warp % split;
  const int64_t per = (chunks + split - 1) / split;
  ws.c0 = min(chunks, ws.slice * per);
  ws.c1 = min(chunks, ws.c0 + per);
  return ws;
}

// Sums the slices' partial results into the row's first warp (the others return false) and
// applies the RMSNorm scale (NORM; K = the row's width). Every thread of the block must call it.
template <int R, bool NORM>
__device__ __forceinline__ bool finish_row(int split, int slice, float (&acc)[R], float ss, int64_t K,
                                           const Fuse& f) {
  __shared__ float part[kWarps][R + 1];
  if (split > 1) {
    const int warp = threadIdx.x / 32;
    if ((threadIdx.x & 31) == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) part[warp][r] = acc[r];
      part[warp][R] = ss;
    }
    __syncthreads();
    if (slice != 0) return false;
    for (int j = 1; j < split; ++j) {
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] += part[warp + j][r];
      ss += part[warp + j][R];
    }
  }
  if constexpr (NORM) {
    // rmsnorm()'s arithmetic: 1 / sqrt(mean + eps), the mean of x^2 over the row.
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(K) + f.eps);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] *= inv;
  }
  return true;
}

template <class T, class XT, bool NORM>
__global__ void __launch_bounds__(kWarps * 32) gemv_parts_kernel(const XT* __restrict__ x,
                                                                 const __grid_constant__ GemvParts g, int64_t K,
                                                                 bool y16, Fuse f, int split) {
  pdl_trigger();
  const WarpSlice ws = warp_slice(K / 8, split);
  int64_t n = ws.row;
  int part = 0;
  while (part < g.parts && n >= g.rows[part]) n -= g.rows[part++];
  const bool active = part < g.parts;  // rows past the last part write nothing: need not wait
  float acc[1] = {0.0f}, ss = 0.0f;
  if (active) {
    const uint4* const w[1] = {reinterpret_cast<const uint4*>(static_cast<const T*>(g.w[part]) + n * K)};
    dot_rows<T, XT, 1, kLoads, NORM>(w, x, ws.c0, ws.c1, f, acc, ss);
  }
  if (!finish_row<1, NORM>(split, ws.slice, acc, ss, K, f) || !active) return;
  if ((threadIdx.x & 31) == 0) {
    if (f.accumulate) static_cast<float*>(g.y[part])[n] += acc[0];
    else store_y(g.y[part], y16, n, acc[0]);
  }
}

template <class T, class XT, bool NORM>
__global__ void __launch_bounds__(kWarps * 32) gemv_swiglu_kernel(const XT* __restrict__ x,
                                                                  const T* __restrict__ w_gate,
                                                                  const T* __restrict__ w_up, int64_t N, int64_t K,
                                                                  void* __restrict__ out, bool y16, Fuse f,
                                                                  int split) {
  pdl_trigger();
  const WarpSlice ws = warp_slice(K / 8, split);
  const int64_t n = ws.row;
  const bool active = n < N;
  float acc[2] = {0.0f, 0.0f}, ss = 0.0f;
  if (active) {
    const uint4* const w[2] = {reinterpret_cast<const uint4*>(w_gate + n * K),
                               reinterpret_cast<const uint4*>(w_up + n * K)};
    dot_rows<T, XT, 2, kLoads / 2, NORM>(w, x, ws.c0, ws.c1, f, acc, ss);
  }
  if (!finish_row<2, NORM>(split, ws.slice, acc, ss, K, f) || !active) return;
  // swiglu()'s arithmetic exactly: silu(g) = g / (1 + e^-g), one rounded product.
  if ((threadIdx.x & 31) == 0) store_y(out, y16, n, __fmul_rn(acc[0] / (1.0f + expf(-acc[0])), acc[1]));
}

// Warps per row for `rows` rows of `chunks` 8-weight chunks, each lane reading `loads` chunks per
// round, when NOVA_CUDA_GEMV_SPLIT=1: long rows of small matrices (the down projections) split so
// that a warp makes at most two dependent rounds of loads where it can (2048-wide rows and
// matrices of many rows stay one warp per row). Off by default: on the H100 it measured within
// noise (1B decode 675 vs 667 tok/s, 8B 154.2 vs 155.4). Read at every launch (tests switch it).
int split_for(int64_t rows, int64_t chunks, int loads) {
  const char* env = std::getenv("NOVA_CUDA_GEMV_SPLIT");
  if (!env || std::strcmp(env, "1") != 0) return 1;
  const int64_t rounds = (chunks + 32 * loads - 1) / (32 * loads);
  if (rounds <= 2 || rows > 8192) return 1;
  return rounds <= 4 ? 2 : 4;
}

unsigned blocks_for(int64_t rows, int split) {
  const int per_block = kWarps / split;
  return static_cast<unsigned>((rows + per_block - 1) / per_block);
}

template <class Kernel, class... A>
void launch(Kernel kernel, unsigned blocks, cudaStream_t s, const A&... args) {
  launch_pdl(kernel, dim3(blocks), dim3(kWarps * 32), 0, s, 1, "gemv launch", args...);
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
  const int split = split_for(rows, K / 8, kLoads);
  const unsigned blocks = blocks_for(rows, split);
  if (f.norm_w)
    launch(gemv_parts_kernel<T, float, true>, blocks, s, static_cast<const float*>(x), p, K, y16, f, split);
  else if (xt == DType::BF16)
    launch(gemv_parts_kernel<T, __nv_bfloat16, false>, blocks, s, static_cast<const __nv_bfloat16*>(x), p, K, y16, f,
           split);
  else launch(gemv_parts_kernel<T, float, false>, blocks, s, static_cast<const float*>(x), p, K, y16, f, split);
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
  const int split = split_for(N, K / 8, kLoads / 2);
  const unsigned blocks = blocks_for(N, split);
  if (f.norm_w)
    launch(gemv_swiglu_kernel<T, float, true>, blocks, s, static_cast<const float*>(x), g, u, N, K, out, y16, f, split);
  else if (xt == DType::BF16)
    launch(gemv_swiglu_kernel<T, __nv_bfloat16, false>, blocks, s, static_cast<const __nv_bfloat16*>(x), g, u, N, K,
           out, y16, f, split);
  else
    launch(gemv_swiglu_kernel<T, float, false>, blocks, s, static_cast<const float*>(x), g, u, N, K, out, y16, f,
           split);
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

}  // namespace

void launch_gemv_parts(const void* x, DType xt, const GemvParts& p, DType wt, int64_t K, DType yt, cudaStream_t s) {
  parts(x, xt, p, wt, K, yt, Fuse{nullptr, 0.0f, 0}, s);
}

void launch_gemv(const void* x, DType xt, const void* w, DType wt, int64_t N, int64_t K, void* y, DType yt,
                 cudaStream_t s) {
  GemvParts p{};
  p.parts = 1;
  p.w[0] = w;
  p.y[0] = y;
  p.rows[0] = N;
  parts(x, xt, p, wt, K, yt, Fuse{nullptr, 0.0f, 0}, s);
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
  GemvParts p{};
  p.parts = 1;
  p.w[0] = w;
  p.y[0] = y;
  p.rows[0] = N;
  parts(x, xt, p, wt, K, DType::F32, Fuse{nullptr, 0.0f, 1}, s);
}

}  // namespace nova::kernels::cuda
