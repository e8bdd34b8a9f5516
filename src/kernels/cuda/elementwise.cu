// The CUDA backend's memory-bound ops: embedding, RMSNorm, RoPE, SwiGLU, residual add, row gating,
// bias add, row gather/scatter and the fp32 -> bf16/f16 conversion in front of tensor-core GEMMs.
// Each mirrors the float32 arithmetic of its CPU kernel (kernels/cpu) so results agree to rounding;
// activations may be F32 or BF16 (act_math.cuh: fp32 in registers, one rounding per BF16 store).
#include <type_traits>

#include "kernels/cuda/act_math.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void embedding_kernel(const T* table, int64_t vocab, int64_t dim, const int32_t* ids, int64_t n,
                                 float* out) {
  NOVA_TRACE_POINT(0);
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    // Coherent load: the ids may be the previous kernel's output (a sampled token), which a
    // non-coherent load would not see ordered after griddepcontrol.wait.
    const int64_t id = __ldcg(ids + r);
    const T* src = table + (id >= 0 && id < vocab ? id : 0) * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[r * dim + i] = to_f32(src[i]);
  }
}

// One block per group; sum of squares in double, like the CPU kernel, so both round the same way.
template <class T>
__global__ void rope_kernel(T* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                            int64_t half) {
  const int64_t total = rows * heads * half;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = t % half, rh = t / half, r = rh / heads;
    T* v = x + rh * head_dim;
    const float c = cos[r * half + i], s = sin[r * half + i];
    const float a = act_load(v + i), b = act_load(v + i + half);
    // Two rounded products then a sum (no FMA contraction), as the CPU kernel and torch do.
    act_store(v + i, __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
    act_store(v + i + half, __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
  }
}

template <class T>
__global__ void swiglu_kernel(const T* gate, const T* up, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = act_load(gate + i);
    act_store(out + i, __fmul_rn(g / (1.0f + expf(-g)), act_load(up + i)));
  }
}

// Four elements per thread and iteration (16-byte F32 / 8-byte BF16 accesses): a long prefill's
// SwiGLU moves ~3 x M x inter elements, and the scalar loop reached only ~40% of HBM bandwidth.
template <class T>
__global__ void swiglu_vec4_kernel(const T* gate, const T* up, int64_t n4, T* out) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < n4; c += int64_t{gridDim.x} * blockDim.x) {
    const float4 g = act_load4(gate + 4 * c), u = act_load4(up + 4 * c);
    act_store4(out + 4 * c,
               make_float4(__fmul_rn(g.x / (1.0f + expf(-g.x)), u.x), __fmul_rn(g.y / (1.0f + expf(-g.y)), u.y),
                           __fmul_rn(g.z / (1.0f + expf(-g.z)), u.z), __fmul_rn(g.w / (1.0f + expf(-g.w)), u.w)));
  }
}

template <class TA, class TB>
__global__ void add_kernel(TA* a, const TB* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    act_store(a + i, act_load(a + i) + act_load(b + i));
}

template <class T>
__global__ void scale_rows_by_sigmoid_kernel(T* x, int64_t rows, int64_t width, const float* g) {
  const int64_t total = rows * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const float s = 1.0f / (1.0f + expf(-g[i / width]));
    act_store(x + i, s * act_load(x + i));
  }
}

template <class T>
__global__ void add_bias_kernel(T* y, int64_t rows, int64_t n, const float* bias) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x)
    act_store(y + i, act_load(y + i) + bias[i % n]);
}

// mode 0: dst[i] = src[rows[i]] (gather); 1: dst[rows[i]] = src[i]; 2: dst[rows[i]] += w[i] * src[i]
// (dst F32 in mode 2; else dst of src's type T).
template <int Mode, class T, class TD>
__global__ void rows_kernel(const T* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                            TD* dst) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t r = rows[i];
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      if constexpr (Mode == 0) dst[i * width + j] = src[r * width + j];
      if constexpr (Mode == 1) dst[r * width + j] = src[i * width + j];
      if constexpr (Mode == 2) dst[r * width + j] += __fmul_rn(weights[i], act_load(src + i * width + j));
    }
  }
}

__device__ __forceinline__ void store_as(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_as(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_as(__half* p, float v) { *p = __float2half_rn(v); }

template <class S, class D>
__global__ void convert_any_kernel(const S* src, int64_t n, D* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    store_as(dst + i, to_f32(src[i]));
}

// Calls f(T{}) with T the element type of `t` in {F32, BF16, F16}.
template <class F>
void with_float_type(DType t, F&& f) {
  if (t == DType::F32) f(float{});
  else if (t == DType::BF16) f(__nv_bfloat16{});
  else if (t == DType::F16) f(__half{});
  else fail("convert", "dtype " + std::string(dtype_name(t)) + " not supported (F32/BF16/F16)");
}

}  // namespace

void launch_embedding(const void* table, DType dtype, int64_t vocab, int64_t dim, const int32_t* ids, int64_t n,
                      float* out, cudaStream_t s) {
  if (n == 0) return;
  const unsigned g = grid_for(n, 1);
  if (dtype == DType::BF16)
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(table), vocab, dim, ids, n, out);
  else if (dtype == DType::F16)
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const __half*>(table), vocab, dim, ids, n, out);
  else
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const float*>(table), vocab, dim, ids, n, out);
  check_launch("embedding");
}

void launch_rmsnorm(const void* x, DType xt, int64_t groups, int64_t dim, const float* w, float eps, void* y, DType yt,
                    cudaStream_t s) {
  launch_norm(x, xt, nullptr, DType::F32, nullptr, groups, dim, w, eps, y, yt, s);
}

void launch_rope(void* x, DType act, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                 int64_t half, cudaStream_t s) {
  if (rows * heads * half == 0) return;
  with_act(act, "rope", [&](auto t) {
    using T = decltype(t);
    rope_kernel<<<grid_for(rows * heads * half, kThreads), kThreads, 0, s>>>(static_cast<T*>(x), rows, heads, head_dim,
                                                                            cos, sin, half);
  });
  check_launch("rope");
}

void launch_swiglu(const void* gate, const void* up, int64_t n, void* out, DType act, cudaStream_t s) {
  if (n == 0) return;
  with_act(act, "swiglu", [&](auto t) {
    using T = decltype(t);
    const size_t align = 4 * sizeof(T);
    if (n % 4 == 0 && reinterpret_cast<uintptr_t>(gate) % align == 0 && reinterpret_cast<uintptr_t>(up) % align == 0 &&
        reinterpret_cast<uintptr_t>(out) % align == 0)
      swiglu_vec4_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, s>>>(static_cast<const T*>(gate),
                                                                        static_cast<const T*>(up), n / 4,
                                                                        static_cast<T*>(out));
    else
      swiglu_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<const T*>(gate), static_cast<const T*>(up),
                                                               n, static_cast<T*>(out));
  });
  check_launch("swiglu");
}

void launch_add(void* a, DType at, const void* b, DType bt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  with_act(at, "add", [&](auto ta) {
    using TA = decltype(ta);
    with_act(bt, "add", [&](auto tb) {
      using TB = decltype(tb);
      add_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<TA*>(a), static_cast<const TB*>(b), n);
    });
  });
  check_launch("add");
}

void launch_scale_rows_by_sigmoid(void* x, DType act, int64_t rows, int64_t width, const float* g, cudaStream_t s) {
  if (rows * width == 0) return;
  with_act(act, "scale_rows_by_sigmoid", [&](auto t) {
    using T = decltype(t);
    scale_rows_by_sigmoid_kernel<<<grid_for(rows * width, kThreads), kThreads, 0, s>>>(static_cast<T*>(x), rows, width,
                                                                                        g);
  });
  check_launch("scale_rows_by_sigmoid");
}

void launch_add_bias(void* y, DType act, int64_t rows, int64_t n, const float* bias, cudaStream_t s) {
  if (rows * n == 0) return;
  with_act(act, "add_bias", [&](auto t) {
    using T = decltype(t);
    add_bias_kernel<<<grid_for(rows * n, kThreads), kThreads, 0, s>>>(static_cast<T*>(y), rows, n, bias);
  });
  check_launch("add_bias");
}

void launch_gather_rows(const void* src, DType act, int64_t width, const int32_t* rows, int64_t n, void* dst,
                        cudaStream_t s) {
  if (n == 0) return;
  with_act(act, "gather_rows", [&](auto t) {
    using T = decltype(t);
    rows_kernel<0><<<grid_for(n, 1), kThreads, 0, s>>>(static_cast<const T*>(src), width, rows, nullptr, n,
                                                       static_cast<T*>(dst));
  });
  check_launch("gather_rows");
}

void launch_scatter_rows(const void* src, DType act, int64_t width, const int32_t* rows, int64_t n, void* dst,
                         cudaStream_t s) {
  if (n == 0) return;
  with_act(act, "scatter_rows", [&](auto t) {
    using T = decltype(t);
    rows_kernel<1><<<grid_for(n, 1), kThreads, 0, s>>>(static_cast<const T*>(src), width, rows, nullptr, n,
                                                       static_cast<T*>(dst));
  });
  check_launch("scatter_rows");
}

void launch_scatter_add_rows(const void* src, DType act, int64_t width, const int32_t* rows, const float* weights,
                             int64_t n, float* dst, cudaStream_t s) {
  if (n == 0) return;
  // Rows do not repeat within a call (backend.h), so rows run in parallel.
  with_act(act, "scatter_add_rows", [&](auto t) {
    using T = decltype(t);
    rows_kernel<2><<<grid_for(n, 1), kThreads, 0, s>>>(static_cast<const T*>(src), width, rows, weights, n, dst);
  });
  check_launch("scatter_add_rows");
}

void launch_convert(const void* src, DType st, int64_t n, void* dst, DType dt, cudaStream_t s) {
  if (n == 0) return;
  with_float_type(st, [&](auto a) {
    using S = decltype(a);
    with_float_type(dt, [&](auto b) {
      using D = decltype(b);
      convert_any_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<const S*>(src), n,
                                                                    static_cast<D*>(dst));
    });
  });
  check_launch("convert");
}

}  // namespace nova::kernels::cuda
