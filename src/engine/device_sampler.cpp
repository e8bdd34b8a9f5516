#include "engine/device_sampler.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace nova::engine {

const SampledToken& SampleOutcome::get() const {
  if (!ok) throw Error(error_where, error_what);
  return token;
}

bool uses_penalties(const SamplingParams& params) {
  return params.repetition_penalty != 1.0f || params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f;
}

std::vector<kernels::PenaltyEntry> penalty_entries(const SamplingParams& params, const TokenHistory& history,
                                                   int vocab) {
  auto check = [&](std::span<const int32_t> ids, const char* where) {
    for (int32_t id : ids)
      if (id < 0 || id >= vocab)
        fail(where, "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  };
  check(history.prompt, "prompt");
  check(history.generated, "generated tokens");
  const bool repetition = params.repetition_penalty != 1.0f;
  std::vector<kernels::PenaltyEntry> out;
  if (!uses_penalties(params)) return out;
  // (id, 1 if generated): sorted, each id's run gives one entry with its generated count.
  std::vector<int64_t> tagged;
  tagged.reserve(history.generated.size() + (repetition ? history.prompt.size() : 0));
  if (repetition)
    for (int32_t id : history.prompt) tagged.push_back(int64_t{id} * 2);
  for (int32_t id : history.generated) tagged.push_back(int64_t{id} * 2 + 1);
  std::sort(tagged.begin(), tagged.end());
  for (size_t i = 0; i < tagged.size();) {
    const auto id = static_cast<int32_t>(tagged[i] / 2);
    int32_t generated = 0;
    for (; i < tagged.size() && tagged[i] / 2 == id; ++i) generated += static_cast<int32_t>(tagged[i] & 1);
    out.push_back({id, generated});
  }
  return out;
}

void DeviceSampling::add(Sampler& sampler, const TokenHistory& history, int top_logprobs) {
  const SamplingParams& p = sampler.params();
  const int vocab = sampler.vocab_size();
  if (top_logprobs < 0 || top_logprobs > vocab)
    fail("logprobs", "must be in [0, " + std::to_string(vocab) + "], got " + std::to_string(top_logprobs));
  const std::vector<kernels::PenaltyEntry> pen = penalty_entries(p, history, vocab);
  kernels::SamplingRow row;
  row.temperature = p.temperature;
  row.top_k = p.top_k;
  row.top_p = p.top_p;
  row.min_p = p.min_p;
  row.repetition_penalty = p.repetition_penalty;
  row.presence_penalty = p.presence_penalty;
  row.frequency_penalty = p.frequency_penalty;
  row.top_logprobs = top_logprobs;
  row.uniform = sampler.next_uniform();
  row.penalty_begin = static_cast<int64_t>(penalties_.size());
  row.penalty_count = static_cast<int64_t>(pen.size());
  penalties_.insert(penalties_.end(), pen.begin(), pen.end());
  rows_.push_back(row);
  params_.push_back(p);
  vocab_.push_back(vocab);
}

void DeviceSampling::add_placeholder() {
  kernels::SamplingRow row;
  row.temperature = 0;
  row.penalty_begin = static_cast<int64_t>(penalties_.size());
  rows_.push_back(row);
  SamplingParams p;
  p.temperature = 0;
  params_.push_back(p);
  vocab_.push_back(0);
}

SampleOutcome DeviceSampling::host_row(size_t i, std::span<const float> row_logits, int vocab) const {
  SampleOutcome o;
  if (vocab_[i] == 0) return o;  // a placeholder
  // The row's history, rebuilt from its penalty entries (the penalties see only which ids occur
  // and how often each was generated): ids never generated as "prompt", the rest repeated.
  std::vector<int32_t> prompt, generated;
  const auto first = penalties_.begin() + rows_[i].penalty_begin;
  for (auto e = first; e != first + rows_[i].penalty_count; ++e) {
    if (e->generated == 0) prompt.push_back(e->id);
    generated.insert(generated.end(), static_cast<size_t>(e->generated), e->id);
  }
  try {
    Sampler s(params_[i], vocab);
    o.token = s.sample_at(row_logits, {prompt, generated}, rows_[i].top_logprobs, rows_[i].uniform);
  } catch (const Error& e) {
    o.ok = false;
    o.error_where = e.where();
    o.error_what = e.problem();
  }
  return o;
}

std::vector<SampleOutcome> DeviceSampling::run_on_host(std::span<const float> logits, int vocab) const {
  require(logits.size() == rows_.size() * static_cast<size_t>(vocab), "logits",
          "has " + std::to_string(logits.size()) + " entries for " + std::to_string(rows_.size()) + " rows of " +
              std::to_string(vocab));
  std::vector<SampleOutcome> out;
  out.reserve(rows_.size());
  for (size_t i = 0; i < rows_.size(); ++i)
    out.push_back(host_row(i, logits.subspan(i * static_cast<size_t>(vocab), static_cast<size_t>(vocab)), vocab));
  return out;
}

void DeviceSampling::check_logits(const Tensor& logits) const {
  require(logits.ndim() == 2 && logits.dim(0) == static_cast<int64_t>(rows_.size()), "logits",
          "shape " + logits.shape_string() + " does not hold " + std::to_string(rows_.size()) + " rows");
  const int vocab = static_cast<int>(logits.dim(1));
  for (size_t i = 0; i < rows_.size(); ++i)
    require(vocab_[i] == 0 || vocab_[i] == vocab, "logits",
            "has " + std::to_string(vocab) + " entries per row, the vocabulary has " + std::to_string(vocab_[i]));
}

std::vector<SampleOutcome> DeviceSampling::run(kernels::Backend& backend, const Tensor& logits) const {
  check_logits(logits);
  return outcomes(backend, logits, backend.sample_rows(logits, rows_, penalties_));
}

PendingSampling DeviceSampling::run_async(kernels::Backend& backend, const Tensor& logits) const {
  check_logits(logits);
  return PendingSampling(*this, backend, logits, backend.sample_rows_async(logits, rows_, penalties_));
}

std::vector<SampleOutcome> DeviceSampling::outcomes(kernels::Backend& backend, const Tensor& logits,
                                                    const std::vector<kernels::SampledRow>& rows) const {
  const int vocab = static_cast<int>(logits.dim(1));
  std::vector<SampleOutcome> out(rows_.size());
  std::vector<float> host;  // downloaded only if some row needs the host
  for (size_t i = 0; i < rows.size(); ++i) {
    const kernels::SampledRow& r = rows[i];
    SampleOutcome& o = out[i];
    switch (r.status) {
      case kernels::SampledRow::Status::Ok:
        o.token.id = r.id;
        o.token.logprob = r.logprob;
        for (const auto& [id, lp] : r.top) o.token.top.push_back({id, lp});
        break;
      case kernels::SampledRow::Status::BadLogit:
        o = {{}, false, "logits", "contains NaN or +inf"};
        break;
      case kernels::SampledRow::Status::NoFiniteLogit:
        o = {{}, false, "logits", "no token has a finite logit"};
        break;
      case kernels::SampledRow::Status::NeedsHost:
        if (host.empty()) {
          host.resize(static_cast<size_t>(logits.numel()));
          backend.download(logits, host.data());
        }
        o = host_row(i, std::span<const float>(host).subspan(i * static_cast<size_t>(vocab), static_cast<size_t>(vocab)),
                     vocab);
        break;
    }
  }
  return out;
}

PendingSampling::PendingSampling(DeviceSampling rows, kernels::Backend& backend, Tensor logits,
                                 std::unique_ptr<kernels::PendingSamples> pending)
    : rows_(std::move(rows)), backend_(&backend), logits_(std::move(logits)), pending_(std::move(pending)) {}

const std::vector<SampleOutcome>& PendingSampling::wait() {
  if (!waited_) {
    outcomes_ = rows_.outcomes(*backend_, logits_, pending_->wait());
    waited_ = true;
    logits_ = Tensor();  // no longer needed: its memory goes back to the backend
  }
  return outcomes_;
}

bool PendingSampling::device_id_final(size_t i) const {
  return pending_->wait().at(i).status == kernels::SampledRow::Status::Ok;
}

}  // namespace nova::engine
