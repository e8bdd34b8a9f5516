// AVX2 + FMA exp (compiled with -mavx2 -mfma; called only on CPUs that have them). No shared
// inline helpers or std:: templates here, for the reason given in kernels/cpu/matmul_avx2.cpp.
//
// exp(x) = 2^k * exp(r), k = round(x / ln2), r = x - k ln2 in [-ln2/2, ln2/2] (ln2 split in a
// high and a low part so r is exact to float precision), exp(r) by a degree-6 Taylor polynomial
// (truncation error < 2e-8 relative on that interval), 2^k built in the exponent bits.
#include <immintrin.h>

#include <cmath>

#include "train/layers/vec_math.h"

namespace nova::train::detail {

namespace {
inline __m256 exp8(__m256 x) {
  const __m256 kMax = _mm256_set1_ps(88.72283935546875f), kMin = _mm256_set1_ps(-87.3365447504f);
  const __m256 too_small = _mm256_cmp_ps(x, kMin, _CMP_LT_OQ);
  const __m256 too_big = _mm256_cmp_ps(x, kMax, _CMP_GT_OQ);
  // Operand order keeps NaN: min/max return their second operand when either is NaN.
  x = _mm256_min_ps(kMax, x);
  x = _mm256_max_ps(kMin, x);
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // k in [-126, 128): 2^k as float bits; k = 128 only for x near the top clamp, split in two.
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256i half = _mm256_srai_epi32(ki, 1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  const __m256 s2 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ki, half), _mm256_set1_epi32(127)), 23));
  const __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  // exp of anything below the float range is 0, above it infinity.
  return _mm256_blendv_ps(_mm256_andnot_ps(too_small, y), _mm256_set1_ps(__builtin_inff()), too_big);
}

// sigmoid(g) = 1 / (1 + exp(-g)).
inline __m256 sigmoid8(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

// Loads / stores of the first `rest` < 8 floats (the tail of a row), zero-padded.
inline __m256 load_part(const float* p, int64_t rest) {
  alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t j = 0; j < rest; ++j) t[j] = p[j];
  return _mm256_load_ps(t);
}
inline void store_part(float* p, __m256 v, int64_t rest) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  for (int64_t j = 0; j < rest; ++j) p[j] = t[j];
}
}  // namespace

void swiglu_rows_avx2(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t rest = n - i < 8 ? n - i : 8;
    const __m256 g = rest == 8 ? _mm256_loadu_ps(gate + i) : load_part(gate + i, rest);
    const __m256 u = rest == 8 ? _mm256_loadu_ps(up + i) : load_part(up + i, rest);
    const __m256 y = _mm256_mul_ps(_mm256_mul_ps(g, sigmoid8(g)), u);
    if (rest == 8) _mm256_storeu_ps(out + i, y);
    else store_part(out + i, y, rest);
  }
}

void swiglu_grad_rows_avx2(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                           int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t rest = n - i < 8 ? n - i : 8;
    const bool full = rest == 8;
    const __m256 g = full ? _mm256_loadu_ps(gate + i) : load_part(gate + i, rest);
    const __m256 u = full ? _mm256_loadu_ps(up + i) : load_part(up + i, rest);
    const __m256 d = full ? _mm256_loadu_ps(dout + i) : load_part(dout + i, rest);
    const __m256 sig = sigmoid8(g);
    const __m256 du = _mm256_mul_ps(d, _mm256_mul_ps(g, sig));
    const __m256 dg =
        _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, u), sig), _mm256_fmadd_ps(g, _mm256_sub_ps(one, sig), one));
    if (full) {
      _mm256_storeu_ps(dup + i, du);
      _mm256_storeu_ps(dgate + i, dg);
    } else {
      store_part(dup + i, du, rest);
      store_part(dgate + i, dg, rest);
    }
  }
}

namespace {
}  // namespace

double exp_scaled_sum_avx2(float* x, int64_t n, float scale, float shift) {
  const __m256 vs = _mm256_set1_ps(scale), vshift = _mm256_set1_ps(shift);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vshift));
    _mm256_storeu_ps(x + i, e);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  if (i < n) {  // the tail through the same vector code, padded
    alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t rest = n - i;
    for (int64_t j = 0; j < rest; ++j) tail[j] = x[i + j];
    _mm256_store_ps(tail, exp8(_mm256_fmsub_ps(_mm256_load_ps(tail), vs, vshift)));
    for (int64_t j = 0; j < rest; ++j) {
      x[i + j] = tail[j];
      s += tail[j];
    }
  }
  return s;
}

}  // namespace nova::train::detail
