// Device helpers of the sampling kernels (sampling.cu, sampling_pick.cu): the host Sampler's arithmetic (penalties,
// temperature, weights, logprobs, in double where it uses double, no contraction), the
// order-preserving float keys the radix select counts, and block-wide scans and sorts for one
// row per block. Included by sampling.cu and sampling_pick.cu only.
#pragma once

#include <climits>

#include "kernels/cuda/kernel_trace.cuh"
#include "kernels/cuda/sampling.cuh"

namespace nova::kernels::cuda::sampling_detail {

constexpr int kChunkThreads = 256;
constexpr int kPickThreads = 1024;
constexpr int kCap = kSampleCandidates;
constexpr int kHistBuckets = kSampleHistBuckets;
constexpr int kLevel0Shift = 21;  // the first radix level: a key's top 11 bits

// Calls f(i, logit) for every finite logit of a row, eight loads in flight per thread (one block
// reading a whole row is bound by load latency otherwise).
template <class F>
__device__ __forceinline__ void for_each_finite(const float* work, int64_t V, F f) {
  constexpr int kUnroll = 8;
  for (int64_t at = 0; at < V; at += int64_t{kUnroll} * blockDim.x) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = at + int64_t{u} * blockDim.x + threadIdx.x;
      v[u] = i < V ? work[i] : -INFINITY;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (v[u] != -INFINITY) f(at + int64_t{u} * blockDim.x + threadIdx.x, v[u]);
  }
}

using Status = SampledRow::Status;

// A float's bits as an unsigned key with the same order (-0 taken as +0, as float compares do).
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f == 0.0f ? 0.0f : f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Host: logit > 0 ? logit / p : logit * p, then logit -= presence + frequency * count (float).
__device__ __forceinline__ float penalize(float l, const SamplingRow& p, int32_t generated) {
  if (p.repetition_penalty != 1.0f)
    l = l > 0.0f ? __fdiv_rn(l, p.repetition_penalty) : __fmul_rn(l, p.repetition_penalty);
  if ((p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) && generated > 0)
    l = __fsub_rn(l, __fadd_rn(p.presence_penalty, __fmul_rn(p.frequency_penalty, static_cast<float>(generated))));
  return l;
}

__device__ __forceinline__ double inv_temperature(const SamplingRow& p) {
  return p.temperature <= 0.0f ? 1.0 : __ddiv_rn(1.0, static_cast<double>(p.temperature));
}
__device__ __forceinline__ double scaled(float l, double inv_t) { return __dmul_rn(static_cast<double>(l), inv_t); }
__device__ __forceinline__ double weight_of(float l, double inv_t, double zmax) {
  return exp(__dsub_rn(scaled(l, inv_t), zmax));
}
__device__ __forceinline__ float logprob_of(float l, double inv_t, double lse) {
  return __double2float_rn(__dsub_rn(scaled(l, inv_t), lse));
}

// (value desc, id asc): whether (va, ia) comes first.
__device__ __forceinline__ bool better(float va, int32_t ia, float vb, int32_t ib) {
  return va > vb || (va == vb && ia < ib);
}

// Exclusive prefix of v over the block's threads in thread order; *total gets the sum.
template <class T>
__device__ T block_exclusive_scan(T v, T* buf /* [32] */, T* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  T inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const T y = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += y;
  }
  T ex = __shfl_up_sync(0xffffffffu, inc, 1);
  if (lane == 0) ex = T(0);
  if (lane == 31) buf[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    T s = lane < warps ? buf[lane] : T(0);
    for (int o = 1; o < 32; o <<= 1) {
      const T y = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += y;
    }
    buf[lane] = s;
  }
  __syncthreads();
  const T out = (warp == 0 ? T(0) : buf[warp - 1]) + ex;
  *total = buf[warps - 1];
  __syncthreads();
  return out;
}

// Bitonic sort of P (a power of two) slots by before(i, j); swap(i, j) exchanges two slots.
template <class Before, class Swap>
__device__ void bitonic_sort(int P, Before before, Swap swap) {
  for (int k = 2; k <= P; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < P; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i && ((i & k) == 0 ? before(ixj, i) : before(i, ixj))) swap(i, ixj);
      }
      __syncthreads();
    }
  }
}

__device__ __forceinline__ int pow2_at_least(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// The row's max and flags from pass 1's partials.
struct RowStats {
  float max;
  int32_t argmax;
  int64_t finite;
  int32_t bad;
  int32_t last_finite;
};
// A row's statistics from its chunks' partials, by the 32 lanes of a warp (every lane calls it and
// gets the same result): lane l takes chunks l, l + 32, ..., then a butterfly; max / argmax /
// counts are exact in any order.
__device__ inline RowStats row_stats(const SamplePartial* p, int chunks) {
  RowStats s{-INFINITY, INT_MAX, 0, 0, -1};
  for (int c = static_cast<int>(threadIdx.x & 31); c < chunks; c += 32) {
    if (better(p[c].max, p[c].argmax, s.max, s.argmax)) s.max = p[c].max, s.argmax = p[c].argmax;
    s.finite += p[c].finite;
    s.bad |= p[c].bad;
    s.last_finite = max(s.last_finite, p[c].last_finite);
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float m = __shfl_xor_sync(0xffffffffu, s.max, o);
    const int32_t i = __shfl_xor_sync(0xffffffffu, s.argmax, o);
    if (better(m, i, s.max, s.argmax)) s.max = m, s.argmax = i;
    s.finite += __shfl_xor_sync(0xffffffffu, s.finite, o);
    s.bad |= __shfl_xor_sync(0xffffffffu, s.bad, o);
    s.last_finite = max(s.last_finite, __shfl_xor_sync(0xffffffffu, s.last_finite, o));
  }
  return s;
}

// Pass 3 (sampling_pick.cu): one block per row decides its token from the passes before.
void launch_sample_pick(const SampleArgs& a, int chunks, cudaStream_t s);

}  // namespace nova::kernels::cuda::sampling_detail
