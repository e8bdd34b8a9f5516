// The CUDA backend's memory-bound ops: embedding, RMSNorm, RoPE, SwiGLU, residual add, row gating,
// bias add, row gather/scatter and the fp32 -> bf16/f16 conversion in front of tensor-core GEMMs.
// Each mirrors the float32 arithmetic of its CPU kernel (kernels/cpu) so results agree to rounding.
#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void embedding_kernel(const T* table, int64_t dim, const int32_t* ids, int64_t n, float* out) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const T* src = table + static_cast<int64_t>(ids[r]) * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[r * dim + i] = to_f32(src[i]);
  }
}

// One block per group; sum of squares in double, like the CPU kernel, so both round the same way.
__global__ void rope_kernel(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos,
                            const float* sin, int64_t half) {
  const int64_t total = rows * heads * half;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = t % half, rh = t / half, r = rh / heads;
    float* v = x + rh * head_dim;
    const float c = cos[r * half + i], s = sin[r * half + i];
    const float a = v[i], b = v[i + half];
    // Two rounded products then a sum (no FMA contraction), as the CPU kernel and torch do.
    v[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    v[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  }
}

__global__ void swiglu_kernel(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = __fmul_rn(g / (1.0f + expf(-g)), up[i]);
  }
}

__global__ void add_kernel(float* a, const float* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    a[i] += b[i];
}

__global__ void scale_rows_by_sigmoid_kernel(float* x, int64_t rows, int64_t width, const float* g) {
  const int64_t total = rows * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const float s = 1.0f / (1.0f + expf(-g[i / width]));
    x[i] = s * x[i];
  }
}

__global__ void add_bias_kernel(float* y, int64_t rows, int64_t n, const float* bias) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x)
    y[i] += bias[i % n];
}

// mode 0: dst[i] = src[rows[i]] (gather); 1: dst[rows[i]] = src[i]; 2: dst[rows[i]] += w[i] * src[i].
template <int Mode>
__global__ void rows_kernel(const float* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                            float* dst) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t r = rows[i];
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      if (Mode == 0) dst[i * width + j] = src[r * width + j];
      if (Mode == 1) dst[r * width + j] = src[i * width + j];
      if (Mode == 2) dst[r * width + j] += __fmul_rn(weights[i], src[i * width + j]);
    }
  }
}

template <class T>
__global__ void convert_kernel(const float* src, int64_t n, T* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) dst[i] = __float2bfloat16_rn(src[i]);
    else dst[i] = __float2half_rn(src[i]);
  }
}

}  // namespace

void launch_embedding(const void* table, DType dtype, int64_t dim, const int32_t* ids, int64_t n, float* out,
                      cudaStream_t s) {
  if (n == 0) return;
  const unsigned g = grid_for(n, 1);
  if (dtype == DType::BF16)
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const __nv_bfloat16*>(table), dim, ids, n, out);
  else if (dtype == DType::F16)
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const __half*>(table), dim, ids, n, out);
  else
    embedding_kernel<<<g, kThreads, 0, s>>>(static_cast<const float*>(table), dim, ids, n, out);
  check_launch("embedding");
}

void launch_rmsnorm(const float* x, int64_t groups, int64_t dim, const float* w, float eps, float* y, cudaStream_t s) {
  launch_norm(x, nullptr, nullptr, groups, dim, w, eps, y, s);
}

void launch_rope(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                 int64_t half, cudaStream_t s) {
  if (rows * heads * half == 0) return;
  rope_kernel<<<grid_for(rows * heads * half, kThreads), kThreads, 0, s>>>(x, rows, heads, head_dim, cos, sin, half);
  check_launch("rope");
}

void launch_swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t s) {
  if (n == 0) return;
  swiglu_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(gate, up, n, out);
  check_launch("swiglu");
}

void launch_add(float* a, const float* b, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(a, b, n);
  check_launch("add");
}

void launch_scale_rows_by_sigmoid(float* x, int64_t rows, int64_t width, const float* g, cudaStream_t s) {
  if (rows * width == 0) return;
  scale_rows_by_sigmoid_kernel<<<grid_for(rows * width, kThreads), kThreads, 0, s>>>(x, rows, width, g);
  check_launch("scale_rows_by_sigmoid");
}

void launch_add_bias(float* y, int64_t rows, int64_t n, const float* bias, cudaStream_t s) {
  if (rows * n == 0) return;
  add_bias_kernel<<<grid_for(rows * n, kThreads), kThreads, 0, s>>>(y, rows, n, bias);
  check_launch("add_bias");
}

void launch_gather_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst, cudaStream_t s) {
  if (n == 0) return;
  rows_kernel<0><<<grid_for(n, 1), kThreads, 0, s>>>(src, width, rows, nullptr, n, dst);
  check_launch("gather_rows");
}

void launch_scatter_rows(const float* src, int64_t width, const int32_t* rows, int64_t n, float* dst, cudaStream_t s) {
  if (n == 0) return;
  rows_kernel<1><<<grid_for(n, 1), kThreads, 0, s>>>(src, width, rows, nullptr, n, dst);
  check_launch("scatter_rows");
}

void launch_scatter_add_rows(const float* src, int64_t width, const int32_t* rows, const float* weights, int64_t n,
                             float* dst, cudaStream_t s) {
  if (n == 0) return;
  // Rows do not repeat within a call (backend.h), so rows run in parallel.
  rows_kernel<2><<<grid_for(n, 1), kThreads, 0, s>>>(src, width, rows, weights, n, dst);
  check_launch("scatter_add_rows");
}

void launch_convert_f32(const float* src, int64_t n, void* dst, DType dtype, cudaStream_t s) {
  if (n == 0) return;
  if (dtype == DType::BF16)
    convert_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(src, n, static_cast<__nv_bfloat16*>(dst));
  else
    convert_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(src, n, static_cast<__half*>(dst));
  check_launch("convert_f32");
}

}  // namespace nova::kernels::cuda
