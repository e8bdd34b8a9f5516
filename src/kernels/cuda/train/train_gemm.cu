// TrainGemm: the three products of a linear layer on cuBLASLt, row-major tensors handled as their
// column-major transposes (no transposed copies):
//   forward         y^T [N, M]  = op_T(W: K x N) * x^T (K x M)
//   backward_input  dx^T [K, M] = W (K x N) * dy^T (N x M)
//   backward_weight dW^T [K, N] = x^T (K x M) * op_T(dy^T: N x M), beta = 1
// One cached plan (descriptors + heuristic algorithm) per distinct shape, dtype and alignment.
#include <map>
#include <string>
#include <tuple>
#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/lt_matmul.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

enum class GemmOp : int { Forward = 0, BackwardInput = 1, BackwardWeight = 2 };

int alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  int al = 256;
  while (al > 1 && a % static_cast<uintptr_t>(al) != 0) al /= 2;
  return al;
}

template <class T>
constexpr cudaDataType_t cuda_type() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_16BF;
}

// y[m, n] += bias[n] (the bf16 output's bias is added after the product, in fp32).
template <class T>
__global__ void add_bias_kernel(T* y, const float* bias, int64_t M, int64_t N) {
  const int64_t n = M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f32<T>(to_f32(y[i]) + bias[i % N]);
}

// db[col] += sum over rows of dy[row, col], rows summed in a fixed order: a block owns 32
// columns, its 32 row lanes sum strided rows, then lane sums are added in lane order.
template <class T>
__global__ void bias_backward_kernel(float* db, const T* dy, int64_t M, int64_t N) {
  __shared__ float part[32][33];
  const int64_t col = blockIdx.x * 32 + threadIdx.x;
  float acc = 0.0f;
  if (col < N)
    for (int64_t r = threadIdx.y; r < M; r += 32) acc += to_f32(dy[r * N + col]);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < N) {
    float s = 0.0f;
    for (int k = 0; k < 32; ++k) s += part[k][threadIdx.x];
    db[col] += s;
  }
}

}  // namespace

struct TrainGemm::Impl {
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // (op, M, N, K, input type, alignments of A, B, C).
  using Key = std::tuple<int, int64_t, int64_t, int64_t, int, int, int, int>;

  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<Key, Plan> plans;

  Impl() {
    check_cublas(cublasLtCreate(&handle), "cublasLtCreate");
    check_cuda(cudaMalloc(&workspace, kWorkspaceBytes), "cudaMalloc(TrainGemm workspace)");
  }
  ~Impl() {
    for (auto& [key, p] : plans) destroy(p);
    cudaFree(workspace);
    cublasLtDestroy(handle);
  }
  static void destroy(Plan& p) {
    if (p.a) cublasLtMatrixLayoutDestroy(p.a);
    if (p.b) cublasLtMatrixLayoutDestroy(p.b);
    if (p.c) cublasLtMatrixLayoutDestroy(p.c);
    if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  }

  // The column-major problem C (rows x cols) = op(A) op(B) of one GemmOp.
  const Plan& plan(GemmOp op, int64_t M, int64_t N, int64_t K, cudaDataType_t in, cudaDataType_t out, const void* A,
                   const void* B, const void* C) {
    const Key key{int(op), M, N, K, int(in), alignment_of(A), alignment_of(B), alignment_of(C)};
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan p;
    try {
      check_cublas(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
      cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
      switch (op) {
        case GemmOp::Forward:  // A = W as K x N (ld K), transposed; B = x^T K x M; C = N x M.
          ta = CUBLAS_OP_T;
          check_cublas(cublasLtMatrixLayoutCreate(&p.a, in, K, N, K), "layout A");
          check_cublas(cublasLtMatrixLayoutCreate(&p.b, in, K, M, K), "layout B");
          check_cublas(cublasLtMatrixLayoutCreate(&p.c, out, N, M, N), "layout C");
          break;
        case GemmOp::BackwardInput:  // A = W as K x N; B = dy^T N x M; C = dx^T K x M.
          check_cublas(cublasLtMatrixLayoutCreate(&p.a, in, K, N, K), "layout A");
          check_cublas(cublasLtMatrixLayoutCreate(&p.b, in, N, M, N), "layout B");
          check_cublas(cublasLtMatrixLayoutCreate(&p.c, out, K, M, K), "layout C");
          break;
        case GemmOp::BackwardWeight:  // A = x^T K x M; B = dy^T N x M, transposed; C = dW^T K x N.
          tb = CUBLAS_OP_T;
          check_cublas(cublasLtMatrixLayoutCreate(&p.a, in, K, M, K), "layout A");
          check_cublas(cublasLtMatrixLayoutCreate(&p.b, in, N, M, N), "layout B");
          check_cublas(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, K, N, K), "layout C");
          break;
      }
      check_cublas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "TRANSA");
      check_cublas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "TRANSB");

      if (!lt_best_algo(handle, p.desc, p.a, p.b, p.c, kWorkspaceBytes, uint32_t(std::get<5>(key)),
                        uint32_t(std::get<6>(key)), uint32_t(std::get<7>(key)), &p.algo))
        fail("train gemm", "cuBLASLt has no algorithm for op " + std::to_string(int(op)) + " M=" + std::to_string(M) +
                               " N=" + std::to_string(N) + " K=" + std::to_string(K));
    } catch (...) {
      destroy(p);
      throw;
    }
    return plans.emplace(key, p).first->second;
  }

  void matmul(const Plan& p, const void* A, const void* B, void* C, float beta, cudaStream_t s) {
    const float alpha = 1.0f;
    check_cublas(cublasLtMatmul(handle, p.desc, &alpha, A, p.a, B, p.b, &beta, C, p.c, C, p.c, &p.algo, workspace,
                                kWorkspaceBytes, s),
                 "cublasLtMatmul");
  }
};

TrainGemm::TrainGemm() : impl_(std::make_unique<Impl>()) {}
TrainGemm::~TrainGemm() = default;

template <class T>
void TrainGemm::forward(T* y, const T* x, const T* w, const float* bias, int64_t M, int64_t N, int64_t K,
                        cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    check_cuda(cudaMemsetAsync(y, 0, size_t(M * N) * sizeof(T), stream), "cudaMemsetAsync(gemm y)");
  } else {
    const auto& p = impl_->plan(GemmOp::Forward, M, N, K, cuda_type<T>(), cuda_type<T>(), w, x, y);
    impl_->matmul(p, w, x, y, 0.0f, stream);
  }
  if (bias) {
    add_bias_kernel<T><<<grid_for(M * N, 256), 256, 0, stream>>>(y, bias, M, N);
    check_launch("add_bias_kernel");
  }
}

template <class T>
void TrainGemm::backward_input(T* dx, const T* dy, const T* w, int64_t M, int64_t N, int64_t K, bool accumulate,
                               cudaStream_t stream) {
  if (M <= 0 || K <= 0) return;
  if (N <= 0) {
    if (!accumulate) check_cuda(cudaMemsetAsync(dx, 0, size_t(M * K) * sizeof(T), stream), "cudaMemsetAsync(dx)");
    return;
  }
  const auto& p = impl_->plan(GemmOp::BackwardInput, M, N, K, cuda_type<T>(), cuda_type<T>(), w, dy, dx);
  impl_->matmul(p, w, dy, dx, accumulate ? 1.0f : 0.0f, stream);
}

template <class T>
void TrainGemm::backward_weight(float* dw, const T* dy, const T* x, int64_t M, int64_t N, int64_t K,
                                cudaStream_t stream) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const auto& p = impl_->plan(GemmOp::BackwardWeight, M, N, K, cuda_type<T>(), CUDA_R_32F, x, dy, dw);
  impl_->matmul(p, x, dy, dw, 1.0f, stream);
}

template <class T>
void bias_backward(float* db, const T* dy, int64_t M, int64_t N, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  bias_backward_kernel<T><<<unsigned((N + 31) / 32), dim3(32, 32), 0, stream>>>(db, dy, M, N);
  check_launch("bias_backward_kernel");
}

#define NOVA_TRAIN_GEMM(T)                                                                                         \
  template void TrainGemm::forward<T>(T*, const T*, const T*, const float*, int64_t, int64_t, int64_t,            \
                                      cudaStream_t);                                                               \
  template void TrainGemm::backward_input<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool, cudaStream_t); \
  template void TrainGemm::backward_weight<T>(float*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);  \
  template void bias_backward<T>(float*, const T*, int64_t, int64_t, cudaStream_t);
NOVA_TRAIN_GEMM(float)
NOVA_TRAIN_GEMM(bf16)
#undef NOVA_TRAIN_GEMM

}  // namespace nova::kernels::cuda::train
