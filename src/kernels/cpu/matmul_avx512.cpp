// AVX-512 kernels (16 fp32 lanes, 32 zmm registers). Compiled with -mavx512{f,bw,vl,dq,bf16}
// -mfma -mf16c; only called when the CPU has all of them. Everything here is in an anonymous
// namespace so that no inline function compiled for this ISA leaks to another TU at link time.
//
// bf16 weights are widened to fp32 exactly (shift left 16) rather than multiplied with
// vdpbf16ps, which would round x to bf16 too; f16 weights go through vcvtph2ps. All products
// and sums are fp32, so results differ from the fp64 reference only by fp32 rounding.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (an undefined vector), which it
// then reports as uninitialised wherever they are inlined (GCC PR 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"


#include "kernels/cpu/matmul_detail.h"

namespace nova::kernels::cpu::detail {

namespace {

// No std:: templates or shared inline helpers here: a weak (COMDAT) copy of one compiled with
// this file's ISA flags could be the copy the linker keeps for the whole program, and then run
// on a CPU without that ISA. Everything below has internal linkage.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

template <DType T>
constexpr int64_t kElemBytes = T == DType::F32 ? 4 : 2;

inline float bf16_bits_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// A per-thread scratch buffer that only grows.
struct Scratch {
  float* data = nullptr;
  size_t size = 0;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { delete[] data; }
  float* get(size_t n) {
    if (n > size) {
      delete[] data;
      data = new float[n];
      size = n;
    }
    return data;
  }
};
inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }  // n in [0, 16]

template <DType T>
inline __m512 widen16(__m256i h) {
  if constexpr (T == DType::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}

template <DType T>
inline __m512 load16(const void* W, int64_t i) {
  if constexpr (T == DType::F32) return _mm512_loadu_ps(static_cast<const float*>(W) + i);
  else return widen16<T>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(W) + i)));
}

// Loads only the lanes in `mask`; masked-off lanes read no memory and come back zero.
template <DType T>
inline __m512 load16_masked(const void* W, int64_t i, __mmask16 mask) {
  if constexpr (T == DType::F32) return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(W) + i);
  else return widen16<T>(_mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(W) + i));
}

template <DType T>
inline __m256 load8(const void* W, int64_t i) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(W) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(W) + i));
    if constexpr (T == DType::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else return _mm256_cvtph_ps(h);
  }
}

template <DType T>
inline float load1(const void* W, int64_t i) {
  if constexpr (T == DType::F32) return static_cast<const float*>(W)[i];
  else if constexpr (T == DType::BF16) return bf16_bits_to_f32(static_cast<const uint16_t*>(W)[i]);
  else return _cvtsh_ss(static_cast<const uint16_t*>(W)[i]);
}

// Horizontal sum (not _mm512_reduce_add_ps: GCC 12 warns about its internals at -O3).
inline float hsum(__m512 v) {
  const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));
  const __m256 h = _mm512_castps512_ps256(t);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- GEMV: MR rows of x against NR rows of W, W streamed once -------------------------------

constexpr int64_t kPrefetchBytes = 1024;

// acc[m][r] += x[m, k..k+16) * W[n + r, k..k+16) lane-wise.
template <DType T, int MR, int NR>
inline void gemv_step(const MatmulProblem& p, const float* x, int64_t n, int64_t k, __m512 (&acc)[MR][NR]) {
  const int64_t K = p.K;
  __m512 w[NR];
  #pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) w[r] = load16<T>(p.W, (n + r) * K + k);
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    const __m512 xv = _mm512_loadu_ps(x + m * K + k);
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) acc[m][r] = _mm512_fmadd_ps(xv, w[r], acc[m][r]);
  }
}

template <DType T, int MR, int NR>
inline void gemv_tile(const MatmulProblem& p, int64_t m0, int64_t n) {
  const int64_t K = p.K;
  const float* x = p.x + m0 * K;
  __m512 acc[MR][NR];
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) acc[m][r] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  // One iteration per 64-byte line of each W row, with one prefetch per line and row.
  constexpr int64_t kLine = 64 / kElemBytes<T>;
  for (; k + kLine <= K; k += kLine) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
      _mm_prefetch(static_cast<const char*>(p.W) + ((n + r) * K + k) * kElemBytes<T> + kPrefetchBytes, _MM_HINT_T0);
    for (int64_t u = 0; u < kLine; u += 16) gemv_step<T, MR, NR>(p, x, n, k + u, acc);
  }
  for (; k + 16 <= K; k += 16) gemv_step<T, MR, NR>(p, x, n, k, acc);
  if (k < K) {
    const __mmask16 mask = tail_mask(K - k);
    __m512 w[NR];
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) w[r] = load16_masked<T>(p.W, (n + r) * K + k, mask);
    #pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + m * K + k);
      #pragma GCC unroll 16
      for (int r = 0; r < NR; ++r) acc[m][r] = _mm512_fmadd_ps(xv, w[r], acc[m][r]);
    }
  }
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) p.y[(m0 + m) * p.N + n + r] = hsum(acc[m][r]);
  }
}

template <DType T, int MR>
void gemv_rows(const MatmulProblem& p, int64_t m0, int64_t n0, int64_t n1) {
  constexpr int NR = 4;  // up to 16 accumulators + 4 weights + 1 x of the 32 zmm
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) gemv_tile<T, MR, NR>(p, m0, n);
  for (; n < n1; ++n) gemv_tile<T, MR, 1>(p, m0, n);
}

// Rows of x in groups of up to four against blocks of four rows of W: a block is read from
// DRAM by the first group and from cache by the others, so W is streamed once for any M.
template <DType T>
void gemv(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  constexpr int64_t kRowBlock = 4;
  for (int64_t n = n0; n < n1; n += kRowBlock) {
    const int64_t n_end = imin(n1, n + kRowBlock);
    for (int64_t m = m0; m < m1; m += 4) {
      switch (imin(4, m1 - m)) {
        case 1: gemv_rows<T, 1>(p, m, n, n_end); break;
        case 2: gemv_rows<T, 2>(p, m, n, n_end); break;
        case 3: gemv_rows<T, 3>(p, m, n, n_end); break;
        default: gemv_rows<T, 4>(p, m, n, n_end); break;
      }
    }
  }
}

// ---- GEMM: W packed to fp32 panels [kb][32], 12x32 register tile -----------------------------

constexpr int kMR = 12;        // rows of x per register tile: 24 accumulators
constexpr int kNR = 32;        // columns (rows of W) per panel: 2 zmm
constexpr int64_t kKB = 256;   // k per block: one panel is 32 KiB
constexpr int64_t kNB = 128;   // columns packed at once: 4 panels, 128 KiB

inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// panel[k][j] = W[n + j, k0 + k] as fp32 for k < kb, j < valid; columns from `valid` on are zero.
template <DType T>
void pack_panel(const MatmulProblem& p, int64_t n, int64_t valid, int64_t k0, int64_t kb, float* panel) {
  const int64_t K = p.K;
  int64_t k = 0;
  if (valid == kNR) {
    for (; k + 8 <= kb; k += 8)
      for (int j0 = 0; j0 < kNR; j0 += 8) {
        __m256 r[8];
        #pragma GCC unroll 16
        for (int j = 0; j < 8; ++j) r[j] = load8<T>(p.W, (n + j0 + j) * K + k0 + k);
        transpose8(r);
        #pragma GCC unroll 16
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (k + i) * kNR + j0, r[i]);
      }
  }
  for (; k < kb; ++k)
    for (int j = 0; j < kNR; ++j) panel[k * kNR + j] = j < valid ? load1<T>(p.W, (n + j) * K + k0 + k) : 0.0f;
}

// x is one tile from pack_x. y[0..MR, 0..32) (+)= x[0..MR, 0..kb) . panel; only the first `cols` columns are touched.
template <int MR>
void micro_tile(int64_t kb, const float* x, const float* panel, float* y, int64_t ldy, bool accumulate, int64_t cols) {
  __m512 c0[MR], c1[MR];
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) c0[m] = c1[m] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kb; ++k) {
    const __m512 b0 = _mm512_loadu_ps(panel + k * kNR), b1 = _mm512_loadu_ps(panel + k * kNR + 16);
    #pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m512 a = _mm512_set1_ps(x[k * kMR + m]);
      c0[m] = _mm512_fmadd_ps(a, b0, c0[m]);
      c1[m] = _mm512_fmadd_ps(a, b1, c1[m]);
    }
  }
  const __mmask16 mask0 = tail_mask(imin(cols, 16));
  const __mmask16 mask1 = tail_mask(imax(cols - 16, 0));
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    float* out = y + m * ldy;
    if (accumulate) {
      c0[m] = _mm512_add_ps(c0[m], _mm512_maskz_loadu_ps(mask0, out));
      c1[m] = _mm512_add_ps(c1[m], _mm512_maskz_loadu_ps(mask1, out + 16));
    }
    _mm512_mask_storeu_ps(out, mask0, c0[m]);
    _mm512_mask_storeu_ps(out + 16, mask1, c1[m]);
  }
}

using MicroFn = void (*)(int64_t, const float*, const float*, float*, int64_t, bool, int64_t);
constexpr MicroFn kMicro[kMR + 1] = {nullptr,        micro_tile<1>, micro_tile<2>,  micro_tile<3>, micro_tile<4>,
                                     micro_tile<5>,  micro_tile<6>, micro_tile<7>,  micro_tile<8>, micro_tile<9>,
                                     micro_tile<10>, micro_tile<11>, micro_tile<12>};

// x[m0..m1, k0..k0+kb) as tiles of kMR rows, each [kb][kMR] (rows past m1 zero), so the
// micro-kernel reads x sequentially instead of kMR rows K floats apart (which alias in L1).
void pack_x(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t k0, int64_t kb, float* out) {
  for (int64_t m = m0; m < m1; m += kMR) {
    const int64_t rows = imin(kMR, m1 - m);
    float* tile = out + (m - m0) * kb;
    for (int64_t i = 0; i < kMR; ++i) {
      if (i < rows) {
        const float* src = p.x + (m + i) * p.K + k0;
        for (int64_t k = 0; k < kb; ++k) tile[k * kMR + i] = src[k];
      } else {
        for (int64_t k = 0; k < kb; ++k) tile[k * kMR + i] = 0.0f;
      }
    }
  }
}

template <DType T>
void gemm(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  // Heap scratch per thread (not static TLS arrays, which every thread of the process would carry).
  static thread_local Scratch packed_buffer, xpack_buffer;
  const int64_t K = p.K, m_tiles = (m1 - m0 + kMR - 1) / kMR;
  float* packed = packed_buffer.get(size_t(kNB * kKB));
  float* xpack = xpack_buffer.get(size_t(m_tiles * kMR * kKB));
  for (int64_t k0 = 0; k0 < K; k0 += kKB) {
    const int64_t kb = imin(kKB, K - k0);
    pack_x(p, m0, m1, k0, kb, xpack);
    for (int64_t nb = n0; nb < n1; nb += kNB) {
      const int64_t nb_end = imin(n1, nb + kNB);
      for (int64_t n = nb; n < nb_end; n += kNR)
        pack_panel<T>(p, n, imin(kNR, nb_end - n), k0, kb, packed + (n - nb) * kb);
      for (int64_t m = m0; m < m1; m += kMR) {
        const int64_t mr = imin(kMR, m1 - m);
        for (int64_t n = nb; n < nb_end; n += kNR)
          kMicro[mr](kb, xpack + (m - m0) * kb, packed + (n - nb) * kb, p.y + m * p.N + n, p.N, k0 > 0,
                     imin(kNR, nb_end - n));
      }
    }
  }
}

}  // namespace

void gemv_avx512(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (p.w_dtype) {
    case DType::F32: return gemv<DType::F32>(p, m0, m1, n0, n1);
    case DType::BF16: return gemv<DType::BF16>(p, m0, m1, n0, n1);
    default: return gemv<DType::F16>(p, m0, m1, n0, n1);
  }
}

void gemm_avx512(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (p.w_dtype) {
    case DType::F32: return gemm<DType::F32>(p, m0, m1, n0, n1);
    case DType::BF16: return gemm<DType::BF16>(p, m0, m1, n0, n1);
    default: return gemm<DType::F16>(p, m0, m1, n0, n1);
  }
}

}  // namespace nova::kernels::cpu::detail
