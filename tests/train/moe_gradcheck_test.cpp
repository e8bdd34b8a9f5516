// Finite-difference checks of the MoE layer: router (through the top-k weights, with and without
// norm_topk_prob, and through the load-balancing loss), routed experts, shared expert and its
// sigmoid gate; and the load-balancing loss value against a direct transcription of
// transformers' load_balancing_loss_func.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "gradcheck_util.h"
#include "train/layers/moe.h"

namespace nova::train {
namespace {

using test::expect_grad_matches;
using test::project;
using test::random_vector;

struct MoeCase {
  MoeShape shape;
  std::vector<std::vector<float>> w, g;  // router, experts (gate, up, down)..., shared (gate, up, down, gate_w)
  MoeParams params;

  MoeCase(bool norm_topk, bool shared) {
    shape = {8, 6, 4, 2, norm_topk, shared ? 5 : 0};
    const int64_t H = shape.hidden, I = shape.inter, E = shape.experts, S = shape.shared_inter;
    uint32_t seed = 100;
    w.push_back(random_vector(E * H, seed++, 1.0f));  // a wide router: well separated top-k
    for (int64_t e = 0; e < E; ++e) {
      w.push_back(random_vector(I * H, seed++, 0.4f));
      w.push_back(random_vector(I * H, seed++, 0.4f));
      w.push_back(random_vector(H * I, seed++, 0.4f));
    }
    if (shared) {
      w.push_back(random_vector(S * H, seed++, 0.4f));
      w.push_back(random_vector(S * H, seed++, 0.4f));
      w.push_back(random_vector(H * S, seed++, 0.4f));
      w.push_back(random_vector(H, seed++, 0.5f));
    }
    for (auto& t : w) g.emplace_back(t.size(), 0.0f);
    auto v = [&](size_t i) { return ParamView{w[i].data(), g[i].data()}; };
    params.router = v(0);
    for (int64_t e = 0; e < E; ++e) {
      FfnParams f;
      f.gate_w = v(1 + 3 * e);
      f.up_w = v(2 + 3 * e);
      f.down_w = v(3 + 3 * e);
      params.experts.push_back(f);
    }
    if (shared) {
      const size_t b = 1 + 3 * E;
      params.shared.gate_w = v(b);
      params.shared.up_w = v(b + 1);
      params.shared.down_w = v(b + 2);
      params.shared_gate = v(b + 3);
    }
  }
};

void check_moe(bool norm_topk, bool shared, double aux_coef, float r_scale = 1.0f) {
  MoeCase mc(norm_topk, shared);
  const MoeShape& s = mc.shape;
  const int64_t M = 6, H = s.hidden;
  std::vector<float> x = random_vector(M * H, 40), r = random_vector(M * H, 41, r_scale), y(M * H);
  MoeActs acts;
  std::vector<double> dprob;
  auto loss = [&] {
    moe_forward(y.data(), acts, x.data(), M, s, mc.params);
    const double aux = load_balancing_loss({acts.stats}, s.experts, aux_coef, dprob);
    return project(r, y.data()) + aux_coef * aux;
  };
  loss();
  const std::vector<int32_t> routing = acts.top_expert;
  std::vector<float> dx(M * H, 0.0f);
  moe_backward(dx.data(), r.data(), x.data(), acts, M, s, mc.params, aux_coef != 0 ? dprob.data() : nullptr);
  const std::string what = std::string("moe norm_topk=") + (norm_topk ? "1" : "0") + " shared=" +
                           (shared ? "1" : "0") + " aux=" + std::to_string(aux_coef) + " ";
  // A small step: the expert choice must not change under the perturbation.
  const double h = 2e-3;
  if (r_scale != 0.0f) expect_grad_matches(what + "x", x.data(), dx.data(), M * H, loss, h);
  for (size_t i = 0; i < mc.w.size(); ++i) {
    if (r_scale == 0.0f && i > 0) continue;  // aux only: nothing reaches the experts
    expect_grad_matches(what + "param " + std::to_string(i), mc.w[i].data(), mc.g[i].data(),
                        int64_t(mc.w[i].size()), loss, h);
  }
  loss();
  EXPECT_EQ(acts.top_expert, routing) << "routing changed during the check";
}

TEST(MoeGradcheck, RenormalisedTopK) { check_moe(true, false, 0.0); }
TEST(MoeGradcheck, RawTopKWithSharedExpert) { check_moe(false, true, 0.0); }
TEST(MoeGradcheck, AuxLossGradientReachesRouter) {
  check_moe(true, false, 0.5);
  check_moe(false, true, 0.5);
  check_moe(true, false, 0.5, 0.0f);  // the aux loss alone: its gradient is all the router gets
  check_moe(false, false, 0.5, 0.0f);
}

// transformers' load_balancing_loss_func, transcribed literally on the concatenated router
// logits of all layers: softmax, top-k, one_hot mask [N, k, E], means over N, sum, * E.
double reference_aux(const std::vector<std::vector<float>>& probs_per_layer, int64_t E, int64_t k) {
  std::vector<std::vector<float>> rows;
  for (const auto& p : probs_per_layer)
    for (size_t r = 0; r < p.size() / E; ++r) rows.emplace_back(p.begin() + r * E, p.begin() + (r + 1) * E);
  const double N = double(rows.size());
  std::vector<std::vector<double>> tokens_per_expert(k, std::vector<double>(E, 0.0));
  std::vector<double> prob_per_expert(E, 0.0);
  for (const auto& p : rows) {
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    for (int64_t i = 0; i < k; ++i) tokens_per_expert[i][order[i]] += 1.0 / N;
    for (int64_t e = 0; e < E; ++e) prob_per_expert[e] += p[e] / N;
  }
  double sum = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t e = 0; e < E; ++e) sum += tokens_per_expert[i][e] * prob_per_expert[e];
  return sum * double(E);
}

TEST(MoeAuxLoss, MatchesLoadBalancingLossFunc) {
  MoeCase mc(true, false);
  const MoeShape& s = mc.shape;
  std::vector<RouterStats> stats;
  std::vector<std::vector<float>> probs;
  for (int layer = 0; layer < 2; ++layer) {
    const int64_t M = 5 + layer;  // layers of different row counts are still one concatenation
    std::vector<float> x = random_vector(M * s.hidden, 50 + layer), y(M * s.hidden);
    MoeActs acts;
    moe_forward(y.data(), acts, x.data(), M, s, mc.params);
    stats.push_back(acts.stats);
    probs.push_back(acts.probs);
  }
  std::vector<double> dprob;
  const double aux = load_balancing_loss(stats, s.experts, 1.0, dprob);
  EXPECT_NEAR(aux, reference_aux(probs, s.experts, s.top_k), 1e-12);
  EXPECT_GT(aux, 0.0);
  EXPECT_EQ(load_balancing_loss({}, s.experts, 1.0, dprob), 0.0);
}

}  // namespace
}  // namespace nova::train
