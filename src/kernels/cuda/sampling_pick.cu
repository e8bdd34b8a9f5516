// Sampling on the device, pass 3 (sampling.cu describes all three): per row, one block — lse,
// the candidate list, then top_k, the top logprobs, top_p, min_p and the draw in the host's order.
#include <climits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sampling.cuh"
#include "kernels/cuda/sampling_device.cuh"

namespace nova::kernels::cuda {

namespace {

using namespace sampling_detail;

// ---- pass 3: the per-row decisions ----

struct PickShared {
  float key[kSampleBuffer];  // the candidate list: penalised logits, sorted (desc, id asc)
  int32_t id[kSampleBuffer];
  double w[kCap];   // exp(z - zmax) of each
  int32_t id2[kCap];  // a part of the list re-sorted by id: ids and their list slots
  int32_t slot2[kCap];
  int32_t hist[kHistBuckets];
  double dbuf[32];
  int32_t ibuf[32];
  // Row state shared by the block.
  RowStats st;
  double inv_t, zmax, lse, sum_all;
  int32_t count, status, chosen, first_thread, last_id;
  uint32_t sel_bucket;
  int32_t sel_above;
};

// Sorts list slots [0, n) by id into id2 / slot2 (padded to a power of two).
__device__ void sort_by_id(PickShared& sh, int n) {
  const int P = pow2_at_least(n);
  for (int j = threadIdx.x; j < P; j += blockDim.x) {
    sh.id2[j] = j < n ? sh.id[j] : INT_MAX;
    sh.slot2[j] = j;
  }
  __syncthreads();
  bitonic_sort(
      P, [&](int i, int j) { return sh.id2[i] < sh.id2[j]; },
      [&](int i, int j) {
        const int32_t a = sh.id2[i], b = sh.slot2[i];
        sh.id2[i] = sh.id2[j], sh.slot2[i] = sh.slot2[j];
        sh.id2[j] = a, sh.slot2[j] = b;
      });
}

// Sorts key / id slots [0, P) by (logit desc, id asc).
__device__ void sort_candidates(PickShared& sh, int P) {
  bitonic_sort(
      P, [&](int i, int j) { return better(sh.key[i], sh.id[i], sh.key[j], sh.id[j]); },
      [&](int i, int j) {
        const float k = sh.key[i];
        const int32_t d = sh.id[i];
        sh.key[i] = sh.key[j], sh.id[i] = sh.id[j];
        sh.key[j] = k, sh.id[j] = d;
      });
}

// The candidate list: every finite logit when at most kCap, else the kCap-th largest finite key
// by a three-level radix select, and the keys >= it (or > it when ties at it overflow the list).
// Returns the list length; sorted (logit desc, id asc).
__device__ int build_candidates(PickShared& sh, const float* work, const int32_t* level0, int64_t V, int64_t finite,
                                const float* cand_key, const int32_t* cand_id, int cand_count) {
  if (cand_count > 0) {
    // Pass 2 gathered a prefix of the sorted order (whole first-level buckets): sort it, keep at
    // most kCap entries without splitting a tie (what follows the list must be below it).
    const int P = pow2_at_least(cand_count);
    for (int j = threadIdx.x; j < P; j += blockDim.x) {
      sh.key[j] = j < cand_count ? cand_key[j] : -INFINITY;
      sh.id[j] = j < cand_count ? cand_id[j] : INT_MAX;
    }
    __syncthreads();
    sort_candidates(sh, P);
    int L = min(cand_count, kCap);
    if (L < cand_count)
      while (L > 0 && sh.key[L] == sh.key[L - 1]) --L;
    return L;
  }
  uint32_t prefix = 0, mask = 0;
  bool strict = false;
  const bool all = finite <= kCap;
  if (!all) {
    int need = kCap, above = 0, equal = 0;
    const int shifts[3] = {21, 10, 0}, widths[3] = {11, 11, 10};
    for (int level = 0; level < 3; ++level) {
      const int nb = 1 << widths[level], shift = shifts[level];
      if (level == 0) {
        for (int b = threadIdx.x; b < nb; b += blockDim.x) sh.hist[b] = level0[b];
        __syncthreads();
      } else {
        for (int b = threadIdx.x; b < nb; b += blockDim.x) sh.hist[b] = 0;
        __syncthreads();
        // Only the logits under the prefix chosen so far count (a few thousand at most).
        for_each_finite(work, V, [&](int64_t, float l) {
          const uint32_t k = order_key(l);
          if ((k & mask) == prefix) atomicAdd(&sh.hist[(k >> shift) & (nb - 1)], 1);
        });
        __syncthreads();
      }
      // Buckets from the top: thread t owns per = nb / blockDim consecutive ones.
      const int per = nb / static_cast<int>(blockDim.x);
      const int hi = nb - 1 - static_cast<int>(threadIdx.x) * per;
      int mine = 0;
      for (int b = hi; b > hi - per; --b) mine += sh.hist[b];
      int total;
      const int ex = block_exclusive_scan(mine, sh.ibuf, &total);
      if (ex < need && need <= ex + mine) {
        int acc = ex;
        for (int b = hi; b > hi - per; --b) {
          if (need <= acc + sh.hist[b]) {
            sh.sel_bucket = static_cast<uint32_t>(b);
            sh.sel_above = acc;
            break;
          }
          acc += sh.hist[b];
        }
      }
      __syncthreads();
      need -= sh.sel_above;
      above += sh.sel_above;
      equal = sh.hist[sh.sel_bucket];
      prefix |= sh.sel_bucket << shift;
      mask |= static_cast<uint32_t>(nb - 1) << shift;
      __syncthreads();
    }
    strict = above + equal > kCap;
  }
  if (threadIdx.x == 0) sh.count = 0;
  __syncthreads();
  for_each_finite(work, V, [&](int64_t i, float l) {
    const uint32_t k = order_key(l);
    if (all || k > prefix || (!strict && k == prefix)) {
      const int slot = atomicAdd(&sh.count, 1);
      sh.key[slot] = l;
      sh.id[slot] = static_cast<int32_t>(i);
    }
  });
  __syncthreads();
  const int L = sh.count;
  const int P = pow2_at_least(L);
  for (int j = L + threadIdx.x; j < P; j += blockDim.x) {
    sh.key[j] = -INFINITY;
    sh.id[j] = INT_MAX;
  }
  __syncthreads();
  sort_candidates(sh, P);
  return L;
}

// The inverse-CDF draw in id order over ids [lo, hi) that are finite (and have weight >= cut):
// the first whose running sum exceeds target, where the running sum starts at `offset`. With
// cut < 0 the target is given; else it is u times the survivors' sum (computed here). Block-wide.
__device__ int32_t draw_id_order(PickShared& sh, const float* work, int64_t lo, int64_t hi, double offset,
                                 double target, double u, double cut) {
  const int64_t seg = (hi - lo + blockDim.x - 1) / blockDim.x;
  const int64_t b = min(hi, lo + threadIdx.x * seg), e = min(hi, b + seg);
  const double inv_t = sh.inv_t, zmax = sh.zmax;
  // f(id, weight) for this thread's surviving ids in order, until f returns true.
  auto survivors = [&](auto&& f) {
    for (int64_t i = b; i < e; ++i) {
      const float l = work[i];
      if (l == -INFINITY) continue;
      const double w = weight_of(l, inv_t, zmax);
      if (cut >= 0 && w < cut) continue;
      if (f(static_cast<int32_t>(i), w)) return;
    }
  };
  double mine = 0;
  int32_t last = -1;
  survivors([&](int32_t i, double w) {
    mine += w;
    last = i;
    return false;
  });
  double total;
  const double ex = block_exclusive_scan(mine, sh.dbuf, &total);
  if (cut >= 0) target = __dmul_rn(u, total);
  if (threadIdx.x == 0) sh.first_thread = INT_MAX, sh.last_id = -1;
  __syncthreads();
  if (last >= 0) {
    atomicMax(&sh.last_id, last);
    if (target < offset + ex + mine) atomicMin(&sh.first_thread, static_cast<int>(threadIdx.x));
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) == sh.first_thread) {
    double cum = offset + ex;
    int32_t chosen = last;
    survivors([&](int32_t i, double w) {
      cum += w;
      if (!(target < cum)) return false;
      chosen = i;
      return true;
    });
    sh.chosen = chosen;
  }
  __syncthreads();
  const int32_t out = sh.first_thread == INT_MAX ? sh.last_id : sh.chosen;
  __syncthreads();
  return out;
}

__device__ void pick_row(const SampleArgs& a, int chunks) {
  const int64_t r = blockIdx.x, V = a.vocab;
  const float* work = a.work + r * V;
  const SamplePartial* parts = a.partials + r * chunks;
  const SamplingRow p = a.params[r];
  SampleOut* out = a.out + r;
  SampleTop* top = a.top + r * a.top_stride;
  __shared__ PickShared sh;
  const bool greedy = p.temperature <= 0.0f;
  const int n_top = p.top_logprobs;

  // The row's statistics and sum over its chunks by the first warp (a butterfly: the same sum in
  // every lane, in a fixed order).
  if (threadIdx.x < 32) {
    const RowStats st = row_stats(parts, chunks);
    double sum = 0;
    // (greedy_only: each chunk summed against its own max; inv_t is 1 for greedy rows.)
    for (int c = static_cast<int>(threadIdx.x); c < chunks; c += 32)
      sum += !a.greedy_only ? parts[c].sum
                            : (parts[c].finite > 0 && !st.bad ? parts[c].sum * weight_of(parts[c].max, 1.0, st.max)
                                                              : 0.0);
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (threadIdx.x == 0) {
      sh.st = st;
      sh.sum_all = sum;
      sh.inv_t = inv_temperature(p);
      sh.zmax = scaled(st.max, sh.inv_t);
      sh.lse = __dadd_rn(sh.zmax, log(sum));
      sh.status = st.bad ? static_cast<int>(Status::BadLogit)
                         : (st.finite == 0 ? static_cast<int>(Status::NoFiniteLogit) : static_cast<int>(Status::Ok));
      out->status = sh.status;
      out->n_top = 0;
      out->id = st.argmax;
      out->logprob = sh.status == 0 ? logprob_of(st.max, sh.inv_t, sh.lse) : 0.0f;
    }
  }
  __syncthreads();
  if (sh.status != 0 || (greedy && n_top == 0)) return;
  const double inv_t = sh.inv_t, zmax = sh.zmax, lse = sh.lse;
  const int64_t finite = sh.st.finite;

  const int L = build_candidates(sh, work, a.hist + r * kHistBuckets, V, finite, a.cand_key + r * kSampleBuffer,
                                 a.cand_id + r * kSampleBuffer, a.cand_count[r]);
  const bool complete = L == finite;  // the list holds every finite logit
  for (int j = threadIdx.x; j < L; j += blockDim.x) sh.w[j] = weight_of(sh.key[j], inv_t, zmax);
  __syncthreads();
  auto needs_host = [&] {
    out->status = static_cast<int>(Status::NeedsHost);
    out->n_top = 0;
  };

  // The top logprobs: every list entry whose logprob reaches the n-th best one's, by (logprob
  // desc, id asc) — the list is in logit order, equal logprobs may need reordering by id.
  if (threadIdx.x == 0 && n_top > 0) {
    auto lp = [&](int j) { return logprob_of(sh.key[j], inv_t, lse); };
    if (L == 0 || n_top > finite || n_top > L || (!complete && lp(L - 1) == lp(n_top - 1))) {
      needs_host();
      sh.status = static_cast<int>(Status::NeedsHost);
    } else {
      const float cut = lp(n_top - 1);
      int m = n_top;
      while (m < L && lp(m) == cut) ++m;
      int32_t* order = sh.id2;  // slots, insertion-sorted by (logprob desc, id asc)
      for (int j = 0; j < m; ++j) {
        int at = j;
        const float lj = lp(j);
        while (at > 0 && better(lj, sh.id[j], lp(order[at - 1]), sh.id[order[at - 1]])) {
          order[at] = order[at - 1];
          --at;
        }
        order[at] = j;
      }
      for (int j = 0; j < n_top; ++j) top[j] = SampleTop{sh.id[order[j]], lp(order[j])};
      out->n_top = n_top;
    }
  }
  __syncthreads();
  if (sh.status != 0 || greedy) return;
  if (L == 0) {  // kCap ties at the top: no list
    if (threadIdx.x == 0) needs_host();
    return;
  }

  // top_k: everything >= the k-th largest logit.
  __shared__ int s_nk, s_f, s_in_list, s_sorted_order;
  __shared__ double s_total;
  if (threadIdx.x == 0) {
    int in_list = complete;
    int64_t nk = finite;
    if (p.top_k > 0 && p.top_k < finite) {
      const int k = p.top_k;
      // (Logits past the list are below its last one, so every tie at the k-th is in it.)
      if (k > L) {
        sh.status = static_cast<int>(Status::NeedsHost);
      } else {
        nk = k;
        while (nk < L && sh.key[nk] == sh.key[k - 1]) ++nk;
        in_list = 1;
      }
    }
    s_nk = static_cast<int>(in_list ? nk : L);
    s_in_list = in_list;
  }
  __syncthreads();
  if (sh.status != 0) {
    if (threadIdx.x == 0) needs_host();
    return;
  }

  // top_p over the top_k survivors: their sum in id order (the host's candidate order), then the
  // most-likely-first walk until the mass reaches top_p of it (the crossing token kept).
  if (p.top_p < 1.0f) {
    if (s_in_list) {
      sort_by_id(sh, s_nk);
      if (threadIdx.x == 0) {
        double total = 0;
        for (int j = 0; j < s_nk; ++j) total += sh.w[sh.slot2[j]];
        s_total = total;
      }
    } else if (threadIdx.x == 0) {
      s_total = sh.sum_all;  // every finite logit survives top_k
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const double target = __dmul_rn(static_cast<double>(p.top_p), s_total);
      int keep = 0;
      double before = 0;
      while (keep < s_nk && (keep == 0 || before < target)) before += sh.w[keep++];
      if (keep == s_nk && before < target && !s_in_list) sh.status = static_cast<int>(Status::NeedsHost);
      s_f = keep;
      s_in_list = 1;
      s_sorted_order = 1;
    }
  } else if (threadIdx.x == 0) {
    s_f = s_nk;
    s_sorted_order = 0;
  }
  __syncthreads();
  if (sh.status != 0) {
    if (threadIdx.x == 0) needs_host();
    return;
  }

  // min_p: weights >= min_p * the best weight (the first entry's): a prefix of the list.
  __shared__ double s_cut;
  if (threadIdx.x == 0) {
    s_cut = -1;
    if (p.min_p > 0.0f) {
      const double cut = __dmul_rn(static_cast<double>(p.min_p), sh.w[0]);
      if (s_in_list || sh.w[L - 1] < cut) {
        int f = 0;
        while (f < s_f && sh.w[f] >= cut) ++f;
        s_f = f;
        s_in_list = 1;
      } else {
        s_cut = cut;  // past the list: applied in the vocabulary-wide draw
      }
    }
  }
  __syncthreads();

  // The draw: u times the survivors' sum, first running sum above it, in the host's order.
  const double u = p.uniform;
  int32_t chosen;
  if (s_in_list) {
    if (!s_sorted_order) sort_by_id(sh, s_f);
    if (threadIdx.x == 0) {
      const int f = s_f;
      auto slot = [&](int j) { return s_sorted_order ? j : sh.slot2[j]; };
      double total = 0;
      for (int j = 0; j < f; ++j) total += sh.w[slot(j)];
      const double target = __dmul_rn(u, total);
      double cum = 0;
      int pick = slot(f - 1);
      for (int j = 0; j < f; ++j) {
        cum += sh.w[slot(j)];
        if (target < cum) {
          pick = slot(j);
          break;
        }
      }
      sh.chosen = sh.id[pick];
    }
    __syncthreads();
    chosen = sh.chosen;
  } else if (s_cut < 0) {
    // No cut past the list: the chunk sums locate the draw, one chunk is scanned.
    __shared__ double s_offset;
    __shared__ int s_chunk;
    if (threadIdx.x == 0) {
      const double target = __dmul_rn(u, sh.sum_all);
      double cum = 0;
      int c = 0;
      for (; c < chunks; ++c) {
        if (target < cum + parts[c].sum) break;
        cum += parts[c].sum;
      }
      s_chunk = c;
      s_offset = cum;
      s_total = target;
    }
    __syncthreads();
    if (s_chunk == chunks) {
      chosen = sh.st.last_finite;
    } else {
      const int64_t lo = s_chunk * kSampleChunk, hi = min(V, lo + kSampleChunk);
      chosen = draw_id_order(sh, work, lo, hi, s_offset, s_total, u, -1);
    }
  } else {
    chosen = draw_id_order(sh, work, 0, V, 0, 0, u, s_cut);
  }
  if (threadIdx.x == 0) {
    out->id = chosen;
    out->logprob = logprob_of(work[chosen], inv_t, lse);
  }
}

__global__ void __launch_bounds__(kPickThreads) sample_pick_kernel(SampleArgs a, int chunks) {
  NOVA_TRACE_POINT(0);
  pick_row(a, chunks);
  if (!a.ids) return;
  __syncthreads();  // thread 0 wrote the row's outcome
  if (threadIdx.x == 0) {
    const SampleOut& o = a.out[blockIdx.x];
    a.ids[blockIdx.x] = o.status == static_cast<int>(Status::Ok) ? o.id : 0;
  }
}

}  // namespace

namespace sampling_detail {

void launch_sample_pick(const SampleArgs& a, int chunks, cudaStream_t s) {
  sample_pick_kernel<<<static_cast<unsigned>(a.rows), kPickThreads, 0, s>>>(a, chunks);
  check_launch("sample (pick)");
}

}  // namespace sampling_detail

}  // namespace nova::kernels::cuda
