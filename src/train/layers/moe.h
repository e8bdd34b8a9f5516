// Mixture-of-experts feed-forward (Mixtral, Qwen2-MoE), forward and backward:
//   p = softmax(x Wr^T);  top-k experts by p (ties to the lower index), weights w = p (or
//   p / sum of the top-k p when norm_topk_prob);  out = sum_k w_k FFN_{e_k}(x)
//   (+ sigmoid(x Wg^T) * FFN_shared(x) with a Qwen2-MoE shared expert).
// The gradient flows through the routing weights into the router (the choice of experts is
// piecewise constant), and optionally from the load-balancing loss (see load_balancing_loss).
#pragma once

#include <cstdint>
#include <vector>

#include "train/layers/ffn.h"
#include "train/param_store.h"

namespace nova::train {

struct MoeShape {
  int64_t hidden = 0, inter = 0, experts = 0, top_k = 0;
  bool norm_topk_prob = true;
  int64_t shared_inter = 0;  // 0: no shared expert
};

struct MoeParams {
  ParamView router;                // [experts, hidden]
  std::vector<FfnParams> experts;  // no biases
  FfnParams shared;                // shared_inter > 0 only
  ParamView shared_gate;           // [1, hidden]
};

// One MoE layer's load-balancing statistics over a forward: how often each expert was chosen
// (over rows and top-k slots) and the column sums of the router probabilities.
struct RouterStats {
  int64_t rows = 0;
  std::vector<double> choice_count, prob_sum;  // [experts]
};

struct MoeActs {
  std::vector<float> probs;           // [rows, experts] router softmax
  std::vector<int32_t> top_expert;    // [rows, top_k]
  std::vector<float> top_weight;      // [rows, top_k]
  struct Expert {
    std::vector<int32_t> rows;        // token rows routed here, ascending
    std::vector<int32_t> slots;       // index into top_expert/top_weight for each row
    std::vector<float> x, y;          // gathered inputs and expert outputs [n, hidden]
    FfnActs ffn;
  };
  std::vector<Expert> per_expert;
  FfnActs shared_ffn;
  std::vector<float> shared_out;      // [rows, hidden] before the gate
  std::vector<float> shared_logit;    // [rows]
  RouterStats stats;
};

// x [rows, hidden] -> out [rows, hidden] (written).
void moe_forward(float* out, MoeActs& acts, const float* x, int64_t rows, const MoeShape& s, const MoeParams& p);
// dx += (null: skipped); parameter grads accumulate. `dprob` [experts] (or null) is added to the
// gradient of every row's router probability p[r, e] (the load-balancing loss' gradient).
void moe_backward(float* dx, const float* dout, const float* x, const MoeActs& acts, int64_t rows, const MoeShape& s,
                  const MoeParams& p, const double* dprob);

// transformers' load_balancing_loss_func over the router outputs of all MoE layers taken as one
// batch of N = sum of rows: experts * sum_e (count_e / N) * (prob_sum_e / N), where count_e counts
// the top-k choices of e and prob_sum_e sums p[:, e]. Layers with rows == 0 are skipped. Returns the loss and writes its gradient
// with respect to each p[n, e] (the same for every row n) times `scale` into dprob [experts].
double load_balancing_loss(const std::vector<RouterStats>& layers, int64_t experts, double scale,
                           std::vector<double>& dprob);

}  // namespace nova::train
