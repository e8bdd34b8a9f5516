// Decode at batch 1: y = W x with W [N, K] in bf16/f16 and x, y in float32. The step is bound by
// streaming W once from HBM, so each warp owns one output row (two for the SwiGLU pair) and reads
// it with 16-byte loads, 8 weights per lane per load, with kLoads loads in flight per lane before
// any is used: a 2048-wide row is a single round trip to memory, and enough bytes are in flight
// per SM to cover the latency even for the small 2048 x 2048 matrices (the previous kernel kept
// 2 loads in flight and reached 39% of copy bandwidth there). Weights bypass L1
// (ld.global.nc.L1::no_allocate) so x, read by every warp, stays there. x stays float32: no
// conversion pass, and the products are exact in fp32.
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
#include <string>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

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

template <class T>
__device__ __forceinline__ float dot8(const uint4& p, const float4& a, const float4& b) {
  float f[8];
  unpack8(p, f, static_cast<const T*>(nullptr));
  return f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
}

// acc[r] = row r of w . x over K = 8 * chunks, summed over the warp (every lane gets the sum).
// R rows share the x loads; U * R loads per lane are issued before the first is used.
template <class T, int R, int U>
__device__ __forceinline__ void dot_rows(const uint4* const (&w)[R], const float4* x, int64_t chunks, float (&acc)[R]) {
  const int lane = threadIdx.x & 31;
  float a[R];
#pragma unroll
  for (int r = 0; r < R; ++r) a[r] = 0.0f;
  int64_t c = lane;
  bool waited = false;
  for (; c + (U - 1) * 32 < chunks; c += U * 32) {
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
      const float4 x0 = __ldg(x + 2 * (c + u * 32)), x1 = __ldg(x + 2 * (c + u * 32) + 1);
#pragma unroll
      for (int r = 0; r < R; ++r) a[r] += dot8<T>(p[r][u], x0, x1);
    }
  }
  if (!waited) pdl_wait();
  for (; c < chunks; c += 32) {
    const float4 x0 = __ldg(x + 2 * c), x1 = __ldg(x + 2 * c + 1);
#pragma unroll
    for (int r = 0; r < R; ++r) a[r] += dot8<T>(load_weights(w[r] + c), x0, x1);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = warp_sum(a[r]);
}

template <class T>
__global__ void __launch_bounds__(kWarps * 32) gemv_parts_kernel(const float* __restrict__ x,
                                                                 const __grid_constant__ GemvParts g, int64_t K) {
  pdl_trigger();
  int64_t n = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  int part = 0;
  while (part < g.parts && n >= g.rows[part]) n -= g.rows[part++];
  if (part == g.parts) return;  // writes nothing: need not wait
  const uint4* const w[1] = {reinterpret_cast<const uint4*>(static_cast<const T*>(g.w[part]) + n * K)};
  float acc[1];
  dot_rows<T, 1, kLoads>(w, reinterpret_cast<const float4*>(x), K / 8, acc);
  if ((threadIdx.x & 31) == 0) g.y[part][n] = acc[0];
}

template <class T>
__global__ void __launch_bounds__(kWarps * 32) gemv_swiglu_kernel(const float* __restrict__ x,
                                                                  const T* __restrict__ w_gate,
                                                                  const T* __restrict__ w_up, int64_t N, int64_t K,
                                                                  float* __restrict__ out) {
  pdl_trigger();
  const int64_t n = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  if (n >= N) return;
  const uint4* const w[2] = {reinterpret_cast<const uint4*>(w_gate + n * K),
                             reinterpret_cast<const uint4*>(w_up + n * K)};
  float acc[2];
  dot_rows<T, 2, kLoads / 2>(w, reinterpret_cast<const float4*>(x), K / 8, acc);
  // swiglu()'s arithmetic exactly: silu(g) = g / (1 + e^-g), one rounded product.
  if ((threadIdx.x & 31) == 0) out[n] = __fmul_rn(acc[0] / (1.0f + expf(-acc[0])), acc[1]);
}

unsigned blocks_for(int64_t rows) { return static_cast<unsigned>((rows + kWarps - 1) / kWarps); }

// Whether launches on the current device may overlap the previous kernel (compute capability 9+).
bool use_pdl() {
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_PDL");
    if (env && std::string(env) == "0") return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

template <class Kernel, class... A>
void launch(Kernel kernel, unsigned blocks, cudaStream_t s, const A&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(kWarps * 32);
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = use_pdl() ? 1 : 0;
  check_cuda(cudaLaunchKernelEx(&cfg, kernel, args...), "gemv launch");
}

}  // namespace

bool gemv_supports(DType dtype, int64_t K) { return (dtype == DType::BF16 || dtype == DType::F16) && K % 8 == 0; }

void launch_gemv_parts(const float* x, const GemvParts& p, DType dtype, int64_t K, cudaStream_t s) {
  int64_t rows = 0;
  for (int i = 0; i < p.parts; ++i) rows += p.rows[i];
  if (rows == 0) return;
  if (dtype == DType::BF16) launch(gemv_parts_kernel<__nv_bfloat16>, blocks_for(rows), s, x, p, K);
  else launch(gemv_parts_kernel<__half>, blocks_for(rows), s, x, p, K);
}

void launch_gemv(const float* x, const void* w, DType dtype, int64_t N, int64_t K, float* y, cudaStream_t s) {
  GemvParts p{};
  p.parts = 1;
  p.w[0] = w;
  p.y[0] = y;
  p.rows[0] = N;
  launch_gemv_parts(x, p, dtype, K, s);
}

void launch_gemv_swiglu(const float* x, const void* w_gate, const void* w_up, DType dtype, int64_t N, int64_t K,
                        float* out, cudaStream_t s) {
  if (N == 0) return;
  if (dtype == DType::BF16)
    launch(gemv_swiglu_kernel<__nv_bfloat16>, blocks_for(N), s, x, static_cast<const __nv_bfloat16*>(w_gate),
           static_cast<const __nv_bfloat16*>(w_up), N, K, out);
  else
    launch(gemv_swiglu_kernel<__half>, blocks_for(N), s, x, static_cast<const __half*>(w_gate),
           static_cast<const __half*>(w_up), N, K, out);
}

}  // namespace nova::kernels::cuda
