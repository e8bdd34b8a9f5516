// The MoE experts' grouped GEMMs on tensor cores (moe.cuh): one launch for gate|up with the
// SwiGLU in the epilogue and one for down, over every expert at once. blockIdx.x is a tile of the
// plan (up to 64 permuted rows of one expert, read from device memory: no host-side sizes),
// blockIdx.y a 128-row slice of that expert's weights (gate|up: 64 gate rows and the same 64 up
// rows, laid out so that a thread holds gate and up of one output in registers), blockIdx.z a
// split of K (down with few rows: batched decode reads every expert for a few rows each, and
// without splits 16 column blocks per expert would leave most SMs idle; the combine sums the
// splits). bf16 mma.sync m16n8k16 with fp32 accumulation, operands staged by cp.async through a
// 3-stage shared-memory ring, fragments read by ldmatrix (the idioms of train/attention_mma.cuh).
// 4 warps in 2 x 2, each 32 rows x 64 weight rows; a warp whose rows are past the tile's end
// (an expert with few rows) skips the math.
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/moe.cuh"
#include "kernels/cuda/train/attention_mma.cuh"

namespace nova::kernels::cuda {

namespace {

namespace mma = train::mma;
using bf16 = __nv_bfloat16;

constexpr int kBM = kMoeMmaRows;  // tile rows (A)
constexpr int kBN = 128;          // weight rows per block (B)
constexpr int kBK = 32;
constexpr int kStride = kBK + 8;  // padded shared rows: ldmatrix's 8 rows hit distinct banks
constexpr int kStages = 3;
constexpr int kThreads = 128;

template <bool kGateUp>
__global__ void __launch_bounds__(kThreads) moe_mma_kernel(const bf16* __restrict__ a,
                                                           const MoeTile* __restrict__ tiles,
                                                           const int32_t* __restrict__ num_tiles,
                                                           const MoeExpertPtrs* __restrict__ experts, int64_t N,
                                                           int64_t K, int64_t plane, void* __restrict__ out) {
  if (static_cast<int>(blockIdx.x) >= *num_tiles) return;
  __shared__ alignas(16) bf16 As[kStages][kBM * kStride];
  __shared__ alignas(16) bf16 Bs[kStages][kBN * kStride];
  const MoeTile t = tiles[blockIdx.x];
  const MoeExpertPtrs e = experts[t.expert];
  constexpr int kOut = kGateUp ? kBN / 2 : kBN;  // output columns per block
  const int64_t n0 = int64_t{blockIdx.y} * kOut;
  const bf16* w0 = static_cast<const bf16*>(kGateUp ? e.gate : e.down);
  const bf16* w1 = static_cast<const bf16*>(kGateUp ? e.up : e.down);
  // Split K (down, few rows): block z sums k-blocks [kb0, kb1) into its own plane of out.
  const int64_t nk_all = (K + kBK - 1) / kBK, per = (nk_all + gridDim.z - 1) / gridDim.z;
  const int64_t kb0 = blockIdx.z * per, kb1 = min(nk_all, kb0 + per);

  // Shared B row r: down row n0 + r; gate|up: 64-row halves (one per warp column), each 32 gate
  // rows then the same 32 up rows, so a warp's accumulators hold gate and up of its 32 columns.
  auto load_stage = [&](int stage, int64_t kb) {
    const int64_t k0 = kb * kBK;
    for (int idx = threadIdx.x; idx < kBM * (kBK / 8); idx += kThreads) {
      const int r = idx / (kBK / 8), c = (idx % (kBK / 8)) * 8;
      const int64_t row = t.begin + r;
      const bool valid = row < t.end && k0 + c < K;
      mma::cp_async16(&As[stage][r * kStride + c], valid ? a + row * K + k0 + c : a, valid);
    }
    for (int idx = threadIdx.x; idx < kBN * (kBK / 8); idx += kThreads) {
      const int r = idx / (kBK / 8), c = (idx % (kBK / 8)) * 8;
      const bf16* w = kGateUp && (r & 32) ? w1 : w0;
      const int64_t n = n0 + (kGateUp ? (r >> 6) * 32 + (r & 31) : r);
      const bool valid = n < N && k0 + c < K;
      mma::cp_async16(&Bs[stage][r * kStride + c], valid ? w + n * K + k0 + c : w, valid);
    }
  };

  // 2 x 2 warps: rows wm * 32 .. + 32 of the tile, shared B rows wn * 64 .. + 64.
  const int warp = threadIdx.x / 32, wm = warp & 1, wn = warp >> 1;
  const int64_t row0 = t.begin + wm * 32;
  const bool active0 = row0 < t.end, active1 = row0 + 16 < t.end;  // per 16-row block
  float acc[2][8][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;

  const int64_t nk = kb1 - kb0;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nk) load_stage(s, kb0 + s);
    mma::cp_async_commit();
  }
  for (int64_t kb = 0; kb < nk; ++kb) {
    mma::cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kb landed for every thread; stage kb - 1 is free again
    if (kb + kStages - 1 < nk) load_stage(static_cast<int>((kb + kStages - 1) % kStages), kb0 + kb + kStages - 1);
    mma::cp_async_commit();
    if (!active0) continue;
    const bf16* A = As[kb % kStages];
    const bf16* B = Bs[kb % kStages];
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[2][4];
      mma::load_a(af[0], A, kStride, wm * 32, kk);
      if (active1) mma::load_a(af[1], A, kStride, wm * 32 + 16, kk);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        uint32_t lo[2], hi[2];
        mma::load_b_pair(lo, hi, B, kStride, wn * 64 + j * 16, kk);
        mma::mma_bf16(acc[0][2 * j], af[0], lo[0], lo[1]);
        mma::mma_bf16(acc[0][2 * j + 1], af[0], hi[0], hi[1]);
        if (active1) {
          mma::mma_bf16(acc[1][2 * j], af[1], lo[0], lo[1]);
          mma::mma_bf16(acc[1][2 * j + 1], af[1], hi[0], hi[1]);
        }
      }
    }
  }
  mma::cp_async_wait<0>();
  if (!active0) return;
  // C fragment: c0 c1 at (row g, cols 2q, 2q+1), c2 c3 at (row g + 8, ...) of each 8-column tile.
  const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = row0 + mi * 16 + g + half * 8;
      if (row >= t.end) continue;
      if constexpr (kGateUp) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int64_t col = n0 + wn * 32 + j * 8 + 2 * q;  // N % 8 == 0: both columns or neither
          if (col >= N) continue;
          const float g0 = acc[mi][j][2 * half], g1 = acc[mi][j][2 * half + 1];
          const float u0 = acc[mi][j + 4][2 * half], u1 = acc[mi][j + 4][2 * half + 1];
          // swiglu()'s arithmetic: silu(g) = g / (1 + e^-g), one rounded product.
          const float h0 = __fmul_rn(g0 / (1.0f + expf(-g0)), u0), h1 = __fmul_rn(g1 / (1.0f + expf(-g1)), u1);
          *reinterpret_cast<__nv_bfloat162*>(static_cast<bf16*>(out) + row * N + col) = __floats2bfloat162_rn(h0, h1);
        }
      } else {
        float* y = static_cast<float*>(out) + blockIdx.z * plane;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int64_t col = n0 + wn * 64 + j * 8 + 2 * q;
          if (col >= N) continue;
          *reinterpret_cast<float2*>(y + row * N + col) = make_float2(acc[mi][j][2 * half], acc[mi][j][2 * half + 1]);
        }
      }
    }
}

template <bool kGateUp>
void launch(const void* a, const MoeTile* tiles, const int32_t* num_tiles, int64_t max_tiles,
            const MoeExpertPtrs* experts, int64_t N, int64_t K, int splits, int64_t plane, void* out, cudaStream_t s) {
  if (max_tiles == 0 || N == 0) return;
  const int64_t per_block = kGateUp ? kBN / 2 : kBN;
  if (max_tiles > 2147483647LL) fail("moe_experts", "too many rows for the CUDA grouped GEMM's grid");
  const dim3 grid(static_cast<unsigned>(max_tiles), static_cast<unsigned>((N + per_block - 1) / per_block),
                  static_cast<unsigned>(splits));
  moe_mma_kernel<kGateUp><<<grid, kThreads, 0, s>>>(static_cast<const bf16*>(a), tiles, num_tiles, experts, N, K,
                                                    plane, out);
  check_launch("moe_mma");
}

}  // namespace

bool moe_mma_supports(DType w_dtype, int64_t hidden, int64_t inter) {
  return w_dtype == DType::BF16 && hidden % 8 == 0 && inter % 8 == 0;
}

void launch_moe_mma_gate_up(const void* xp, const MoeTile* tiles, const int32_t* num_tiles, int64_t max_tiles,
                            const MoeExpertPtrs* experts, int64_t inter, int64_t hidden, void* h, cudaStream_t s) {
  launch<true>(xp, tiles, num_tiles, max_tiles, experts, inter, hidden, 1, 0, h, s);
}

void launch_moe_mma_down(const void* h, const MoeTile* tiles, const int32_t* num_tiles, int64_t max_tiles,
                         const MoeExpertPtrs* experts, int64_t hidden, int64_t inter, int splits, int64_t plane,
                         float* y, cudaStream_t s) {
  launch<false>(h, tiles, num_tiles, max_tiles, experts, hidden, inter, splits, plane, y, s);
}

int moe_mma_down_splits(int64_t max_tiles, int64_t hidden, int64_t inter, int sm_count) {
  // Blocks are long (a 128-row slice of an expert's weights), 4 fit an SM: fewer than ~3 waves of
  // them leave SMs idle in the last one (batched decode: a tile per expert times 16 column
  // blocks; a 512-token prefill: ~1.1 waves). Split K until ~3 waves, each split at least 8
  // k-blocks deep; the extra partial sums are a few MB at most.
  const int64_t blocks = max_tiles * ((hidden + kBN - 1) / kBN), target = 3 * 4 * int64_t{sm_count};
  int64_t splits = (target + blocks - 1) / blocks;
  splits = std::min<int64_t>({splits, 8, std::max<int64_t>(1, (inter + kBK - 1) / kBK / 8)});
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

}  // namespace nova::kernels::cuda
