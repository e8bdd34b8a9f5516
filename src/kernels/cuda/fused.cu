// Fused forms of the elementwise ops a decode step runs once per layer (Backend's fused ops):
// each saves a launch and a pass over its tensors, and computes exactly what its composition
// computes in elementwise.cu (same roundings; the norm's sum of squares in double).
// Activations F32 or BF16 (act_math.cuh); the norms take their dtypes as flags (a warp-uniform
// branch per load) rather than as template parameters: one kernel each. Also the kernels after a
// prefill's GEMM over packed weights (split_columns, swiglu_packed, rope_store_kv reading q|k|v
// in place): swiglu_packed's silu uses fast intrinsics (within 2 ulp before the output's rounding).
#include <algorithm>

#include "kernels/cuda/act_math.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"

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
  // Launched with PDL (launch_norm_vec): what the kernel before wrote is visible after the wait.
  // The trigger follows it, so the kernel after (a GEMV loading its weights early) starts only once
  // the kernel before this one has finished, as when this one was launched plainly.
  pdl_wait();
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

// The value an activation of type T holds once stored (rounded once for BF16).
__device__ __forceinline__ float4 round_as(float, float4 v) { return v; }
__device__ __forceinline__ float4 round_as(bf16_t, float4 v) {
  auto r = [](float x) { return __bfloat162float(__float2bfloat16_rn(x)); };
  return make_float4(r(v.x), r(v.y), r(v.z), r(v.w));
}

// Eight consecutive activations (16-byte BF16 / two 16-byte F32 accesses).
__device__ __forceinline__ void load8(const float* p, float4& a, float4& b) {
  a = act_load4(p);
  b = act_load4(p + 4);
}
__device__ __forceinline__ void load8(const bf16_t* p, float4& a, float4& b) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
  const float2 y = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
  const float2 z = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.z));
  const float2 w = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.w));
  a = make_float4(x.x, x.y, y.x, y.y);
  b = make_float4(z.x, z.y, w.x, w.y);
}
__device__ __forceinline__ void store8(float* p, float4 a, float4 b) {
  act_store4(p, a);
  act_store4(p + 4, b);
}
__device__ __forceinline__ void store8(bf16_t* p, float4 a, float4 b) {
  auto pack = [](float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  };
  *reinterpret_cast<uint4*>(p) = make_uint4(pack(a.x, a.y), pack(a.z, a.w), pack(b.x, b.y), pack(b.z, b.w));
}

// rope_store_kv_kernel with four elements per item (8-byte BF16 / 16-byte F32 accesses) and
// 32-bit index arithmetic: items [0, pairs4) rotate pairs (i .. i + 3, i + half .. i + half + 3)
// of one q or k head, items [pairs4, ...) move four elements of v (and of k past its rotary
// features). The same arithmetic per element as the scalar kernel. Needs half % 4 == 0 and
// aligned rows (launch_rope_store_kv checks); a long prefill's call is byte-bound.
// With a.packed (the q|k|v GEMM's output, rows of a.packed_row elements: q, then k, then v), q, k
// and v are read from there and written to a.q, a.k, a.v as the unpacked call leaves them.
template <class T, class C>
__global__ void __launch_bounds__(kThreads) rope_store_kv_vec_kernel(const __grid_constant__ RopeStoreArgs a) {
  const int heads = static_cast<int>(a.q_heads + a.kv_heads), kvh = static_cast<int>(a.kv_heads);
  const int half = static_cast<int>(a.half), hd = static_cast<int>(a.head_dim), h4 = half / 4;
  const int n = static_cast<int>(a.n), qw = static_cast<int>(a.q_heads) * hd, kw = kvh * hd;
  const int pairs4 = n * heads * h4, total = pairs4 + n * kvh * (hd / 4);
  const T* packed = static_cast<const T*>(a.packed);
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
    if (t < pairs4) {
      const int i = 4 * (t % h4), rh = t / h4, r = rh / heads, h = rh % heads;
      const bool is_k = h >= a.q_heads;
      T* v = is_k ? static_cast<T*>(a.k) + (int64_t{r} * kvh + (h - a.q_heads)) * hd
                  : static_cast<T*>(a.q) + (int64_t{r} * a.q_heads + h) * hd;
      const T* in = packed ? packed + int64_t{r} * a.packed_row + int64_t{h} * hd : v;  // k heads follow q's
      const float4 c = *reinterpret_cast<const float4*>(a.cos + int64_t{r} * half + i);
      const float4 s = *reinterpret_cast<const float4*>(a.sin + int64_t{r} * half + i);
      const float4 x0 = act_load4(in + i), x1 = act_load4(in + i + half);
      // rope_kernel's arithmetic: two rounded products then a sum (no FMA contraction).
      auto lo = [](float p, float q, float cc, float ss) { return __fsub_rn(__fmul_rn(p, cc), __fmul_rn(q, ss)); };
      auto hi = [](float p, float q, float cc, float ss) { return __fadd_rn(__fmul_rn(q, cc), __fmul_rn(p, ss)); };
      const float4 y0 = make_float4(lo(x0.x, x1.x, c.x, s.x), lo(x0.y, x1.y, c.y, s.y), lo(x0.z, x1.z, c.z, s.z),
                                    lo(x0.w, x1.w, c.w, s.w));
      const float4 y1 = make_float4(hi(x0.x, x1.x, c.x, s.x), hi(x0.y, x1.y, c.y, s.y), hi(x0.z, x1.z, c.z, s.z),
                                    hi(x0.w, x1.w, c.w, s.w));
      act_store4(v + i, y0);
      act_store4(v + i + half, y1);
      if (is_k) {  // the cache gets the rotated value as k holds it
        C* d = static_cast<C*>(a.k_dst) + (int64_t{a.rows[r]} * kvh + (h - a.q_heads)) * hd;
        act_store4(d + i, round_as(T{}, y0));
        act_store4(d + i + half, round_as(T{}, y1));
      }
      if (packed && 2 * half < hd) {  // partial rotary: this head's features past the rotary ones, as they are
        for (int f = 2 * half + i; f < hd; f += half) act_store4(v + f, act_load4(in + f));
      }
    } else {
      const int e = 4 * (t - pairs4), d = e % hd, rh = e / hd, r = rh / kvh;
      const int64_t at = (int64_t{a.rows[r]} * kvh + rh % kvh) * hd + d;
      const T* vin = packed ? packed + int64_t{r} * a.packed_row + qw + kw + (e - int64_t{r} * kw) : static_cast<const T*>(a.v) + e;
      const float4 vv = act_load4(vin);
      act_store4(static_cast<C*>(a.v_dst) + at, vv);
      if (packed) act_store4(static_cast<T*>(const_cast<void*>(a.v)) + e, vv);  // the v the unpacked call is given
      if (d >= 2 * half) {  // past the rotary features: k as it is (four of them: 2 half % 8 == 0)
        const T* kin = packed ? packed + int64_t{r} * a.packed_row + qw + (e - int64_t{r} * kw) : static_cast<const T*>(a.k) + e;
        act_store4(static_cast<C*>(a.k_dst) + at, act_load4(kin));
      }
    }
  }
}

// One thread per 16-byte piece of a row of the packed GEMM output (blockIdx.y: rows, strided past
// the grid's 65535): piece c of row r goes to the part whose columns hold it.
__global__ void __launch_bounds__(kThreads) split_columns_kernel(const uint4* src, int64_t rows, int pieces,
                                                                 ColumnSplit p) {
  const int c0 = blockIdx.x * blockDim.x + threadIdx.x;
  if (c0 >= pieces) return;
  int c = c0, part = 0;
  while (part + 1 < p.parts && c >= p.bytes[part]) c -= static_cast<int>(p.bytes[part++]);
  uint4* dst = static_cast<uint4*>(p.dst[part]);
  const int64_t width = p.bytes[part];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) dst[r * width + c] = src[r * pieces + c0];
}

// out[r, j] = silu(gu[r, j]) * gu[r, n + j], eight elements per thread (blockIdx.y: rows). silu in
// fast intrinsics (__expf, __fdividef: within 2 ulp of expf and the IEEE division before the
// output's rounding): the exact forms made this byte-bound pass compute-bound (10 us for a 1B
// prefill's 512 x 8192 on an H100).
template <class T>
__global__ void __launch_bounds__(kThreads) swiglu_packed_kernel(const T* gu, int64_t rows, int64_t n, T* out) {
  const int64_t j = 8 * (int64_t{blockIdx.x} * blockDim.x + threadIdx.x);
  if (j >= n) return;
  pdl_wait();  // launched with PDL: the GEMM before wrote gu
  auto f = [](float g, float u) { return __fmul_rn(__fdividef(g, 1.0f + __expf(-g)), u); };
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const T* g = gu + r * 2 * n + j;
    float4 g0, g1, u0, u1;
    load8(g, g0, g1);
    load8(g + n, u0, u1);
    store8(out + r * n + j, make_float4(f(g0.x, u0.x), f(g0.y, u0.y), f(g0.z, u0.z), f(g0.w, u0.w)),
           make_float4(f(g1.x, u1.x), f(g1.y, u1.y), f(g1.z, u1.z), f(g1.w, u1.w)));
  }
}

}  // namespace

static bool launch_norm_vec(const void* x_in, const void* delta, float* x_out, int64_t groups, int64_t dim,
                            const float* w, float eps, void* y, NormTypes ty, cudaStream_t s) {
  if (dim % 4 != 0 || dim > int64_t{4} * kVecThreads * kVecMax || !aligned(x_in, 4 * act_bytes(ty.x)) ||
      !aligned(w, 16) || !aligned(y, 4 * act_bytes(ty.y)) || (delta && !aligned(delta, 4 * act_bytes(ty.d))) ||
      (x_out && !aligned(x_out, 16)))
    return false;
  // With PDL: the launch and block scheduling overlap the end of the kernel before (a prefill's
  // GEMM), which a one-wave kernel of a few microseconds otherwise waits through.
  if (groups > 0)
    launch_pdl(norm_vec_kernel, dim3(grid_for(groups, 1)), dim3(kVecThreads), 0, s, 1, "rmsnorm (vectorised)", x_in,
               delta, x_out, groups, dim, w, eps, y, ty);
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

// Four elements per item where rows and the rotary half allow it (head_dim 64 / 128 models).
static bool rope_store_kv_vec(const RopeStoreArgs& a, bool packed) {
  const int64_t items = a.n * ((a.q_heads + a.kv_heads) * a.half + a.kv_heads * a.head_dim);
  const size_t at = a.act == DType::BF16 ? 8 : 16, kt = a.kv == DType::BF16 ? 8 : 16;
  return a.half % 4 == 0 && a.head_dim % 4 == 0 && items / 4 < (int64_t{1} << 30) && aligned(a.q, at) &&
         aligned(a.k, at) && aligned(a.v, at) && aligned(a.k_dst, kt) && aligned(a.v_dst, kt) && aligned(a.cos, 16) &&
         aligned(a.sin, 16) && (!packed || ((!a.packed || aligned(a.packed, at)) && a.packed_row % 4 == 0));
}

bool rope_store_kv_reads_packed(const RopeStoreArgs& a) { return rope_store_kv_vec(a, true); }

void launch_rope_store_kv(const RopeStoreArgs& a, cudaStream_t s) {
  const int64_t items = a.n * ((a.q_heads + a.kv_heads) * a.half + a.kv_heads * a.head_dim);
  if (items == 0) return;
  const bool vec = rope_store_kv_vec(a, a.packed != nullptr);
  if (a.packed && !vec) fail("rope_store_kv", "a packed q|k|v source needs the vectorised kernel's layout");
  with_act(a.act, "rope_store_kv", [&](auto t) {
    using T = decltype(t);
    with_act(a.kv, "rope_store_kv", [&](auto c) {
      using C = decltype(c);
      if (vec) rope_store_kv_vec_kernel<T, C><<<grid_for(items / 4, kThreads), kThreads, 0, s>>>(a);
      else rope_store_kv_kernel<T, C><<<grid_for(items, kThreads), kThreads, 0, s>>>(a);
    });
  });
  check_launch("rope_store_kv");
}

void launch_split_columns(const void* src, int64_t rows, const ColumnSplit& p, cudaStream_t s) {
  ColumnSplit pieces = p;  // row bytes in 16-byte pieces
  int64_t total = 0;
  for (int64_t i = 0; i < p.parts; ++i) {
    if (p.bytes[i] % 16 != 0 || !aligned(p.dst[i], 16)) fail("split_columns", "parts must be 16-byte pieces");
    pieces.bytes[i] = p.bytes[i] / 16;
    total += pieces.bytes[i];
  }
  if (!aligned(src, 16)) fail("split_columns", "source must be 16-byte aligned");
  if (rows == 0 || total == 0) return;
  const dim3 grid(grid_for(total, kThreads), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  split_columns_kernel<<<grid, kThreads, 0, s>>>(static_cast<const uint4*>(src), rows, static_cast<int>(total), pieces);
  check_launch("split_columns");
}

void launch_swiglu_packed(const void* gu, int64_t rows, int64_t n, void* out, DType act, cudaStream_t s) {
  if (n % 8 != 0 || !aligned(gu, 16) || !aligned(out, 16)) fail("swiglu_packed", "n % 8 != 0 or unaligned rows");
  if (rows == 0 || n == 0) return;
  with_act(act, "swiglu_packed", [&](auto t) {
    using T = decltype(t);
    const dim3 grid(grid_for(n / 8, kThreads), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
    launch_pdl(swiglu_packed_kernel<T>, grid, dim3(kThreads), 0, s, 1, "swiglu_packed", static_cast<const T*>(gu), rows,
               n, static_cast<T*>(out));
  });
}

}  // namespace nova::kernels::cuda
