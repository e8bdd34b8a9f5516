#include "train/layers/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace nova::train {

namespace {
int64_t window_start(int64_t t, int64_t window) { return window > 0 ? std::max<int64_t>(0, t - window + 1) : 0; }

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
}  // namespace

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  const int64_t T = s.T, Hq = s.q_heads, Hkv = s.kv_heads, D = s.head_dim, G = Hq / Hkv;
  // One unit = one (sequence, q head, query row).
  ThreadPool::global().parallel_for(s.B * Hq * T, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t t = u % T, h = (u / T) % Hq, b = u / (T * Hq);
      const int64_t kh = h / G;
      const float* qr = q + ((b * T + t) * Hq + h) * D;
      float* p = probs + u * T;
      const int64_t lo = window_start(t, s.window);
      std::fill(p, p + lo, 0.0f);
      std::fill(p + t + 1, p + T, 0.0f);
      float mx = -INFINITY;
      for (int64_t j = lo; j <= t; ++j) {
        p[j] = dot(qr, k + ((b * T + j) * Hkv + kh) * D, D) * s.scale;
        mx = std::max(mx, p[j]);
      }
      float sum = 0.0f;
      for (int64_t j = lo; j <= t; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += p[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t j = lo; j <= t; ++j) p[j] *= inv;
      float* o = out + ((b * T + t) * Hq + h) * D;
      std::fill(o, o + D, 0.0f);
      for (int64_t j = lo; j <= t; ++j) {
        const float* vr = v + ((b * T + j) * Hkv + kh) * D;
        const float pj = p[j];
        for (int64_t d = 0; d < D; ++d) o[d] += pj * vr[d];
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, T * D)));
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                        const float* k, const float* v, const AttentionShape& s) {
  const int64_t T = s.T, Hq = s.q_heads, Hkv = s.kv_heads, D = s.head_dim, G = Hq / Hkv;
  // One unit = one (sequence, kv head): it owns that head's dk/dv rows and its G q heads' dq rows,
  // so no two threads ever write the same element.
  ThreadPool::global().parallel_for(s.B * Hkv, [&](int64_t begin, int64_t end) {
    std::vector<float> dp(static_cast<size_t>(T));
    for (int64_t u = begin; u < end; ++u) {
      const int64_t kh = u % Hkv, b = u / Hkv;
      for (int64_t j = 0; j < T; ++j) {
        std::fill_n(dk + ((b * T + j) * Hkv + kh) * D, D, 0.0f);
        std::fill_n(dv + ((b * T + j) * Hkv + kh) * D, D, 0.0f);
      }
      for (int64_t h = kh * G; h < (kh + 1) * G; ++h) {
        for (int64_t t = 0; t < T; ++t) {
          const int64_t lo = window_start(t, s.window);
          const float* p = probs + ((b * Hq + h) * T + t) * T;
          const float* go = dout + ((b * T + t) * Hq + h) * D;
          const float* qr = q + ((b * T + t) * Hq + h) * D;
          float* gq = dq + ((b * T + t) * Hq + h) * D;
          // dP_j = dout . v_j;  dS_j = P_j (dP_j - sum_i P_i dP_i).
          float pdp = 0.0f;
          for (int64_t j = lo; j <= t; ++j) {
            const int64_t kv = ((b * T + j) * Hkv + kh) * D;
            dp[j] = dot(go, v + kv, D);
            pdp += p[j] * dp[j];
            float* gv = dv + kv;
            for (int64_t d = 0; d < D; ++d) gv[d] += p[j] * go[d];
          }
          std::fill_n(gq, D, 0.0f);
          for (int64_t j = lo; j <= t; ++j) {
            const float ds = p[j] * (dp[j] - pdp) * s.scale;
            const int64_t kv = ((b * T + j) * Hkv + kh) * D;
            const float* kr = k + kv;
            float* gk = dk + kv;
            for (int64_t d = 0; d < D; ++d) {
              gq[d] += ds * kr[d];
              gk[d] += ds * qr[d];
            }
          }
        }
      }
    }
  }, 1);
}

}  // namespace nova::train
