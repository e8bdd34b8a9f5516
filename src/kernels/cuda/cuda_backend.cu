// CudaBackend: Backend's ops on one CUDA device and stream. Tensors are device memory from the
// stream-ordered pool (cudaMallocAsync; freed with cudaFreeAsync when the last view goes), so
// the per-forward activations of the model cost no device synchronisation. Each op validates
// through kernels/op_checks.h (the checks CpuBackend runs), stages its small host-side arguments
// (ids, row lists, block tables) into device memory, and launches its kernel.
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/lt_matmul.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/step_capture.cuh"
#include "kernels/op_checks.h"

namespace nova::kernels::cuda {

namespace {

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
  bool defer = false;            // while a graph is being captured: no free may enter the capture
  std::vector<void*> deferred;   // uncached blocks released during a capture

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

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override {
    try {
      finish_capture();
    } catch (const Error&) {  // a failed capture: nothing left to run
    }
    cudaStreamSynchronize(stream());
    if (helper_) cudaStreamDestroy(helper_);
  }

  std::string name() const override { return "cuda"; }

  Tensor alloc(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const Tensor& host) override;
  void download(const Tensor& t, void* host_dst) override;
  void copy_rows(const Tensor& src, Tensor& dst, int64_t row0) override;

  void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) override;
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

 private:
  cudaStream_t stream() const { return holder_->stream; }
  // Stream-ordered device memory of `bytes`, released (stream-ordered) with the last reference.
  std::shared_ptr<void> device_bytes(size_t bytes);
  // A device copy of a small host array, valid for work enqueued before it is released.
  template <class T>
  std::shared_ptr<void> stage(std::span<const T> host) {
    begin();
    auto d = device_bytes(host.size_bytes());
    if (!host.empty()) copy_from_host(d.get(), host.data(), host.size_bytes());
    return d;
  }
  // Host -> device copy in stream order; while capturing, through the pinned ring (or, when it
  // is full, after running and synchronising what was captured so far).
  void copy_from_host(void* dst, const void* src, size_t bytes) {
    if (capture_->capturing()) {
      if (const void* pinned = capture_->pin(src, bytes)) {
        check_cuda(cudaMemcpyAsync(dst, pinned, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(pinned)");
        return;
      }
      synchronize();
    }
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(host)");
  }
  // Every op that enqueues work calls this first: with graphs on, it opens a capture.
  void begin() {
    if (!capture_->enabled()) return;
    if (capture_->segment_full()) finish_capture();
    if (capture_->capturing()) {
      capture_->begin(stream());  // counts the op
      return;
    }
    capture_->begin(stream());
    std::lock_guard<std::mutex> lock(holder_->mu);
    holder_->defer = true;
  }
  // Ends a capture, if any, and launches it.
  void finish_capture() {
    if (!capture_->end_and_launch(stream())) return;
    std::vector<void*> deferred;
    {
      std::lock_guard<std::mutex> lock(holder_->mu);
      holder_->defer = false;
      deferred.swap(holder_->deferred);
    }
    for (void* p : deferred) cudaFreeAsync(p, stream());
  }
  void synchronize(const char* what = "cudaStreamSynchronize") {
    finish_capture();
    check_cuda(cudaStreamSynchronize(stream()), what);
    capture_->synced();
  }
  // A device buffer of at least `bytes` for one op's temporaries, kept between calls: ops run in
  // stream order, so the next op's use starts after this one's ends (no per-call allocation).
  void* scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
      scratch_bytes_ = std::max(bytes, scratch_bytes_ * 2);
      scratch_ = device_bytes(scratch_bytes_);
    }
    return scratch_.get();
  }
  void run_attention(const Tensor& q, const float* k, const float* v, int64_t block_size, int64_t kv_heads,
                     std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> tables, int window,
                     float scale, Tensor& out);

  int device_ = 0;
  int sm_count_ = 1;
  std::shared_ptr<StreamHolder> holder_;
  std::unique_ptr<LtMatmul> lt_;  // made after cudaSetDevice
  std::shared_ptr<void> scratch_;
  size_t scratch_bytes_ = 0;
  std::unique_ptr<StepCapture> capture_;
  // Query rows from which attention runs on tensor cores (run_attention).
  static constexpr int64_t kTensorCoreMinRows = 256;
  static constexpr int64_t kTensorCoreMinRowsPerSeq = 64;
  bool attn_tensor_cores_ = true;  // false under NOVA_CUDA_ATTN=fp32
  cudaStream_t helper_ = nullptr;  // allocations needed while the main stream is being captured
};

CudaBackend::CudaBackend(int device) : device_(device), holder_(std::make_shared<StreamHolder>()) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  check_cuda(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device), "multiprocessor count");
  check_cuda(cudaStreamCreateWithFlags(&holder_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  // Keep freed pool memory cached: every forward allocates and frees the same activations.
  cudaMemPool_t pool = nullptr;
  check_cuda(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
  uint64_t threshold = std::numeric_limits<uint64_t>::max();
  check_cuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold), "mem pool threshold");
  lt_ = std::make_unique<LtMatmul>();
  check_cuda(cudaStreamCreateWithFlags(&helper_, cudaStreamNonBlocking), "cudaStreamCreate(helper)");
  prepare_attention();
  prepare_attention_tc();
  const char* attn = std::getenv("NOVA_CUDA_ATTN");
  attn_tensor_cores_ = !(attn && std::string(attn) == "fp32");
  // Each step replayed as CUDA graphs by default (a third fewer host microseconds per decode
  // step, BENCHMARKS.md "CUDA"); NOVA_CUDA_GRAPHS=0 launches every op on its own.
  const char* graphs = std::getenv("NOVA_CUDA_GRAPHS");
  capture_ = std::make_unique<StepCapture>(!(graphs && std::string(graphs) == "0"));
}

std::shared_ptr<void> CudaBackend::device_bytes(size_t bytes) {
  const size_t b = StreamHolder::bucket(bytes);
  void* p = holder_->take(b);
  if (!p) {
    // Never inside a capture (that would make a graph-owned block): on the helper stream, waited for.
    const bool side = capture_ && capture_->capturing();
    cudaStream_t as = side ? helper_ : stream();
    cudaError_t e = cudaMallocAsync(&p, b, as);
    if (e == cudaErrorMemoryAllocation) {  // cached blocks may be what is missing: release them, retry
      cudaGetLastError();
      {
        std::lock_guard<std::mutex> lock(holder_->mu);
        for (auto& [size, blocks] : holder_->free_blocks)
          for (void* q : blocks) cudaFreeAsync(q, as);
        holder_->free_blocks.clear();
      }
      e = cudaMallocAsync(&p, b, as);
    }
    check_cuda(e, ("cudaMallocAsync of " + std::to_string(bytes) + " bytes").c_str());
    if (side) check_cuda(cudaStreamSynchronize(helper_), "cudaMallocAsync(helper)");
  }
  std::shared_ptr<StreamHolder> h = holder_;
  return std::shared_ptr<void>(p, [h, b](void* q) { h->give(q, b); });
}

Tensor CudaBackend::alloc(DType dtype, std::vector<int64_t> shape) {
  Tensor probe = Tensor::view(dtype, shape, nullptr);
  const size_t bytes = probe.nbytes();
  begin();
  auto mem = device_bytes(bytes);
  if (bytes > 0) check_cuda(cudaMemsetAsync(mem.get(), 0, bytes, stream()), "cudaMemsetAsync");
  void* p = mem.get();
  return Tensor::view(dtype, std::move(shape), p, std::move(mem));
}

Tensor CudaBackend::upload(const Tensor& host) {
  if (!host.is_contiguous()) bad("upload", "tensor " + host.shape_string() + " must be contiguous");
  auto mem = device_bytes(host.nbytes());
  // Large uploads (weights) never go into a graph: whatever was captured runs first.
  if (capture_->capturing() && host.nbytes() > (size_t{1} << 20)) synchronize();
  if (host.nbytes() > 0) copy_from_host(mem.get(), host.data(), host.nbytes());
  void* p = mem.get();
  return Tensor::view(host.dtype(), host.shape(), p, std::move(mem));
}

void CudaBackend::download(const Tensor& t, void* host_dst) {
  checks::download(t);
  finish_capture();
  if (t.nbytes() > 0)
    check_cuda(cudaMemcpyAsync(host_dst, t.data(), t.nbytes(), cudaMemcpyDeviceToHost, stream()),
               "cudaMemcpyAsync(download)");
  synchronize("download (a kernel before it failed)");
}

void CudaBackend::copy_rows(const Tensor& src, Tensor& dst, int64_t row0) {
  checks::copy_rows(src, dst, row0);
  const size_t row_bytes = static_cast<size_t>(row_width(dst)) * dtype_size(dst.dtype());
  begin();
  if (src.nbytes() > 0)
    check_cuda(cudaMemcpyAsync(static_cast<char*>(dst.data()) + static_cast<size_t>(row0) * row_bytes, src.data(),
                               src.nbytes(), cudaMemcpyDeviceToDevice, stream()),
               "cudaMemcpyAsync(copy_rows)");
}

void CudaBackend::embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) {
  checks::embedding(table, ids, out);
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n == 0) return;
  auto d_ids = stage(ids);
  launch_embedding(table.data(), table.dtype(), table.dim(1), static_cast<const int32_t*>(d_ids.get()), n,
                   out.data_as<float>(), stream());
}

void CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  checks::linear(x, w, bias, y);
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t M = rows_of(x);
  if (M == 0 || N == 0) return;
  begin();
  if (K == 0) {
    check_cuda(cudaMemsetAsync(y.data(), 0, y.nbytes(), stream()), "cudaMemsetAsync(linear)");
  } else if (M == 1 && gemv_supports(w.dtype(), K) && reinterpret_cast<uintptr_t>(w.data()) % 16 == 0 &&
             reinterpret_cast<uintptr_t>(x.data()) % 16 == 0) {
    launch_gemv(x.data_as<float>(), w.data(), w.dtype(), N, K, y.data_as<float>(), stream());
  } else if (w.dtype() == DType::F32) {
    lt_->run(x.data(), w.data(), DType::F32, M, N, K, y.data_as<float>(), stream());
  } else {
    // Tensor cores take both operands in the weight's 16-bit type: round x into a scratch copy.
    void* x16 = scratch(static_cast<size_t>(M * K) * 2);
    launch_convert_f32(x.data_as<float>(), M * K, x16, w.dtype(), stream());
    lt_->run(x16, w.data(), w.dtype(), M, N, K, y.data_as<float>(), stream());
  }
  if (bias) launch_add_bias(y.data_as<float>(), M, N, bias->data_as<float>(), stream());
}

void CudaBackend::rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  checks::rmsnorm(x, w, y);
  const int64_t dim = w.numel();
  begin();
  launch_rmsnorm(x.data_as<float>(), x.numel() / dim, dim, w.data_as<float>(), eps, y.data_as<float>(), stream());
}

void CudaBackend::rope(Tensor& x, const Tensor& cos, const Tensor& sin) {
  checks::rope(x, cos, sin);
  begin();
  launch_rope(x.data_as<float>(), x.dim(0), x.dim(1), x.dim(2), cos.data_as<float>(), sin.data_as<float>(), cos.dim(1),
              stream());
}

void CudaBackend::run_attention(const Tensor& q, const float* k, const float* v, int64_t block_size,
                                int64_t kv_heads, std::span<const PagedAttentionSeq> seqs,
                                std::span<const int32_t> tables, int window, float scale, Tensor& out) {
  const int64_t total_rows = q.dim(0), q_heads = q.dim(1), D = q.dim(2);
  const int64_t group = q_heads / kv_heads;
  if (D > kAttnMaxHeadDim || D % 4 != 0)
    bad("attention", "head_dim " + std::to_string(D) + " unsupported by the CUDA kernel (a multiple of 4, at most 256)");
  // Large prefills go to the tensor-core kernel (bf16 operands): at least kTensorCoreMinRows query
  // rows and, on average, kTensorCoreMinRowsPerSeq per sequence. Decode, short prompts (all the model
  // fixtures) and NOVA_CUDA_ATTN=fp32 keep the fp32 kernel.
  int64_t q_rows_total = 0, busy_seqs = 0;
  for (const PagedAttentionSeq& s : seqs)
    if (s.q_rows > 0) q_rows_total += s.q_rows, ++busy_seqs;
  const bool tensor_cores = attn_tensor_cores_ && D % 16 == 0 && D <= kAttnTcMaxHeadDim &&
                            q_rows_total >= kTensorCoreMinRows && q_rows_total >= kTensorCoreMinRowsPerSeq * busy_seqs;
  const int64_t tile_rows = tensor_cores ? attention_tc_tile_rows(static_cast<int>(D)) : kAttnTileRows;
  std::vector<AttnSeq> dseqs;
  std::vector<AttnTile> tiles;
  int64_t longest = 0;
  for (const PagedAttentionSeq& s : seqs) {
    if (s.q_rows == 0) continue;
    const int32_t idx = static_cast<int32_t>(dseqs.size());
    dseqs.push_back({s.q_begin, s.q_rows, s.pos0, s.table_begin});
    const int64_t virt = s.q_rows * group;
    for (int64_t v0 = 0; v0 < virt; v0 += tile_rows)
      tiles.push_back({idx, static_cast<int32_t>(v0), static_cast<int32_t>(std::min<int64_t>(tile_rows, virt - v0))});
    longest = std::max(longest, s.pos0 + s.q_rows);
  }
  if (tiles.empty()) return;
  begin();
  // Flash-decoding: too few blocks to fill the GPU -> split each tile's keys (>= 64 per split).
  const int64_t blocks = static_cast<int64_t>(tiles.size()) * kv_heads;
  int64_t splits = 1;
  if (!tensor_cores && blocks < sm_count_)
    splits = std::min<int64_t>({(2 * sm_count_ + blocks - 1) / blocks, (longest + 63) / 64, 64});
  splits = std::max<int64_t>(splits, 1);

  AttnArgs a{};
  std::shared_ptr<void> staged;
  if (dseqs.size() <= kAttnInlineSeqs && tiles.size() <= kAttnInlineTiles && tables.size() <= kAttnInlineTables) {
    std::copy(dseqs.begin(), dseqs.end(), a.seqs_inline);
    std::copy(tiles.begin(), tiles.end(), a.tiles_inline);
    std::copy(tables.begin(), tables.end(), a.tables_inline);
  } else {  // one staging copy for all three arrays
    const size_t seq_bytes = dseqs.size() * sizeof(AttnSeq), tile_bytes = tiles.size() * sizeof(AttnTile);
    std::vector<char> blob(seq_bytes + tile_bytes + tables.size_bytes());
    std::memcpy(blob.data(), dseqs.data(), seq_bytes);
    std::memcpy(blob.data() + seq_bytes, tiles.data(), tile_bytes);
    if (!tables.empty()) std::memcpy(blob.data() + seq_bytes + tile_bytes, tables.data(), tables.size_bytes());
    staged = stage(std::span<const char>(blob));
    const char* base = static_cast<const char*>(staged.get());
    a.seqs = reinterpret_cast<const AttnSeq*>(base);
    a.tiles = reinterpret_cast<const AttnTile*>(base + seq_bytes);
    a.tables = reinterpret_cast<const int32_t*>(base + seq_bytes + tile_bytes);
  }
  a.q = q.data_as<float>();
  a.k = k;
  a.v = v;
  a.block_size = block_size;
  a.num_tiles = static_cast<int>(tiles.size());
  a.q_heads = static_cast<int>(q_heads);
  a.kv_heads = static_cast<int>(kv_heads);
  a.head_dim = static_cast<int>(D);
  a.window = window;
  a.splits = static_cast<int>(splits);
  a.total_rows = total_rows;
  a.scale = scale;
  a.out = out.data_as<float>();
  if (splits > 1) {
    const size_t per_split = static_cast<size_t>(total_rows * q_heads);
    a.part_o = static_cast<float*>(scratch(sizeof(float) * static_cast<size_t>(splits) * per_split * static_cast<size_t>(D + 2)));
    a.part_ml = a.part_o + static_cast<size_t>(splits) * per_split * static_cast<size_t>(D);
  }
  if (tensor_cores) launch_attention_tc(a, stream());
  else launch_attention(a, stream());
}

void CudaBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                            float scale, Tensor& out) {
  checks::attention(q, k_cache, v_cache, pos0, window, out);
  const int64_t rows = q.dim(0), kv_heads = k_cache.dim(1);
  if (rows == 0) return;
  // The contiguous cache is one block of `capacity` slots.
  const PagedAttentionSeq seq{0, rows, pos0, 0, 1};
  const int32_t table[1] = {0};
  run_attention(q, k_cache.data_as<float>(), v_cache.data_as<float>(), k_cache.dim(0), kv_heads,
                std::span<const PagedAttentionSeq>(&seq, 1), table, window, scale, out);
}

void CudaBackend::paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                                  std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables,
                                  int window, float scale, Tensor& out) {
  checks::paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, out);
  const int64_t total_rows = q.dim(0), block_size = k_blocks.dim(1), kv_heads = k_blocks.dim(2);
  if (total_rows == 0 || seqs.empty()) return;
  run_attention(q, k_blocks.data_as<float>(), v_blocks.data_as<float>(), block_size, kv_heads, seqs, block_tables,
                window, scale, out);
}

void CudaBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  checks::swiglu(gate, up, out);
  begin();
  launch_swiglu(gate.data_as<float>(), up.data_as<float>(), gate.numel(), out.data_as<float>(), stream());
}

void CudaBackend::add(Tensor& a, const Tensor& b) {
  checks::add(a, b);
  begin();
  launch_add(a.data_as<float>(), b.data_as<float>(), a.numel(), stream());
}

void CudaBackend::scale_rows_by_sigmoid(Tensor& x, const Tensor& g) {
  checks::scale_rows_by_sigmoid(x, g);
  begin();
  launch_scale_rows_by_sigmoid(x.data_as<float>(), rows_of(x), row_width(x), g.data_as<float>(), stream());
}

Routing CudaBackend::route_top_k(const Tensor& logits, int k, bool normalize) {
  checks::route_top_k(logits, k);
  Routing r;
  r.rows = logits.dim(0);
  r.k = k;
  const size_t n = static_cast<size_t>(r.rows * k);
  r.expert.resize(n);
  r.weight.resize(n);
  if (n == 0) return r;
  begin();
  auto d = device_bytes(n * (sizeof(int32_t) + sizeof(float)));
  auto* d_expert = static_cast<int32_t*>(d.get());
  auto* d_weight = reinterpret_cast<float*>(d_expert + n);
  launch_route_top_k(logits.data_as<float>(), r.rows, logits.dim(1), k, normalize, d_expert, d_weight, stream());
  finish_capture();
  check_cuda(cudaMemcpyAsync(r.expert.data(), d_expert, n * sizeof(int32_t), cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync(routing)");
  check_cuda(cudaMemcpyAsync(r.weight.data(), d_weight, n * sizeof(float), cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync(routing)");
  synchronize("route_top_k");
  return r;
}

void CudaBackend::gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::gather_rows(src, rows, dst);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  auto d_rows = stage(rows);
  launch_gather_rows(src.data_as<float>(), row_width(src), static_cast<const int32_t*>(d_rows.get()), n,
                     dst.data_as<float>(), stream());
}

void CudaBackend::scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::scatter_rows(src, rows, dst);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  auto d_rows = stage(rows);
  launch_scatter_rows(src.data_as<float>(), row_width(src), static_cast<const int32_t*>(d_rows.get()), n,
                      dst.data_as<float>(), stream());
}

void CudaBackend::scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                                   Tensor& dst) {
  checks::scatter_add_rows(src, rows, weights, dst);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  auto d_rows = stage(rows);
  auto d_weights = stage(weights);
  launch_scatter_add_rows(src.data_as<float>(), row_width(src), static_cast<const int32_t*>(d_rows.get()),
                          static_cast<const float*>(d_weights.get()), n, dst.data_as<float>(), stream());
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) fail("cuda", std::string("no usable CUDA driver or device: ") + cudaGetErrorString(e));
  if (count == 0) fail("cuda", "no CUDA device is present");
  if (device < 0 || device >= count)
    fail("cuda", "device " + std::to_string(device) + " outside the " + std::to_string(count) + " present");
  return std::make_unique<CudaBackend>(device);
}

}  // namespace nova::kernels::cuda
