// CudaBackend's declaration, shared by the files that define its ops (cuda_backend.cu: memory,
// the plain ops, attention; cuda_backend_fused.cu: Backend's fused ops). Internal to the CUDA
// backend: C++ code outside kernels/cuda reaches it through cuda_backend.h.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/lt_matmul.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/step_capture.cuh"
#include "kernels/op_checks.h"

namespace nova::kernels::cuda::detail {

using checks::bad;
using checks::row_width;
using checks::rows_of;

// Owns the stream and a cache of freed small blocks; shared with every allocation's deleter, so
// memory released after the backend is gone still goes back through a live stream.
//
// Why the cache: a decode step allocates and frees the same few dozen activations, and each
// cudaMallocAsync / cudaFreeAsync is a driver call of several microseconds — a step's host time
// is what bounds small-model decode. Reusing a freed block without the driver is safe because all
// work runs on this one stream: whatever used the block was enqueued before whatever reuses it.
struct StreamHolder {
  static constexpr size_t kMinBlock = 512, kMaxCached = size_t{64} << 20;
  cudaStream_t stream = nullptr;
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by power-of-two size
  // While recorded ops wait to be launched, an uncached block they may use is not freed yet.
  bool defer = false;
  std::vector<void*> deferred;

  // Requests up to kMaxCached are rounded up to a power of two (and cached when freed).
  static size_t bucket(size_t bytes) {
    if (bytes > kMaxCached) return bytes;
    size_t b = kMinBlock;
    while (b < bytes) b *= 2;
    return b;
  }
  void* take(size_t b) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = free_blocks.find(b);
    if (it == free_blocks.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void give(void* p, size_t b) {
    std::lock_guard<std::mutex> lock(mu);
    if (b <= kMaxCached) free_blocks[b].push_back(p);
    else if (defer) deferred.push_back(p);
    else cudaFreeAsync(p, stream);
  }
  ~StreamHolder() {
    if (!stream) return;
    for (void* p : deferred) cudaFreeAsync(p, stream);
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) cudaFreeAsync(p, stream);
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
};

inline void memset_zero(void* p, size_t bytes, cudaStream_t s) {
  check_cuda(cudaMemsetAsync(p, 0, bytes, s), "cudaMemsetAsync");
}
inline void copy_device(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync(device)");
}

struct PinnedPool;  // cuda_backend_sampling.cu

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override {
    if (stats_ && stat_steps_ > 0)
      std::fprintf(stderr, "cuda backend: %ld downloads; per download: host %.1f us, last flush %.1f us, GPU wait %.1f us\n",
                   stat_steps_, 1e6 * stat_host_ / stat_steps_, 1e6 * stat_flush_ / stat_steps_,
                   1e6 * stat_wait_ / stat_steps_);
    try {
      flush();
    } catch (const Error&) {  // a failed capture: nothing left to run
    }
    cudaStreamSynchronize(holder_->stream);  // never throws: a destructor, maybe at process exit
  }

  std::string name() const override { return "cuda"; }
  // F32 and BF16 activations (backend.h's [bf16] ops); BF16 unless NOVA_CUDA_ACT=f32 when made.
  bool supports_activation(DType dtype) const override {
    return dtype == DType::F32 || (dtype == DType::BF16 && bf16_activations_);
  }

  Tensor alloc(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const Tensor& host) override;
  void download(const Tensor& t, void* host_dst) override;
  void copy_rows(const Tensor& src, Tensor& dst, int64_t row0) override;

  void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) override;
  void embedding_ids(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override;
  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override;
  void rope(Tensor& x, const Tensor& cos, const Tensor& sin) override;
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                 float scale, Tensor& out) override;
  void paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                       std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables, int window,
                       float scale, Tensor& out) override;
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override;
  void add(Tensor& a, const Tensor& b) override;
  void scale_rows_by_sigmoid(Tensor& x, const Tensor& g) override;
  Routing route_top_k(const Tensor& logits, int k, bool normalize) override;
  void gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) override;
  void scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) override;
  void scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                        Tensor& dst) override;

  Tensor empty(DType dtype, std::vector<int64_t> shape) override;
  void add_rmsnorm(Tensor& x, const Tensor& delta, const Tensor& w, float eps, Tensor& y) override;
  void linears(const Tensor& x, std::span<const LinearPart> parts) override;
  void linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) override;
  // cuda_backend_decode.cu (the norm-folded and residual-accumulating GEMVs)
  void rmsnorm_linears(const Tensor& x, const Tensor& norm_w, float eps, std::span<const LinearPart> parts) override;
  void rmsnorm_linear_swiglu(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w_gate, const Tensor& w_up,
                             Tensor& out) override;
  void linear_add(const Tensor& a, const Tensor& w, const Tensor* bias, Tensor& x) override;
  void rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                     std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) override;
  void linears_rope_store_kv(const Tensor& x, std::span<const LinearPart> qkv, const Tensor& cos, const Tensor& sin,
                             std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) override;
  // cuda_backend_rope_attend.cu (RoPE + K/V store inside the decode attention kernel)
  void rope_store_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                            Tensor& k_cache, Tensor& v_cache, int64_t pos0, int window, float scale,
                            Tensor& out) override;
  void rope_store_paged_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                  Tensor& k_blocks, Tensor& v_blocks, std::span<const PagedAttentionSeq> seqs,
                                  std::span<const int32_t> block_tables, int window, float scale,
                                  Tensor& out) override;
  bool samples_on_device() const override { return true; }
  // cuda_backend_sampling.cu
  std::vector<SampledRow> sample_rows(const Tensor& logits, std::span<const SamplingRow> rows,
                                      std::span<const PenaltyEntry> penalties) override;
  std::unique_ptr<PendingSamples> sample_rows_async(const Tensor& logits, std::span<const SamplingRow> rows,
                                                    std::span<const PenaltyEntry> penalties) override;
  void moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                   bool normalize, Tensor& out) override;  // cuda_backend_moe.cu

 private:
  // Every op reaches the stream through here, from whichever thread runs the model (e.g. a
  // server's engine thread): make this backend's device the thread's current one first, so
  // cuda:N works from any thread (a runtime-local read when it already is).
  cudaStream_t stream() const {
    // (cudaGetDevice fails only while the runtime unloads at process exit: nothing to bind then.)
    int current = -1;
    if (cudaGetDevice(&current) == cudaSuccess && current != device_) check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    return holder_->stream;
  }
  // Stream-ordered device memory of `bytes`, released (stream-ordered) with the last reference.
  std::shared_ptr<void> device_bytes(size_t bytes);
  // Tags of arg(): equal bytes are shared only under the same tag.
  enum ArgTag { kIds, kRows, kWeights, kAttn, kUpload };
  // A device copy of a small host array for the ops enqueued from now on (the step's argument
  // block; past its size, a device block of its own).
  template <class T>
  const T* arg(ArgTag tag, std::span<const T> host) {
    const size_t bytes = host.size_bytes();
    if (bytes == 0) return nullptr;
    // Plain launches of a large step (eager_) copy their bytes at once, from the pinned ring: a
    // pageable copy per op (the rows of every layer's rope_store_kv, its attention descriptors)
    // may wait for the stream to drain, idling the GPU (prefill).
    if (bytes <= kMaxArgBytes) {
      void* d = capture_->arg(tag, host.data(), bytes, stream(), eager_);
      if (!d) {  // the block is full: run what uses it, then start over (a large step stays eager)
        const bool eager = eager_;
        synchronize();
        eager_ = eager;
        d = capture_->arg(tag, host.data(), bytes, stream(), eager_);
      }
      if (d) return static_cast<const T*>(d);
    }
    flush();  // the eager copy below must not overtake recorded ops that used the block before
    auto mem = device_bytes(bytes);
    check_cuda(cudaMemcpyAsync(mem.get(), host.data(), bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(arg)");
    return static_cast<const T*>(mem.get());  // released now, reused only by later work (stream order)
  }
  // One launcher call: launched at once with graphs off, else recorded with every argument in
  // the segment's signature (so the argument values decide whether a kept graph is replayed).
  template <class F, class... A>
  void enqueue(F* launch, const A&... args) {
    if (!recording()) {
      if (capture_->pending()) flush();  // whatever was recorded before runs first
      launch(args..., stream());
      return;
    }
    start_record();
    capture_->add_word(reinterpret_cast<uintptr_t>(launch));
    (capture_->add(args), ...);
    capture_->record([=](cudaStream_t s) { launch(args..., s); });
  }
  // The same for work that is no plain function: `id` names it, `sig` are the values it uses.
  template <class... A>
  void enqueue_call(uint64_t id, std::function<void(cudaStream_t)> fn, const A&... sig) {
    if (!recording()) {
      if (capture_->pending()) flush();
      fn(stream());
      return;
    }
    start_record();
    capture_->add_word(id);
    (capture_->add(sig), ...);
    capture_->record(std::move(fn));
  }
  void start_record() {
    if (capture_->segment_full()) flush();
    if (!capture_->pending()) {
      std::lock_guard<std::mutex> lock(holder_->mu);
      holder_->defer = true;
    }
  }
  // Launches what was recorded, then frees the blocks released meanwhile.
  void flush() {
    if (!capture_->enabled()) return;
    try {
      capture_->flush(stream());
    } catch (...) {
      release_deferred();
      throw;
    }
    release_deferred();
  }
  void release_deferred() {
    std::vector<void*> deferred;
    {
      std::lock_guard<std::mutex> lock(holder_->mu);
      holder_->defer = false;
      deferred.swap(holder_->deferred);
    }
    for (void* p : deferred) cudaFreeAsync(p, stream());
  }
  void synchronize(const char* what = "cudaStreamSynchronize") {
    flush();
    check_cuda(cudaStreamSynchronize(stream()), what);
    capture_->synced();
    eager_ = false;
  }
  // Whether ops are recorded for graph replay: graphs on, and not a large step. A step of at least
  // kEagerRows tokens (a prefill; embedding() decides, the first op of a forward) launches its ops
  // directly until the next synchronisation: its kernels are long enough to hide each launch, and
  // its signature rarely repeats (new prompt lengths, new KV blocks), so capturing it would cost
  // an instantiation per segment (1B prefill of 512 tokens: 127k tok/s with plain launches, 80k
  // recorded, on an H100).
  bool recording() const { return capture_->enabled() && !eager_; }
  static constexpr int64_t kEagerRows = 256;
  bool eager_ = false;
  // A device buffer of at least `bytes` for one op's temporaries, kept between calls: ops run in
  // stream order, so the next op's use starts after this one's ends (no per-call allocation).
  void* scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
      scratch_bytes_ = std::max(bytes, scratch_bytes_ * 2);
      scratch_ = device_bytes(scratch_bytes_);
    }
    return scratch_.get();
  }
  // At least n zeroed ints for the attention kernel's split counters (each call leaves them zero).
  int* attention_counters(size_t n) {
    if (n > counters_n_) {
      counters_n_ = std::max(n, 2 * counters_n_);
      counters_ = device_bytes(counters_n_ * sizeof(int));
      enqueue(&memset_zero, counters_.get(), counters_n_ * sizeof(int));
    }
    return static_cast<int*>(counters_.get());
  }
  // max_keys: the most positions any sequence's cache can hold (sizes the flash-decoding grid,
  // so that it stays the same from one decode step to the next).
  // k, v: the cache (or blocks) of dtype `kv`.
  // rope (rope_store_attention): RoPE + this step's K/V store fused into the decode kernel; false
  // (nothing enqueued) when the call is not one it takes (attention_decode.cu: one tile a sequence).
  bool run_attention(const Tensor& q, const void* k, const void* v, DType kv, int64_t block_size, int64_t kv_heads,
                     std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> tables, int64_t max_keys,
                     int window, float scale, Tensor& out, const AttnRopeStore* rope = nullptr);
  static bool is_aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
  // Whether x (one row) times w runs as a GEMV.
  static bool gemv_fits(const Tensor& x, const Tensor& w) {
    return rows_of(x) == 1 && gemv_supports(w.dtype(), w.dim(1)) && reinterpret_cast<uintptr_t>(w.data()) % 16 == 0 &&
           reinterpret_cast<uintptr_t>(x.data()) % 16 == 0;
  }
  static constexpr size_t kMaxArgBytes = size_t{1} << 20;
  // One GEMV launch's view of a linears() call: each part's weights, output and row count.
  static GemvParts gemv_parts(std::span<const LinearPart> parts) {
    GemvParts g{};
    g.parts = static_cast<int64_t>(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      g.w[i] = parts[i].w->data();
      g.y[i] = parts[i].y->data();
      g.rows[i] = parts[i].w->dim(0);
    }
    return g;
  }
  // Whether linears / linear_swiglu over several rows run one GEMM over back-to-back weights
  // (cuda_backend_fused.cu); NOVA_CUDA_PACKED=0 turns it off (A/B measurements).
  bool packed_gemm_fits(const Tensor& x, std::span<const Tensor* const> w, DType yt) const;
  RopeStoreArgs rope_store_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                std::span<const int32_t> rows, const Tensor& k_dst, const Tensor& v_dst);
  const bool packed_gemms_ = [] {
    const char* e = std::getenv("NOVA_CUDA_PACKED");
    return !(e && std::string(e) == "0");
  }();

  // sample_rows' device work, enqueued: `result` holds [rows] SampleOut then the top logprobs
  // (bytes() of it); `ids` (with_ids) the chosen ids for the next step's embedding_ids.
  struct EnqueuedSample {
    Tensor result, ids;
    int64_t rows = 0, out_bytes = 0, bytes = 0;
    int32_t top_stride = 1;
  };
  EnqueuedSample enqueue_sample(const Tensor& logits, std::span<const SamplingRow> rows,
                                std::span<const PenaltyEntry> penalties, bool with_ids);
  std::shared_ptr<PinnedPool> pinned_;  // sample_rows_async's download buffers

  int device_ = 0;
  int sm_count_ = 1;
  std::shared_ptr<StreamHolder> holder_;
  std::unique_ptr<LtMatmul> lt_;  // made after cudaSetDevice
  std::shared_ptr<void> scratch_;
  size_t scratch_bytes_ = 0;
  std::shared_ptr<void> counters_;
  size_t counters_n_ = 0;
  std::unique_ptr<StepCapture> capture_;
  // Query rows from which attention runs on tensor cores (run_attention).
  static constexpr int64_t kTensorCoreMinRows = 256;
  static constexpr int64_t kTensorCoreMinRowsPerSeq = 64;
  bool attn_tensor_cores_ = true;  // false under NOVA_CUDA_ATTN=fp32
  bool bf16_activations_ = true;   // false under NOVA_CUDA_ACT=f32
  // NOVA_CUDA_GRAPHS_STATS=1: where a step's time goes (host between downloads, GPU wait).
  bool stats_ = false;
  double last_sync_ = 0, stat_host_ = 0, stat_flush_ = 0, stat_wait_ = 0;
  long stat_steps_ = 0;
  static double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

}  // namespace nova::kernels::cuda::detail
