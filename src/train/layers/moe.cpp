#include "train/layers/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/thread_pool.h"
#include "train/layers/linear.h"

namespace nova::train {

namespace {

// Softmax and top-k per row, in the inference kernel's float arithmetic (kernels/cpu/moe_routing).
void route(MoeActs& a, const float* logits, int64_t rows, const MoeShape& s) {
  const int64_t E = s.experts, K = s.top_k;
  a.probs.resize(static_cast<size_t>(rows * E));
  a.top_expert.resize(static_cast<size_t>(rows * K));
  a.top_weight.resize(static_cast<size_t>(rows * K));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t r = 0; r < rows; ++r) {
    const float* l = logits + r * E;
    float* p = a.probs.data() + r * E;
    const float mx = *std::max_element(l, l + E);
    float sum = 0.0f;
    for (int64_t e = 0; e < E; ++e) {
      p[e] = std::exp(l[e] - mx);
      sum += p[e];
    }
    for (int64_t e = 0; e < E; ++e) p[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + K, order.end(),
                      [&](int32_t x, int32_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    float top_sum = 0.0f;
    for (int64_t i = 0; i < K; ++i) top_sum += p[order[i]];
    for (int64_t i = 0; i < K; ++i) {
      a.top_expert[r * K + i] = order[i];
      a.top_weight[r * K + i] = s.norm_topk_prob ? p[order[i]] / top_sum : p[order[i]];
    }
  }
}

}  // namespace

void moe_forward(float* out, MoeActs& a, const float* x, int64_t rows, const MoeShape& s, const MoeParams& p) {
  const int64_t H = s.hidden, E = s.experts, K = s.top_k;
  std::vector<float> logits(static_cast<size_t>(rows * E));
  linear_forward(logits.data(), x, p.router.value, nullptr, rows, H, E);
  route(a, logits.data(), rows, s);

  a.stats.rows = rows;
  a.stats.choice_count.assign(static_cast<size_t>(E), 0.0);
  a.stats.prob_sum.assign(static_cast<size_t>(E), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t e = 0; e < E; ++e) a.stats.prob_sum[e] += a.probs[r * E + e];

  std::fill(out, out + rows * H, 0.0f);
  a.per_expert.resize(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {  // experts in index order, as transformers accumulates them
    MoeActs::Expert& ex = a.per_expert[e];
    ex.rows.clear();
    ex.slots.clear();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < K; ++i)
        if (a.top_expert[r * K + i] == e) {
          ex.rows.push_back(static_cast<int32_t>(r));
          ex.slots.push_back(static_cast<int32_t>(r * K + i));
        }
    const int64_t n = static_cast<int64_t>(ex.rows.size());
    a.stats.choice_count[e] = static_cast<double>(n);
    ex.x.resize(static_cast<size_t>(n * H));
    ex.y.resize(static_cast<size_t>(n * H));
    if (n == 0) continue;
    for (int64_t i = 0; i < n; ++i) std::copy_n(x + ex.rows[i] * H, H, ex.x.data() + i * H);
    ffn_forward(ex.y.data(), ex.ffn, ex.x.data(), n, H, s.inter, p.experts[e]);
    for (int64_t i = 0; i < n; ++i) {
      float* o = out + ex.rows[i] * H;
      const float* y = ex.y.data() + i * H;
      const float w = a.top_weight[ex.slots[i]];
      for (int64_t j = 0; j < H; ++j) o[j] += w * y[j];
    }
  }
  if (s.shared_inter > 0) {
    a.shared_out.resize(static_cast<size_t>(rows * H));
    a.shared_logit.resize(static_cast<size_t>(rows));
    ffn_forward(a.shared_out.data(), a.shared_ffn, x, rows, H, s.shared_inter, p.shared);
    linear_forward(a.shared_logit.data(), x, p.shared_gate.value, nullptr, rows, H, 1);
    for (int64_t r = 0; r < rows; ++r) {
      const float g = 1.0f / (1.0f + std::exp(-a.shared_logit[r]));
      float* o = out + r * H;
      const float* sh = a.shared_out.data() + r * H;
      for (int64_t j = 0; j < H; ++j) o[j] += g * sh[j];
    }
  }
}

void moe_backward(float* dx, const float* dout, const float* x, const MoeActs& a, int64_t rows, const MoeShape& s,
                  const MoeParams& p, const double* dprob) {
  const int64_t H = s.hidden, E = s.experts, K = s.top_k;
  std::vector<float> dweight(static_cast<size_t>(rows * K), 0.0f);
  std::vector<float> dy, dxe;
  for (int64_t e = 0; e < E; ++e) {
    const MoeActs::Expert& ex = a.per_expert[e];
    const int64_t n = static_cast<int64_t>(ex.rows.size());
    if (n == 0) continue;
    dy.assign(static_cast<size_t>(n * H), 0.0f);
    dxe.assign(static_cast<size_t>(n * H), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      const float* g = dout + ex.rows[i] * H;
      const float* y = ex.y.data() + i * H;
      const float w = a.top_weight[ex.slots[i]];
      double dw = 0.0;
      for (int64_t j = 0; j < H; ++j) {
        dw += static_cast<double>(g[j]) * y[j];
        dy[i * H + j] = w * g[j];
      }
      dweight[ex.slots[i]] = static_cast<float>(dw);
    }
    ffn_backward(dx ? dxe.data() : nullptr, dy.data(), ex.x.data(), ex.ffn, n, H, s.inter, p.experts[e]);
    if (dx)
      for (int64_t i = 0; i < n; ++i) {
        float* d = dx + ex.rows[i] * H;
        const float* src = dxe.data() + i * H;
        for (int64_t j = 0; j < H; ++j) d[j] += src[j];
      }
  }

  // Routing weights -> router probabilities -> router logits.
  std::vector<float> dlogits(static_cast<size_t>(rows * E));
  std::vector<double> dp(static_cast<size_t>(E));
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = a.probs.data() + r * E;
    for (int64_t e = 0; e < E; ++e) dp[e] = dprob ? dprob[e] : 0.0;
    const float* w = a.top_weight.data() + r * K;
    const float* dw = dweight.data() + r * K;
    if (s.norm_topk_prob) {
      // w_i = p_i / S, S = sum of the top-k p: dp_i = (dw_i - sum_j dw_j w_j) / S.
      double top_sum = 0.0, wdw = 0.0;
      for (int64_t i = 0; i < K; ++i) {
        top_sum += pr[a.top_expert[r * K + i]];
        wdw += static_cast<double>(dw[i]) * w[i];
      }
      for (int64_t i = 0; i < K; ++i) dp[a.top_expert[r * K + i]] += (dw[i] - wdw) / top_sum;
    } else {
      for (int64_t i = 0; i < K; ++i) dp[a.top_expert[r * K + i]] += dw[i];
    }
    double pdp = 0.0;
    for (int64_t e = 0; e < E; ++e) pdp += pr[e] * dp[e];
    for (int64_t e = 0; e < E; ++e) dlogits[r * E + e] = static_cast<float>(pr[e] * (dp[e] - pdp));
  }
  linear_backward(dx, p.router.grad, nullptr, dlogits.data(), x, p.router.value, rows, H, E);

  if (s.shared_inter > 0) {
    std::vector<float> dsh(static_cast<size_t>(rows * H)), dlogit(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const float g = 1.0f / (1.0f + std::exp(-a.shared_logit[r]));
      const float* d = dout + r * H;
      const float* sh = a.shared_out.data() + r * H;
      double dg = 0.0;
      for (int64_t j = 0; j < H; ++j) {
        dg += static_cast<double>(d[j]) * sh[j];
        dsh[r * H + j] = g * d[j];
      }
      dlogit[r] = static_cast<float>(dg * g * (1.0f - g));
    }
    ffn_backward(dx, dsh.data(), x, a.shared_ffn, rows, H, s.shared_inter, p.shared);
    linear_backward(dx, p.shared_gate.grad, nullptr, dlogit.data(), x, p.shared_gate.value, rows, H, 1);
  }
}

double load_balancing_loss(const std::vector<RouterStats>& layers, int64_t experts, double scale,
                           std::vector<double>& dprob) {
  dprob.assign(static_cast<size_t>(experts), 0.0);
  std::vector<double> count(static_cast<size_t>(experts), 0.0), psum(static_cast<size_t>(experts), 0.0);
  double n = 0.0;
  for (const RouterStats& st : layers) {
    if (st.rows == 0) continue;
    n += static_cast<double>(st.rows);
    for (int64_t e = 0; e < experts; ++e) {
      count[e] += st.choice_count[e];
      psum[e] += st.prob_sum[e];
    }
  }
  if (n == 0.0) return 0.0;
  const double E = static_cast<double>(experts);
  double loss = 0.0;
  for (int64_t e = 0; e < experts; ++e) {
    loss += (count[e] / n) * (psum[e] / n);
    dprob[e] = scale * E * count[e] / (n * n);
  }
  return E * loss;
}

}  // namespace nova::train
