// A 1B decode step's GEMVs without the attention, two ways: per layer q|k|v (+norm) -> o (+add,
// reading q's first 2048 outputs) -> gate|up (+norm, SwiGLU) -> down (+add), 16 layers with their
// own weights (973 MB: none in L2).
//   - as a decode step runs them: one launch per GEMV (kernels/cuda/gemv.cu), back to back with
//     PDL, captured into one graph (bench_cuda_decode --micro 1): what a layer would take if its
//     attention cost nothing (H100: 45 us against 40.5 us of bytes at copy speed);
//   - as one persistent kernel (cuda_persistent_chain.cu; --micro 2), a probe of that design:
//     time per layer beside the PDL chain's and the final residuals' difference (they sum in
//     different orders). NOVA_CHAIN_SLOTS: its ring slots (default 5); NOVA_CHAIN_NO_WAIT=1:
//     without the stage dependencies, i.e. how fast its ring streams (results then wrong).
// Include only under NOVA_HAVE_CUDA.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "cuda_persistent_chain.h"
#include "kernels/cuda/ops.cuh"
#include "random_model.h"

namespace nova::bench {

// The chain's weights and activations on the device.
struct GemvChain {
  static constexpr int kLayers = 16;
  static constexpr int64_t H = 2048, F = 8192, QKV = 3072;
  static constexpr int64_t kPerLayer = (QKV + H) * H + 2 * F * H + H * F;  // weight elements
  void* w = nullptr;
  float *resid = nullptr, *norm = nullptr;
  void *q16 = nullptr, *h16 = nullptr;
  std::vector<float> resid0;

  GemvChain() {
    cuda_ok(cudaMalloc(&w, static_cast<size_t>(2 * kPerLayer * kLayers)), "cudaMalloc weights");
    XorShift rng;
    std::vector<uint16_t> host(static_cast<size_t>(kPerLayer));
    for (auto& v : host) v = nova::f32_to_bf16(0.02f * rng.uniform());
    for (int l = 0; l < kLayers; ++l)
      cuda_ok(cudaMemcpy(layer(l), host.data(), host.size() * 2, cudaMemcpyHostToDevice), "upload");
    cuda_ok(cudaMalloc(&resid, H * 4), "cudaMalloc");
    cuda_ok(cudaMalloc(&norm, H * 4), "cudaMalloc");
    cuda_ok(cudaMalloc(&q16, QKV * 2), "cudaMalloc");
    cuda_ok(cudaMalloc(&h16, F * 2), "cudaMalloc");
    const std::vector<float> ones(H, 1.0f);
    cuda_ok(cudaMemcpy(norm, ones.data(), H * 4, cudaMemcpyHostToDevice), "upload");
    resid0.resize(H);
    for (auto& v : resid0) v = rng.uniform();
    reset();
  }
  ~GemvChain() {
    for (void* p : {w, static_cast<void*>(resid), static_cast<void*>(norm), q16, h16}) cudaFree(p);
  }
  GemvChain(const GemvChain&) = delete;
  GemvChain& operator=(const GemvChain&) = delete;

  uint16_t* layer(int l) const { return static_cast<uint16_t*>(w) + l * kPerLayer; }
  static double bytes_per_layer() { return 2.0 * double(kPerLayer); }
  void reset() const { cuda_ok(cudaMemcpy(resid, resid0.data(), H * 4, cudaMemcpyHostToDevice), "upload"); }
  std::vector<float> residual() const {
    std::vector<float> out(H);
    cuda_ok(cudaMemcpy(out.data(), resid, H * 4, cudaMemcpyDeviceToHost), "download");
    return out;
  }

  // The 64 launches (4 a layer), PDL between them as in a decode step.
  void enqueue_launches(cudaStream_t st) const {
    namespace kc = nova::kernels::cuda;
    for (int l = 0; l < kLayers; ++l) {
      const uint16_t* wqkv = layer(l);
      const uint16_t *wo = wqkv + QKV * H, *wg = wo + H * H, *wu = wg + F * H, *wd = wu + F * H;
      kc::GemvParts p{};
      p.parts = 3;
      const int64_t rows[3] = {H, 512, 512};
      int64_t off = 0;
      for (int j = 0; j < 3; ++j) {
        p.w[j] = wqkv + off * H;
        p.y[j] = static_cast<uint16_t*>(q16) + off;
        p.rows[j] = rows[j];
        off += rows[j];
      }
      kc::launch_rmsnorm_gemv_parts(resid, norm, 1e-5f, p, DType::BF16, H, DType::BF16, st);
      kc::launch_gemv_add(q16, DType::BF16, wo, DType::BF16, H, H, resid, st);
      kc::launch_rmsnorm_gemv_swiglu(resid, norm, 1e-5f, wg, wu, DType::BF16, F, H, h16, DType::BF16, st);
      kc::launch_gemv_add(h16, DType::BF16, wd, DType::BF16, H, F, resid, st);
    }
  }
};

// Microseconds per layer of `run` over the whole chain (median of 7).
inline double chain_us_per_layer(const std::function<void()>& run, cudaStream_t st) {
  std::vector<double> us = cuda_event_ms(7, run, st);
  for (double& t : us) t *= 1e3 / GemvChain::kLayers;
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// The PDL chain's graph.
struct ChainGraph {
  cudaGraphExec_t exec = nullptr;
  ChainGraph(const GemvChain& c, cudaStream_t st) {
    cudaGraph_t graph = nullptr;
    cuda_ok(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    c.enqueue_launches(st);
    cuda_ok(cudaStreamEndCapture(st, &graph), "cudaStreamEndCapture");
    cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    cudaGraphDestroy(graph);
  }
  ~ChainGraph() { cudaGraphExecDestroy(exec); }
  ChainGraph(const ChainGraph&) = delete;
  ChainGraph& operator=(const ChainGraph&) = delete;
};

inline void print_gemv_chain_time(double copy_gbs) {
  GemvChain chain;
  cudaStream_t st = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
  {
    const ChainGraph g(chain, st);
    const double us = chain_us_per_layer([&] { cuda_ok(cudaGraphLaunch(g.exec, st), "cudaGraphLaunch"); }, st);
    const double at_copy = GemvChain::bytes_per_layer() / copy_gbs / 1e3;
    std::printf("1B layer of decode GEMVs (q|k|v, o, gate|up, down; no attention): %.2f us per layer, bytes at copy "
                "speed %.2f us = %.0f%% of copy\n",
                us, at_copy, 100 * at_copy / us);
  }
  cudaStreamDestroy(st);
  std::fflush(stdout);
}

inline void print_persistent_chain(double copy_gbs) {
  int dev = 0, sms = 0, major = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  if (major < 9) {
    std::printf("persistent GEMV chain: needs Hopper (bulk copies), skipped\n");
    return;
  }
  GemvChain chain;
  constexpr int kContext = 512;
  const int64_t kv_elems = int64_t{GemvChain::kLayers} * 2 * kContext * 8 * 64;
  unsigned* counters = nullptr;
  void *kv = nullptr, *attn = nullptr;
  cuda_ok(cudaMalloc(&counters, GemvChain::kLayers * 5 * sizeof(unsigned)), "cudaMalloc");
  cuda_ok(cudaMalloc(&kv, static_cast<size_t>(kv_elems) * 2), "cudaMalloc");
  cuda_ok(cudaMalloc(&attn, GemvChain::H * 2), "cudaMalloc");
  {
    std::vector<uint16_t> host(static_cast<size_t>(kv_elems));
    XorShift rng;
    for (auto& v : host) v = nova::f32_to_bf16(rng.uniform() - 0.5f);
    cuda_ok(cudaMemcpy(kv, host.data(), host.size() * 2, cudaMemcpyHostToDevice), "upload");
  }
  const char* slots_env = std::getenv("NOVA_CHAIN_SLOTS");
  const char* no_wait = std::getenv("NOVA_CHAIN_NO_WAIT");
  PersistentChain args{static_cast<const __nv_bfloat16*>(chain.w),
                       chain.resid,
                       chain.norm,
                       static_cast<__nv_bfloat16*>(chain.q16),
                       static_cast<__nv_bfloat16*>(chain.h16),
                       counters,
                       GemvChain::kLayers,
                       std::clamp(slots_env ? std::atoi(slots_env) : 5, 1, 6),
                       no_wait && std::string(no_wait) == "1",
                       0,
                       kContext,
                       static_cast<const __nv_bfloat16*>(kv),
                       static_cast<__nv_bfloat16*>(attn)};
  cudaStream_t st = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
  {
    const ChainGraph g(chain, st);
    auto pdl = [&] { cuda_ok(cudaGraphLaunch(g.exec, st), "cudaGraphLaunch"); };
    auto persistent = [&] {
      cuda_ok(cudaMemsetAsync(counters, 0, GemvChain::kLayers * 5 * sizeof(unsigned), st), "memset");
      cuda_ok(launch_persistent_chain(args, sms, st), "persistent chain");
    };
    auto final_residual = [&](const std::function<void()>& run) {
      chain.reset();
      run();
      cuda_ok(cudaStreamSynchronize(st), "sync");
      return chain.residual();
    };
    const std::vector<float> want = final_residual(pdl), got = final_residual(persistent);
    double err = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      err = std::max(err, double(std::fabs(got[i] - want[i])));
      scale = std::max(scale, double(std::fabs(want[i])));
    }
    const double t_pdl = chain_us_per_layer(pdl, st), t_persistent = chain_us_per_layer(persistent, st);
    // The same with an attention step (over kContext positions) between q|k|v and o.
    args.attention = 1;
    bool finite = true;
    for (float v : final_residual(persistent)) finite = finite && std::isfinite(v);
    const double t_attention = chain_us_per_layer(persistent, st);
    const double at_copy = GemvChain::bytes_per_layer() / copy_gbs / 1e3;
    std::printf("1B layer of decode GEMVs: PDL launches %.2f us (%.0f%% of copy), persistent kernel (%d slots%s) %.2f "
                "us (%.0f%%), with an attention step over %d positions %.2f us (residual %s); bytes at copy speed "
                "%.2f us; final residual max |diff| / max |x| against the PDL chain = %.2g\n",
                t_pdl, 100 * at_copy / t_pdl, args.slots, args.no_wait ? ", no stage dependencies" : "", t_persistent,
                100 * at_copy / t_persistent, kContext, t_attention, finite ? "finite" : "NOT FINITE", at_copy,
                err / scale);
  }
  cudaStreamDestroy(st);
  for (void* p : {static_cast<void*>(counters), kv, attn}) cudaFree(p);
  std::fflush(stdout);
}

}  // namespace nova::bench
