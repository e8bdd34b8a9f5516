// bench_cuda_train_ops: the GPU training kernels of kernels/cuda/train one by one at the shapes of
// a Llama-3.2-1B training step (hidden 2048, 32/8 heads of 64, inter 8192, vocab 128256) with
// B * T = 8 * 1024 rows: TFLOP/s of every linear's three GEMMs (forward, backward_input,
// backward_weight) and the time of causal attention forward + backward, in bf16 and fp32 mode.
// Each figure is the median of --reps runs timed with CUDA events after one warm-up run.
// Attention FLOPs count the causal half: fwd 2 * 2 * B * H * T^2 / 2 * D, bwd 2.5x that.
//
// Usage: bench_cuda_train_ops [--reps 10] [--fp32 0|1] [--rows 8192]
// Output: one JSON line per measurement (prefix "JSON "), then a table.
#ifndef NOVA_HAVE_CUDA
#include <cstdio>

int main() {
  std::fprintf(stderr, "bench_cuda_train_ops: this build has no CUDA (NOVA_CUDA is off or nvcc was not found)\n");
  return 1;
}
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "kernels/cuda/train/train_ops.h"

namespace {

namespace kt = nova::kernels::cuda::train;
using bf16 = __nv_bfloat16;

using nova::bench::cuda_ok;

// Median milliseconds of `reps` timed runs of fn (after one untimed).
double time_ms(int reps, const std::function<void()>& fn) {
  std::vector<double> ms = nova::bench::cuda_event_ms(reps, fn);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void* device_bytes(size_t n) {
  void* p = nullptr;
  cuda_ok(cudaMalloc(&p, n), "cudaMalloc");
  cuda_ok(cudaMemset(p, 0, n), "cudaMemset");
  return p;
}

// Small random values (so no overflow), filled on the host once per buffer.
template <class T>
T* device_random(size_t n, unsigned seed) {
  std::vector<T> h(n);
  unsigned s = seed;
  for (auto& x : h) {
    s = s * 1664525u + 1013904223u;
    const float f = (static_cast<float>(s >> 9) / 8388608.0f - 0.5f) * 0.1f;
    if constexpr (std::is_same_v<T, bf16>) x = __float2bfloat16(f);
    else x = f;
  }
  T* p = static_cast<T*>(device_bytes(n * sizeof(T)));
  cuda_ok(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

struct Row {
  std::string what;
  double ms, tflops;
};

void report(std::vector<Row>& rows, const std::string& what, double ms, double flops) {
  const double tf = flops / (ms * 1e-3) / 1e12;
  std::printf("JSON {\"bench\":\"cuda_train_ops\",\"what\":\"%s\",\"ms\":%.4f,\"tflops\":%.1f}\n", what.c_str(), ms, tf);
  std::fflush(stdout);
  rows.push_back({what, ms, tf});
}

template <class T>
void bench_mode(const char* mode, int reps, int64_t M, std::vector<Row>& rows) {
  struct Shape {
    const char* name;
    int64_t N, K;
  };
  const Shape shapes[] = {{"q|o 2048x2048", 2048, 2048}, {"k|v 512x2048", 512, 2048},   {"qkv 3072x2048", 3072, 2048},
                          {"gate|up 8192x2048", 8192, 2048}, {"down 2048x8192", 2048, 8192},
                          {"lm_head 128256x2048", 128256, 2048}};
  kt::TrainGemm gemm;
  for (const Shape& s : shapes) {
    T* x = device_random<T>(size_t(M * s.K), 1);
    T* w = device_random<T>(size_t(s.N * s.K), 2);
    T* y = device_random<T>(size_t(M * s.N), 3);
    float* dw = static_cast<float*>(device_bytes(size_t(s.N * s.K) * 4));
    const double flops = 2.0 * double(M) * double(s.N) * double(s.K);
    const std::string base = std::string(mode) + " " + s.name;
    report(rows, base + " fwd", time_ms(reps, [&] { gemm.forward<T>(y, x, w, nullptr, M, s.N, s.K, nullptr); }), flops);
    report(rows, base + " dx", time_ms(reps, [&] { gemm.backward_input<T>(x, y, w, M, s.N, s.K, false, nullptr); }),
           flops);
    report(rows, base + " dw", time_ms(reps, [&] { gemm.backward_weight<T>(dw, y, x, M, s.N, s.K, nullptr); }),
           flops);
    cudaFree(x), cudaFree(w), cudaFree(y), cudaFree(dw);
  }
  // Attention at B = 8, T = 1024, 32/8 heads of 64.
  kt::AttentionDims d;
  d.B = M / 1024, d.T = 1024, d.q_heads = 32, d.kv_heads = 8, d.head_dim = 64, d.scale = 0.125f;
  const size_t nq = size_t(d.B * d.T * d.q_heads * d.head_dim), nk = size_t(d.B * d.T * d.kv_heads * d.head_dim);
  T *q = device_random<T>(nq, 4), *k = device_random<T>(nk, 5), *v = device_random<T>(nk, 6),
    *dout = device_random<T>(nq, 7);
  T* out = static_cast<T*>(device_bytes(nq * sizeof(T)));
  T* dq = static_cast<T*>(device_bytes(nq * sizeof(T)));
  T* dk = static_cast<T*>(device_bytes(nk * sizeof(T)));
  T* dv = static_cast<T*>(device_bytes(nk * sizeof(T)));
  float* lse = static_cast<float*>(device_bytes(size_t(d.B * d.q_heads * d.T) * 4));
  void* ws = device_bytes(std::max<size_t>(1, kt::attention_workspace_bytes(d)));
  const double fwd_flops = 2.0 * 2.0 * double(d.B * d.q_heads) * double(d.T) * double(d.T) / 2 * double(d.head_dim);
  report(rows, std::string(mode) + " attention fwd B8 T1024 32/8 D64",
         time_ms(reps, [&] { kt::attention_forward<T>(out, lse, q, k, v, d, ws, nullptr); }), fwd_flops);
  report(rows, std::string(mode) + " attention bwd B8 T1024 32/8 D64",
         time_ms(reps, [&] { kt::attention_backward<T>(dq, dk, dv, dout, out, lse, q, k, v, d, ws, nullptr); }),
         2.5 * fwd_flops);
  for (void* p : {(void*)q, (void*)k, (void*)v, (void*)dout, (void*)out, (void*)dq, (void*)dk, (void*)dv, (void*)lse, ws})
    cudaFree(p);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 10, fp32 = 1;
  int64_t rows = 8192;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--fp32")) fp32 = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_cuda_train_ops [--reps 10] [--fp32 0|1] [--rows 8192]\n");
      return 2;
    }
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::fprintf(stderr, "bench_cuda_train_ops: no CUDA device\n");
    return 1;
  }
  std::vector<Row> table;
  try {
    cudaDeviceProp prop{};
    cuda_ok(cudaGetDeviceProperties(&prop, 0), "properties");
    std::printf("device: %s, rows (B*T) %lld\n", prop.name, static_cast<long long>(rows));
    bench_mode<bf16>("bf16", reps, rows, table);
    if (fp32) bench_mode<float>("fp32", reps, rows, table);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_train_ops: %s\n", e.what());
    return 1;
  }
  std::printf("\n%-48s %10s %9s\n", "what", "ms", "TFLOP/s");
  for (const Row& r : table) std::printf("%-48s %10.3f %9.1f\n", r.what.c_str(), r.ms, r.tflops);
  return 0;
}

#endif  // NOVA_HAVE_CUDA
