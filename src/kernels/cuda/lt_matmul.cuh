// y = x W^T through cuBLASLt, with one cached plan (descriptors + heuristic algorithm) per shape,
// so a decode step pays for the heuristic query only once per distinct (M, N, K, dtype).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "core/dtype.h"

namespace nova::kernels::cuda {

// cuBLASLt's heuristic choice for `desc` over layouts a, b and c (also used for d) within
// `workspace_bytes`, for operands whose pointers are aligned to a_align, b_align and c_align bytes
// (algorithms depend on it); false when it has none.
bool lt_best_algo(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                  cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, size_t workspace_bytes, uint32_t a_align,
                  uint32_t b_align, uint32_t c_align, cublasLtMatmulAlgo_t* algo);

class LtMatmul {
 public:
  LtMatmul();
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // y[M, N] (row-major, `ydtype`) = x[M, K] * w[N, K]^T with x and w both of `dtype` (F32: full
  // fp32 math, TF32 off, y F32; BF16/F16: tensor cores, fp32 accumulation, y F32 — or BF16 for
  // BF16 operands, rounded once from the fp32 accumulator).
  void run(const void* x, const void* w, DType dtype, int64_t M, int64_t N, int64_t K, void* y, DType ydtype,
           cudaStream_t s);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // (M, N, K, dtype, alignment of x, of w, of y, y's dtype): algorithms depend on pointer alignment too.
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int, int, int>;
  Plan& plan(const Key& key);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace nova::kernels::cuda
