// The routed experts for few token rows (decode) in two launches, with no plan and no
// permutation: each warp routes its token row itself (the router's softmax and top k, in the
// route kernel's order of operations: sequential sum, strict comparison, lower index on ties —
// a few shuffles for a handful of experts, cheaper than a launch), then runs gemv.cu's scheme: a
// warp per output row, 16-byte weight loads that bypass L1, several in flight per lane.
//   gate|up: grid (inter / 8 warps, rows * k): block y is assignment i = (row, j); its warp reads
//            row j's expert's gate and up rows n and writes h[i, n] = silu(g) * u (F32).
//   down + combine: grid (hidden / 8, rows): a warp owns out[row, n] and adds, in expert-index
//            order, weight_j * (down_e[n] . h[row * k + j]) — the composition's order, no atomics.
// An expert chosen by several rows streams once per row (from L2 after the first): the right
// trade while rows are few. Weights BF16 (decode) or F32 (fp32 checkpoints take this path at
// every size); x F32 or BF16; all math fp32 in registers.
#include <cuda_bf16.h>

#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/moe.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ uint4 load_weights(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// 16 bytes of weights: 8 bf16 or 4 f32.
template <class W>
constexpr int kPer = 16 / static_cast<int>(sizeof(W));

template <class W>
__device__ __forceinline__ void unpack(const uint4& p, float (&f)[kPer<W>]) {
  if constexpr (std::is_same_v<W, float>) {
    f[0] = __uint_as_float(p.x), f[1] = __uint_as_float(p.y), f[2] = __uint_as_float(p.z), f[3] = __uint_as_float(p.w);
  } else {
    const uint32_t u[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      f[2 * i] = __uint_as_float(u[i] << 16);
      f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
  }
}

// N activations from p (F32 or BF16) as floats; N = 4 or 8, p aligned to N elements.
template <class X, int N>
__device__ __forceinline__ void load_x(const X* p, float (&f)[N]) {
  if constexpr (std::is_same_v<X, float>) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(p) + i);
      f[4 * i] = v.x, f[4 * i + 1] = v.y, f[4 * i + 2] = v.z, f[4 * i + 3] = v.w;
    }
  } else {
    uint32_t u[N / 2];
    if constexpr (N == 8) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
      u[0] = v.x, u[1] = v.y, u[2] = v.z, u[3] = v.w;
    } else {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
      u[0] = v.x, u[1] = v.y;
    }
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      f[2 * i] = __uint_as_float(u[i] << 16);
      f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
  }
}

// acc[m] = w[m] . x[m] over K = kPer<W> * chunks, summed over the warp (every lane gets the
// sums); U loads per matrix and lane are in flight before the first is used. kSharedX: every x[m]
// is x[0] (loaded once).
template <class W, class X, int M, int U, bool kSharedX>
__device__ __forceinline__ void warp_dot(const uint4* const (&w)[M], const X* const (&x)[M], int64_t chunks,
                                         float (&acc)[M]) {
  constexpr int P = kPer<W>;
  const int lane = threadIdx.x & 31;
  float a[M];
#pragma unroll
  for (int m = 0; m < M; ++m) a[m] = 0.0f;
  for (int64_t c0 = lane; c0 < chunks; c0 += 32 * U) {
    uint4 wv[M][U];
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int m = 0; m < M; ++m)
        if (c0 + u * 32 < chunks) wv[m][u] = load_weights(w[m] + c0 + u * 32);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = c0 + u * 32;
      if (c >= chunks) break;
      float xf[P];
#pragma unroll
      for (int m = 0; m < M; ++m) {
        if (m == 0 || !kSharedX) load_x<X, P>(x[m] + c * P, xf);
        float wf[P];
        unpack<W>(wv[m][u], wf);
#pragma unroll
        for (int i = 0; i < P; ++i) a[m] = fmaf(wf[i], xf[i], a[m]);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = warp_sum(a[m]);
}

// Routes one token row in a warp: lane j < k gets choice j (expert, weight); other lanes -1, 0.
// route_kernel's arithmetic: max, the sum of expf(l - max) in expert order, p = e / sum, k
// rounds of the largest p not yet taken (lower index on ties), top_sum in choice order.
__device__ __forceinline__ void warp_route(const float* __restrict__ l, int experts, int k, bool normalize,
                                           int32_t& my_expert, float& my_weight) {
  const int lane = threadIdx.x & 31;
  float mx = -INFINITY;
  for (int e = lane; e < experts; e += 32) mx = fmaxf(mx, __ldg(l + e));
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int base = 0; base < experts; base += 32) {
    const float v = base + lane < experts ? expf(__ldg(l + base + lane) - mx) : 0.0f;
    const int n = min(32, experts - base);
    for (int i = 0; i < n; ++i) sum += __shfl_sync(0xffffffffu, v, i);
  }
  uint32_t taken = 0;  // bit c: expert lane + 32 c was chosen
  float top_sum = 0.0f;
  my_expert = -1;
  float my_p = 0.0f;
  for (int i = 0; i < k; ++i) {
    int best = 0x7fffffff;
    float best_p = -1.0f;
    for (int e = lane, c = 0; e < experts; e += 32, ++c) {
      if (taken >> c & 1u) continue;
      const float p = expf(__ldg(l + e) - mx) / sum;
      if (p > best_p) best_p = p, best = e;  // e ascends: the lower index keeps a tie
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float op = __shfl_xor_sync(0xffffffffu, best_p, o);
      const int oe = __shfl_xor_sync(0xffffffffu, best, o);
      if (op > best_p || (op == best_p && oe < best)) best_p = op, best = oe;
    }
    if (best % 32 == lane) taken |= 1u << (best / 32);
    if (lane == i) my_expert = best, my_p = best_p;
    top_sum += best_p;
  }
  my_weight = lane < k ? (normalize ? my_p / top_sum : my_p) : 0.0f;
}

template <class W, class X>
__global__ void __launch_bounds__(kWarps * 32) gate_up_kernel(const float* __restrict__ logits, int experts, int k,
                                                               bool normalize, const X* __restrict__ x,
                                                               const MoeExpertPtrs* __restrict__ ptrs, int64_t N,
                                                               int64_t K, float* __restrict__ h) {
  const int64_t n = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  if (n >= N) return;
  const int64_t i = blockIdx.y, row = i / k;
  int32_t my_expert;
  float my_weight;
  warp_route(logits + row * experts, experts, k, normalize, my_expert, my_weight);
  const int32_t e = __shfl_sync(0xffffffffu, my_expert, static_cast<int>(i % k));
  const MoeExpertPtrs p = ptrs[e];
  const uint4* const w[2] = {reinterpret_cast<const uint4*>(static_cast<const W*>(p.gate) + n * K),
                             reinterpret_cast<const uint4*>(static_cast<const W*>(p.up) + n * K)};
  const X* const xs[2] = {x + row * K, x + row * K};
  float acc[2];
  warp_dot<W, X, 2, 4, true>(w, xs, K / kPer<W>, acc);
  // swiglu()'s arithmetic: silu(g) = g / (1 + e^-g), one rounded product.
  if ((threadIdx.x & 31) == 0) h[i * N + n] = __fmul_rn(acc[0] / (1.0f + expf(-acc[0])), acc[1]);
}

// down + combine: kSlices warps per output split its K (down is wide in K and narrow in N, so a
// warp per output row leaves too few loads in flight); their partial sums meet in shared memory
// and the first warp adds them in slice order — deterministic.
constexpr int kSlices = 4;
constexpr int kOutsPerBlock = kWarps / kSlices;

template <class W>
__global__ void __launch_bounds__(kWarps * 32) down_combine_kernel(const float* __restrict__ logits, int experts,
                                                                    int k, bool normalize,
                                                                    const float* __restrict__ h,
                                                                    const MoeExpertPtrs* __restrict__ ptrs, int64_t N,
                                                                    int64_t K, float* __restrict__ out) {
  __shared__ float partial[kWarps][kMoeMaxK];  // [warp][choice in expert order]
  __shared__ float weight[kOutsPerBlock][kMoeMaxK];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, slice = warp % kSlices;
  const int64_t n = int64_t{blockIdx.x} * kOutsPerBlock + warp / kSlices;
  const int64_t row = blockIdx.y;
  const bool valid = n < N;
  int32_t my_expert = -1;
  float my_weight = 0.0f;
  if (valid) {
    warp_route(logits + row * experts, experts, k, normalize, my_expert, my_weight);
    int rank = 0;  // among the row's choices, by expert index
    for (int j = 0; j < k; ++j) rank += __shfl_sync(0xffffffffu, my_expert, j) < my_expert;
    const int64_t chunks = K / kPer<W>, per = (chunks + kSlices - 1) / kSlices;
    const int64_t c0 = min(chunks, slice * per), c1 = min(chunks, c0 + per);
    if (k == 2) {  // the usual top-2: both experts' rows in flight together
      const int j0 = __shfl_sync(0xffffffffu, my_expert, 0) < __shfl_sync(0xffffffffu, my_expert, 1) ? 0 : 1;
      const int js[2] = {j0, 1 - j0};
      const uint4* w[2];
      const float* hs[2];
#pragma unroll
      for (int m = 0; m < 2; ++m) {
        const int32_t e = __shfl_sync(0xffffffffu, my_expert, js[m]);
        w[m] = reinterpret_cast<const uint4*>(static_cast<const W*>(ptrs[e].down) + n * K) + c0;
        hs[m] = h + (row * 2 + js[m]) * K + c0 * kPer<W>;
      }
      float d[2];
      warp_dot<W, float, 2, 4, false>(reinterpret_cast<const uint4* const(&)[2]>(w),
                                      reinterpret_cast<const float* const(&)[2]>(hs), c1 - c0, d);
      if (lane == 0) partial[warp][0] = d[0], partial[warp][1] = d[1];
    } else {
      for (int r = 0; r < k; ++r) {
        const int j = __ffs(__ballot_sync(0xffffffffu, lane < k && rank == r)) - 1;
        const int32_t e = __shfl_sync(0xffffffffu, my_expert, j);
        const uint4* const w[1] = {reinterpret_cast<const uint4*>(static_cast<const W*>(ptrs[e].down) + n * K) + c0};
        const float* const hs[1] = {h + (row * k + j) * K + c0 * kPer<W>};
        float d[1];
        warp_dot<W, float, 1, 8, false>(w, hs, c1 - c0, d);
        if (lane == 0) partial[warp][r] = d[0];
      }
    }
    if (slice == 0 && lane < k) weight[warp / kSlices][rank] = my_weight;  // in expert order
  }
  __syncthreads();
  if (!valid || slice != 0 || lane != 0) return;
  float acc = out[row * N + n];
  for (int r = 0; r < k; ++r) {
    float d = 0.0f;
#pragma unroll
    for (int s = 0; s < kSlices; ++s) d += partial[warp + s][r];
    acc = __fadd_rn(acc, __fmul_rn(weight[warp / kSlices][r], d));  // scatter_add_rows' arithmetic
  }
  out[row * N + n] = acc;
}

dim3 grid_of(int64_t outputs, int64_t per_block, int64_t y) {
  if (y > 65535) fail("moe_experts", "too many token rows for the CUDA GEMV path's grid");
  return dim3(static_cast<unsigned>((outputs + per_block - 1) / per_block), static_cast<unsigned>(y));
}

}  // namespace

bool moe_gemv_supports(DType w_dtype, int64_t hidden, int64_t inter) {
  return (w_dtype == DType::BF16 || w_dtype == DType::F32) && hidden % 8 == 0 && inter % 8 == 0;
}

void launch_moe_gemv_gate_up(const float* logits, int64_t experts, int k, bool normalize, const void* x,
                             DType x_dtype, int64_t rows, const MoeExpertPtrs* ptrs, DType w_dtype, int64_t inter,
                             int64_t hidden, float* h, cudaStream_t s) {
  if (rows == 0 || inter == 0) return;
  const dim3 grid = grid_of(inter, kWarps, rows * k);
  const int E = static_cast<int>(experts);
  const auto* xf = static_cast<const float*>(x);
  const auto* xh = static_cast<const __nv_bfloat16*>(x);
  constexpr int T = kWarps * 32;
  if (w_dtype == DType::BF16) {
    if (x_dtype == DType::BF16)
      gate_up_kernel<__nv_bfloat16, __nv_bfloat16><<<grid, T, 0, s>>>(logits, E, k, normalize, xh, ptrs, inter, hidden, h);
    else gate_up_kernel<__nv_bfloat16, float><<<grid, T, 0, s>>>(logits, E, k, normalize, xf, ptrs, inter, hidden, h);
  } else {
    if (x_dtype == DType::BF16)
      gate_up_kernel<float, __nv_bfloat16><<<grid, T, 0, s>>>(logits, E, k, normalize, xh, ptrs, inter, hidden, h);
    else gate_up_kernel<float, float><<<grid, T, 0, s>>>(logits, E, k, normalize, xf, ptrs, inter, hidden, h);
  }
  check_launch("moe_gemv_gate_up");
}

void launch_moe_gemv_down_combine(const float* logits, int64_t experts, int k, bool normalize, const float* h,
                                  int64_t rows, const MoeExpertPtrs* ptrs, DType w_dtype, int64_t hidden,
                                  int64_t inter, float* out, cudaStream_t s) {
  if (rows == 0 || hidden == 0) return;
  const dim3 grid = grid_of(hidden, kOutsPerBlock, rows);
  const int E = static_cast<int>(experts);
  if (w_dtype == DType::BF16)
    down_combine_kernel<__nv_bfloat16><<<grid, kWarps * 32, 0, s>>>(logits, E, k, normalize, h, ptrs, hidden, inter, out);
  else down_combine_kernel<float><<<grid, kWarps * 32, 0, s>>>(logits, E, k, normalize, h, ptrs, hidden, inter, out);
  check_launch("moe_gemv_down_combine");
}

}  // namespace nova::kernels::cuda
