#include "engine/beam_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/error.h"
#include "engine/generate.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

using test::ToySession;

std::vector<double> log_softmax(const std::vector<float>& l) {
  double m = *std::max_element(l.begin(), l.end());
  double s = 0;
  for (float v : l) s += std::exp(v - m);
  std::vector<double> out;
  for (float v : l) out.push_back(v - m - std::log(s));
  return out;
}

TEST(BeamSearch, OneBeamWithoutEosIsGreedy) {
  for (uint64_t salt : {1, 2, 3}) {
    ToySession a(30, 4096, test::markov_logits(salt));
    ToySession b(30, 4096, test::markov_logits(salt));
    BeamSearchRequest r;
    r.prompt = {5, 6};
    r.max_tokens = 12;
    r.num_beams = 1;
    GenerationRequest g;
    g.prompt = r.prompt;
    g.max_tokens = 12;
    g.sampling.temperature = 0;
    const auto beam = beam_search(a, r);
    ASSERT_EQ(beam.sequences.size(), 1u);
    EXPECT_EQ(beam.sequences[0].tokens, generate(b, nullptr, g).tokens);
    EXPECT_FALSE(beam.sequences[0].ended_with_eos);
  }
}

struct Scored {
  std::vector<int32_t> tokens;
  double score;
};

// Every sequence of at most L generated tokens that ends at L or at its first EOS, scored like
// HF: sum of logprobs / generated_length^length_penalty. Best first.
std::vector<Scored> exhaustive(const ToySession& model, const std::vector<int32_t>& prompt, int L, int32_t eos,
                               double length_penalty) {
  std::vector<Scored> all;
  std::vector<int32_t> cur;
  std::function<void(double)> rec = [&](double sum) {
    std::vector<int32_t> history = prompt;
    history.insert(history.end(), cur.begin(), cur.end());
    const auto lp = log_softmax(model.logits_after(history));
    for (int32_t t = 0; t < model.vocab_size(); ++t) {
      cur.push_back(t);
      const double s = sum + lp[t];
      if (t == eos || static_cast<int>(cur.size()) == L) {
        all.push_back({cur, s / std::pow(static_cast<double>(cur.size()), length_penalty)});
      } else {
        rec(s);
      }
      cur.pop_back();
    }
  };
  rec(0);
  std::stable_sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  return all;
}

TEST(BeamSearch, WideBeamEqualsExhaustiveSearchWithLengthPenalty) {
  const int vocab = 4;
  const int32_t eos = 0;
  const int L = 3;
  for (uint64_t salt : {7, 8, 9, 10}) {
    for (float lp : {1.0f, 0.0f, -0.7f, 2.5f}) {
      ToySession model(vocab, 64, test::markov_logits(salt, 2.0f));
      const std::vector<int32_t> prompt = {1, 2};
      const auto expect = exhaustive(model, prompt, L, eos, lp);
      BeamSearchRequest r;
      r.prompt = prompt;
      r.max_tokens = L;
      r.num_beams = 64;  // >= every possible hypothesis: nothing is pruned
      r.num_return_sequences = 5;
      r.length_penalty = lp;
      r.eos_token_ids = {eos};
      const auto got = beam_search(model, r);
      ASSERT_EQ(got.sequences.size(), 5u);
      for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(got.sequences[i].tokens, expect[i].tokens) << "salt " << salt << " lp " << lp << " rank " << i;
        EXPECT_NEAR(got.sequences[i].score, expect[i].score, 1e-9);
        EXPECT_EQ(got.sequences[i].ended_with_eos, got.sequences[i].tokens.back() == eos);
      }
      EXPECT_EQ(model.length(), 2);  // the caller's session holds only the prompt
    }
  }
}

// A model where greedy is a trap: token 1 looks best first, but everything after it is flat,
// while token 2 leads to a near-certain continuation.
void trap_logits(std::span<const int32_t> h, std::span<float> out) {
  std::fill(out.begin(), out.end(), 0.0f);
  const int32_t last = h.back();
  if (h.size() == 1) {  // after the prompt
    out[1] = 2.0f;
    out[2] = 1.6f;
  } else if (last == 2) {
    out[3] = 10.0f;
  } else if (last == 3) {
    out[0] = 10.0f;  // EOS
  }
}

TEST(BeamSearch, FindsTheBetterSequenceGreedyMisses) {
  ToySession model(5, 64, trap_logits);
  BeamSearchRequest r;
  r.prompt = {4};
  r.max_tokens = 3;
  r.num_beams = 2;
  r.eos_token_ids = {0};
  const auto res = beam_search(model, r);
  const auto best = exhaustive(model, r.prompt, 3, 0, 1.0);
  EXPECT_EQ(res.sequences[0].tokens, (std::vector<int32_t>{2, 3, 0}));
  EXPECT_EQ(res.sequences[0].tokens, best[0].tokens);
  EXPECT_TRUE(res.sequences[0].ended_with_eos);

  ToySession g(5, 64, trap_logits);
  GenerationRequest gr;
  gr.prompt = {4};
  gr.max_tokens = 3;
  gr.sampling.temperature = 0;
  EXPECT_EQ(generate(g, nullptr, gr).tokens[0], 1);  // greedy takes the trap
}

TEST(BeamSearch, EarlyStoppingModesAllReturnValidHypotheses) {
  for (auto mode : {EarlyStopping::kHeuristic, EarlyStopping::kOnFull, EarlyStopping::kNever}) {
    ToySession model(12, 256, test::markov_logits(3, 4.0f));
    BeamSearchRequest r;
    r.prompt = {1};
    r.max_tokens = 10;
    r.num_beams = 3;
    r.num_return_sequences = 3;
    r.eos_token_ids = {0, 5};
    r.early_stopping = mode;
    const auto res = beam_search(model, r);
    ASSERT_EQ(res.sequences.size(), 3u);
    for (size_t i = 0; i < res.sequences.size(); ++i) {
      const auto& h = res.sequences[i];
      ASSERT_FALSE(h.tokens.empty());
      EXPECT_LE(h.tokens.size(), 10u);
      if (i > 0) {
        EXPECT_GE(res.sequences[i - 1].score, h.score);
      }
      // Score recomputed from the model by hand.
      std::vector<int32_t> history = r.prompt;
      double sum = 0;
      for (size_t k = 0; k < h.tokens.size(); ++k) {
        sum += log_softmax(model.logits_after(history))[h.tokens[k]];
        history.push_back(h.tokens[k]);
        if (k + 1 < h.tokens.size()) {
          EXPECT_TRUE(h.tokens[k] != 0 && h.tokens[k] != 5);
        }
      }
      EXPECT_NEAR(h.sum_logprobs, sum, 1e-9);
      EXPECT_NEAR(h.score, sum / static_cast<double>(h.tokens.size()), 1e-9);
      EXPECT_EQ(h.ended_with_eos, h.tokens.back() == 0 || h.tokens.back() == 5);
    }
  }
}

TEST(BeamSearch, RejectsBadRequests) {
  ToySession model(5, 8, trap_logits);
  BeamSearchRequest r;
  r.prompt = {4};
  r.max_tokens = 3;
  r.num_beams = 2;
  EXPECT_NO_THROW(beam_search(model, r));
  auto bad = [&](auto edit) {
    ToySession m(5, 8, trap_logits);
    BeamSearchRequest q = r;
    edit(q);
    EXPECT_THROW(beam_search(m, q), Error);
  };
  bad([](BeamSearchRequest& q) { q.prompt = {}; });
  bad([](BeamSearchRequest& q) { q.prompt = {5}; });
  bad([](BeamSearchRequest& q) { q.num_beams = 0; });
  bad([](BeamSearchRequest& q) { q.max_tokens = 0; });
  bad([](BeamSearchRequest& q) { q.num_return_sequences = 3; });
  bad([](BeamSearchRequest& q) { q.eos_token_ids = {9}; });
  bad([](BeamSearchRequest& q) { q.max_tokens = 9; });  // does not fit the 8-token session
}

}  // namespace
}  // namespace nova::engine
