// CudaBackend::sample_rows (backend.h): validates the rows, stages their parameters and penalty
// entries in the step's argument block, runs sampling.cu's three kernels on the logits where
// they are, and downloads only the chosen ids, their logprobs and the top logprobs.
// sample_rows_async does the same without waiting: the download goes to a pinned buffer behind an
// event, the chosen ids stay on the device for the next step, and the step ends there.
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_backend_impl.cuh"
#include "kernels/cuda/sampling.cuh"

namespace nova::kernels::cuda::detail {

namespace {

void check_sample_rows(const Tensor& logits, std::span<const SamplingRow> rows, std::span<const PenaltyEntry> penalties) {
  checks::f32(logits, "sample_rows", "logits", 2);
  const int64_t V = logits.dim(1);
  if (logits.dim(0) != static_cast<int64_t>(rows.size()))
    bad("sample_rows", "logits have " + std::to_string(logits.dim(0)) + " rows for " + std::to_string(rows.size()) +
                           " sampling rows");
  if (V <= 0 || V > std::numeric_limits<int32_t>::max())
    bad("sample_rows", "vocabulary of " + std::to_string(V) + " outside [1, 2^31)");
  for (size_t r = 0; r < rows.size(); ++r) {
    const SamplingRow& p = rows[r];
    const std::string which = "row " + std::to_string(r);
    if (p.top_logprobs < 0 || p.top_logprobs > V)
      bad("sample_rows", which + ": top_logprobs " + std::to_string(p.top_logprobs) + " outside [0, " +
                             std::to_string(V) + "]");
    if (p.top_k < 0 || !(p.top_p > 0.0f && p.top_p <= 1.0f) || !(p.min_p >= 0.0f && p.min_p <= 1.0f) ||
        !(p.repetition_penalty > 0.0f) || !(p.uniform >= 0.0 && p.uniform < 1.0))
      bad("sample_rows", which + ": a sampling parameter is out of range");
    if (p.penalty_begin < 0 || p.penalty_count < 0 ||
        p.penalty_begin + p.penalty_count > static_cast<int64_t>(penalties.size()))
      bad("sample_rows", which + ": penalty entries outside the " + std::to_string(penalties.size()) + " given");
    for (int64_t j = p.penalty_begin; j < p.penalty_begin + p.penalty_count; ++j)
      if (penalties[j].id < 0 || penalties[j].id >= V || penalties[j].generated < 0)
        bad("sample_rows", which + ": penalty entry for token " + std::to_string(penalties[j].id) +
                               " outside the vocabulary [0, " + std::to_string(V) + ")");
  }
}

// The host side of the result block: what sample_rows returns.
std::vector<SampledRow> parse_samples(const char* host, int64_t R, int32_t stride, int64_t out_bytes) {
  const auto* outs = reinterpret_cast<const SampleOut*>(host);
  const auto* tops = reinterpret_cast<const SampleTop*>(host + out_bytes);
  std::vector<SampledRow> res(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    const SampleOut& o = outs[r];
    SampledRow& s = res[static_cast<size_t>(r)];
    s.status = static_cast<SampledRow::Status>(o.status);
    s.id = o.id;
    s.logprob = o.logprob;
    if (s.status != SampledRow::Status::Ok) continue;
    s.top.reserve(static_cast<size_t>(o.n_top));
    for (int32_t j = 0; j < o.n_top; ++j) s.top.emplace_back(tops[r * stride + j].id, tops[r * stride + j].logprob);
  }
  return res;
}

}  // namespace

// Pinned download buffers, each with the event that says its copy has landed; shared with the
// pending results, which give theirs back when destroyed (possibly after the backend).
struct PinnedPool {
  struct Slot {
    char* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t landed = nullptr;
  };
  std::mutex mu;
  std::vector<Slot> free;

  Slot take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < free.size(); ++i) {
        if (free[i].bytes < bytes) continue;
        const Slot s = free[i];
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(i));
        return s;
      }
    }
    Slot s;
    s.bytes = std::max<size_t>(bytes, 4096);
    check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&s.host), s.bytes, cudaHostAllocDefault),
               "cudaHostAlloc(sample results)");
    if (cudaEventCreateWithFlags(&s.landed, cudaEventDisableTiming) != cudaSuccess) {
      cudaFreeHost(s.host);
      fail("cuda", "cudaEventCreate for sample results failed");
    }
    return s;
  }
  void give(const Slot& s) {
    std::lock_guard<std::mutex> lock(mu);
    free.push_back(s);
  }
  // Copies `bytes` at `src` into the slot once the work enqueued on `s` so far has run, and records
  // the slot's event behind the copy. The copy runs on the pool's own stream (made with the first
  // download), behind an event of `s`: the next step, enqueued on `s`, need not wait for it (1B
  // decode on an H100: the step's edge, from the LM head to the next layer 0, holds ~48 us of
  // launches and copies; kernel_trace.cuh). NOVA_CUDA_SIDE_DOWNLOAD=0 copies on `s` instead.
  // Returns false (the slot untouched) when the copy could not be enqueued.
  bool download(const Slot& slot, const void* src, size_t bytes, cudaStream_t s) {
    static const bool side = [] {
      const char* env = std::getenv("NOVA_CUDA_SIDE_DOWNLOAD");
      return !(env && std::strcmp(env, "0") == 0);
    }();
    cudaStream_t on = s;
    if (side) {
      if (!copies) {
        check_cuda(cudaStreamCreateWithFlags(&copies, cudaStreamNonBlocking), "cudaStreamCreate (downloads)");
        check_cuda(cudaEventCreateWithFlags(&sampled, cudaEventDisableTiming), "cudaEventCreate (downloads)");
      }
      check_cuda(cudaEventRecord(sampled, s), "sample_rows_async: event");
      check_cuda(cudaStreamWaitEvent(copies, sampled, 0), "sample_rows_async: wait");
      on = copies;
    }
    if (cudaMemcpyAsync(slot.host, src, bytes, cudaMemcpyDeviceToHost, on) != cudaSuccess) return false;
    check_cuda(cudaEventRecord(slot.landed, on), "sample_rows_async: event");  // (a failure leaks the slot)
    return true;
  }
  ~PinnedPool() {
    for (const Slot& s : free) {
      cudaEventDestroy(s.landed);
      cudaFreeHost(s.host);
    }
    if (sampled) cudaEventDestroy(sampled);
    if (copies) cudaStreamDestroy(copies);  // after its copies have run
  }

 private:
  cudaStream_t copies = nullptr;
  cudaEvent_t sampled = nullptr;
};

namespace {

class CudaPendingSamples final : public PendingSamples {
 public:
  CudaPendingSamples(Tensor ids, Tensor result, std::shared_ptr<PinnedPool> pool, PinnedPool::Slot slot, int64_t rows,
                     int32_t top_stride, int64_t out_bytes)
      : PendingSamples(std::move(ids)),
        result_(std::move(result)),
        pool_(std::move(pool)),
        slot_(slot),
        rows_(rows),
        top_stride_(top_stride),
        out_bytes_(out_bytes) {}
  ~CudaPendingSamples() override {
    // The copy into the slot must have landed before another download reuses it.
    if (!landed_ && cudaEventSynchronize(slot_.landed) != cudaSuccess) return;  // a failed stream: leak the slot
    pool_->give(slot_);
  }

 private:
  std::vector<SampledRow> finish() override {
    check_cuda(cudaEventSynchronize(slot_.landed), "sample_rows_async (a kernel before it failed)");
    landed_ = true;
    return parse_samples(slot_.host, rows_, top_stride_, out_bytes_);
  }
  Tensor result_;  // the device block being copied (stream order would keep it valid anyway)
  std::shared_ptr<PinnedPool> pool_;
  PinnedPool::Slot slot_;
  int64_t rows_;
  int32_t top_stride_;
  int64_t out_bytes_;
  bool landed_ = false;
};

}  // namespace

CudaBackend::EnqueuedSample CudaBackend::enqueue_sample(const Tensor& logits, std::span<const SamplingRow> rows,
                                                        std::span<const PenaltyEntry> penalties, bool with_ids) {
  check_sample_rows(logits, rows, penalties);
  EnqueuedSample e;
  const auto R = static_cast<int64_t>(rows.size());
  e.rows = R;
  if (R == 0) return e;
  bool greedy_only = penalties.empty();
  for (const SamplingRow& p : rows) greedy_only = greedy_only && p.temperature <= 0.0f && p.top_logprobs == 0;
  const int64_t V = logits.dim(1), chunks = sample_chunks(V, greedy_only);
  for (const SamplingRow& p : rows) e.top_stride = std::max(e.top_stride, p.top_logprobs);

  // Scratch (stream-ordered, so reused by the next step's blocks) and the result block.
  Tensor work = empty(DType::F32, {R, V});
  const int64_t part_bytes = R * chunks * static_cast<int64_t>(sizeof(SamplePartial));
  Tensor partials = empty(DType::F32, {part_bytes / 4});
  Tensor hist = empty(DType::F32, {R * (kSampleHistBuckets + 1)});  // int32: histograms, then buffer fills
  Tensor cand_key = empty(DType::F32, {R * kSampleBuffer}), cand_id = empty(DType::F32, {R * kSampleBuffer});
  e.out_bytes = R * static_cast<int64_t>(sizeof(SampleOut));
  e.bytes = e.out_bytes + R * e.top_stride * static_cast<int64_t>(sizeof(SampleTop));
  e.result = empty(DType::F32, {e.bytes / 4});
  if (with_ids) e.ids = empty(DType::I32, {R});

  SampleArgs a{};
  a.logits = logits.data_as<float>();
  a.rows = R;
  a.vocab = V;
  a.params = arg(kUpload, rows);
  a.penalties = penalties.empty() ? nullptr : arg(kUpload, penalties);
  a.work = work.data_as<float>();
  a.partials = static_cast<SamplePartial*>(partials.data());
  a.out = static_cast<SampleOut*>(e.result.data());
  a.top = reinterpret_cast<SampleTop*>(static_cast<char*>(e.result.data()) + e.out_bytes);
  a.top_stride = e.top_stride;
  a.hist = static_cast<int32_t*>(hist.data());
  a.cand_count = a.hist + R * kSampleHistBuckets;
  a.cand_key = cand_key.data_as<float>();
  a.cand_id = static_cast<int32_t*>(cand_id.data());
  a.ids = with_ids ? e.ids.data_as<int32_t>() : nullptr;
  a.greedy_only = greedy_only;
  enqueue(&launch_sample, a);
  return e;
}

std::vector<SampledRow> CudaBackend::sample_rows(const Tensor& logits, std::span<const SamplingRow> rows,
                                                 std::span<const PenaltyEntry> penalties) {
  const EnqueuedSample e = enqueue_sample(logits, rows, penalties, /*with_ids=*/false);
  if (e.rows == 0) return {};
  std::vector<char> host(static_cast<size_t>(e.bytes));
  download(e.result, host.data());
  return parse_samples(host.data(), e.rows, e.top_stride, e.out_bytes);
}

std::unique_ptr<PendingSamples> CudaBackend::sample_rows_async(const Tensor& logits, std::span<const SamplingRow> rows,
                                                               std::span<const PenaltyEntry> penalties) {
  if (rows.empty()) return Backend::sample_rows_async(logits, rows, penalties);
  EnqueuedSample e = enqueue_sample(logits, rows, penalties, /*with_ids=*/true);
  if (!pinned_) pinned_ = std::make_shared<PinnedPool>();
  const PinnedPool::Slot slot = pinned_->take(static_cast<size_t>(e.bytes));
  // Launch what was recorded (the step and its sampling), then the download behind it: a plain
  // copy outside the graphs, since its pinned destination changes from step to step.
  flush();
  cudaStream_t s = stream();
  if (!pinned_->download(slot, e.result.data(), static_cast<size_t>(e.bytes), s)) {
    pinned_->give(slot);  // nothing in flight into it
    check_cuda(cudaGetLastError(), "sample_rows_async: download");
    fail("cuda", "sample_rows_async: the download could not be enqueued");
  }
  auto pending = std::make_unique<CudaPendingSamples>(std::move(e.ids), std::move(e.result), pinned_, slot, e.rows,
                                                      e.top_stride, e.out_bytes);
  // The step ends here: the next one is recorded while this one runs.
  capture_->step_end(s);
  eager_ = false;
  return pending;
}

}  // namespace nova::kernels::cuda::detail
