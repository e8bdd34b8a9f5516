// AVX2 + FMA + F16C kernels (8 fp32 lanes, 16 ymm registers). Compiled with -mavx2 -mfma -mf16c;
// only called when the CPU has them. Everything here is in an anonymous namespace so that no
// inline function compiled for this ISA can be picked by the linker for another TU.
//
// Weights are widened to fp32 exactly (bf16: shift left 16; f16: vcvtph2ps) and multiplied in
// fp32, so results differ from the fp64 reference only by fp32 rounding of the sums.
#include <immintrin.h>

#include "kernels/cpu/matmul_detail.h"

namespace nova::kernels::cpu::detail {

namespace {

// No std:: templates or shared inline helpers here: a weak (COMDAT) copy of one compiled with
// this file's ISA flags could be the copy the linker keeps for the whole program, and then run
// on a CPU without that ISA. Everything below has internal linkage.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

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

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- GEMV: MR rows of x against NR rows of W, W streamed once -------------------------------

// Bytes ahead of the current position to prefetch in each row of W.
constexpr int64_t kPrefetchBytes = 512;

// acc[m][r] += x[m, k..k+8) * W[n + r, k..k+8) lane-wise.
template <DType T, int MR, int NR>
inline void gemv_step(const MatmulProblem& p, const float* x, int64_t n, int64_t k, __m256 (&acc)[MR][NR]) {
  const int64_t K = p.K;
  __m256 w[NR];
  #pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) w[r] = load8<T>(p.W, (n + r) * K + k);
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    const __m256 xv = _mm256_loadu_ps(x + m * K + k);
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) acc[m][r] = _mm256_fmadd_ps(xv, w[r], acc[m][r]);
  }
}

template <DType T, int MR, int NR>
inline void gemv_tile(const MatmulProblem& p, int64_t m0, int64_t n) {
  const int64_t K = p.K;
  const float* x = p.x + m0 * K;
  __m256 acc[MR][NR];
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) acc[m][r] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  // One iteration per 64-byte line of each W row, with one prefetch per line and row.
  constexpr int64_t kLine = 64 / kElemBytes<T>;
  for (; k + kLine <= K; k += kLine) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r)
      _mm_prefetch(static_cast<const char*>(p.W) + ((n + r) * K + k) * kElemBytes<T> + kPrefetchBytes, _MM_HINT_T0);
    for (int64_t u = 0; u < kLine; u += 8) gemv_step<T, MR, NR>(p, x, n, k + u, acc);
  }
  for (; k + 8 <= K; k += 8) gemv_step<T, MR, NR>(p, x, n, k, acc);
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    #pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      float s = hsum(acc[m][r]);
      for (int64_t kk = k; kk < K; ++kk) s += x[m * K + kk] * load1<T>(p.W, (n + r) * K + kk);
      p.y[(m0 + m) * p.N + n + r] = s;
    }
  }
}

template <DType T, int MR>
void gemv_rows(const MatmulProblem& p, int64_t m0, int64_t n0, int64_t n1) {
  // 16 ymm registers: MR*NR accumulators + NR weights + one x.
  constexpr int NR = MR <= 2 ? 4 : 2;
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

// ---- GEMM: W packed to fp32 panels [kb][16], 6x16 register tile ------------------------------

constexpr int kMR = 6;         // rows of x per register tile
constexpr int kNR = 16;        // columns (rows of W) per panel: 2 ymm
constexpr int64_t kKB = 256;   // k per block: one panel is 16 KiB
constexpr int64_t kNB = 128;   // columns packed at once: 8 panels, 128 KiB

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

// x is one tile from pack_x. y[0..MR, 0..16) (+)= x[0..MR, 0..kb) . panel; only the first `cols` columns are written.
template <int MR>
void micro_tile(int64_t kb, const float* x, const float* panel, float* y, int64_t ldy, bool accumulate, int64_t cols) {
  __m256 c0[MR], c1[MR];
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) c0[m] = c1[m] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kb; ++k) {
    const __m256 b0 = _mm256_loadu_ps(panel + k * kNR), b1 = _mm256_loadu_ps(panel + k * kNR + 8);
    #pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_broadcast_ss(x + k * kMR + m);
      c0[m] = _mm256_fmadd_ps(a, b0, c0[m]);
      c1[m] = _mm256_fmadd_ps(a, b1, c1[m]);
    }
  }
  #pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    float* out = y + m * ldy;
    if (cols == kNR) {
      if (accumulate) {
        c0[m] = _mm256_add_ps(c0[m], _mm256_loadu_ps(out));
        c1[m] = _mm256_add_ps(c1[m], _mm256_loadu_ps(out + 8));
      }
      _mm256_storeu_ps(out, c0[m]);
      _mm256_storeu_ps(out + 8, c1[m]);
    } else {
      alignas(32) float tmp[kNR];
      _mm256_store_ps(tmp, c0[m]);
      _mm256_store_ps(tmp + 8, c1[m]);
      for (int64_t j = 0; j < cols; ++j) out[j] = accumulate ? out[j] + tmp[j] : tmp[j];
    }
  }
}

using MicroFn = void (*)(int64_t, const float*, const float*, float*, int64_t, bool, int64_t);
constexpr MicroFn kMicro[kMR + 1] = {nullptr, micro_tile<1>, micro_tile<2>, micro_tile<3>,
                                     micro_tile<4>, micro_tile<5>, micro_tile<6>};

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

// ---- General fp32 GEMM (gemm_f32): the same micro-kernel, packing from strided operands -----

// Tiles of kMR rows of op(A)[m0..m1, k0..k0+kb), each [kb][kMR] (rows past m1 zero).
void pack_a(const GemmF32& g, int64_t m0, int64_t m1, int64_t k0, int64_t kb, float* out) {
  for (int64_t m = m0; m < m1; m += kMR) {
    const int64_t rows = imin(kMR, m1 - m);
    float* tile = out + (m - m0) * kb;
    if (g.trans_a) {  // op(A)(m, k) = A[k, m]: each k gives kMR consecutive floats
      for (int64_t k = 0; k < kb; ++k) {
        const float* src = g.A + (k0 + k) * g.lda + m;
        float* dst = tile + k * kMR;
        int64_t i = 0;
        for (; i < rows; ++i) dst[i] = src[i];
        for (; i < kMR; ++i) dst[i] = 0.0f;
      }
    } else {
      for (int64_t i = 0; i < kMR; ++i) {
        if (i < rows) {
          const float* src = g.A + (m + i) * g.lda + k0;
          for (int64_t k = 0; k < kb; ++k) tile[k * kMR + i] = src[k];
        } else {
          for (int64_t k = 0; k < kb; ++k) tile[k * kMR + i] = 0.0f;
        }
      }
    }
  }
}

// panel[k][j] = op(B)(k0 + k, n + j) for j < valid, zero beyond.
void pack_b(const GemmF32& g, int64_t n, int64_t valid, int64_t k0, int64_t kb, float* panel) {
  if (!g.trans_b) {  // op(B)(k, n) = B[k, n]: rows of 16 consecutive floats
    for (int64_t k = 0; k < kb; ++k) {
      const float* src = g.B + (k0 + k) * g.ldb + n;
      float* dst = panel + k * kNR;
      if (valid == kNR) {
        _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
        _mm256_storeu_ps(dst + 8, _mm256_loadu_ps(src + 8));
      } else {
        for (int64_t j = 0; j < kNR; ++j) dst[j] = j < valid ? src[j] : 0.0f;
      }
    }
    return;
  }
  int64_t k = 0;  // op(B)(k, n) = B[n, k]: transpose 8x8 blocks
  if (valid == kNR) {
    for (; k + 8 <= kb; k += 8)
      for (int j0 = 0; j0 < kNR; j0 += 8) {
        __m256 r[8];
        #pragma GCC unroll 16
        for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(g.B + (n + j0 + j) * g.ldb + k0 + k);
        transpose8(r);
        #pragma GCC unroll 16
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (k + i) * kNR + j0, r[i]);
      }
  }
  for (; k < kb; ++k)
    for (int j = 0; j < kNR; ++j) panel[k * kNR + j] = j < valid ? g.B[(n + j) * g.ldb + k0 + k] : 0.0f;
}

void sgemm(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  static thread_local Scratch packed_buffer, apack_buffer;
  const int64_t m_tiles = (m1 - m0 + kMR - 1) / kMR;
  float* packed = packed_buffer.get(size_t(kNB * kKB));
  float* apack = apack_buffer.get(size_t(m_tiles * kMR * kKB));
  for (int64_t k0 = 0; k0 < g.K; k0 += kKB) {
    const int64_t kb = imin(kKB, g.K - k0);
    const bool acc = g.accumulate || k0 > 0;
    pack_a(g, m0, m1, k0, kb, apack);
    for (int64_t nb = n0; nb < n1; nb += kNB) {
      const int64_t nb_end = imin(n1, nb + kNB);
      for (int64_t n = nb; n < nb_end; n += kNR) pack_b(g, n, imin(kNR, nb_end - n), k0, kb, packed + (n - nb) * kb);
      for (int64_t m = m0; m < m1; m += kMR) {
        const int64_t mr = imin(kMR, m1 - m);
        for (int64_t n = nb; n < nb_end; n += kNR)
          kMicro[mr](kb, apack + (m - m0) * kb, packed + (n - nb) * kb, g.C + m * g.ldc + n, g.ldc, acc,
                     imin(kNR, nb_end - n));
      }
    }
  }
}

}  // namespace

void sgemm_avx2(const GemmF32& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) { sgemm(g, m0, m1, n0, n1); }

void gemv_avx2(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (p.w_dtype) {
    case DType::F32: return gemv<DType::F32>(p, m0, m1, n0, n1);
    case DType::BF16: return gemv<DType::BF16>(p, m0, m1, n0, n1);
    default: return gemv<DType::F16>(p, m0, m1, n0, n1);
  }
}

void gemm_avx2(const MatmulProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (p.w_dtype) {
    case DType::F32: return gemm<DType::F32>(p, m0, m1, n0, n1);
    case DType::BF16: return gemm<DType::BF16>(p, m0, m1, n0, n1);
    default: return gemm<DType::F16>(p, m0, m1, n0, n1);
  }
}

}  // namespace nova::kernels::cpu::detail
