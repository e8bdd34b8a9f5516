// Finite-difference checks of every layer's backward against its forward, on small random
// shapes: embedding, rmsnorm (and the per-head qk-norm), linear with bias, rope (partial),
// attention (GQA, sliding window), swiglu, SwiGLU FFN, cross-entropy (ignore_index).
#include <gtest/gtest.h>

#include "core/error.h"
#include "gradcheck_util.h"
#include "model/rope_frequencies.h"
#include "train/layers/attention.h"
#include "train/layers/cross_entropy.h"
#include "train/layers/embedding.h"
#include "train/layers/ffn.h"
#include "train/layers/linear.h"
#include "train/layers/rmsnorm.h"
#include "train/layers/rope.h"
#include "train/layers/swiglu.h"

namespace nova::train {
namespace {

using test::expect_grad_matches;
using test::project;
using test::random_vector;

TEST(LayerGradcheck, Embedding) {
  const int64_t V = 7, C = 5, n = 9;
  std::vector<int32_t> ids = {3, 1, 3, 6, 0, 3, 2, 1, 6};  // repeats accumulate
  std::vector<float> table = random_vector(V * C, 1), r = random_vector(n * C, 2), out(n * C);
  auto loss = [&] {
    embedding_forward(out.data(), ids.data(), n, table.data(), C);
    return project(r, out.data());
  };
  std::vector<float> dtable(V * C, 0.0f);
  embedding_backward(dtable.data(), r.data(), ids.data(), n, C);
  expect_grad_matches("embedding table", table.data(), dtable.data(), V * C, loss, 1e-2);
  EXPECT_EQ(dtable[5 * C], 0.0f);  // id 5 never read
}

void check_rmsnorm(int64_t groups, int64_t dim, const char* what) {
  std::vector<float> x = random_vector(groups * dim, 3), w = random_vector(dim, 4, 0.5f);
  for (float& v : w) v += 1.0f;
  std::vector<float> r = random_vector(groups * dim, 5), y(groups * dim), rstd(groups);
  auto loss = [&] {
    rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), groups, dim, 1e-5f);
    return project(r, y.data());
  };
  loss();
  std::vector<float> dx(groups * dim, 0.0f), dw(dim, 0.0f);
  rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), groups, dim);
  expect_grad_matches(std::string(what) + " x", x.data(), dx.data(), groups * dim, loss, 1e-2);
  expect_grad_matches(std::string(what) + " w", w.data(), dw.data(), dim, loss, 1e-2);
}

TEST(LayerGradcheck, RmsNorm) { check_rmsnorm(6, 24, "rmsnorm"); }
// Qwen3's per-head q/k norm: [rows * heads, head_dim] groups sharing one [head_dim] weight.
TEST(LayerGradcheck, QkNormPerHead) { check_rmsnorm(5 * 3, 8, "qk-norm"); }

TEST(LayerGradcheck, LinearWithBias) {
  const int64_t M = 37, K = 19, N = 23;  // odd sizes: matmul edge tiles, GEMM path (M > 16)
  for (int64_t rows : {M, int64_t{3}}) {  // and the GEMV path
    std::vector<float> x = random_vector(rows * K, 6), w = random_vector(N * K, 7, 0.3f), b = random_vector(N, 8);
    std::vector<float> r = random_vector(rows * N, 9), y(rows * N);
    auto loss = [&] {
      linear_forward(y.data(), x.data(), w.data(), b.data(), rows, K, N);
      return project(r, y.data());
    };
    std::vector<float> dx(rows * K, 0.0f), dw(N * K, 0.0f), db(N, 0.0f);
    linear_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), rows, K, N);
    expect_grad_matches("linear x", x.data(), dx.data(), rows * K, loss, 1e-2);
    expect_grad_matches("linear w", w.data(), dw.data(), N * K, loss, 1e-2);
    expect_grad_matches("linear b", b.data(), db.data(), N, loss, 1e-2);
  }
}

TEST(LayerGradcheck, RopePartialRotary) {
  formats::ModelConfig c;
  c.head_dim = 8;
  c.rope.theta = 10000.0;
  c.rope.partial_rotary_factor = 0.5;  // rotate 4 of 8 features; the rest pass through
  c.max_position_embeddings = 64;
  const model::RopeFrequencies f = model::rope_frequencies(c, 6);
  const int64_t rows = 6, heads = 3, D = 8, half = static_cast<int64_t>(f.inv_freq.size());
  ASSERT_EQ(half, 2);
  std::vector<float> cos(rows * half), sin(rows * half);
  model::rope_table(f, 3, rows, cos.data(), sin.data());
  std::vector<float> x = random_vector(rows * heads * D, 10), r = random_vector(rows * heads * D, 11), y;
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), rows, heads, D, cos.data(), sin.data(), half);
    return project(r, y.data());
  };
  std::vector<float> dx = r;
  rope_backward(dx.data(), rows, heads, D, cos.data(), sin.data(), half);
  expect_grad_matches("rope x", x.data(), dx.data(), rows * heads * D, loss, 1e-2);
  EXPECT_EQ(dx[7], r[7]);  // a pass-through feature
}

TEST(LayerGradcheck, AttentionGqaSlidingWindow) {
  for (int64_t window : {int64_t{0}, int64_t{3}}) {
    AttentionShape s;
    s.B = 2;
    s.T = 7;
    s.q_heads = 4;
    s.kv_heads = 2;
    s.head_dim = 6;
    s.window = window;
    s.scale = 0.4f;
    const int64_t nq = s.B * s.T * s.q_heads * s.head_dim, nkv = s.B * s.T * s.kv_heads * s.head_dim;
    std::vector<float> q = random_vector(nq, 12), k = random_vector(nkv, 13), v = random_vector(nkv, 14);
    std::vector<float> r = random_vector(nq, 15), out(nq), probs(s.probs_size());
    auto loss = [&] {
      attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), s);
      return project(r, out.data());
    };
    loss();
    if (window > 0) {  // row t = 5 of (b 0, h 0) sees only j in [3, 5]
      EXPECT_EQ(probs[5 * s.T + 2], 0.0f);
      EXPECT_GT(probs[5 * s.T + 3], 0.0f);
    }
    std::vector<float> dq(nq), dk(nkv), dv(nkv);
    attention_backward(dq.data(), dk.data(), dv.data(), r.data(), probs.data(), q.data(), k.data(), v.data(), s);
    const std::string w = " window " + std::to_string(window);
    expect_grad_matches("attention q" + w, q.data(), dq.data(), nq, loss, 1e-2);
    expect_grad_matches("attention k" + w, k.data(), dk.data(), nkv, loss, 1e-2);
    expect_grad_matches("attention v" + w, v.data(), dv.data(), nkv, loss, 1e-2);
  }
}

TEST(LayerGradcheck, Swiglu) {
  const int64_t n = 50;
  std::vector<float> g = random_vector(n, 16, 2.0f), u = random_vector(n, 17), r = random_vector(n, 18), y(n);
  auto loss = [&] {
    swiglu_forward(y.data(), g.data(), u.data(), n);
    return project(r, y.data());
  };
  std::vector<float> dg(n), du(n);
  swiglu_backward(dg.data(), du.data(), r.data(), g.data(), u.data(), n);
  expect_grad_matches("swiglu gate", g.data(), dg.data(), n, loss, 1e-2);
  expect_grad_matches("swiglu up", u.data(), du.data(), n, loss, 1e-2);
}

TEST(LayerGradcheck, SwigluFfnWithBias) {
  const int64_t M = 5, H = 8, I = 12;
  std::vector<float> x = random_vector(M * H, 19);
  std::vector<std::vector<float>> w = {random_vector(I * H, 20, 0.4f), random_vector(I, 21),
                                       random_vector(I * H, 22, 0.4f), random_vector(I, 23),
                                       random_vector(H * I, 24, 0.4f), random_vector(H, 25)};
  std::vector<std::vector<float>> g;
  for (auto& t : w) g.emplace_back(t.size(), 0.0f);
  FfnParams p;
  ParamView* views[] = {&p.gate_w, &p.gate_b, &p.up_w, &p.up_b, &p.down_w, &p.down_b};
  for (size_t i = 0; i < 6; ++i) *views[i] = {w[i].data(), g[i].data()};
  std::vector<float> r = random_vector(M * H, 26), y(M * H);
  FfnActs acts;
  auto loss = [&] {
    ffn_forward(y.data(), acts, x.data(), M, H, I, p);
    return project(r, y.data());
  };
  loss();
  std::vector<float> dx(M * H, 0.0f);
  ffn_backward(dx.data(), r.data(), x.data(), acts, M, H, I, p);
  expect_grad_matches("ffn x", x.data(), dx.data(), M * H, loss, 1e-2);
  const char* names[] = {"gate_w", "gate_b", "up_w", "up_b", "down_w", "down_b"};
  for (size_t i = 0; i < 6; ++i)
    expect_grad_matches(std::string("ffn ") + names[i], w[i].data(), g[i].data(), int64_t(w[i].size()), loss, 1e-2);
}

TEST(LayerGradcheck, CrossEntropyWithIgnoreIndex) {
  const int64_t rows = 6, V = 11;
  std::vector<int32_t> targets = {3, kIgnoreIndex, 0, 10, kIgnoreIndex, 7};
  std::vector<float> logits = random_vector(rows * V, 27, 3.0f);
  auto loss = [&] {
    const CrossEntropySum s = cross_entropy_forward(logits.data(), targets.data(), rows, V);
    return s.loss_sum / double(s.count);
  };
  const CrossEntropySum s = cross_entropy_forward(logits.data(), targets.data(), rows, V);
  EXPECT_EQ(s.count, 4);
  std::vector<float> d(rows * V);
  cross_entropy_backward(d.data(), logits.data(), targets.data(), rows, V, 1.0f / 4);
  expect_grad_matches("cross-entropy logits", logits.data(), d.data(), rows * V, loss, 1e-2);
  for (int64_t j = 0; j < V; ++j) EXPECT_EQ(d[1 * V + j], 0.0f);  // ignored row

  // The value itself against a direct computation of one row.
  double lse = 0;
  for (int64_t j = 0; j < V; ++j) lse += std::exp(double(logits[j]));
  const CrossEntropySum one = cross_entropy_forward(logits.data(), targets.data(), 1, V);
  EXPECT_NEAR(one.loss_sum, std::log(lse) - logits[3], 1e-6);

  std::vector<int32_t> bad = {V};
  EXPECT_THROW(cross_entropy_forward(logits.data(), bad.data(), 1, V), nova::Error);
}

}  // namespace
}  // namespace nova::train
