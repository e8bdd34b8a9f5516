// Sampling where the logits are: one step's rows for a device backend's Backend::sample_rows,
// with the host Sampler's exact semantics (engine/sampler.h). The Sampler keeps owning the
// parameters and the random stream: add() draws the row's uniform from it (as the next sample()
// would), so a seed gives the same tokens whether a request samples on the host or the device.
// Rows the device leaves to the host (NeedsHost: survivors past its candidate list) are sampled
// from downloaded logits by Sampler::sample_at with the same draw.
#pragma once

#include <cstdint>
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
  // The same on the host, from downloaded logits (the reference the device is measured against).
  std::vector<SampleOutcome> run_on_host(std::span<const float> logits, int vocab) const;

  // What the backend receives (for tests and benches).
  const std::vector<kernels::SamplingRow>& rows() const { return rows_; }
  const std::vector<kernels::PenaltyEntry>& penalties() const { return penalties_; }

 private:
  SampleOutcome host_row(size_t i, std::span<const float> row_logits, int vocab) const;

  std::vector<kernels::SamplingRow> rows_;
  std::vector<kernels::PenaltyEntry> penalties_;
  // Per row, for the host fallback: the parameters and the vocabulary (the history is rebuilt
  // from the row's penalty entries: no copy of it on every decode step).
  std::vector<SamplingParams> params_;
  std::vector<int> vocab_;
};

// A row's penalty entries (kernels::PenaltyEntry) from its history, in id order: every id seen
// (prompt + generated) when repetition_penalty != 1, else the generated ones; empty when no
// penalty is on. Throws nova::Error naming "prompt" / "generated tokens" for an id outside
// [0, vocab), as apply_repetition_penalty does.
std::vector<kernels::PenaltyEntry> penalty_entries(const SamplingParams& params, const TokenHistory& history,
                                                   int vocab);

}  // namespace nova::engine
