#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace nova::engine {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

std::vector<TokenLogprob> top_n(std::span<const float> logprobs, int n) {
  n = std::clamp(n, 0, static_cast<int>(logprobs.size()));
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto better = [&](int32_t a, int32_t b) {
    return logprobs[a] != logprobs[b] ? logprobs[a] > logprobs[b] : a < b;
  };
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), better);
  std::vector<TokenLogprob> out(n);
  for (int i = 0; i < n; ++i) out[i] = {ids[i], logprobs[ids[i]]};
  return out;
}

Sampler::Sampler(const SamplingParams& params, int vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
  params_.validate();
  require(vocab_size > 0, "vocab_size", "must be > 0, got " + std::to_string(vocab_size));
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

SampledToken Sampler::sample(std::span<const float> logits, const TokenHistory& history, int top_logprobs) {
  return sample_impl(logits, history, top_logprobs, nullptr);
}

SampledToken Sampler::sample_at(std::span<const float> logits, const TokenHistory& history, int top_logprobs,
                                double uniform) {
  require(uniform >= 0.0 && uniform < 1.0, "sampler", "the draw must be in [0, 1), got " + std::to_string(uniform));
  return sample_impl(logits, history, top_logprobs, &uniform);
}

SampledToken Sampler::sample_impl(std::span<const float> logits, const TokenHistory& history, int top_logprobs,
                                  const double* given) {
  const size_t V = static_cast<size_t>(vocab_size_);
  if (logits.size() != V) {
    fail("logits", "has " + std::to_string(logits.size()) + " entries, the vocabulary has " + std::to_string(V));
  }
  if (top_logprobs < 0 || top_logprobs > vocab_size_) {
    fail("logprobs", "must be in [0, " + std::to_string(V) + "], got " + std::to_string(top_logprobs));
  }
  for (float l : logits) {
    if (std::isnan(l) || l == std::numeric_limits<float>::infinity()) fail("logits", "contains NaN or +inf");
  }

  // 1. Penalties, in float as the model produced the logits.
  penalized_.assign(logits.begin(), logits.end());
  apply_repetition_penalty(penalized_, params_.repetition_penalty, history);
  apply_presence_frequency_penalty(penalized_, params_.presence_penalty, params_.frequency_penalty, history.generated);

  // 2. Temperature (1 for greedy), in double.
  const double inv_t = params_.greedy() ? 1.0 : 1.0 / static_cast<double>(params_.temperature);
  work_.resize(V);
  for (size_t i = 0; i < V; ++i) work_[i] = static_cast<double>(penalized_[i]) * inv_t;

  // Unnormalised probabilities relative to the most likely token, computed once: the most likely
  // token survives every truncation below, so these serve top_p, min_p and the draw as well.
  double zmax = kNegInf;
  for (double z : work_) zmax = std::max(zmax, z);
  if (zmax == kNegInf) fail("logits", "no token has a finite logit");
  weights_.resize(V);
  double sum = 0;
  for (size_t i = 0; i < V; ++i) sum += (weights_[i] = std::exp(work_[i] - zmax));
  // Reported logprobs: over the whole vocabulary, before truncation.
  const double lse = zmax + std::log(sum);
  auto logprob_of = [&](size_t i) { return static_cast<float>(work_[i] - lse); };

  SampledToken out;
  if (top_logprobs > 0) {
    std::vector<float> lp(V);
    for (size_t i = 0; i < V; ++i) lp[i] = logprob_of(i);
    out.top = top_n(lp, top_logprobs);
  }

  if (params_.greedy()) {
    size_t best = 0;
    for (size_t i = 1; i < V; ++i) {
      if (work_[i] > work_[best]) best = i;  // strict: the lowest id wins a tie
    }
    out.id = static_cast<int32_t>(best);
    out.logprob = logprob_of(best);
    return out;
  }

  // Candidates: the tokens with a finite logit, in id order.
  candidates_.clear();
  for (size_t i = 0; i < V; ++i) {
    if (work_[i] != kNegInf) candidates_.push_back(static_cast<int32_t>(i));
  }
  auto by_logit_desc = [&](int32_t a, int32_t b) { return work_[a] != work_[b] ? work_[a] > work_[b] : a < b; };

  // 3. top_k: keep everything >= the k-th largest logit (ties at the boundary survive).
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size()) {
    // Select on a contiguous copy of the values: much faster than through the ids.
    values_.resize(candidates_.size());
    for (size_t i = 0; i < candidates_.size(); ++i) values_[i] = work_[candidates_[i]];
    const auto kth = values_.begin() + (params_.top_k - 1);
    std::nth_element(values_.begin(), kth, values_.end(), std::greater<double>());
    const double threshold = *kth;
    std::erase_if(candidates_, [&](int32_t id) { return work_[id] < threshold; });
  }

  // 4. top_p over the (renormalised) survivors: the shortest most-likely-first prefix whose mass
  // reaches top_p. Only that prefix needs sorting; grow the sorted part until it is covered
  // (a full sort of a 150k vocabulary would cost more than the rest of the sampler).
  if (params_.top_p < 1.0f) {
    double total = 0;
    for (int32_t id : candidates_) total += weights_[id];
    const double target = static_cast<double>(params_.top_p) * total;
    // Sort in growing chunks: [0, sorted) holds the best candidates in order; nth_element brings
    // the next chunk to the front of the rest.
    const size_t n = candidates_.size();
    size_t sorted = 0;
    size_t keep = 0;
    double before = 0;
    for (size_t chunk = 64;; chunk *= 2) {
      const auto lo = candidates_.begin() + static_cast<std::ptrdiff_t>(sorted);
      const auto hi = candidates_.begin() + static_cast<std::ptrdiff_t>(std::min(n, sorted + chunk));
      if (hi != candidates_.end()) std::nth_element(lo, hi, candidates_.end(), by_logit_desc);
      std::sort(lo, hi, by_logit_desc);
      sorted = static_cast<size_t>(hi - candidates_.begin());
      while (keep < sorted && (keep == 0 || before < target)) before += weights_[candidates_[keep++]];
      if (keep < sorted || before >= target || sorted == n) break;
    }
    candidates_.resize(keep);
  }

  // 5. min_p: p / p_max = weight / max weight, independent of the normalisation.
  if (params_.min_p > 0.0f) {
    double wmax = 0;
    for (int32_t id : candidates_) wmax = std::max(wmax, weights_[id]);
    const double cut = static_cast<double>(params_.min_p) * wmax;
    std::erase_if(candidates_, [&](int32_t id) { return weights_[id] < cut; });
  }

  // 6. Draw by inverse CDF over the survivors (in id order, or most likely first after top_p).
  double total = 0;
  for (int32_t id : candidates_) total += weights_[id];
  const double u = (given ? *given : uniform()) * total;
  double cum = 0;
  int32_t chosen = candidates_.back();
  for (int32_t id : candidates_) {
    cum += weights_[id];
    if (u < cum) {
      chosen = id;
      break;
    }
  }
  out.id = chosen;
  out.logprob = logprob_of(static_cast<size_t>(chosen));
  return out;
}

}  // namespace nova::engine
