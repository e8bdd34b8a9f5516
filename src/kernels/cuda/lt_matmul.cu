#include "kernels/cuda/lt_matmul.cuh"

#include <string>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// The largest power of two (at most 256) dividing the address: cuBLASLt's alignment preference.
int alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  int al = 256;
  while (al > 1 && a % static_cast<uintptr_t>(al) != 0) al /= 2;
  return al;
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

}  // namespace

LtMatmul::LtMatmul() {
  check_cublas(cublasLtCreate(&handle_), "cublasLtCreate");
  workspace_bytes_ = kWorkspaceBytes;
  check_cuda(cudaMalloc(&workspace_, workspace_bytes_), "cudaMalloc(cuBLASLt workspace)");
}

LtMatmul::~LtMatmul() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

bool lt_best_algo(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                  cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, size_t workspace_bytes, uint32_t a_align,
                  uint32_t b_align, uint32_t c_align, cublasLtMatmulAlgo_t* algo) {
  cublasLtMatmulPreference_t pref = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&pref), "preference");
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                       sizeof workspace_bytes);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &a_align, sizeof a_align);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &b_align, sizeof b_align);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &c_align, sizeof c_align);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &c_align, sizeof c_align);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;
  *algo = result.algo;
  return true;
}

LtMatmul::Plan& LtMatmul::plan(const Key& key) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  const auto [M, N, K, dt, al_x, al_w, al_y, ydt] = key;
  const DType dtype = static_cast<DType>(dt);
  const cudaDataType_t ab = cuda_type(dtype);
  Plan p;
  // Column-major view: y^T [N, M] = W [N, K] (stored as K x N, transposed) * x^T [K, M].
  check_cublas(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  check_cublas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "TRANSA");
  check_cublas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "TRANSB");
  check_cublas(cublasLtMatrixLayoutCreate(&p.a, ab, K, N, K), "layout A");
  check_cublas(cublasLtMatrixLayoutCreate(&p.b, ab, K, M, K), "layout B");
  check_cublas(cublasLtMatrixLayoutCreate(&p.c, cuda_type(static_cast<DType>(ydt)), N, M, N), "layout C");

  if (!lt_best_algo(handle_, p.desc, p.a, p.b, p.c, workspace_bytes_, static_cast<uint32_t>(al_w),
                    static_cast<uint32_t>(al_x), static_cast<uint32_t>(al_y), &p.algo)) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
    fail("linear", "cuBLASLt has no algorithm for M=" + std::to_string(M) + " N=" + std::to_string(N) +
                       " K=" + std::to_string(K) + " " + std::string(dtype_name(dtype)) + " -> " +
                       std::string(dtype_name(static_cast<DType>(ydt))));
  }
  return plans_.emplace(key, p).first->second;
}

void LtMatmul::run(const void* x, const void* w, DType dtype, int64_t M, int64_t N, int64_t K, void* y, DType ydtype,
                   cudaStream_t s) {
  const Plan& p = plan({M, N, K, static_cast<int>(dtype), alignment_of(x), alignment_of(w), alignment_of(y),
                        static_cast<int>(ydtype)});
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo, workspace_,
                              workspace_bytes_, s),
               "cublasLtMatmul");
}

}  // namespace nova::kernels::cuda
