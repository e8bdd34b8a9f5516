#include "engine/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "core/error.h"

namespace nova::engine {
namespace {

struct Beam {
  std::unique_ptr<model::Session> session;  // holds everything but `pending`
  std::vector<int32_t> tokens;              // generated so far
  double score = 0;                         // summed logprobs
  bool has_pending = false;                 // tokens.back() still has to go through the model
};

struct Candidate {
  double score;
  int beam;
  int32_t token;
};

bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.beam != b.beam) return a.beam < b.beam;
  return a.token < b.token;
}

void validate(const BeamSearchRequest& r, const model::Session& s) {
  const int vocab = s.vocab_size();
  require(!r.prompt.empty(), "prompt", "must not be empty");
  require(r.max_tokens >= 1, "max_tokens", "must be >= 1 for beam search, got " + std::to_string(r.max_tokens));
  require(r.num_beams >= 1, "num_beams", "must be >= 1, got " + std::to_string(r.num_beams));
  require(std::isfinite(r.length_penalty), "length_penalty", "must be finite");
  require(r.num_return_sequences >= 1 && r.num_return_sequences <= r.num_beams, "num_return_sequences",
          "must be in [1, num_beams], got " + std::to_string(r.num_return_sequences));
  require(r.prefill_chunk > 0, "prefill_chunk", "must be > 0");
  auto check_ids = [&](const std::vector<int32_t>& ids, const char* field) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        fail(std::string(field) + "[" + std::to_string(i) + "]",
             "token id " + std::to_string(ids[i]) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
      }
    }
  };
  check_ids(r.prompt, "prompt");
  check_ids(r.eos_token_ids, "eos_token_ids");
  const int64_t need = s.length() + static_cast<int64_t>(r.prompt.size()) + r.max_tokens - 1;
  require(need <= s.capacity(), "max_tokens",
          "prompt + max_tokens needs " + std::to_string(need) + " positions, the session holds " +
              std::to_string(s.capacity()));
}

// log_softmax in double.
void log_softmax(const std::vector<float>& logits, std::vector<double>& out) {
  out.resize(logits.size());
  double m = -std::numeric_limits<double>::infinity();
  for (float v : logits) m = std::max(m, static_cast<double>(v));
  double s = 0;
  for (float v : logits) s += std::exp(static_cast<double>(v) - m);
  const double lse = m + std::log(s);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

}  // namespace

BeamSearchResult beam_search(model::Session& session, const BeamSearchRequest& request) {
  validate(request, session);
  const int vocab = session.vocab_size();
  const int num_beams = request.num_beams;
  const size_t keep = static_cast<size_t>(std::max<size_t>(2, 1 + request.eos_token_ids.size()) * num_beams);
  auto is_eos = [&](int32_t t) {
    return std::find(request.eos_token_ids.begin(), request.eos_token_ids.end(), t) != request.eos_token_ids.end();
  };

  std::vector<float> logits;
  const auto prompt_len = static_cast<int64_t>(request.prompt.size());
  for (int64_t begin = 0; begin < prompt_len; begin += request.prefill_chunk) {
    const int64_t n = std::min<int64_t>(request.prefill_chunk, prompt_len - begin);
    session.forward(std::span<const int32_t>(request.prompt).subspan(begin, n), logits);
  }

  std::vector<Beam> running(1);
  running[0].session = session.fork();
  std::vector<float> first_logits = logits;  // the initial beam's logits come from the prefill

  std::vector<BeamHypothesis> finished;  // best first, at most num_beams
  bool improvement_possible = true;      // HF's sticky early-stop heuristic
  std::vector<double> logprobs;
  std::vector<Candidate> per_beam;

  for (int step = 0; step < request.max_tokens; ++step) {
    const int gen_len = step + 1;
    // Score every (beam, token); the global best `keep` are among each beam's best `keep`.
    std::vector<Candidate> cands;
    for (size_t b = 0; b < running.size(); ++b) {
      Beam& beam = running[b];
      if (beam.has_pending) {
        beam.session->forward(std::span<const int32_t>(&beam.tokens.back(), 1), logits);
        beam.has_pending = false;
      } else {
        logits = first_logits;
      }
      if (logits.size() != static_cast<size_t>(vocab)) fail("model", "returned logits of the wrong size");
      log_softmax(logits, logprobs);
      per_beam.clear();
      for (int t = 0; t < vocab; ++t) per_beam.push_back({beam.score + logprobs[t], static_cast<int>(b), t});
      const size_t n = std::min(keep, per_beam.size());
      std::partial_sort(per_beam.begin(), per_beam.begin() + n, per_beam.end(), better);
      cands.insert(cands.end(), per_beam.begin(), per_beam.begin() + n);
    }
    const size_t n = std::min(keep, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + n, cands.end(), better);
    cands.resize(n);
    auto hits_stop = [&](const Candidate& c) { return is_eos(c.token) || gen_len >= request.max_tokens; };

    // Finished hypotheses: only from the first num_beams candidates, and only while they can matter.
    const bool full = finished.size() == static_cast<size_t>(num_beams);
    const bool closed = (full && request.early_stopping == EarlyStopping::kOnFull) || !improvement_possible;
    if (!closed) {
      const double norm = std::pow(static_cast<double>(gen_len), static_cast<double>(request.length_penalty));
      for (size_t i = 0; i < std::min(cands.size(), static_cast<size_t>(num_beams)); ++i) {
        const Candidate& c = cands[i];
        if (!hits_stop(c)) continue;
        BeamHypothesis h;
        h.tokens = running[c.beam].tokens;
        h.tokens.push_back(c.token);
        h.sum_logprobs = c.score;
        h.score = c.score / norm;
        h.ended_with_eos = is_eos(c.token);
        // Insert after any equal score: earlier hypotheses win ties.
        auto at = std::upper_bound(finished.begin(), finished.end(), h.score,
                                   [](double s, const BeamHypothesis& x) { return s > x.score; });
        finished.insert(at, std::move(h));
        if (finished.size() > static_cast<size_t>(num_beams)) finished.pop_back();
      }
    }

    // The next beams: the best num_beams candidates that go on. A parent's session moves to its
    // last child and is forked for the others.
    std::vector<const Candidate*> next;
    for (const Candidate& c : cands) {
      if (next.size() == static_cast<size_t>(num_beams)) break;
      if (!hits_stop(c)) next.push_back(&c);
    }
    std::vector<int> children(running.size(), 0);
    for (const Candidate* c : next) ++children[c->beam];
    std::vector<Beam> next_running;
    for (const Candidate* c : next) {
      Beam& parent = running[c->beam];
      Beam child;
      child.session = --children[c->beam] == 0 ? std::move(parent.session) : parent.session->fork();
      child.tokens = parent.tokens;
      child.tokens.push_back(c->token);
      child.score = c->score;
      child.has_pending = true;
      next_running.push_back(std::move(child));
    }
    running = std::move(next_running);
    if (running.empty()) break;

    // Could the best running beam still beat the worst kept hypothesis?
    const bool now_full = finished.size() == static_cast<size_t>(num_beams);
    if (now_full) {
      const int hyp_len = request.early_stopping == EarlyStopping::kNever && request.length_penalty > 0
                              ? request.max_tokens
                              : gen_len;
      const double best_possible =
          running.front().score / std::pow(static_cast<double>(hyp_len), static_cast<double>(request.length_penalty));
      improvement_possible = improvement_possible && best_possible > finished.back().score;
    }
    if (!improvement_possible) break;
    if (now_full && request.early_stopping == EarlyStopping::kOnFull) break;
  }

  BeamSearchResult result;
  finished.resize(std::min(finished.size(), static_cast<size_t>(request.num_return_sequences)));
  result.sequences = std::move(finished);
  return result;
}

}  // namespace nova::engine
