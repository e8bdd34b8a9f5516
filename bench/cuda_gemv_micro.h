// Kernel time of the decode GEMVs (kernels/cuda/gemv.cu) at the Llama-3.2-1B and Llama-3.1-8B
// shapes, in the fused forms a decode step launches (q|k|v with the RMSNorm folded in, o and down
// with the residual add, gate|up with the norm and SwiGLU, the LM head), beside the copy
// bandwidth. Each shape's launches are captured into one CUDA graph (rotating over enough weight
// copies that L2 holds none of them) and the graph's replays are timed with events: no host time
// per op, and consecutive GEMVs overlap through programmatic dependent launch as in a decode step
// (NOVA_CUDA_PDL=0 for isolated kernels; ncu's gpu__time_duration gives those too: set
// NOVA_BENCH_GEMV_QUICK=1 under ncu for 8 launches and one timed replay per shape).
// Include only under NOVA_HAVE_CUDA.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "kernels/cuda/ops.cuh"
#include "random_model.h"

namespace nova::bench {

struct GemvShape {
  const char* name;
  enum Form { kNormParts, kAdd, kNormSwiglu, kPlain } form;
  int64_t rows[3];  // parts (q, k, v), or gate (= up) rows, or N
  int64_t K;
};

inline const std::vector<GemvShape>& decode_gemv_shapes() {
  static const std::vector<GemvShape> shapes = {
      {"1b q|k|v +norm", GemvShape::kNormParts, {2048, 512, 512}, 2048},
      {"1b o +add", GemvShape::kAdd, {2048, 0, 0}, 2048},
      {"1b gate|up +norm", GemvShape::kNormSwiglu, {8192, 0, 0}, 2048},
      {"1b down +add", GemvShape::kAdd, {2048, 0, 0}, 8192},
      {"1b LM head", GemvShape::kPlain, {128256, 0, 0}, 2048},
      {"8b q|k|v +norm", GemvShape::kNormParts, {4096, 1024, 1024}, 4096},
      {"8b o +add", GemvShape::kAdd, {4096, 0, 0}, 4096},
      {"8b gate|up +norm", GemvShape::kNormSwiglu, {14336, 0, 0}, 4096},
      {"8b down +add", GemvShape::kAdd, {4096, 0, 0}, 14336},
      {"8b LM head", GemvShape::kPlain, {128256, 0, 0}, 4096},
  };
  return shapes;
}

// Weight bytes one launch of `s` reads.
inline double gemv_weight_bytes(const GemvShape& s) {
  const int64_t rows = s.form == GemvShape::kNormSwiglu ? 2 * s.rows[0] : s.rows[0] + s.rows[1] + s.rows[2];
  return 2.0 * double(rows) * double(s.K);
}

// Microseconds per launch of shape `s` (median of 7 replays of a graph of >= 32 launches; quick:
// one replay of 8).
inline double gemv_kernel_us(const GemvShape& s, bool quick) {
  namespace kc = nova::kernels::cuda;
  const double bytes = gemv_weight_bytes(s);
  const int copies = static_cast<int>(std::max(2.0, std::ceil(double(int64_t{600} << 20) / bytes)));
  const int launches = quick ? 8 : std::max(32, 2 * copies);
  // Random bf16 weights (finite, non-zero), one host block uploaded into every copy.
  std::vector<uint16_t> host(static_cast<size_t>(bytes / 2));
  XorShift rng;
  for (auto& v : host) v = nova::f32_to_bf16(0.02f * rng.uniform());
  std::vector<void*> w(static_cast<size_t>(copies));
  for (void*& p : w) {
    cuda_ok(cudaMalloc(&p, static_cast<size_t>(bytes)), "cudaMalloc weights");
    if (&p == &w[0]) cuda_ok(cudaMemcpy(p, host.data(), static_cast<size_t>(bytes), cudaMemcpyHostToDevice), "upload");
    else cuda_ok(cudaMemcpy(p, w[0], static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice), "copy weights");
  }
  std::vector<float> xh(static_cast<size_t>(s.K));
  for (auto& v : xh) v = rng.uniform();
  std::vector<uint16_t> xb(xh.size());
  for (size_t i = 0; i < xh.size(); ++i) xb[i] = nova::f32_to_bf16(xh[i]);
  std::vector<float> gh(xh.size(), 1.0f);
  float *x32 = nullptr, *norm = nullptr, *y32 = nullptr;
  void *x16 = nullptr, *y16 = nullptr;
  const int64_t n_out = s.rows[0] + s.rows[1] + s.rows[2];
  cuda_ok(cudaMalloc(&x32, xh.size() * 4), "cudaMalloc");
  cuda_ok(cudaMalloc(&norm, xh.size() * 4), "cudaMalloc");
  cuda_ok(cudaMalloc(&x16, xh.size() * 2), "cudaMalloc");
  cuda_ok(cudaMalloc(&y32, static_cast<size_t>(n_out) * 4), "cudaMalloc");
  cuda_ok(cudaMalloc(&y16, static_cast<size_t>(n_out) * 2), "cudaMalloc");
  cuda_ok(cudaMemcpy(x32, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice), "upload");
  cuda_ok(cudaMemcpy(norm, gh.data(), gh.size() * 4, cudaMemcpyHostToDevice), "upload");
  cuda_ok(cudaMemcpy(x16, xb.data(), xb.size() * 2, cudaMemcpyHostToDevice), "upload");
  cuda_ok(cudaMemset(y32, 0, static_cast<size_t>(n_out) * 4), "memset");

  cudaStream_t st = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
  auto launch = [&](int i) {
    const uint16_t* wc = static_cast<const uint16_t*>(w[static_cast<size_t>(i % copies)]);
    switch (s.form) {
      case GemvShape::kNormParts: {
        kc::GemvParts p{};
        p.parts = 3;
        int64_t off = 0;
        for (int j = 0; j < 3; ++j) {
          p.w[j] = wc + off * s.K;
          p.y[j] = static_cast<uint16_t*>(y16) + off;
          p.rows[j] = s.rows[j];
          off += s.rows[j];
        }
        kc::launch_rmsnorm_gemv_parts(x32, norm, 1e-5f, p, DType::BF16, s.K, DType::BF16, st);
        break;
      }
      case GemvShape::kAdd:
        kc::launch_gemv_add(x16, DType::BF16, wc, DType::BF16, s.rows[0], s.K, y32, st);
        break;
      case GemvShape::kNormSwiglu:
        kc::launch_rmsnorm_gemv_swiglu(x32, norm, 1e-5f, wc, wc + s.rows[0] * s.K, DType::BF16, s.rows[0], s.K, y16,
                                       DType::BF16, st);
        break;
      case GemvShape::kPlain:
        kc::launch_gemv(x16, DType::BF16, wc, DType::BF16, s.rows[0], s.K, y32, DType::F32, st);
        break;
    }
  };
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cuda_ok(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  for (int i = 0; i < launches; ++i) launch(i);
  cuda_ok(cudaStreamEndCapture(st, &graph), "cudaStreamEndCapture");
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  std::vector<double> us =
      nova::bench::cuda_event_ms(quick ? 1 : 7, [&] { cuda_ok(cudaGraphLaunch(exec, st), "cudaGraphLaunch"); }, st);
  for (double& t : us) t *= 1e3 / launches;  // ms per replay -> us per launch
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
  for (void* p : w) cudaFree(p);
  for (void* p : {static_cast<void*>(x32), static_cast<void*>(norm), x16, static_cast<void*>(y32), y16}) cudaFree(p);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// Prints one line per decode shape: kernel time, weight GB/s and its share of `copy_gbs`.
inline void print_gemv_kernel_times(double copy_gbs) {
  const char* q = std::getenv("NOVA_BENCH_GEMV_QUICK");
  const bool quick = q && std::string(q) == "1";
  std::printf("\ndecode GEMV kernel time (graph replay, events; bf16 weights) vs copy %.0f GB/s:\n", copy_gbs);
  for (const GemvShape& s : decode_gemv_shapes()) {
    const double us = gemv_kernel_us(s, quick), bytes = gemv_weight_bytes(s);
    const double gbs = bytes / us / 1e3;
    std::printf("  %-17s %6lld x %5lld: %8.2f us (bytes at copy speed %7.2f us)  %6.0f GB/s = %3.0f%% of copy\n", s.name,
                (long long)(bytes / 2 / double(s.K)), (long long)s.K, us, bytes / copy_gbs / 1e3, gbs,
                100 * gbs / copy_gbs);
  }
  std::fflush(stdout);
}

}  // namespace nova::bench
