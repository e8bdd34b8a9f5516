#include "train/layers/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "train/layers/vec_math.h"
#include "train/step_profile.h"

namespace nova::train {

namespace {
using kernels::cpu::gemm_f32;

// Query rows per block: each block's products cover keys [lo(r0), r1) only, so the causal
// triangle costs about (1 + kRowBlock / T) times its own FLOPs instead of the full square.
constexpr int64_t kRowBlock = 64;

int64_t window_start(int64_t t, int64_t window) { return window > 0 ? std::max<int64_t>(0, t - window + 1) : 0; }

// Per-thread scratch that only grows (dS of one row block in the backward).
std::vector<float>& scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}
}  // namespace

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s) {
  PhaseScope scope(Phase::AttnFwd);
  const int64_t T = s.T, Hq = s.q_heads, Hkv = s.kv_heads, D = s.head_dim, G = Hq / Hkv;
  // One unit = one (sequence, q head); the products inside run serially on the unit's thread.
  ThreadPool::global().parallel_for(s.B * Hq, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t h = u % Hq, b = u / Hq, kh = h / G;
      float* P = probs + u * T * T;
      for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
        const int64_t r1 = std::min(T, r0 + kRowBlock), c0 = window_start(r0, s.window);
        // S[r0:r1, c0:r1] = q_h[r0:r1] . k_kh[c0:r1]^T, written into P's rows.
        gemm_f32({.M = r1 - r0, .N = r1 - c0, .K = D, .A = q + ((b * T + r0) * Hq + h) * D, .lda = Hq * D,
                  .B = k + ((b * T + c0) * Hkv + kh) * D, .ldb = Hkv * D, .trans_b = true,
                  .C = P + r0 * T + c0, .ldc = T});
        for (int64_t t = r0; t < r1; ++t) {
          float* p = P + t * T;
          const int64_t lo = window_start(t, s.window);
          std::fill(p, p + lo, 0.0f);
          std::fill(p + t + 1, p + T, 0.0f);
          float mx = -INFINITY;
          for (int64_t j = lo; j <= t; ++j) mx = std::max(mx, p[j]);
          // scale > 0, so the max of the scaled scores is scale * mx.
          const double sum = exp_scaled_sum(p + lo, t + 1 - lo, s.scale, mx * s.scale);
          const float inv = static_cast<float>(1.0 / sum);
          for (int64_t j = lo; j <= t; ++j) p[j] *= inv;
        }
        // out_h[r0:r1] = P[r0:r1, c0:r1] . v_kh[c0:r1]
        gemm_f32({.M = r1 - r0, .N = D, .K = r1 - c0, .A = P + r0 * T + c0, .lda = T,
                  .B = v + ((b * T + c0) * Hkv + kh) * D, .ldb = Hkv * D, .C = out + ((b * T + r0) * Hq + h) * D,
                  .ldc = Hq * D});
      }
    }
  }, 1);
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                        const float* k, const float* v, const AttentionShape& s) {
  PhaseScope scope(Phase::AttnBwd);
  const int64_t T = s.T, Hq = s.q_heads, Hkv = s.kv_heads, D = s.head_dim, G = Hq / Hkv;
  // One unit = one (sequence, kv head): it owns that head's dk/dv rows and its G q heads' dq rows,
  // so no two threads ever write the same element.
  ThreadPool::global().parallel_for(s.B * Hkv, [&](int64_t begin, int64_t end) {
    std::vector<float>& ds_buf = scratch(static_cast<size_t>(kRowBlock * T));
    float* dS = ds_buf.data();
    for (int64_t u = begin; u < end; ++u) {
      const int64_t kh = u % Hkv, b = u / Hkv;
      for (int64_t j = 0; j < T; ++j) {
        std::fill_n(dk + ((b * T + j) * Hkv + kh) * D, D, 0.0f);
        std::fill_n(dv + ((b * T + j) * Hkv + kh) * D, D, 0.0f);
      }
      for (int64_t h = kh * G; h < (kh + 1) * G; ++h) {
        const float* P = probs + (b * Hq + h) * T * T;
        for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
          const int64_t r1 = std::min(T, r0 + kRowBlock), c0 = window_start(r0, s.window), n = r1 - c0;
          const float* go = dout + ((b * T + r0) * Hq + h) * D;
          const float* kb = k + ((b * T + c0) * Hkv + kh) * D;
          const float* qb = q + ((b * T + r0) * Hq + h) * D;
          // dP = dout_h[r0:r1] . v_kh[c0:r1]^T  (into dS, ld n)
          gemm_f32({.M = r1 - r0, .N = n, .K = D, .A = go, .lda = Hq * D, .B = v + ((b * T + c0) * Hkv + kh) * D,
                    .ldb = Hkv * D, .trans_b = true, .C = dS, .ldc = n});
          // dS_j = P_j (dP_j - sum_i P_i dP_i) * scale; P is 0 outside the window, so is dS.
          for (int64_t t = r0; t < r1; ++t) {
            const float* p = P + t * T + c0;
            float* d = dS + (t - r0) * n;
            float pdp = 0.0f;
            for (int64_t j = 0; j < n; ++j) pdp += p[j] * d[j];
            for (int64_t j = 0; j < n; ++j) d[j] = p[j] * (d[j] - pdp) * s.scale;
          }
          // dq_h[r0:r1] = dS . k_kh[c0:r1]
          gemm_f32({.M = r1 - r0, .N = D, .K = n, .A = dS, .lda = n, .B = kb, .ldb = Hkv * D,
                    .C = dq + ((b * T + r0) * Hq + h) * D, .ldc = Hq * D});
          // dk_kh[c0:r1] += dS^T . q_h[r0:r1];  dv_kh[c0:r1] += P[r0:r1, c0:r1]^T . dout_h[r0:r1]
          gemm_f32({.M = n, .N = D, .K = r1 - r0, .A = dS, .lda = n, .trans_a = true, .B = qb, .ldb = Hq * D,
                    .C = dk + ((b * T + c0) * Hkv + kh) * D, .ldc = Hkv * D, .accumulate = true});
          gemm_f32({.M = n, .N = D, .K = r1 - r0, .A = P + r0 * T + c0, .lda = T, .trans_a = true, .B = go,
                    .ldb = Hq * D, .C = dv + ((b * T + c0) * Hkv + kh) * D, .ldc = Hkv * D, .accumulate = true});
        }
      }
    }
  }, 1);
}

}  // namespace nova::train
