// What the CUDA benchmarks share: CUDA/cuBLAS status checks that throw nova::Error naming the
// call, event timing of a device workload, and the peak bf16 tensor-core rate the MFU figures are
// measured against. Include only under NOVA_HAVE_CUDA.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "random_model.h"
#include "core/dtype.h"
#include "core/error.h"

namespace nova::bench {

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) nova::fail(what, cudaGetErrorString(e));
}
inline void cuda_ok(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) nova::fail(what, "cuBLAS status " + std::to_string(int(s)));
}

// Milliseconds of each of `reps` runs of fn (work it enqueues on `stream`, the default stream
// unless given), timed with CUDA events after one untimed warm-up run; in run order.
inline std::vector<double> cuda_event_ms(int reps, const std::function<void()>& fn, cudaStream_t stream = nullptr) {
  cudaEvent_t a = nullptr, b = nullptr;
  cuda_ok(cudaEventCreate(&a), "cudaEventCreate");
  cuda_ok(cudaEventCreate(&b), "cudaEventCreate");
  fn();
  cuda_ok(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    cuda_ok(cudaEventRecord(a, stream), "cudaEventRecord");
    fn();
    cuda_ok(cudaEventRecord(b, stream), "cudaEventRecord");
    cuda_ok(cudaEventSynchronize(b), "cudaEventSynchronize");
    float t = 0;
    cuda_ok(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms;
}

// Peak bf16 tensor-core rate in TFLOP/s: C[n, n] = A^T B (bf16 in and out, fp32 accumulation) on
// random values, the best time over the heuristic's top algorithms, `reps` event-timed calls each.
inline double peak_bf16_tflops(int64_t n, int reps) {
  std::vector<uint16_t> host(static_cast<size_t>(n * n));
  XorShift rng;
  void *a = nullptr, *b = nullptr, *c = nullptr, *ws = nullptr;
  const size_t bytes = host.size() * sizeof(uint16_t), ws_bytes = size_t{64} << 20;
  for (void** p : {&a, &b, &c}) cuda_ok(cudaMalloc(p, bytes), "cudaMalloc");
  cuda_ok(cudaMalloc(&ws, ws_bytes), "cudaMalloc");
  for (void* dst : {a, b}) {
    for (uint16_t& v : host) v = f32_to_bf16(rng.uniform());
    cuda_ok(cudaMemcpy(dst, host.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  cuda_ok(cublasLtCreate(&lt), "cublasLtCreate");
  cuda_ok(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cuda_ok(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "set TRANSA");
  cuda_ok(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "set TRANSB");
  for (cublasLtMatrixLayout_t* l : {&la, &lb, &lc}) cuda_ok(cublasLtMatrixLayoutCreate(l, CUDA_R_16BF, n, n, n), "layout");
  cuda_ok(cublasLtMatmulPreferenceCreate(&pref), "preference");
  cuda_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                               sizeof ws_bytes),
          "set workspace");
  cublasLtMatmulHeuristicResult_t algos[8];
  int n_algos = 0;
  cuda_ok(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 8, algos, &n_algos), "heuristic");
  if (n_algos == 0) fail("peak_bf16_tflops", "cuBLASLt offers no bf16 algorithm");
  const float alpha = 1.0f, beta = 0.0f;
  double best_ms = 1e30;
  for (int i = 0; i < n_algos; ++i) {
    const std::vector<double> ms = cuda_event_ms(reps, [&] {
      cuda_ok(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, c, lc, c, lc, &algos[i].algo, ws, ws_bytes, nullptr),
              "cublasLtMatmul");
    });
    best_ms = std::min(best_ms, *std::min_element(ms.begin(), ms.end()));
  }
  // The product of uniform [-1, 1) values is finite and not all zero: check one row came back.
  std::vector<uint16_t> row(static_cast<size_t>(n));
  cuda_ok(cudaMemcpy(row.data(), c, row.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy");
  if (std::none_of(row.begin(), row.end(), [](uint16_t v) { return bf16_to_f32(v) != 0.0f; }))
    fail("peak_bf16_tflops", "the GEMM produced zeros");
  cublasLtMatmulPreferenceDestroy(pref);
  for (cublasLtMatrixLayout_t l : {la, lb, lc}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(lt);
  for (void* p : {a, b, c, ws}) cudaFree(p);
  return 2.0 * double(n) * double(n) * double(n) / (best_ms * 1e-3) / 1e12;
}

}  // namespace nova::bench
