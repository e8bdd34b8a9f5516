// The MoE layer's routing, permutation, combine and router-gradient kernels of the GPU trainer
// (moe_train_ops.h). Every reduction runs in a fixed order (warp butterflies, block partials
// added in index order, no float atomics), so a step's results do not vary from run to run.
#include <algorithm>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/moe_train_ops.h"
#include "kernels/cuda/train/train_common.cuh"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kWarps = 8;  // warps per block of the warp-per-row kernels
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

unsigned warp_blocks(int64_t rows) { return grid_for(rows, kWarps, 65535); }

// Row r's k assignments in ascending expert order (the experts of a row are distinct): calls
// fn(slot) for each, slot indexing top_expert / top_weight / pos.
template <class Fn>
__device__ __forceinline__ void in_expert_order(const int32_t* te, int k, Fn&& fn) {
  int last = -1;
  for (int t = 0; t < k; ++t) {
    int best = -1;
    for (int i = 0; i < k; ++i)
      if (te[i] > last && (best < 0 || te[i] < te[best])) best = i;
    last = te[best];
    fn(best);
  }
}

template <class T>
__global__ void route_kernel(float* probs, int32_t* top_expert, float* top_weight, float* shared_logit, const T* x,
                             const float* rw, const float* sgw, int64_t rows, int64_t H, int E, int K,
                             bool normalize) {
  __shared__ float logits[kWarps][kMoeTrainMaxExperts];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* lg = logits[warp];
  for (int64_t r = blockIdx.x * int64_t{kWarps} + warp; r < rows; r += int64_t{gridDim.x} * kWarps) {
    const T* xr = x + r * H;
    for (int e0 = 0; e0 < E; e0 += 8) {  // 8 experts per pass over the row
      const int ne = min(8, E - e0);
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t h = lane; h < H; h += 32) {
        const float xv = to_f32(xr[h]);
        for (int c = 0; c < 8; ++c)
          if (c < ne) acc[c] += xv * rw[(e0 + c) * H + h];
      }
      for (int c = 0; c < 8; ++c) {
        const float v = warp_sum(acc[c]);
        if (lane == 0 && c < ne) lg[e0 + c] = v;
      }
    }
    if (sgw) {
      float acc = 0.0f;
      for (int64_t h = lane; h < H; h += 32) acc += to_f32(xr[h]) * sgw[h];
      acc = warp_sum(acc);
      if (lane == 0) shared_logit[r] = acc;
    }
    __syncwarp();
    if (lane == 0) {
      float mx = lg[0];
      for (int e = 1; e < E; ++e) mx = fmaxf(mx, lg[e]);
      float sum = 0.0f;
      for (int e = 0; e < E; ++e) {
        lg[e] = expf(lg[e] - mx);
        sum += lg[e];
      }
      for (int e = 0; e < E; ++e) {
        lg[e] /= sum;
        probs[r * E + e] = lg[e];
      }
      // Top-k by repeated selection: strict > keeps the lower index on ties; a chosen p is
      // replaced by -1 (every p is >= 0).
      int chosen[kMoeTrainMaxK];
      float value[kMoeTrainMaxK];
      float top_sum = 0.0f;
      for (int i = 0; i < K; ++i) {
        int best = 0;
        for (int e = 1; e < E; ++e)
          if (lg[e] > lg[best]) best = e;
        chosen[i] = best;
        value[i] = lg[best];
        top_sum += lg[best];
        lg[best] = -1.0f;
      }
      for (int i = 0; i < K; ++i) {
        top_expert[r * K + i] = chosen[i];
        top_weight[r * K + i] = normalize ? value[i] / top_sum : value[i];
      }
    }
    __syncwarp();
  }
}

// Chunk b (kStatRows rows): its assignments per expert (shared-memory integer atomics: exact) and
// its column sums of probs (thread e sums column e over the chunk's rows in order).
constexpr int kStatRows = 256;
__global__ void stats_chunk_kernel(int32_t* chunk_counts, double* chunk_psum, const float* probs, const int32_t* te,
                                   int64_t rows, int K, int E) {
  __shared__ int count[kMoeTrainMaxExperts];
  const int b = blockIdx.x, t = threadIdx.x;
  const int64_t r0 = int64_t{b} * kStatRows, r1 = min(rows, r0 + kStatRows);
  if (t < E) count[t] = 0;
  __syncthreads();
  for (int64_t i = r0 * K + t; i < r1 * K; i += blockDim.x) atomicAdd(&count[te[i]], 1);
  __syncthreads();
  if (t < E) {
    double s = 0.0;
    for (int64_t r = r0; r < r1; ++r) s += probs[r * E + t];
    chunk_counts[int64_t{b} * E + t] = count[t];
    chunk_psum[int64_t{b} * E + t] = s;
  }
}

// The chunks added in order: counts[e], stats[e] (count) and stats[E + e] (prob sum).
__global__ void stats_total_kernel(int32_t* counts, double* stats, const int32_t* chunk_counts,
                                   const double* chunk_psum, int chunks, int E) {
  const int e = threadIdx.x;
  if (e >= E) return;
  int c = 0;
  double s = 0.0;
  for (int b = 0; b < chunks; ++b) {
    c += chunk_counts[int64_t{b} * E + e];
    s += chunk_psum[int64_t{b} * E + e];
  }
  counts[e] = c;
  stats[e] = c;
  stats[E + e] = s;
}

// Block (b, e): expert e's assignments in chunk b in ascending order, ranked by a block-wide ballot
// scan, after expert e's earlier chunks (chunk_counts); the last chunk's block also marks the
// expert's padding rows.
__global__ void plan_kernel(int32_t* pos, int32_t* perm_assign, const int32_t* te, const int32_t* counts,
                            const int32_t* chunk_counts, int64_t rows, int K, int E) {
  __shared__ int warp_total[32];
  const int b = blockIdx.x, e = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warps = static_cast<int>(blockDim.x / 32);
  int64_t off = 0;
  for (int j = 0; j < e; ++j) off += moe_padded_rows(counts[j]);
  int64_t base = off;
  for (int j = 0; j < b; ++j) base += chunk_counts[int64_t{j} * E + e];
  const int64_t i0 = int64_t{b} * kStatRows * K, i1 = min(rows, int64_t{b + 1} * kStatRows) * K;
  for (int64_t c0 = i0; c0 < i1; c0 += blockDim.x) {
    const int64_t i = c0 + threadIdx.x;
    const bool mine = i < i1 && te[i] == e;
    const unsigned m = __ballot_sync(kFull, mine);
    if (lane == 0) warp_total[warp] = __popc(m);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < warps; ++w) {
      before += w < warp ? warp_total[w] : 0;
      total += warp_total[w];
    }
    if (mine) {
      const int64_t p = base + before + __popc(m & ((1u << lane) - 1u));
      pos[i] = static_cast<int32_t>(p);
      perm_assign[p] = static_cast<int32_t>(i);
    }
    base += total;
    __syncthreads();
  }
  if (b == static_cast<int>(gridDim.x) - 1) {
    const int cnt = counts[e];
    for (int64_t p = off + cnt + threadIdx.x; p < off + moe_padded_rows(cnt); p += blockDim.x) perm_assign[p] = -1;
  }
}

// kW consecutive elements as floats: 8 through one 16-byte access (aligned), or 1.
template <int kW, class T>
__device__ __forceinline__ void load_n(const T* p, float (&f)[kW]) {
  if constexpr (kW == 8)
    load8(p, f);
  else
    f[0] = to_f32(p[0]);
}
template <int kW, class T>
__device__ __forceinline__ void store_n(T* p, const float (&f)[kW]) {
  if constexpr (kW == 8)
    store8(p, f);
  else
    p[0] = from_f32<T>(f[0]);
}

template <int kW, class T>
__global__ void gather_kernel(T* xp, const T* x, const int32_t* pa, int64_t P, int K, int64_t H) {
  const int64_t per = H / kW, n = P * per;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t p = i / per, c = (i - p * per) * kW;
    const int32_t a = pa[p];
    float f[kW];
    if (a < 0) {
      for (int j = 0; j < kW; ++j) f[j] = 0.0f;
    } else {
      load_n<kW>(x + (a / K) * H + c, f);
    }
    store_n<kW>(xp + p * H + c, f);
  }
}

template <int kW, class T>
__global__ void combine_kernel(float* x_out, const float* mid, const T* y, const int32_t* pos, const int32_t* te,
                               const float* tw, const T* sh, const float* sl, int64_t rows, int K, int64_t H) {
  const int64_t per = H / kW, n = rows * per;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t r = i / per, c = (i - r * per) * kW;
    float acc[kW];
    for (int j = 0; j < kW; ++j) acc[j] = 0.0f;
    in_expert_order(te + r * K, K, [&](int s) {
      float v[kW];
      load_n<kW>(y + int64_t{pos[r * K + s]} * H + c, v);
      const float w = tw[r * K + s];
      for (int j = 0; j < kW; ++j) acc[j] += w * v[j];
    });
    if (sh) {
      const float g = sigmoid_f(sl[r]);
      float v[kW];
      load_n<kW>(sh + r * H + c, v);
      for (int j = 0; j < kW; ++j) acc[j] += g * v[j];
    }
    float m[kW];
    load_n<kW>(mid + r * H + c, m);
    for (int j = 0; j < kW; ++j) acc[j] += m[j];
    store_n<kW>(x_out + r * H + c, acc);
  }
}

template <int kW, class T>
__global__ void expert_output_grad_kernel(T* dyp, float* dweight, const float* dout, const T* y, const int32_t* pa,
                                          const float* tw, int64_t P, int K, int64_t H) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int64_t p = blockIdx.x * int64_t{kWarps} + warp; p < P; p += int64_t{gridDim.x} * kWarps) {
    T* d = dyp + p * H;
    const int32_t a = pa[p];
    if (a < 0) {
      const float zero[kW] = {};
      for (int64_t h = lane * kW; h < H; h += 32 * kW) store_n<kW>(d + h, zero);
      continue;
    }
    const float* g = dout + (a / K) * H;
    const T* yp = y + p * H;
    const float w = tw[a];
    float acc = 0.0f;
    for (int64_t h = lane * kW; h < H; h += 32 * kW) {
      float gv[kW], yv[kW], dv[kW];
      load_n<kW>(g + h, gv);
      load_n<kW>(yp + h, yv);
      for (int j = 0; j < kW; ++j) {
        dv[j] = w * gv[j];
        acc += gv[j] * yv[j];
      }
      store_n<kW>(d + h, dv);
    }
    acc = warp_sum(acc);
    if (lane == 0) dweight[a] = acc;
  }
}

template <class T>
__global__ void router_grad_kernel(float* dl, T* dsh, const float* probs, const int32_t* te, const float* tw,
                                   const float* dweight, const double* dprob, const float* dout, const T* sh,
                                   const float* sl, int64_t rows, int64_t H, int E, int K, bool normalize) {
  constexpr int kPerLane = kMoeTrainMaxExperts / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int Eg = E + (sh ? 1 : 0);
  for (int64_t r = blockIdx.x * int64_t{kWarps} + warp; r < rows; r += int64_t{gridDim.x} * kWarps) {
    if (sh) {
      const float g = sigmoid_f(sl[r]);
      double acc = 0.0;
      for (int64_t h = lane; h < H; h += 32) {
        const float d = dout[r * H + h];
        acc += static_cast<double>(d) * to_f32(sh[r * H + h]);
        dsh[r * H + h] = from_f32<T>(g * d);
      }
      acc = warp_sum(acc);
      if (lane == 0) dl[r * Eg + E] = static_cast<float>(acc * g * (1.0f - g));
    }
    // The routing weights' gradient -> router probabilities (dp) -> logits (softmax backward).
    const float* pr = probs + r * E;
    const int32_t* ter = te + r * K;
    double top_sum = 0.0, wdw = 0.0;
    for (int i = 0; i < K; ++i) {
      top_sum += pr[ter[i]];
      wdw += static_cast<double>(dweight[r * K + i]) * tw[r * K + i];
    }
    double dp[kPerLane];
    double pdp = 0.0;
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + 32 * j;
      dp[j] = 0.0;
      if (e >= E) continue;
      dp[j] = dprob ? dprob[e] : 0.0;
      for (int i = 0; i < K; ++i)
        if (ter[i] == e) dp[j] += normalize ? (dweight[r * K + i] - wdw) / top_sum : dweight[r * K + i];
      pdp += pr[e] * dp[j];
    }
    pdp = warp_sum(pdp);
    for (int j = 0; j < kPerLane; ++j) {
      const int e = lane + 32 * j;
      if (e < E) dl[r * Eg + e] = static_cast<float>(pr[e] * (dp[j] - pdp));
    }
  }
}

template <int kW, class T>
__global__ void input_grad_kernel(T* dx, const T* dxp, const int32_t* pos, const int32_t* te, const float* dl,
                                  const float* rw, const float* sgw, int64_t rows, int K, int64_t H, int E) {
  const int Eg = E + (sgw ? 1 : 0);
  const int64_t per = H / kW, n = rows * per;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t r = i / per, c = (i - r * per) * kW;
    float acc[kW];
    for (int j = 0; j < kW; ++j) acc[j] = 0.0f;
    in_expert_order(te + r * K, K, [&](int s) {
      float v[kW];
      load_n<kW>(dxp + int64_t{pos[r * K + s]} * H + c, v);
      for (int j = 0; j < kW; ++j) acc[j] += v[j];
    });
    for (int e = 0; e < E; ++e) {
      const float d = dl[r * Eg + e];
      float w[kW];
      load_n<kW>(rw + e * H + c, w);
      for (int j = 0; j < kW; ++j) acc[j] += d * w[j];
    }
    if (sgw) {
      const float d = dl[r * Eg + E];
      float w[kW];
      load_n<kW>(sgw + c, w);
      for (int j = 0; j < kW; ++j) acc[j] += d * w[j];
    }
    store_n<kW>(dx + r * H + c, acc);
  }
}

// dl^T x in two passes, for parallelism without float atomics: block (x, y, z) owns 32 columns,
// kGradRows gradient rows (experts, then the shared gate) and chunk z of the token rows; its 8 row
// lanes sum strided rows and are added in lane order into partial[z]; then the chunks are added in
// order into the gradients.
constexpr int kGradRows = 8, kLanes = 8;
template <class T>
__global__ void router_weight_partial_kernel(float* partial, const float* dl, const T* x, int64_t rows, int64_t H,
                                             int Eg, int64_t chunk) {
  __shared__ float part[kLanes][kGradRows][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = blockIdx.x * int64_t{32} + tx;
  const int e0 = blockIdx.y * kGradRows, ne = min(kGradRows, Eg - e0);
  const int64_t r0 = blockIdx.z * chunk, r1 = min(rows, r0 + chunk);
  float acc[kGradRows];
  for (int c = 0; c < kGradRows; ++c) acc[c] = 0.0f;
  if (col < H)
    for (int64_t r = r0 + ty; r < r1; r += kLanes) {
      const float xv = to_f32(x[r * H + col]);
      for (int c = 0; c < kGradRows; ++c)
        if (c < ne) acc[c] += dl[r * Eg + e0 + c] * xv;
    }
  for (int c = 0; c < kGradRows; ++c) part[ty][c][tx] = acc[c];
  __syncthreads();
  for (int c = ty; c < ne; c += kLanes) {
    if (col >= H) continue;
    float s = 0.0f;
    for (int k = 0; k < kLanes; ++k) s += part[k][c][tx];
    partial[(int64_t{blockIdx.z} * Eg + e0 + c) * H + col] = s;
  }
}

__global__ void router_weight_reduce_kernel(float* d_router, float* d_gate, const float* partial, int chunks, int Eg,
                                            int E, int64_t H) {
  const int64_t n = int64_t{Eg} * H;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    float s = 0.0f;
    for (int z = 0; z < chunks; ++z) s += partial[int64_t{z} * n + i];
    const int64_t e = i / H, col = i - e * H;
    float* dst = e < E ? d_router + i : d_gate + col;
    *dst += s;
  }
}

int router_weight_chunks(int64_t rows) { return static_cast<int>(std::clamp<int64_t>((rows + 255) / 256, 1, 64)); }

__global__ void aux_loss_kernel(double* loss, double* dprob, const double* stats, int L, int E, int64_t rows_total,
                                double scale) {
  __shared__ double terms[kMoeTrainMaxExperts];
  const int e = threadIdx.x;
  const double n = static_cast<double>(rows_total);
  if (e < E) {
    double c = 0.0, ps = 0.0;
    for (int l = 0; l < L; ++l) {
      c += stats[int64_t{l} * 2 * E + e];
      ps += stats[int64_t{l} * 2 * E + E + e];
    }
    terms[e] = (c / n) * (ps / n);
    dprob[e] = scale * E * c / (n * n);
  }
  __syncthreads();
  if (e == 0 && loss) {
    double s = 0.0;
    for (int j = 0; j < E; ++j) s += terms[j];
    *loss = E * s;
  }
}

bool vec8(int64_t H, std::initializer_list<const void*> ptrs) {
  if (H % 8 != 0) return false;
  for (const void* p : ptrs)
    if (p && !aligned16(p)) return false;
  return true;
}

}  // namespace

template <class T>
void moe_route(float* probs, int32_t* top_expert, float* top_weight, float* shared_logit, const T* x,
               const float* router_w, const float* shared_gate_w, int64_t rows, int64_t hidden, int experts, int k,
               bool normalize, cudaStream_t stream) {
  require(experts > 0 && experts <= kMoeTrainMaxExperts && k > 0 && k <= kMoeTrainMaxK && k <= experts,
          "moe train", "experts must be in [1, 256] and top-k in [1, min(16, experts)]");
  if (rows <= 0) return;
  route_kernel<T><<<warp_blocks(rows), kWarps * 32, 0, stream>>>(probs, top_expert, top_weight, shared_logit, x,
                                                                 router_w, shared_gate_w, rows, hidden, experts, k,
                                                                 normalize);
  check_launch("moe route_kernel");
}

int64_t moe_stat_chunks(int64_t rows) { return std::max<int64_t>(1, (rows + kStatRows - 1) / kStatRows); }

void moe_stats(int32_t* counts, double* stats, int32_t* chunk_counts, double* chunk_psum, const float* probs,
               const int32_t* top_expert, int64_t rows, int k, int experts, cudaStream_t stream) {
  const int64_t chunks = moe_stat_chunks(rows);
  stats_chunk_kernel<<<static_cast<unsigned>(chunks), kMoeTrainMaxExperts, 0, stream>>>(chunk_counts, chunk_psum, probs,
                                                                                       top_expert, rows, k, experts);
  check_launch("moe stats_chunk_kernel");
  stats_total_kernel<<<1, kMoeTrainMaxExperts, 0, stream>>>(counts, stats, chunk_counts, chunk_psum,
                                                            static_cast<int>(chunks), experts);
  check_launch("moe stats_total_kernel");
}

void moe_plan(int32_t* pos, int32_t* perm_assign, const int32_t* top_expert, const int32_t* counts,
              const int32_t* chunk_counts, int64_t rows, int k, int experts, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(moe_stat_chunks(rows)), static_cast<unsigned>(experts));
  plan_kernel<<<grid, 256, 0, stream>>>(pos, perm_assign, top_expert, counts, chunk_counts, rows, k, experts);
  check_launch("moe plan_kernel");
}

template <class T>
void moe_gather(T* xp, const T* x, const int32_t* perm_assign, int64_t permuted, int k, int64_t hidden,
                cudaStream_t stream) {
  if (permuted <= 0) return;
  if (vec8(hidden, {xp, x}))
    gather_kernel<8, T><<<grid_for(permuted * hidden / 8, 256), 256, 0, stream>>>(xp, x, perm_assign, permuted, k,
                                                                                  hidden);
  else
    gather_kernel<1, T><<<grid_for(permuted * hidden, 256), 256, 0, stream>>>(xp, x, perm_assign, permuted, k, hidden);
  check_launch("moe gather_kernel");
}

template <class T>
void moe_combine(float* x_out, const float* mid, const T* y, const int32_t* pos, const int32_t* top_expert,
                 const float* top_weight, const T* shared_out, const float* shared_logit, int64_t rows, int k,
                 int64_t hidden, cudaStream_t stream) {
  if (rows <= 0) return;
  if (vec8(hidden, {x_out, mid, y, shared_out}))
    combine_kernel<8, T><<<grid_for(rows * hidden / 8, 256), 256, 0, stream>>>(
        x_out, mid, y, pos, top_expert, top_weight, shared_out, shared_logit, rows, k, hidden);
  else
    combine_kernel<1, T><<<grid_for(rows * hidden, 256), 256, 0, stream>>>(
        x_out, mid, y, pos, top_expert, top_weight, shared_out, shared_logit, rows, k, hidden);
  check_launch("moe combine_kernel");
}

template <class T>
void moe_expert_output_grad(T* dyp, float* dweight, const float* dout, const T* y, const int32_t* perm_assign,
                            const float* top_weight, int64_t permuted, int k, int64_t hidden, cudaStream_t stream) {
  if (permuted <= 0) return;
  if (vec8(hidden, {dyp, dout, y}))
    expert_output_grad_kernel<8, T><<<warp_blocks(permuted), kWarps * 32, 0, stream>>>(
        dyp, dweight, dout, y, perm_assign, top_weight, permuted, k, hidden);
  else
    expert_output_grad_kernel<1, T><<<warp_blocks(permuted), kWarps * 32, 0, stream>>>(
        dyp, dweight, dout, y, perm_assign, top_weight, permuted, k, hidden);
  check_launch("moe expert_output_grad_kernel");
}

template <class T>
void moe_router_grad(float* dl, T* dshared, const float* probs, const int32_t* top_expert, const float* top_weight,
                     const float* dweight, const double* dprob, const float* dout, const T* shared_out,
                     const float* shared_logit, int64_t rows, int64_t hidden, int experts, int k, bool normalize,
                     cudaStream_t stream) {
  if (rows <= 0) return;
  router_grad_kernel<T><<<warp_blocks(rows), kWarps * 32, 0, stream>>>(dl, dshared, probs, top_expert, top_weight,
                                                                       dweight, dprob, dout, shared_out, shared_logit,
                                                                       rows, hidden, experts, k, normalize);
  check_launch("moe router_grad_kernel");
}

template <class T>
void moe_input_grad(T* dx, const T* dxp, const int32_t* pos, const int32_t* top_expert, const float* dl,
                    const float* router_w, const float* shared_gate_w, int64_t rows, int k, int64_t hidden,
                    int experts, cudaStream_t stream) {
  if (rows <= 0) return;
  if (vec8(hidden, {dx, dxp, router_w, shared_gate_w}))
    input_grad_kernel<8, T><<<grid_for(rows * hidden / 8, 256), 256, 0, stream>>>(
        dx, dxp, pos, top_expert, dl, router_w, shared_gate_w, rows, k, hidden, experts);
  else
    input_grad_kernel<1, T><<<grid_for(rows * hidden, 256), 256, 0, stream>>>(
        dx, dxp, pos, top_expert, dl, router_w, shared_gate_w, rows, k, hidden, experts);
  check_launch("moe input_grad_kernel");
}

size_t moe_router_weight_grad_scratch_floats(int64_t rows, int64_t hidden, int experts) {
  return static_cast<size_t>(router_weight_chunks(rows)) * static_cast<size_t>((experts + 1) * hidden);
}

template <class T>
void moe_router_weight_grad(float* d_router, float* d_shared_gate, const float* dl, const T* x, int64_t rows,
                            int64_t hidden, int experts, float* scratch, cudaStream_t stream) {
  if (rows <= 0 || hidden <= 0) return;
  const int Eg = experts + (d_shared_gate ? 1 : 0), chunks = router_weight_chunks(rows);
  const int64_t chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned>((hidden + 31) / 32), static_cast<unsigned>((Eg + kGradRows - 1) / kGradRows),
                  static_cast<unsigned>(chunks));
  router_weight_partial_kernel<T><<<grid, dim3(32, kLanes), 0, stream>>>(scratch, dl, x, rows, hidden, Eg, chunk);
  check_launch("moe router_weight_partial_kernel");
  router_weight_reduce_kernel<<<grid_for(Eg * hidden, 256), 256, 0, stream>>>(d_router, d_shared_gate, scratch, chunks,
                                                                              Eg, experts, hidden);
  check_launch("moe router_weight_reduce_kernel");
}

void moe_aux_loss(double* loss, double* dprob, const double* stats, int layers, int experts, int64_t rows_total,
                  double scale, cudaStream_t stream) {
  if (rows_total <= 0) return;
  aux_loss_kernel<<<1, kMoeTrainMaxExperts, 0, stream>>>(loss, dprob, stats, layers, experts, rows_total, scale);
  check_launch("moe aux_loss_kernel");
}

#define NOVA_MOE_TRAIN(T)                                                                                            \
  template void moe_route<T>(float*, int32_t*, float*, float*, const T*, const float*, const float*, int64_t,        \
                             int64_t, int, int, bool, cudaStream_t);                                                 \
  template void moe_gather<T>(T*, const T*, const int32_t*, int64_t, int, int64_t, cudaStream_t);                    \
  template void moe_combine<T>(float*, const float*, const T*, const int32_t*, const int32_t*, const float*,         \
                               const T*, const float*, int64_t, int, int64_t, cudaStream_t);                         \
  template void moe_expert_output_grad<T>(T*, float*, const float*, const T*, const int32_t*, const float*, int64_t, \
                                          int, int64_t, cudaStream_t);                                               \
  template void moe_router_grad<T>(float*, T*, const float*, const int32_t*, const float*, const float*,             \
                                   const double*, const float*, const T*, const float*, int64_t, int64_t, int, int,  \
                                   bool, cudaStream_t);                                                              \
  template void moe_input_grad<T>(T*, const T*, const int32_t*, const int32_t*, const float*, const float*,          \
                                  const float*, int64_t, int, int64_t, int, cudaStream_t);                           \
  template void moe_router_weight_grad<T>(float*, float*, const float*, const T*, int64_t, int64_t, int, float*,     \
                                          cudaStream_t);
NOVA_MOE_TRAIN(float)
NOVA_MOE_TRAIN(bf16)
#undef NOVA_MOE_TRAIN

}  // namespace nova::kernels::cuda::train
