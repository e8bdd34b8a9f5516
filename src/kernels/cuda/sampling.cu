// Sampling on the device, engine::Sampler's algorithm (engine/sampler.h) step for step:
//   1. per chunk of a row (many blocks per row): the NaN / +inf check on the raw logits, the
//      penalties (each history id once, float math as the host: no contraction), the max
//      penalised logit (lowest id on ties), the finite count, and the row's histogram of the
//      keys' top 11 bits (the radix select's first level);
//   2. per chunk: sum of exp(z - zmax), z = logit * (1 / temperature) in double; and the logits
//      of the top buckets down to the one holding the kSampleCandidates-th largest, gathered into
//      the row's candidate buffer when they fit (kSampleBuffer);
//   3. per row (one block, sampling_pick.cu): lse, then the candidate list — the row's kSampleCandidates best finite
//      logits (the buffer, else a radix select over the row), sorted (logit desc, id asc) — on
//      which top_k, the top logprobs, top_p's most-likely-first walk, min_p and the draw run
//      sequentially in the host's order (so they round as the host does). The id-order draw over
//      more survivors than the list holds (top_p 1) runs over the whole vocabulary: within the
//      chunk the chunk sums point at when there is no min_p, else a block-wide scan.
// Doubles where the host uses doubles; only the sums that the host adds in one sequence and we
// add as a tree (the full-vocabulary sums) may round differently.
#include <climits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sampling.cuh"
#include "kernels/cuda/sampling_device.cuh"

namespace nova::kernels::cuda {

namespace {

using namespace sampling_detail;

// ---- pass 1: penalties, checks, max ----

// C: logits per chunk (kSampleChunk, or kGreedyChunk for greedy-only calls).
template <int64_t C>
__global__ void __launch_bounds__(kChunkThreads) sample_stats_kernel(SampleArgs a, int chunks) {
  NOVA_TRACE_POINT(0);
  const int64_t r = blockIdx.y, V = a.vocab, base = blockIdx.x * C;
  const int n = static_cast<int>((C < V - base ? C : V - base));
  const float* in = a.logits + r * V + base;
  float* work = a.work + r * V + base;
  __shared__ float buf[C];
  __shared__ float s_max[kChunkThreads / 32];
  __shared__ int32_t s_arg[kChunkThreads / 32], s_fin[kChunkThreads / 32], s_bad[kChunkThreads / 32],
      s_last[kChunkThreads / 32];
  int bad = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float l = in[i];
    bad |= isnan(l) || l == INFINITY;
    buf[i] = l;
  }
  __syncthreads();
  const SamplingRow p = a.params[r];
  const bool greedy_only = a.greedy_only;
  const PenaltyEntry* pe = a.penalties + p.penalty_begin;
  for (int64_t j = threadIdx.x; j < p.penalty_count && !greedy_only; j += blockDim.x) {
    const PenaltyEntry e = pe[j];
    const int64_t i = e.id - base;
    if (i >= 0 && i < n) buf[i] = penalize(buf[i], p, e.generated);
  }
  __syncthreads();
  float best = -INFINITY;
  int32_t arg = INT_MAX, fin = 0, last = -1;
  __shared__ int32_t hist[kHistBuckets];
  if (!greedy_only)
    for (int b = threadIdx.x; b < kHistBuckets; b += blockDim.x) hist[b] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float l = buf[i];
    if (!greedy_only) work[i] = l;
    if (l == -INFINITY || isnan(l)) continue;
    const int32_t id = static_cast<int32_t>(base + i);
    ++fin;
    last = id;
    if (better(l, id, best, arg)) best = l, arg = id;
    if (!greedy_only) atomicAdd(&hist[order_key(l) >> kLevel0Shift], 1);
  }
  __syncthreads();
  if (!greedy_only) {
    int32_t* row_hist = a.hist + r * kHistBuckets;
    for (int b = threadIdx.x; b < kHistBuckets; b += blockDim.x)
      if (hist[b]) atomicAdd(&row_hist[b], hist[b]);
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_down_sync(0xffffffffu, best, o);
    const int32_t oa = __shfl_down_sync(0xffffffffu, arg, o);
    if (better(ob, oa, best, arg)) best = ob, arg = oa;
    fin += __shfl_down_sync(0xffffffffu, fin, o);
    bad |= __shfl_down_sync(0xffffffffu, bad, o);
    last = max(last, __shfl_down_sync(0xffffffffu, last, o));
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) s_max[warp] = best, s_arg[warp] = arg, s_fin[warp] = fin, s_bad[warp] = bad, s_last[warp] = last;
  __syncthreads();
  // greedy_only: this chunk's sum of exp(l - its max) (temperature 1, as greedy logprobs use).
  __shared__ double s_sum[kChunkThreads / 32];
  if (greedy_only) {
    float m = -INFINITY;
    for (int w = 0; w < kChunkThreads / 32; ++w) m = fmaxf(m, s_max[w]);
    double sum = 0;
    if (m != -INFINITY)
      for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (buf[i] != -INFINITY && !isnan(buf[i]) && buf[i] != INFINITY) sum += weight_of(buf[i], 1.0, m);
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, o);
    if (lane == 0) s_sum[warp] = sum;
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    SamplePartial out{};
    if (greedy_only)
      for (int w = 0; w < kChunkThreads / 32; ++w) out.sum += s_sum[w];
    out.max = -INFINITY;
    out.argmax = INT_MAX;
    out.last_finite = -1;
    for (int w = 0; w < kChunkThreads / 32; ++w) {
      if (better(s_max[w], s_arg[w], out.max, out.argmax)) out.max = s_max[w], out.argmax = s_arg[w];
      out.finite += s_fin[w];
      out.bad |= s_bad[w];
      out.last_finite = max(out.last_finite, s_last[w]);
    }
    a.partials[r * chunks + blockIdx.x] = out;
  }
}


// ---- pass 2: sums of exp ----

__global__ void __launch_bounds__(kChunkThreads) sample_sums_kernel(SampleArgs a, int chunks) {
  const int64_t r = blockIdx.y, V = a.vocab, base = blockIdx.x * kSampleChunk;
  const int n = static_cast<int>((kSampleChunk < V - base ? kSampleChunk : V - base));
  const float* work = a.work + r * V + base;
  SamplePartial* parts = a.partials + r * chunks;
  __shared__ double s_zmax;
  __shared__ int s_skip;
  __shared__ double s_sum[kChunkThreads / 32];
  const double inv_t = inv_temperature(a.params[r]);
  if (threadIdx.x < 32) {
    const RowStats st = row_stats(parts, chunks);
    if (threadIdx.x == 0) {
      s_skip = st.bad || st.finite == 0;
      s_zmax = scaled(st.max, inv_t);
    }
  }
  __syncthreads();
  if (s_skip) return;  // pass 3 reports the error
  // The first-level bucket holding the kCap-th largest logit (every finite one when fewer):
  // thread t owns `per` buckets from the top; the one whose range reaches kCap picks.
  __shared__ int s_ibuf[32], s_b0, s_take;
  const int32_t* level0 = a.hist + r * kHistBuckets;
  const int per = kHistBuckets / static_cast<int>(blockDim.x);
  const int hi = kHistBuckets - 1 - static_cast<int>(threadIdx.x) * per;
  int mine = 0;
  for (int b = hi; b > hi - per; --b) mine += level0[b];
  int total;
  const int ex = block_exclusive_scan(mine, s_ibuf, &total);
  const int need = min(kCap, total);
  if (ex < need && need <= ex + mine) {
    int acc = ex;
    for (int b = hi; b > hi - per; --b) {
      acc += level0[b];
      if (need <= acc) {
        s_b0 = b;
        s_take = acc <= kSampleBuffer;
        break;
      }
    }
  }
  __syncthreads();
  // (A greedy row without top logprobs needs no list.)
  const SamplingRow& row = a.params[r];
  const bool take = s_take && !(row.temperature <= 0.0f && row.top_logprobs == 0);
  const uint32_t b0 = static_cast<uint32_t>(s_b0);
  float* cand_key = a.cand_key + r * kSampleBuffer;
  int32_t* cand_id = a.cand_id + r * kSampleBuffer;
  const double zmax = s_zmax;
  double sum = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float l = work[i];
    sum += weight_of(l, inv_t, zmax);
    if (take && l != -INFINITY && (order_key(l) >> kLevel0Shift) >= b0) {
      const int slot = atomicAdd(&a.cand_count[r], 1);
      cand_key[slot] = l;
      cand_id[slot] = static_cast<int32_t>(base + i);
    }
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, o);
  if ((threadIdx.x & 31) == 0) s_sum[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int w = 0; w < kChunkThreads / 32; ++w) total += s_sum[w];
    parts[blockIdx.x].sum = total;
  }
}

}  // namespace

void launch_sample(const SampleArgs& a, cudaStream_t s) {
  if (a.rows == 0) return;
  const int chunks = static_cast<int>(sample_chunks(a.vocab, a.greedy_only));
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(a.rows));
  // (hist and cand_count are one block: [rows, kHistBuckets] then [rows].)
  if (!a.greedy_only)
    check_cuda(cudaMemsetAsync(a.hist, 0, static_cast<size_t>(a.rows) * (kHistBuckets + 1) * sizeof(int32_t), s),
               "sample: histogram");
  if (a.greedy_only) sample_stats_kernel<kGreedyChunk><<<grid, kChunkThreads, 0, s>>>(a, chunks);
  else sample_stats_kernel<kSampleChunk><<<grid, kChunkThreads, 0, s>>>(a, chunks);
  if (!a.greedy_only) sample_sums_kernel<<<grid, kChunkThreads, 0, s>>>(a, chunks);
  check_launch("sample");
  sampling_detail::launch_sample_pick(a, chunks, s);
}

}  // namespace nova::kernels::cuda
