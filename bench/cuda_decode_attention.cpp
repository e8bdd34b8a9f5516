// bench_cuda_decode_attention: the decode attention kernels alone, per call, beside the
// device-to-device copy bandwidth measured in the same run. Llama-3.2-1B heads (8 kv heads of
// 64, group 4) and Llama-3.1-8B heads (8 kv heads of 128, group 4); a paged bf16 cache of
// 16-slot blocks (shuffled); one decode row per sequence at contexts 512 / 4k / 32k, batch 1 and
// 32. Each point cycles through enough copies of the cache (>= 256 MiB in all) that a call finds
// its K/V outside L2, as a decode step does; calls are replayed from a CUDA graph and timed with
// events (median of 7). GB/s counts the K/V bytes read once.
// Usage: bench_cuda_decode_attention [--contexts 512,4096,32768] [--batches 1,32] [--old 1] [--spare 0]
//                                    [--rope 0]
//   --old 1 also times the general kernel (attention.cu) at its own flash-decoding split count.
//   --spare N sizes the splits for a cache of context + N positions (a session's capacity is its
//   prompt + decode budget: 512 + 72 in bench_cuda_decode). --rope 1 also times the kernel with
//   RoPE and the K/V store fused in (AttnArgs::rope_cos: each call rotates q, writes the new row).
#ifdef NOVA_HAVE_CUDA

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cuda_bench_util.h"
#include "kernels/cuda/ops.cuh"

namespace {

namespace kc = nova::kernels::cuda;
using nova::bench::cuda_ok;

struct Heads {
  const char* name;
  int kv_heads, group, D;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Bytes read + written per second of a 1 GiB device-to-device copy (best of 5).
double copy_gbs() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  cuda_ok(cudaMalloc(&a, bytes), "cudaMalloc");
  cuda_ok(cudaMalloc(&b, bytes), "cudaMalloc");
  cuda_ok(cudaMemset(a, 1, bytes), "cudaMemset");
  const std::vector<double> ms =
      nova::bench::cuda_event_ms(5, [&] { cuda_ok(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice), "copy"); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(bytes) / (*std::min_element(ms.begin(), ms.end()) * 1e-3) / 1e9;
}

// Device memory filled with random bf16 values.
void* random_bf16(size_t n, uint32_t seed) {
  std::vector<__nv_bfloat16> h(std::min<size_t>(n, size_t{1} << 24));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& x : h) x = __float2bfloat16_rn(d(rng));
  void* p = nullptr;
  cuda_ok(cudaMalloc(&p, n * sizeof(__nv_bfloat16)), "cudaMalloc");
  for (size_t off = 0; off < n; off += h.size())
    cuda_ok(cudaMemcpy(static_cast<__nv_bfloat16*>(p) + off, h.data(), std::min(h.size(), n - off) * 2,
                       cudaMemcpyHostToDevice),
            "cudaMemcpy");
  return p;
}

struct Point {
  double us, gbs;
};

// us per call and K/V GB/s of `decode` (the new kernel) or the general one, `batch` sequences
// of `context` keys each.
Point time_point(const Heads& h, int64_t context, int batch, bool decode, int sm_count, int64_t spare = 0,
                 bool rope = false, int* splits_used = nullptr) {
  const int64_t bs = 16, blocks_per_seq = (context + spare + bs - 1) / bs;
  const int64_t q_heads = int64_t{h.kv_heads} * h.group;
  const size_t cache_elems = static_cast<size_t>(batch * blocks_per_seq * bs * h.kv_heads * h.D);
  const double kv_bytes = 2.0 * 2.0 * double(batch) * double(context) * h.kv_heads * h.D;
  const int copies = static_cast<int>(std::clamp<double>(std::ceil(256e6 / kv_bytes), 1, 64));
  std::vector<void*> ks, vs;
  for (int c = 0; c < copies; ++c) {
    ks.push_back(random_bf16(cache_elems, 10 + c));
    vs.push_back(random_bf16(cache_elems, 100 + c));
  }
  void* q = random_bf16(static_cast<size_t>(batch * q_heads * h.D), 5);
  void* out = nullptr;
  cuda_ok(cudaMalloc(&out, static_cast<size_t>(batch * q_heads * h.D) * 2), "cudaMalloc");

  std::vector<kc::AttnSeq> seqs;
  std::vector<int32_t> tables(static_cast<size_t>(batch * blocks_per_seq));
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), std::mt19937(3));
  std::vector<kc::AttnTile> tiles;
  const int tile_rows = decode ? kc::kAttnDecodeRows : kc::kAttnTileRows;
  for (int s = 0; s < batch; ++s) {
    seqs.push_back({s, 1, context - 1, s * blocks_per_seq});
    for (int v0 = 0; v0 < h.group; v0 += tile_rows) tiles.push_back({s, v0, std::min(tile_rows, h.group - v0)});
  }
  const int64_t blocks = static_cast<int64_t>(tiles.size()) * h.kv_heads;
  const int64_t max_keys = blocks_per_seq * bs;
  int splits = 1;
  if (decode) splits = kc::attention_decode_splits(blocks, max_keys, sm_count);
  else if (blocks < sm_count)  // cuda_backend.cu's sizing for the general kernel
    splits = static_cast<int>(std::min<int64_t>({(2 * sm_count + blocks - 1) / blocks, (max_keys + 31) / 32,
                                                 int64_t{kc::kAttnMaxSplits}}));
  if (splits_used) *splits_used = splits;
  auto upload = [](const auto& v) {
    void* p = nullptr;
    const size_t bytes = v.size() * sizeof(v[0]);
    cuda_ok(cudaMalloc(&p, bytes), "cudaMalloc");
    cuda_ok(cudaMemcpy(p, v.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    return p;
  };
  void* dseqs = upload(seqs);
  void* dtiles = upload(tiles);
  void* dtables = upload(tables);
  float* part = nullptr;
  int* counters = nullptr;
  cuda_ok(cudaMalloc(&part, sizeof(float) * size_t(splits) * batch * q_heads * (h.D + 2)), "cudaMalloc");
  cuda_ok(cudaMalloc(&counters, sizeof(int) * tiles.size() * h.kv_heads), "cudaMalloc");
  cuda_ok(cudaMemset(counters, 0, sizeof(int) * tiles.size() * h.kv_heads), "cudaMemset");

  kc::AttnArgs a;
  std::memset(&a, 0, sizeof a);
  a.seqs = static_cast<const kc::AttnSeq*>(dseqs);
  a.tiles = static_cast<const kc::AttnTile*>(dtiles);
  a.tables = static_cast<const int32_t*>(dtables);
  a.q = q;
  a.block_size = bs;
  a.num_tiles = static_cast<int>(tiles.size());
  a.q_heads = static_cast<int>(q_heads);
  a.kv_heads = h.kv_heads;
  a.head_dim = h.D;
  a.splits = splits;
  a.tile_rows = std::min(tile_rows, h.group);
  a.total_rows = batch;
  a.scale = 0.125f;
  a.act = nova::DType::BF16;
  a.kv = nova::DType::BF16;
  a.out = out;
  void* new_kv = nullptr;
  float* rope_table = nullptr;
  if (rope) {  // this step's k / v rows (as q: random bf16) and cos / sin of half 32 / 64
    const size_t kv_elems = static_cast<size_t>(batch * h.kv_heads * h.D);
    new_kv = random_bf16(2 * kv_elems, 7);
    const std::vector<float> tab(static_cast<size_t>(batch * h.D), 0.6f);  // cos rows, then sin rows
    rope_table = static_cast<float*>(upload(tab));
    a.new_k = new_kv;
    a.new_v = static_cast<__nv_bfloat16*>(new_kv) + kv_elems;
    a.rope_cos = rope_table;
    a.rope_sin = rope_table + batch * h.D / 2;
    a.rope_half = h.D / 2;
  }
  if (splits > 1) {
    a.part_o = part;
    a.part_ml = part + size_t(splits) * batch * q_heads * h.D;
    a.counters = counters;
  }
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const int calls = std::max(copies, 8);
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  for (int i = 0; i < calls; ++i) {
    a.k = ks[i % copies];
    a.v = vs[i % copies];
    if (decode) kc::launch_attention_decode(a, s);
    else kc::launch_attention(a, s);
  }
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  cuda_ok(cudaStreamEndCapture(s, &g), "cudaStreamEndCapture");
  cuda_ok(cudaGraphInstantiate(&ge, g, 0), "cudaGraphInstantiate");
  std::vector<double> us =
      nova::bench::cuda_event_ms(7, [&] { cuda_ok(cudaGraphLaunch(ge, s), "cudaGraphLaunch"); }, s);
  for (double& t : us) t *= 1e3 / calls;  // ms per replay -> us per call
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  for (void* p : ks) cudaFree(p);
  for (void* p : vs) cudaFree(p);
  for (void* p : {q, out, dseqs, dtiles, dtables, static_cast<void*>(part), static_cast<void*>(counters), new_kv,
                  static_cast<void*>(rope_table)})
    cudaFree(p);
  const double t = median(us);
  return {t, kv_bytes / (t * 1e-6) / 1e9};
}

std::vector<int64_t> int_list(const std::string& s) {
  std::vector<int64_t> v;
  for (const std::string& x : nova::bench::split_list(s)) v.push_back(std::atoll(x.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> contexts = {512, 4096, 32768}, batches = {1, 32};
  bool old = true, rope = false;
  int64_t spare = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--contexts") contexts = int_list(v);
    else if (a == "--batches") batches = int_list(v);
    else if (a == "--old") old = v != "0";
    else if (a == "--spare") spare = std::atoll(v.c_str());
    else if (a == "--rope") rope = v != "0";
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    int sm_count = 0;
    cuda_ok(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0), "cudaDeviceGetAttribute");
    cudaDeviceProp prop{};
    cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    kc::prepare_attention();
    const double copy = copy_gbs();
    std::printf("device %s (%d SMs); copy bandwidth %.0f GB/s (read + write)\n", prop.name, sm_count, copy);
    std::printf("%-4s %7s %5s %6s | %10s %8s %6s |%s %10s %8s\n", "head", "context", "batch", "splits", "decode us",
                "GB/s", "%copy", rope ? " +rope us" : "", old ? "general us" : "", old ? "GB/s" : "");
    const Heads heads[] = {{"1b", 8, 4, 64}, {"8b", 8, 4, 128}};
    for (const Heads& h : heads)
      for (int64_t ctx : contexts)
        for (int64_t b : batches) {
          int splits = 0;
          const Point d = time_point(h, ctx, static_cast<int>(b), true, sm_count, spare, false, &splits);
          std::printf("%-4s %7lld %5lld %6d | %10.2f %8.0f %5.0f%% |", h.name, static_cast<long long>(ctx),
                      static_cast<long long>(b), splits, d.us, d.gbs, 100.0 * d.gbs / copy);
          if (rope) std::printf(" %8.2f", time_point(h, ctx, static_cast<int>(b), true, sm_count, spare, true).us);
          if (old) {
            const Point g = time_point(h, ctx, static_cast<int>(b), false, sm_count);
            std::printf(" %10.2f %8.0f", g.us, g.gbs);
          }
          std::printf("\n");
          std::fflush(stdout);
        }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

#else
#include <cstdio>
int main() {
  std::puts("bench_cuda_decode_attention: built without CUDA");
  return 0;
}
#endif
