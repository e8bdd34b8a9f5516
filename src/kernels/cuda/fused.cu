// Fused forms of the elementwise ops a decode step runs once per layer (Backend's fused ops):
// each saves a launch and a pass over its tensors, and computes exactly what its composition
// computes in elementwise.cu (same roundings; the norm's sum of squares in double).
// Activations F32 or BF16 (act_math.cuh); the norms take their dtypes as flags (a warp-uniform
// branch per load) rather than as template parameters: one kernel each.
#include "kernels/cuda/act_math.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// Element i of an activation row that is BF16 when `bf16`, else F32.
__device__ __forceinline__ float ld(const void* p, bool bf16, int64_t i) {
  return bf16 ? act_load(static_cast<const bf16_t*>(p) + i) : act_load(static_cast<const float*>(p) + i);
}
__device__ __forceinline__ void st(void* p, bool bf16, int64_t i, float v) {
  if (bf16) act_store(static_cast<bf16_t*>(p) + i, v);
  else act_store(static_cast<float*>(p) + i, v);
}
// Elements 4c .. 4c + 3.
__device__ __forceinline__ float4 ld4(const void* p, bool bf16, int64_t c) {
  return bf16 ? act_load4(static_cast<const bf16_t*>(p) + 4 * c) : act_load4(static_cast<const float*>(p) + 4 * c);
}
__device__ __forceinline__ void st4(void* p, bool bf16, int64_t c, float4 v) {
  if (bf16) act_store4(static_cast<bf16_t*>(p) + 4 * c, v);
  else act_store4(static_cast<float*>(p) + 4 * c, v);
}
// The flags of one norm call: which of x_in, delta, y are BF16.
struct NormTypes {
  bool x, d, y;
};
inline size_t act_bytes(bool bf16) { return bf16 ? 2 : 4; }

// The rmsnorm of rows x_in (+ delta, when given; the sum also written to x_out when given, which
// may alias x_in), one block per group looping over its elements: the fallback of norm_vec_kernel
// for rows it cannot take. Each thread reads back only the elements it wrote itself, so no barrier
// is needed between the add and the scaling; y may alias x_in when x_out is null.
__global__ void norm_loop_kernel(const void* x_in, const void* delta, float* x_out, int64_t groups, int64_t dim,
                                 const float* w, float eps, void* y, NormTypes ty) {
  __shared__ double partial[kThreads / 32];
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int64_t g0 = g * dim;
    float* outr = x_out ? x_out + g0 : nullptr;
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      const float v = delta ? ld(x_in, ty.x, g0 + i) + ld(delta, ty.d, g0 + i) : ld(x_in, ty.x, g0 + i);
      if (outr) outr[i] = v;
      ss += static_cast<double>(v) * v;
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    double total = 0.0;
    for (int i = 0; i < kThreads / 32; ++i) total += partial[i];
    const float mean = static_cast<float>(total / static_cast<double>(dim));
    const float inv = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
      st(y, ty.y, g0 + i, w[i] * ((outr ? outr[i] : ld(x_in, ty.x, g0 + i)) * inv));
    __syncthreads();  // `partial` is reused by the next group
  }
}

// The norms of rows up to kVecThreads * 4 * kVecMax wide with 16-byte loads, each thread keeping
// its share of the row in registers: one memory round trip in, one out (the loop kernels above
// make one per element they handle, a dependent chain, ~10 us per 2048-wide row). x_out / delta
// may be null (plain rmsnorm); y may alias x_in then (all reads precede the barrier, all writes
// follow it). Sums of squares in double as norm_loop_kernel; only their order differs.
constexpr int kVecThreads = 256, kVecMax = 8;
__global__ void __launch_bounds__(kVecThreads) norm_vec_kernel(const void* x_in, const void* delta, float* x_out,
                                                                int64_t groups, int64_t dim, const float* w, float eps,
                                                                void* y, NormTypes ty) {
  __shared__ double partial[kVecThreads / 32];
  pdl_trigger();  // the GEMV after a norm may start loading its weights now
  const int64_t n4 = dim / 4;
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int64_t c0 = g * n4;  // the row's first 4-element piece
    float4 v[kVecMax];
    double ss = 0.0;
#pragma unroll
    for (int i = 0; i < kVecMax; ++i) {
      const int64_t c = threadIdx.x + int64_t{i} * kVecThreads;
      if (c < n4) {
        float4 a = ld4(x_in, ty.x, c0 + c);
        if (delta) {
          const float4 d = ld4(delta, ty.d, c0 + c);
          a.x += d.x;
          a.y += d.y;
          a.z += d.z;
          a.w += d.w;
        }
        v[i] = a;
        ss += static_cast<double>(a.x) * a.x;
        ss += static_cast<double>(a.y) * a.y;
        ss += static_cast<double>(a.z) * a.z;
        ss += static_cast<double>(a.w) * a.w;
      }
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    double total = 0.0;
    for (int i = 0; i < kVecThreads / 32; ++i) total += partial[i];
    const float mean = static_cast<float>(total / static_cast<double>(dim));
    const float inv = 1.0f / sqrtf(mean + eps);
#pragma unroll
    for (int i = 0; i < kVecMax; ++i) {
      const int64_t c = threadIdx.x + int64_t{i} * kVecThreads;
      if (c < n4) {
        if (x_out) reinterpret_cast<float4*>(x_out + g * dim)[c] = v[i];
        const float4 wv = reinterpret_cast<const float4*>(w)[c];
        st4(y, ty.y, c0 + c,
            make_float4(wv.x * (v[i].x * inv), wv.y * (v[i].y * inv), wv.z * (v[i].z * inv), wv.w * (v[i].w * inv)));
      }
    }
    __syncthreads();  // `partial` is reused by the next group
  }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Items [0, pairs): one rotated (i, i + half) pair of a q or k head (k's also go to k_dst);
// items [pairs, pairs + n * kv_heads * head_dim): one v element, and k's unrotated features.
template <class T, class C>
__global__ void rope_store_kv_kernel(const __grid_constant__ RopeStoreArgs a) {
  const int64_t heads = a.q_heads + a.kv_heads;
  const int64_t pairs = a.n * heads * a.half, copies = a.n * a.kv_heads * a.head_dim;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < pairs + copies;
       t += int64_t{gridDim.x} * blockDim.x) {
    if (t < pairs) {
      const int64_t i = t % a.half, rh = t / a.half, r = rh / heads, h = rh % heads;
      const bool is_k = h >= a.q_heads;
      T* v = is_k ? static_cast<T*>(a.k) + (r * a.kv_heads + (h - a.q_heads)) * a.head_dim
                  : static_cast<T*>(a.q) + (r * a.q_heads + h) * a.head_dim;
      const float c = a.cos[r * a.half + i], s = a.sin[r * a.half + i];
      const float x0 = act_load(v + i), x1 = act_load(v + i + a.half);
      // rope_kernel's arithmetic: two rounded products then a sum (no FMA contraction).
      const float y0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
      const float y1 = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
      act_store(v + i, y0);
      act_store(v + i + a.half, y1);
      if (is_k) {  // the cache gets the rotated value as k holds it (rounded once when both are BF16)
        C* d = static_cast<C*>(a.k_dst) + (int64_t{a.rows[r]} * a.kv_heads + (h - a.q_heads)) * a.head_dim;
        act_store(d + i, act_load(v + i));
        act_store(d + i + a.half, act_load(v + i + a.half));
      }
    } else {
      const int64_t e = t - pairs, d = e % a.head_dim, rh = e / a.head_dim, r = rh / a.kv_heads;
      const int64_t at = (int64_t{a.rows[r]} * a.kv_heads + rh % a.kv_heads) * a.head_dim + d;
      act_store(static_cast<C*>(a.v_dst) + at, act_load(static_cast<const T*>(a.v) + e));
      if (d >= 2 * a.half)  // past the rotary features: k as it is
        act_store(static_cast<C*>(a.k_dst) + at, act_load(static_cast<const T*>(a.k) + e));
    }
  }
}

}  // namespace

static bool launch_norm_vec(const void* x_in, const void* delta, float* x_out, int64_t groups, int64_t dim,
                            const float* w, float eps, void* y, NormTypes ty, cudaStream_t s) {
  if (dim % 4 != 0 || dim > int64_t{4} * kVecThreads * kVecMax || !aligned(x_in, 4 * act_bytes(ty.x)) ||
      !aligned(w, 16) || !aligned(y, 4 * act_bytes(ty.y)) || (delta && !aligned(delta, 4 * act_bytes(ty.d))) ||
      (x_out && !aligned(x_out, 16)))
    return false;
  if (groups > 0)
    norm_vec_kernel<<<grid_for(groups, 1), kVecThreads, 0, s>>>(x_in, delta, x_out, groups, dim, w, eps, y, ty);
  check_launch("rmsnorm (vectorised)");
  return true;
}

void launch_norm(const void* x_in, DType xt, const void* delta, DType dt, float* x_out, int64_t groups, int64_t dim,
                 const float* w, float eps, void* y, DType yt, cudaStream_t s) {
  if (groups == 0) return;
  const NormTypes ty{xt == DType::BF16, dt == DType::BF16, yt == DType::BF16};
  if (launch_norm_vec(x_in, delta, x_out, groups, dim, w, eps, y, ty, s)) return;
  norm_loop_kernel<<<grid_for(groups, 1), kThreads, 0, s>>>(x_in, delta, x_out, groups, dim, w, eps, y, ty);
  check_launch("rmsnorm");
}

void launch_add_rmsnorm(float* x, const void* delta, DType dt, int64_t groups, int64_t dim, const float* w, float eps,
                        void* y, DType yt, cudaStream_t s) {
  launch_norm(x, DType::F32, delta, dt, x, groups, dim, w, eps, y, yt, s);
}

void launch_rope_store_kv(const RopeStoreArgs& a, cudaStream_t s) {
  const int64_t items = a.n * ((a.q_heads + a.kv_heads) * a.half + a.kv_heads * a.head_dim);
  if (items == 0) return;
  with_act(a.act, "rope_store_kv", [&](auto t) {
    using T = decltype(t);
    with_act(a.kv, "rope_store_kv", [&](auto c) {
      using C = decltype(c);
      rope_store_kv_kernel<T, C><<<grid_for(items, kThreads), kThreads, 0, s>>>(a);
    });
  });
  check_launch("rope_store_kv");
}

}  // namespace nova::kernels::cuda
