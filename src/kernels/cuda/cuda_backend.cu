// CudaBackend: Backend's ops on one CUDA device and stream. Tensors are device memory from the
// stream-ordered pool (cudaMallocAsync; freed with cudaFreeAsync when the last view goes), so
// the per-forward activations of the model cost no device synchronisation. Each op validates
// through kernels/op_checks.h (the checks CpuBackend runs), stages its small host-side arguments
// (ids, row lists, block tables) into the step's argument block (step_capture.cuh), and
// enqueues its kernel: launched at once with graphs off, else recorded for graph replay.
// The class is declared in cuda_backend_impl.cuh; Backend's fused ops are in cuda_backend_fused.cu.
#include "kernels/cuda/cuda_backend.h"

#include "kernels/cuda/cuda_backend_impl.cuh"

namespace nova::kernels::cuda {

namespace detail {

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
  prepare_attention();
  prepare_attention_tc();
  prepare_attention_prefill();
  // NOVA_CUDA_ACT=f32: no BF16 activations (supports_activation), so models keep the fp32 path.
  const char* act = std::getenv("NOVA_CUDA_ACT");
  bf16_activations_ = !(act && std::string(act) == "f32");
  const char* attn = std::getenv("NOVA_CUDA_ATTN");
  attn_tensor_cores_ = !(attn && std::string(attn) == "fp32");
  // Each step replayed as CUDA graphs by default (step_capture.cuh; BENCHMARKS.md "CUDA");
  // NOVA_CUDA_GRAPHS=0 launches every op on its own.
  const char* graphs = std::getenv("NOVA_CUDA_GRAPHS");
  capture_ = std::make_unique<StepCapture>(!(graphs && std::string(graphs) == "0"));
  const char* st = std::getenv("NOVA_CUDA_GRAPHS_STATS");
  stats_ = st && std::string(st) == "1";
}

std::shared_ptr<void> CudaBackend::device_bytes(size_t bytes) {
  const size_t b = StreamHolder::bucket(bytes);
  void* p = holder_->take(b);
  if (!p) {
    // In stream order before any recorded op that will use it: ops are only recorded, not
    // captured, while the model runs (capture happens inside flush(), which allocates nothing).
    cudaError_t e = cudaMallocAsync(&p, b, stream());
    if (e == cudaErrorMemoryAllocation) {  // cached blocks may be what is missing: release them, retry
      cudaGetLastError();
      flush();  // recorded ops may still use cached blocks
      {
        std::lock_guard<std::mutex> lock(holder_->mu);
        for (auto& [size, blocks] : holder_->free_blocks)
          for (void* q : blocks) cudaFreeAsync(q, stream());
        holder_->free_blocks.clear();
      }
      e = cudaMallocAsync(&p, b, stream());
    }
    check_cuda(e, ("cudaMallocAsync of " + std::to_string(bytes) + " bytes").c_str());
  }
  std::shared_ptr<StreamHolder> h = holder_;
  return std::shared_ptr<void>(p, [h, b](void* q) { h->give(q, b); });
}

Tensor CudaBackend::alloc(DType dtype, std::vector<int64_t> shape) {
  Tensor probe = Tensor::view(dtype, shape, nullptr);
  const size_t bytes = probe.nbytes();
  auto mem = device_bytes(bytes);
  if (bytes > 0) enqueue(&memset_zero, mem.get(), bytes);
  void* p = mem.get();
  return Tensor::view(dtype, std::move(shape), p, std::move(mem));
}

Tensor CudaBackend::empty(DType dtype, std::vector<int64_t> shape) {
  Tensor probe = Tensor::view(dtype, shape, nullptr);
  auto mem = device_bytes(probe.nbytes());
  void* p = mem.get();
  return Tensor::view(dtype, std::move(shape), p, std::move(mem));
}

Tensor CudaBackend::upload(const Tensor& host) {
  if (!host.is_contiguous()) bad("upload", "tensor " + host.shape_string() + " must be contiguous");
  const size_t bytes = host.nbytes();
  auto mem = device_bytes(bytes);
  if (bytes > 0 && capture_->enabled() && bytes <= kMaxArgBytes) {
    // Small uploads (a step's RoPE rows) through the argument block: a device-side copy in the
    // graph whose addresses repeat from step to step.
    const char* src = arg(kUpload, std::span<const char>(static_cast<const char*>(host.data()), bytes));
    enqueue(&copy_device, mem.get(), static_cast<const void*>(src), bytes);
  } else if (bytes > 0) {  // weights: never recorded; whatever was recorded runs first
    flush();
    check_cuda(cudaMemcpyAsync(mem.get(), host.data(), bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(host)");
  }
  void* p = mem.get();
  return Tensor::view(host.dtype(), host.shape(), p, std::move(mem));
}

void CudaBackend::download(const Tensor& t, void* host_dst) {
  checks::download(t);
  const double t0 = stats_ ? seconds_now() : 0;
  flush();
  if (t.nbytes() > 0)
    check_cuda(cudaMemcpyAsync(host_dst, t.data(), t.nbytes(), cudaMemcpyDeviceToHost, stream()),
               "cudaMemcpyAsync(download)");
  const double t1 = stats_ ? seconds_now() : 0;
  synchronize("download (a kernel before it failed)");
  if (stats_) {  // host time since the last download, the last flush, and the wait for the GPU
    const double t2 = seconds_now();
    if (last_sync_ > 0) {
      stat_host_ += t0 - last_sync_;
      stat_flush_ += t1 - t0;
      stat_wait_ += t2 - t1;
      ++stat_steps_;
    }
    last_sync_ = t2;
  }
}

void CudaBackend::copy_rows(const Tensor& src, Tensor& dst, int64_t row0) {
  checks::copy_rows(src, dst, row0);
  const size_t row_bytes = static_cast<size_t>(row_width(dst)) * dtype_size(dst.dtype());
  if (src.nbytes() > 0)
    enqueue(&copy_device, static_cast<void*>(static_cast<char*>(dst.data()) + static_cast<size_t>(row0) * row_bytes),
            static_cast<const void*>(src.data()), src.nbytes());
}

void CudaBackend::embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) {
  checks::embedding(table, ids, out);
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n == 0) return;
  if (n >= kEagerRows && !eager_) {  // a large step from here to the next synchronisation: plain launches
    flush();
    eager_ = true;
  }
  const int32_t* d_ids = arg(kIds, ids);
  enqueue(&launch_embedding, table.data(), table.dtype(), table.dim(0), table.dim(1), d_ids, n, out.data_as<float>());
}

void CudaBackend::embedding_ids(const Tensor& table, const Tensor& ids, Tensor& out) {
  if (ids.dtype() != DType::I32 || ids.ndim() != 1)
    bad("embedding_ids", "ids must be I32 [n], got " + std::string(dtype_name(ids.dtype())) + " " + ids.shape_string());
  checks::embedding(table, std::vector<int32_t>(static_cast<size_t>(ids.numel())), out);  // shapes (ids unseen)
  enqueue(&launch_embedding, table.data(), table.dtype(), table.dim(0), table.dim(1), ids.data_as<int32_t>(),
          ids.numel(), out.data_as<float>());
}

void CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  checks::linear(x, w, bias, y, /*bf16=*/true);
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t M = rows_of(x);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    enqueue(&memset_zero, y.data(), y.nbytes());
  } else if (gemv_fits(x, w)) {
    enqueue(&launch_gemv, x.data(), x.dtype(), w.data(), w.dtype(), N, K, y.data(), y.dtype());
  } else {
    // cuBLASLt takes x in the weight's dtype (tensor cores: both operands 16-bit; F32: full fp32)
    // and writes F32, or the operands' 16-bit type. BF16 activations with BF16 weights (the
    // Transformer's BF16 mode) go in and out as they are; other mixes convert x into a scratch
    // copy first and, for a BF16 y the GEMM cannot write, y from an F32 scratch after.
    const DType dt = w.dtype();
    const size_t x_bytes = static_cast<size_t>(M * K) * dtype_size(dt);
    const bool y_direct = y.dtype() == DType::F32 || y.dtype() == dt;
    const size_t y_bytes = y_direct ? 0 : static_cast<size_t>(M * N) * sizeof(float);
    char* tmp = x.dtype() != dt || !y_direct ? static_cast<char*>(scratch(x_bytes + y_bytes + 256)) : nullptr;
    const void* xin = x.data();
    if (x.dtype() != dt) {
      enqueue(&launch_convert, x.data(), x.dtype(), M * K, static_cast<void*>(tmp), dt);
      xin = tmp;
    }
    void* yp = y_direct ? y.data() : static_cast<void*>(tmp + (x_bytes + 255) / 256 * 256);
    const DType yt = y_direct ? y.dtype() : DType::F32;
    LtMatmul* lt = lt_.get();
    const void* wp = w.data();
    enqueue_call(
        0x4c744d61746d756cULL, [=](cudaStream_t s) { lt->run(xin, wp, dt, M, N, K, yp, yt, s); }, xin, wp, dt, M, N, K,
        yp, yt);
    if (!y_direct) enqueue(&launch_convert, static_cast<const void*>(yp), DType::F32, M * N, y.data(), y.dtype());
  }
  if (bias) enqueue(&launch_add_bias, y.data(), y.dtype(), M, N, bias->data_as<float>());
}

void CudaBackend::rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  checks::rmsnorm(x, w, y, /*bf16=*/true);
  const int64_t dim = w.numel();
  enqueue(&launch_rmsnorm, x.data(), x.dtype(), x.numel() / dim, dim, w.data_as<float>(), eps, y.data(), y.dtype());
}

void CudaBackend::rope(Tensor& x, const Tensor& cos, const Tensor& sin) {
  checks::rope(x, cos, sin, /*bf16=*/true);
  enqueue(&launch_rope, x.data(), x.dtype(), x.dim(0), x.dim(1), x.dim(2), cos.data_as<float>(), sin.data_as<float>(),
          cos.dim(1));
}

bool CudaBackend::run_attention(const Tensor& q, const void* k, const void* v, DType kv, int64_t block_size,
                                int64_t kv_heads, std::span<const PagedAttentionSeq> seqs,
                                std::span<const int32_t> tables, int64_t max_keys, int window, float scale,
                                Tensor& out, const AttnRopeStore* rope) {
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
  const bool large = attn_tensor_cores_ && q_rows_total >= kTensorCoreMinRows &&
                     q_rows_total >= kTensorCoreMinRowsPerSeq * busy_seqs;
  // BF16 q and cache: the mma.sync kernel (attention_prefill.cu; tiles of query rows of one sequence
  // per q head). F32 q and cache: the wmma kernel (attention_tc.cu; virtual-row tiles).
  // Mixed dtypes, other head dims and small calls: the fp32-math kernel (attention.cu).
  const bool bf16_all = q.dtype() == DType::BF16 && kv == DType::BF16;
  const bool f32_all = q.dtype() == DType::F32 && kv == DType::F32;
  const bool prefill_mma = large && bf16_all && attention_prefill_supports(static_cast<int>(D)) &&
                           is_aligned16(q.data()) && is_aligned16(k) && is_aligned16(v) && is_aligned16(out.data());
  const bool tensor_cores = large && f32_all && D % 16 == 0 && D <= kAttnTcMaxHeadDim;
  // Decode-shaped calls (at most two decode tiles of virtual rows per sequence): the streaming
  // decode kernel (attention_decode.cu).
  int64_t max_virtual = 0;
  for (const PagedAttentionSeq& s : seqs) max_virtual = std::max(max_virtual, s.q_rows * group);
  const bool decode = !prefill_mma && !tensor_cores && attention_decode_supports(static_cast<int>(D)) &&
                      max_virtual <= 2 * kAttnDecodeRows && is_aligned16(q.data()) && is_aligned16(k) &&
                      is_aligned16(v) && is_aligned16(out.data());
  if (rope && !(decode && max_virtual <= kAttnDecodeRows && rope->half > 0 && rope->half % 8 == 0 &&
                2 * rope->half <= D && is_aligned16(rope->cos) && is_aligned16(rope->sin) &&
                is_aligned16(rope->k) && is_aligned16(rope->v)))
    return false;
  const int64_t tile_rows = prefill_mma    ? attention_prefill_tile_rows(static_cast<int>(D))
                            : tensor_cores ? attention_tc_tile_rows(static_cast<int>(D))
                            : decode       ? kAttnDecodeRows
                                           : kAttnTileRows;
  // The mma kernel's tiles are query rows of one q head (the grid's y); the others' are virtual
  // rows (query row, q head of the kv head) of one kv head.
  const int64_t per_row = prefill_mma ? 1 : group;
  std::vector<AttnSeq> dseqs;
  std::vector<AttnTile> tiles;
  for (const PagedAttentionSeq& s : seqs) {
    if (s.q_rows == 0) continue;
    const int32_t idx = static_cast<int32_t>(dseqs.size());
    dseqs.push_back({s.q_begin, s.q_rows, s.pos0, s.table_begin});
    const int64_t virt = s.q_rows * per_row;
    for (int64_t v0 = 0; v0 < virt; v0 += tile_rows)
      tiles.push_back({idx, static_cast<int32_t>(v0), static_cast<int32_t>(std::min<int64_t>(tile_rows, virt - v0))});
  }
  if (tiles.empty()) return true;
  // Flash-decoding: too few blocks to fill the GPU -> split each tile's keys (>= 32 per split:
  // one K/V tile per block at a decode step's usual lengths).
  // Sized by the cache's capacity, not the current length, so a decode step's grid repeats; the
  // kernel cuts the actual key range into `splits` chunks and empty ones exit at once.
  const int64_t blocks = static_cast<int64_t>(tiles.size()) * kv_heads;
  int64_t splits = 1;
  if (decode)
    splits = attention_decode_splits(blocks, max_keys, sm_count_);
  else if (!tensor_cores && !prefill_mma && blocks < sm_count_)
    splits = std::min<int64_t>({(2 * sm_count_ + blocks - 1) / blocks, (max_keys + 31) / 32, int64_t{kAttnMaxSplits}});
  splits = std::max<int64_t>(splits, 1);
  if (rope && !attention_decode_fuses_rope(static_cast<int>(splits))) return false;

  // The descriptors through the step's argument block, all three arrays in one piece: position
  // values never enter the kernel's parameters, and every layer of a step shares one copy.
  const size_t seq_bytes = dseqs.size() * sizeof(AttnSeq), tile_bytes = tiles.size() * sizeof(AttnTile);
  std::vector<char> blob(seq_bytes + tile_bytes + tables.size_bytes());
  std::memcpy(blob.data(), dseqs.data(), seq_bytes);
  std::memcpy(blob.data() + seq_bytes, tiles.data(), tile_bytes);
  if (!tables.empty()) std::memcpy(blob.data() + seq_bytes + tile_bytes, tables.data(), tables.size_bytes());
  const char* base = arg(kAttn, std::span<const char>(blob));
  AttnArgs a;
  std::memset(&a, 0, sizeof a);  // padding too: the bytes are the launch's signature
  a.seqs = reinterpret_cast<const AttnSeq*>(base);
  a.tiles = reinterpret_cast<const AttnTile*>(base + seq_bytes);
  a.tables = reinterpret_cast<const int32_t*>(base + seq_bytes + tile_bytes);
  a.q = q.data();
  a.k = k;
  a.v = v;
  a.block_size = block_size;
  a.num_tiles = static_cast<int>(tiles.size());
  a.q_heads = static_cast<int>(q_heads);
  a.kv_heads = static_cast<int>(kv_heads);
  a.head_dim = static_cast<int>(D);
  a.window = window;
  a.splits = static_cast<int>(splits);
  a.tile_rows = decode ? static_cast<int>(std::min<int64_t>(kAttnDecodeRows, max_virtual)) : 0;
  a.total_rows = total_rows;
  a.scale = scale;
  a.act = q.dtype();
  a.kv = kv;
  a.out = out.data();
  if (rope) {
    a.new_k = rope->k;
    a.new_v = rope->v;
    a.rope_cos = rope->cos;
    a.rope_sin = rope->sin;
    a.rope_half = rope->half;
  }
  if (splits > 1) {
    const size_t per_split = static_cast<size_t>(total_rows * q_heads);
    a.part_o = static_cast<float*>(scratch(sizeof(float) * static_cast<size_t>(splits) * per_split * static_cast<size_t>(D + 2)));
    a.part_ml = a.part_o + static_cast<size_t>(splits) * per_split * static_cast<size_t>(D);
    a.counters = attention_counters(tiles.size() * static_cast<size_t>(kv_heads));
  }
  if (prefill_mma) enqueue(&launch_attention_prefill, a);
  else if (tensor_cores) enqueue(&launch_attention_tc, a);
  else if (decode) enqueue(&launch_attention_decode, a);
  else enqueue(&launch_attention, a);
  return true;
}

void CudaBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                            float scale, Tensor& out) {
  checks::attention(q, k_cache, v_cache, pos0, window, out, /*bf16=*/true);
  const int64_t rows = q.dim(0), kv_heads = k_cache.dim(1);
  if (rows == 0) return;
  // The contiguous cache is one block of `capacity` slots.
  const PagedAttentionSeq seq{0, rows, pos0, 0, 1};
  const int32_t table[1] = {0};
  run_attention(q, k_cache.data(), v_cache.data(), k_cache.dtype(), k_cache.dim(0), kv_heads,
                std::span<const PagedAttentionSeq>(&seq, 1), table, k_cache.dim(0), window, scale, out);
}

void CudaBackend::paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                                  std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables,
                                  int window, float scale, Tensor& out) {
  checks::paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, out, /*bf16=*/true);
  const int64_t total_rows = q.dim(0), block_size = k_blocks.dim(1), kv_heads = k_blocks.dim(2);
  if (total_rows == 0 || seqs.empty()) return;
  int64_t max_keys = 0;
  for (const PagedAttentionSeq& s : seqs) max_keys = std::max(max_keys, s.table_size * block_size);
  run_attention(q, k_blocks.data(), v_blocks.data(), k_blocks.dtype(), block_size, kv_heads, seqs, block_tables,
                max_keys, window, scale, out);
}

void CudaBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  checks::swiglu(gate, up, out, /*bf16=*/true);
  enqueue(&launch_swiglu, gate.data(), up.data(), gate.numel(), out.data(), out.dtype());
}

void CudaBackend::add(Tensor& a, const Tensor& b) {
  checks::add(a, b, /*bf16=*/true);
  enqueue(&launch_add, a.data(), a.dtype(), b.data(), b.dtype(), a.numel());
}

void CudaBackend::scale_rows_by_sigmoid(Tensor& x, const Tensor& g) {
  checks::scale_rows_by_sigmoid(x, g, /*bf16=*/true);
  enqueue(&launch_scale_rows_by_sigmoid, x.data(), x.dtype(), rows_of(x), row_width(x), g.data_as<float>());
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
  auto d = device_bytes(n * (sizeof(int32_t) + sizeof(float)));
  auto* d_expert = static_cast<int32_t*>(d.get());
  auto* d_weight = reinterpret_cast<float*>(d_expert + n);
  enqueue(&launch_route_top_k, logits.data_as<float>(), r.rows, logits.dim(1), k, normalize, d_expert, d_weight);
  flush();
  check_cuda(cudaMemcpyAsync(r.expert.data(), d_expert, n * sizeof(int32_t), cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync(routing)");
  check_cuda(cudaMemcpyAsync(r.weight.data(), d_weight, n * sizeof(float), cudaMemcpyDeviceToHost, stream()),
             "cudaMemcpyAsync(routing)");
  synchronize("route_top_k");
  return r;
}

void CudaBackend::gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::gather_rows(src, rows, dst, /*bf16=*/true);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  enqueue(&launch_gather_rows, src.data(), src.dtype(), row_width(src), arg(kRows, rows), n, dst.data());
}

void CudaBackend::scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::scatter_rows(src, rows, dst, /*bf16=*/true);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  enqueue(&launch_scatter_rows, src.data(), src.dtype(), row_width(src), arg(kRows, rows), n, dst.data());
}

void CudaBackend::scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                                   Tensor& dst) {
  checks::scatter_add_rows(src, rows, weights, dst, /*bf16=*/true);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return;
  const int32_t* d_rows = arg(kRows, rows);
  const float* d_weights = arg(kWeights, weights);
  enqueue(&launch_scatter_add_rows, src.data(), src.dtype(), row_width(src), d_rows, d_weights, n,
          dst.data_as<float>());
}

}  // namespace detail

std::unique_ptr<Backend> make_cuda_backend(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) fail("cuda", std::string("no usable CUDA driver or device: ") + cudaGetErrorString(e));
  if (count == 0) fail("cuda", "no CUDA device is present");
  if (device < 0 || device >= count)
    fail("cuda", "device " + std::to_string(device) + " outside the " + std::to_string(count) + " present");
  return std::make_unique<detail::CudaBackend>(device);
}

}  // namespace nova::kernels::cuda
