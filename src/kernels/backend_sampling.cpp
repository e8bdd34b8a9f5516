// Backend's sampling defaults: backends without device sampling (the CPU one) leave sampling to
// the engine's host Sampler, which reads downloaded logits; the asynchronous form and the
// embedding of backend-held ids fall back to their synchronous compositions.
#include "core/error.h"
#include "kernels/backend.h"

namespace nova::kernels {

namespace {

// sample_rows()' result, computed before it is handed out.
class ReadySamples final : public PendingSamples {
 public:
  ReadySamples(Tensor ids, std::vector<SampledRow> rows) : PendingSamples(std::move(ids)), rows_(std::move(rows)) {}

 private:
  std::vector<SampledRow> finish() override { return std::move(rows_); }
  std::vector<SampledRow> rows_;
};

}  // namespace

const std::vector<SampledRow>& PendingSamples::wait() {
  if (!finished_) {
    rows_ = finish();
    finished_ = true;
  }
  return rows_;
}

std::vector<SampledRow> Backend::sample_rows(const Tensor&, std::span<const SamplingRow>, std::span<const PenaltyEntry>) {
  fail("sample_rows", "the " + name() + " backend does not sample on the device (samples_on_device() is false)");
}

std::unique_ptr<PendingSamples> Backend::sample_rows_async(const Tensor& logits, std::span<const SamplingRow> rows,
                                                           std::span<const PenaltyEntry> penalties) {
  std::vector<SampledRow> picked = sample_rows(logits, rows, penalties);
  Tensor ids = Tensor::zeros(DType::I32, {static_cast<int64_t>(picked.size())});
  for (size_t r = 0; r < picked.size(); ++r)
    if (picked[r].status == SampledRow::Status::Ok) ids.data_as<int32_t>()[r] = picked[r].id;
  return std::make_unique<ReadySamples>(upload(ids), std::move(picked));
}

void Backend::embedding_ids(const Tensor& table, const Tensor& ids, Tensor& out) {
  if (ids.dtype() != DType::I32 || ids.ndim() != 1)
    fail("embedding_ids", "ids must be I32 [n], got " + std::string(dtype_name(ids.dtype())) + " " + ids.shape_string());
  std::vector<int32_t> host(static_cast<size_t>(ids.numel()));
  download(ids, host.data());
  for (int32_t& id : host)
    if (id < 0 || id >= table.dim(0)) id = 0;
  embedding(table, host, out);
}

}  // namespace nova::kernels
