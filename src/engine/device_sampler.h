// Sampling where the logits are: one step's rows for a device backend's Backend::sample_rows,
// with the host Sampler's exact semantics (engine/sampler.h). The Sampler keeps owning the
// parameters and the random stream: add() draws the row's uniform from it (as the next sample()
// would), so a seed gives the same tokens whether a request samples on the host or the device.
// Rows the device leaves to the host (NeedsHost: survivors past its candidate list) are sampled
// from downloaded logits by Sampler::sample_at with the same draw.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "engine/sampler.h"
#include "kernels/backend.h"

namespace nova::engine {

// A row's token, or the nova::Error Sampler::sample() would have thrown on the same logits.
struct SampleOutcome {
  SampledToken token;
  bool ok = true;
  std::string error_where, error_what;
  // The token; throws the error.
  const SampledToken& get() const;
};

class PendingSampling;

class DeviceSampling {
 public:
  // The next token of the sequence `sampler` samples (history: its penalties' tokens), with the
  // `top_logprobs` best logprobs. Draws the row's uniform now; keeps the row's penalty entries.
  // Throws nova::Error (as sample() would) for a history id outside the vocabulary or
  // top_logprobs outside [0, vocab].
  void add(Sampler& sampler, const TokenHistory& history, int top_logprobs);
  // A row whose result nobody reads (a sequence cancelled meanwhile): greedy, no draw.
  void add_placeholder();
  size_t size() const { return rows_.size(); }

  // Samples every row from logits [size(), vocab] F32 on `backend` (samples_on_device()).
  std::vector<SampleOutcome> run(kernels::Backend& backend, const Tensor& logits) const;
  // run() without waiting for the results (Backend::sample_rows_async): the chosen ids stay on the
  // backend, so the next step can be enqueued on them before the host reads them. `logits` is kept
  // (for rows the device leaves to the host) until the result is read.
  PendingSampling run_async(kernels::Backend& backend, const Tensor& logits) const;
  // The same on the host, from downloaded logits (the reference the device is measured against).
  std::vector<SampleOutcome> run_on_host(std::span<const float> logits, int vocab) const;

  // What the backend receives (for tests and benches).
  const std::vector<kernels::SamplingRow>& rows() const { return rows_; }
  const std::vector<kernels::PenaltyEntry>& penalties() const { return penalties_; }

 private:
  friend class PendingSampling;
  SampleOutcome host_row(size_t i, std::span<const float> row_logits, int vocab) const;
  void check_logits(const Tensor& logits) const;
  // run()'s outcomes from the backend's rows (downloading the logits if a row needs the host).
  std::vector<SampleOutcome> outcomes(kernels::Backend& backend, const Tensor& logits,
                                      const std::vector<kernels::SampledRow>& rows) const;

  std::vector<kernels::SamplingRow> rows_;
  std::vector<kernels::PenaltyEntry> penalties_;
  // Per row, for the host fallback: the parameters and the vocabulary (the history is rebuilt
  // from the row's penalty entries: no copy of it on every decode step).
  std::vector<SamplingParams> params_;
  std::vector<int> vocab_;
};

// DeviceSampling::run_async's result.
class PendingSampling {
 public:
  PendingSampling(DeviceSampling rows, kernels::Backend& backend, Tensor logits,
                  std::unique_ptr<kernels::PendingSamples> pending);
  // The backend's I32 [rows] ids: what the device chose (0 for a row it left to the host or failed).
  const Tensor& ids() const { return pending_->ids(); }
  // run()'s outcomes; waits for the backend the first time.
  const std::vector<SampleOutcome>& wait();
  // Whether row i's token is the id ids() holds (after wait(): false where the device left the row
  // to the host or failed, so a step enqueued on ids() ran the wrong token there).
  bool device_id_final(size_t i) const;
  // The same rows, with the same draws, sampled again from other logits (after a step enqueued on
  // ids() turned out to have run the wrong token).
  PendingSampling rerun(const Tensor& logits) const { return rows_.run_async(*backend_, logits); }

 private:
  DeviceSampling rows_;
  kernels::Backend* backend_;
  Tensor logits_;
  std::unique_ptr<kernels::PendingSamples> pending_;
  std::vector<SampleOutcome> outcomes_;
  bool waited_ = false;
};

// Whether any penalty (repetition, presence, frequency) is on: then a row needs its history.
bool uses_penalties(const SamplingParams& params);

// A row's penalty entries (kernels::PenaltyEntry) from its history, in id order: every id seen
// (prompt + generated) when repetition_penalty != 1, else the generated ones; empty when no
// penalty is on. Throws nova::Error naming "prompt" / "generated tokens" for an id outside
// [0, vocab), as apply_repetition_penalty does.
std::vector<kernels::PenaltyEntry> penalty_entries(const SamplingParams& params, const TokenHistory& history,
                                                   int vocab);

}  // namespace nova::engine
