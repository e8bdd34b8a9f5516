// CudaBackend::sample_rows (backend.h): validates the rows, stages their parameters and penalty
// entries in the step's argument block, runs sampling.cu's three kernels on the logits where
// they are, and downloads only the chosen ids, their logprobs and the top logprobs.
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

}  // namespace

std::vector<SampledRow> CudaBackend::sample_rows(const Tensor& logits, std::span<const SamplingRow> rows,
                                                 std::span<const PenaltyEntry> penalties) {
  check_sample_rows(logits, rows, penalties);
  const auto R = static_cast<int64_t>(rows.size());
  if (R == 0) return {};
  const int64_t V = logits.dim(1), chunks = sample_chunks(V);
  int32_t stride = 1;
  for (const SamplingRow& p : rows) stride = std::max(stride, p.top_logprobs);

  // Scratch (stream-ordered, so reused by the next step's blocks) and the result block.
  Tensor work = empty(DType::F32, {R, V});
  const int64_t part_bytes = R * chunks * static_cast<int64_t>(sizeof(SamplePartial));
  Tensor partials = empty(DType::F32, {part_bytes / 4});
  Tensor hist = empty(DType::F32, {R * (kSampleHistBuckets + 1)});  // int32: histograms, then buffer fills
  Tensor cand_key = empty(DType::F32, {R * kSampleBuffer}), cand_id = empty(DType::F32, {R * kSampleBuffer});
  const int64_t out_bytes = R * static_cast<int64_t>(sizeof(SampleOut));
  const int64_t res_bytes = out_bytes + R * stride * static_cast<int64_t>(sizeof(SampleTop));
  Tensor result = empty(DType::F32, {res_bytes / 4});

  SampleArgs a{};
  a.logits = logits.data_as<float>();
  a.rows = R;
  a.vocab = V;
  a.params = arg(kUpload, rows);
  a.penalties = penalties.empty() ? nullptr : arg(kUpload, penalties);
  a.work = work.data_as<float>();
  a.partials = static_cast<SamplePartial*>(partials.data());
  a.out = static_cast<SampleOut*>(result.data());
  a.top = reinterpret_cast<SampleTop*>(static_cast<char*>(result.data()) + out_bytes);
  a.top_stride = stride;
  a.hist = static_cast<int32_t*>(hist.data());
  a.cand_count = a.hist + R * kSampleHistBuckets;
  a.cand_key = cand_key.data_as<float>();
  a.cand_id = static_cast<int32_t*>(cand_id.data());
  enqueue(&launch_sample, a);

  std::vector<char> host(static_cast<size_t>(res_bytes));
  download(result, host.data());
  const auto* outs = reinterpret_cast<const SampleOut*>(host.data());
  const auto* tops = reinterpret_cast<const SampleTop*>(host.data() + out_bytes);
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

}  // namespace nova::kernels::cuda::detail
