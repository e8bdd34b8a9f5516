// bench_cuda_prefill_ops: where a prefill's time goes on the GPU — each op of one transformer layer
// of the Llama-3.2-1B / Llama-3.1-8B shapes at M prompt tokens, timed alone through
// kernels::Backend (plain launches, NOVA_CUDA_GRAPHS=0; best of 5 after a warm-up, each a batch of
// calls closed by a download), in the activation dtype given (bf16: BF16 activations and KV cache,
// the Transformer's BF16 mode; f32: its F32 mode). GEMMs and attention print TFLOP/s (attention:
// causal, 4 T^2 d / 2 per head), elementwise ops GB/s of their own reads + writes.
// Then (--forward 1, the default) a whole 1B prefill at each token count, run the ways a user's
// prompt runs (bench_cuda_decode's, nova generate's) and in parts: where its wall time goes.
// Usage: bench_cuda_prefill_ops [--models 1b,8b] [--tokens 512,8192] [--act bf16|f32] [--device cuda]
//                               [--forward 0|1] [--algos 1: each layer GEMM under cuBLASLt's top algorithms]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "bench_util.h"
#ifdef NOVA_HAVE_CUDA
#include "cuda_bench_util.h"
#endif
#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/rope_frequencies.h"
#include "model/transformer.h"
#include "random_model.h"

namespace {

using nova::DType;
using nova::Tensor;
using nova::kernels::Backend;

struct Shape {
  std::string name;
  int64_t hidden, inter, heads, kv_heads, head_dim;
};
const Shape kShapes[] = {{"1b", 2048, 8192, 32, 8, 64}, {"8b", 4096, 14336, 32, 8, 128}};

// A tensor of small finite values (a fixed pattern: only the timing matters here).
Tensor filled(Backend& be, DType dt, std::vector<int64_t> shape) {
  Tensor host = Tensor::zeros(dt, shape);
  for (int64_t i = 0; i < host.numel(); ++i) {
    const float v = 0.02f * static_cast<float>((i * 37 + 11) % 101 - 50) / 50.0f;
    if (dt == DType::F32) host.data_as<float>()[i] = v;
    else host.data_as<uint16_t>()[i] = nova::f32_to_bf16(v);
  }
  return be.upload(host);
}

double last_host_seconds = 0;  // seconds_per_call's last host time per call

// The best of 5 batches of 5 calls, each closed by a download; *host gets the best host time to
// enqueue one call (before the download), which bounds the wall time of ops the host cannot
// launch as fast as the GPU runs them (a prefill launches its ops one by one).
template <class Fn>
double seconds_per_call(Backend& be, Fn&& fn, double* host = nullptr) {
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  fn();
  be.download(tiny, &sink);
  double best = 1e30, best_host = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = nova::bench::now_seconds();
    for (int i = 0; i < 5; ++i) fn();
    best_host = std::min(best_host, (nova::bench::now_seconds() - t0) / 5);
    be.download(tiny, &sink);
    best = std::min(best, (nova::bench::now_seconds() - t0) / 5);
  }
  if (host) *host = best_host;
  last_host_seconds = best_host;
  return best;
}

void run(Backend& be, const Shape& s, int64_t M, DType act) {
  const int64_t H = s.hidden, I = s.inter, D = s.head_dim, Hq = s.heads, Hkv = s.kv_heads;
  const float eps = 1e-5f;
  Tensor x = filled(be, DType::F32, {M, H}), h = be.empty(act, {M, H});
  // q|k|v and gate|up back to back in one allocation each, as the model loader places them
  // (the backend then runs one GEMM per group); "apart" rows time separately allocated copies.
  const Tensor wqkv = filled(be, DType::BF16, {(Hq + 2 * Hkv) * D, H}), wgu = filled(be, DType::BF16, {2 * I, H});
  Tensor wq = wqkv.slice_rows(0, Hq * D), wk = wqkv.slice_rows(Hq * D, (Hq + Hkv) * D),
         wv = wqkv.slice_rows((Hq + Hkv) * D, (Hq + 2 * Hkv) * D), wo = filled(be, DType::BF16, {H, Hq * D});
  Tensor wg = wgu.slice_rows(0, I), wu = wgu.slice_rows(I, 2 * I);
  // (Apart: with a gap of 16 rows between parts, so they are never back to back by chance.)
  const Tensor gapped_qkv = filled(be, DType::BF16, {(Hq + 2 * Hkv) * D + 32, H});
  const Tensor wq_apart = gapped_qkv.slice_rows(0, Hq * D),
               wk_apart = gapped_qkv.slice_rows(Hq * D + 16, (Hq + Hkv) * D + 16),
               wv_apart = gapped_qkv.slice_rows((Hq + Hkv) * D + 32, (Hq + 2 * Hkv) * D + 32);
  const Tensor gapped_gu = filled(be, DType::BF16, {2 * I + 16, H});
  const Tensor wg_apart = gapped_gu.slice_rows(0, I), wu_apart = gapped_gu.slice_rows(I + 16, 2 * I + 16);
  Tensor wd = filled(be, DType::BF16, {H, I});
  Tensor nw = filled(be, DType::F32, {H});
  Tensor q = be.empty(act, {M, Hq, D}), k = be.empty(act, {M, Hkv, D}), v = be.empty(act, {M, Hkv, D});
  Tensor attn = be.alloc(act, {M, Hq, D}), proj = be.empty(act, {M, H}), gate = be.empty(act, {M, I});
  Tensor kc = be.alloc(act, {M, Hkv, D}), vc = be.alloc(act, {M, Hkv, D});
  Tensor cos = filled(be, DType::F32, {M, D / 2}), sin = filled(be, DType::F32, {M, D / 2});
  std::vector<int32_t> rows(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) rows[i] = static_cast<int32_t>(i);
  const double ab = double(nova::dtype_size(act));
  struct Row {
    const char* name;
    double sec, flops, bytes, host = 0;
  };
  std::vector<Row> out;
  // Each row with the host time of its own seconds_per_call (called just before).
  auto add = [&](Row r) {
    r.host = last_host_seconds;
    out.push_back(r);
  };
  auto gemm = [&](const char* name, const Tensor& in, const Tensor& w, Tensor& y) {
    const double t = seconds_per_call(be, [&] { be.linear(in, w, nullptr, y); });
    add({name, t, 2.0 * double(M) * double(w.dim(0)) * double(w.dim(1)), 0});
  };
  add({"add_rmsnorm", seconds_per_call(be, [&] { be.add_rmsnorm(x, proj, nw, eps, h); }), 0,
                 double(M * H) * (4 + ab + 4 + ab)});
  const Backend::LinearPart qkv[] = {{&wq, nullptr, &q}, {&wk, nullptr, &k}, {&wv, nullptr, &v}};
  const double qkv_flops = 2.0 * double(M) * double((Hq + 2 * Hkv) * D) * double(H);
  add({"q|k|v (linears)", seconds_per_call(be, [&] { be.linears(h, qkv); }), qkv_flops, 0});
  {
    const Backend::LinearPart apart[] = {{&wq_apart, nullptr, &q}, {&wk_apart, nullptr, &k}, {&wv_apart, nullptr, &v}};
    add({"q|k|v apart", seconds_per_call(be, [&] { be.linears(h, apart); }), qkv_flops, 0});
  }
  add({"q|k|v + rope_store", seconds_per_call(be, [&] { be.linears_rope_store_kv(h, qkv, cos, sin, rows, kc, vc); }),
       qkv_flops, 0});  // as a layer runs them (one GEMM, one kernel when packed)
  add({"rope_store_kv", seconds_per_call(be, [&] { be.rope_store_kv(q, k, v, cos, sin, rows, kc, vc); }), 0,
                 double(M * (Hq + 2 * Hkv) * D) * ab * 2 + double(M * 2 * Hkv * D) * ab});
  {
    const float scale = 1.0f / std::sqrt(float(D));
    const double t = seconds_per_call(be, [&] { be.attention(q, kc, vc, 0, 0, scale, attn); });
    add({"attention (causal)", t, 4.0 * double(M) * double(M) * double(D) * double(Hq) / 2, 0});
  }
  Tensor a2 = attn.reshape({M, Hq * D});
  gemm("o", a2, wo, proj);
  add({"gate|up + swiglu", seconds_per_call(be, [&] { be.linear_swiglu(h, wg, wu, gate); }),
                 4.0 * double(M) * double(I) * double(H), 0});
  add({"gate|up apart", seconds_per_call(be, [&] { be.linear_swiglu(h, wg_apart, wu_apart, gate); }),
                 4.0 * double(M) * double(I) * double(H), 0});
  {
    Tensor up = be.empty(act, {M, I});
    const double t = seconds_per_call(be, [&] { be.swiglu(gate, up, gate); });
    add({"swiglu alone", t, 0, double(M * I) * ab * 3});
  }
  gemm("down", gate, wd, proj);
  double total = 0;
  std::printf("\n== %s, %lld tokens, %s activations: one layer\n", s.name.c_str(), (long long)M,
              std::string(nova::dtype_name(act)).c_str());
  for (const Row& r : out) {
    const std::string n = r.name;
    // The layer: fused q|k|v + rope_store, attention, o, norms, gate|up + swiglu, down.
    if (n != "swiglu alone" && n.find("apart") == std::string::npos && n != "q|k|v (linears)" && n != "rope_store_kv")
      total += r.sec;
    std::printf("  %-20s %9.1f us (host %5.1f us)", r.name, r.sec * 1e6, r.host * 1e6);
    if (r.flops > 0) std::printf("  %7.1f TFLOP/s", r.flops / r.sec / 1e12);
    if (r.bytes > 0) std::printf("  %7.0f GB/s", r.bytes / r.sec / 1e9);
    std::printf("\n");
  }
  std::printf("  layer total %.1f us (the fused q|k|v + rope_store row, not its parts; no 'apart' rows, no 'swiglu alone')\n",
              total * 1e6);
}

#ifdef NOVA_HAVE_CUDA
// The layer's GEMMs as LtMatmul runs them (y[M, N] = x[M, K] W[N, K]^T, bf16 in and out, fp32
// accumulation, 32 MB workspace) with each of cuBLASLt's top heuristic algorithms, event-timed
// (median of 20): how much a choice by timing would gain over the heuristic's first, which the
// backend takes (lt_matmul.cu).
void gemm_algos(const Shape& s, int64_t M) {
  using nova::bench::cuda_ok;
  struct G {
    const char* name;
    int64_t N, K;
  };
  const G gemms[] = {{"q|k|v", (s.heads + 2 * s.kv_heads) * s.head_dim, s.hidden},
                     {"o", s.hidden, s.heads * s.head_dim},
                     {"gate|up", 2 * s.inter, s.hidden},
                     {"down", s.hidden, s.inter}};
  cublasLtHandle_t lt = nullptr;
  cuda_ok(cublasLtCreate(&lt), "cublasLtCreate");
  const size_t ws_bytes = size_t{32} << 20;
  void* ws = nullptr;
  cuda_ok(cudaMalloc(&ws, ws_bytes), "cudaMalloc");
  std::printf("\n== %s, %lld tokens: cuBLASLt algorithms per GEMM (bf16, median of 20 event-timed calls)\n",
              s.name.c_str(), (long long)M);
  for (const G& g : gemms) {
    void *x = nullptr, *w = nullptr, *y = nullptr;
    const size_t xb = size_t(M * g.K) * 2, wb = size_t(g.N * g.K) * 2, yb = size_t(M * g.N) * 2;
    cuda_ok(cudaMalloc(&x, xb), "cudaMalloc");
    cuda_ok(cudaMalloc(&w, wb), "cudaMalloc");
    cuda_ok(cudaMalloc(&y, yb), "cudaMalloc");
    {
      std::vector<uint16_t> host(std::max(xb, wb) / 2);
      nova::bench::XorShift rng;
      for (auto& v : host) v = nova::f32_to_bf16(0.05f * rng.uniform());
      cuda_ok(cudaMemcpy(x, host.data(), xb, cudaMemcpyHostToDevice), "cudaMemcpy");
      cuda_ok(cudaMemcpy(w, host.data(), wb, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    cuda_ok(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cuda_ok(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "TRANSA");
    cuda_ok(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "TRANSB");
    cuda_ok(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, g.K, g.N, g.K), "layout A");
    cuda_ok(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, g.K, M, g.K), "layout B");
    cuda_ok(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, g.N, M, g.N), "layout C");
    cublasLtMatmulPreference_t pref = nullptr;
    cuda_ok(cublasLtMatmulPreferenceCreate(&pref), "preference");
    cuda_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                 sizeof ws_bytes),
            "workspace");
    cublasLtMatmulHeuristicResult_t algos[16];
    int found = 0;
    cuda_ok(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 16, algos, &found), "heuristic");
    const double flops = 2.0 * double(M) * double(g.N) * double(g.K);
    double first = 0, best = 1e30;
    int best_i = -1;
    std::string times;
    for (int i = 0; i < found; ++i) {
      const float alpha = 1, beta = 0;
      std::vector<double> ms;
      try {
        ms = nova::bench::cuda_event_ms(20, [&] {
          cuda_ok(cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &algos[i].algo, ws, ws_bytes,
                                 nullptr),
                  "cublasLtMatmul");
        });
      } catch (const std::exception&) {
        cudaGetLastError();
        times += " (fail)";
        continue;
      }
      std::sort(ms.begin(), ms.end());
      const double us = ms[ms.size() / 2] * 1e3;
      if (i == 0) first = us;
      if (us < best) best = us, best_i = i;
      char b[32];
      std::snprintf(b, sizeof b, " %.1f", us);
      times += b;
    }
    std::printf("  %-8s N %6lld K %6lld: heuristic's first %7.1f us (%5.1f TFLOP/s), best #%d %7.1f us (%5.1f TFLOP/s); "
                "all us:%s\n",
                g.name, (long long)g.N, (long long)g.K, first, flops / first / 1e6, best_i, best, flops / best / 1e6,
                times.c_str());
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cudaFree(x);
    cudaFree(w);
    cudaFree(y);
  }
  cudaFree(ws);
  cublasLtDestroy(lt);
}
#endif

// A whole prefill of the 1B shape (random bf16 weights, Llama-3.2-1B dimensions, tied head), and
// where its wall time goes beyond the forward's kernels. Each row: best and median of 7 (after a
// warm-up) of one way to run the prompt, from a fresh session each time:
//   as bench_cuda_decode  new_session, then the timer around Session::forward (logits downloaded
//                         to the host); whatever new_session left queued runs inside the timer
//   as nova generate      the timer around new_session + forward_logits + the greedy token on the
//                         device (Backend::sample_rows: only the id comes back), as generate() runs
//   forward + download    new_session and a synchronisation first, then Session::forward
//   forward_logits        new_session and a synchronisation first, then forward_logits and a
//                         synchronisation; "host" is the time until forward_logits returns (every
//                         op enqueued: a prefill launches its ops directly), so a gap between the
//                         kernels' sum (ncu) and the wall time can be told apart: host-bound
//                         (host ~ wall) or idle GPU between kernels (host << wall)
// and the parts alone: new_session + a synchronisation, the logits' download (one row of the
// vocabulary, F32), the host's RoPE table for the prompt (model::rope_table).
void forward(Backend& be, const std::vector<int64_t>& tokens) {
  namespace fs = std::filesystem;
  const int64_t H = 2048, I = 8192, L = 16, V = 128256;
  const std::string dir = (fs::temp_directory_path() / ("nova_prefill_fwd_" + std::to_string(getpid()))).string();
  fs::create_directories(dir);
  {
    std::vector<uint16_t> pool(static_cast<size_t>(V * H));
    nova::bench::XorShift rng;
    for (auto& v : pool) v = nova::f32_to_bf16(0.02f * rng.uniform());
    const int64_t max_t = *std::max_element(tokens.begin(), tokens.end());
    nova::bench::write_random_llama(dir, {H, I, L, 32, 8, V, true, max_t + 64, 500000.0},
                                    [&](int64_t r, int64_t c, float) { return Tensor::view(DType::BF16, {r, c}, pool.data()); });
  }
  auto model = nova::model::Transformer::create(nova::formats::load_hf_config(dir + "/config.json"),
                                                nova::formats::Checkpoint::open_dir(dir), be);
  fs::remove_all(dir);
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  auto sync = [&] { be.download(tiny, &sink); };
  // Best and median (ms) of 7 timed runs after one warm-up; fn returns its seconds.
  auto stats = [](auto&& fn) {
    std::vector<double> t;
    for (int r = 0; r < 8; ++r) {
      const double s = fn();
      if (r > 0) t.push_back(s);
    }
    std::sort(t.begin(), t.end());
    return std::pair<double, double>{t[0] * 1e3, t[t.size() / 2] * 1e3};
  };
  auto row = [](const char* name, std::pair<double, double> ms, const char* extra = "") {
    std::printf("  %-34s best %7.3f ms, median %7.3f ms%s\n", name, ms.first, ms.second, extra);
  };
  nova::kernels::SamplingRow greedy;
  greedy.temperature = 0;
  const nova::model::RopeFrequencies freqs = nova::model::rope_frequencies(model->config(), 0);
  for (int64_t T : tokens) {
    const auto ids = nova::bench::prompt_ids(T, V);
    std::vector<float> logits;
    std::printf("\n== 1b prefill of %lld tokens: where the wall time goes\n", (long long)T);
    const auto bench_way = stats([&] {
      auto session = model->new_session(T + 8);
      const double t0 = nova::bench::now_seconds();
      session->forward(ids, logits);
      return nova::bench::now_seconds() - t0;
    });
    char buf[96];
    std::snprintf(buf, sizeof buf, " (%.0f tok/s)", double(T) / (bench_way.first * 1e-3));
    row("as bench_cuda_decode", bench_way, buf);
    const auto generate_way = stats([&] {
      sync();
      const double t0 = nova::bench::now_seconds();
      auto session = model->new_session(T + 8);
      const Tensor out = session->forward_logits(ids);
      const auto picked = be.sample_rows(out, std::span<const nova::kernels::SamplingRow>(&greedy, 1), {});
      sink += static_cast<float>(picked.at(0).id);
      return nova::bench::now_seconds() - t0;
    });
    std::snprintf(buf, sizeof buf, " (%.0f tok/s)", double(T) / (generate_way.first * 1e-3));
    row("as nova generate (to 1st token)", generate_way, buf);
    row("forward + download", stats([&] {
          auto session = model->new_session(T + 8);
          sync();
          const double t0 = nova::bench::now_seconds();
          session->forward(ids, logits);
          return nova::bench::now_seconds() - t0;
        }));
    std::vector<double> host;
    const auto fl = stats([&] {
      auto session = model->new_session(T + 8);
      sync();
      const double t0 = nova::bench::now_seconds();
      const Tensor out = session->forward_logits(ids);
      host.push_back(nova::bench::now_seconds() - t0);
      sync();
      return nova::bench::now_seconds() - t0;
    });
    std::sort(host.begin() + 1, host.end());
    std::snprintf(buf, sizeof buf, " (%.0f tok/s); host enqueue median %.3f ms", double(T) / (fl.first * 1e-3),
                  host[host.size() / 2] * 1e3);
    row("forward_logits + sync", fl, buf);
    row("new_session + sync", stats([&] {
          sync();
          const double t0 = nova::bench::now_seconds();
          auto session = model->new_session(T + 8);
          sync();
          return nova::bench::now_seconds() - t0;
        }));
    {
      auto session = model->new_session(T + 8);
      const Tensor out = session->forward_logits(ids);
      std::vector<float> host_logits(static_cast<size_t>(out.numel()));
      sync();
      row("download of the logits (1 row)", stats([&] {
            const double t0 = nova::bench::now_seconds();
            be.download(out, host_logits.data());
            return nova::bench::now_seconds() - t0;
          }));
    }
    std::vector<float> c(static_cast<size_t>(T) * freqs.inv_freq.size()), s(c.size());
    row("host RoPE table (rope_table)", stats([&] {
          const double t0 = nova::bench::now_seconds();
          nova::model::rope_table(freqs, 0, T, c.data(), s.data());
          return nova::bench::now_seconds() - t0;
        }));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"1b", "8b"};
  std::vector<int64_t> tokens = {512, 8192};
  std::string act = "bf16", device = "cuda";
  bool fwd = true, algos = false;
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--models") models = nova::bench::split_list(v);
    else if (a == "--tokens") {
      tokens.clear();
      for (const auto& t : nova::bench::split_list(v)) tokens.push_back(std::atoll(t.c_str()));
    } else if (a == "--act") act = v;
    else if (a == "--device") device = v;
    else if (a == "--forward") fwd = v != "0";
    else if (a == "--algos") algos = v != "0";
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/cuda_prefill_ops.cpp", set)) return 2;
  if (act != "bf16" && act != "f32") {
    std::fprintf(stderr, "bench_cuda_prefill_ops: --act is bf16 or f32\n");
    return 2;
  }
  try {
    setenv("NOVA_CUDA_GRAPHS", "0", 1);
    auto be = nova::kernels::make_backend(device);
    const DType dt = act == "bf16" ? DType::BF16 : DType::F32;
    for (const std::string& m : models)
      for (const Shape& s : kShapes)
        if (s.name == m)
          for (int64_t t : tokens) {
            run(*be, s, t, dt);
#ifdef NOVA_HAVE_CUDA
            if (algos && device == "cuda") gemm_algos(s, t);
#endif
          }
    if (fwd && dt == DType::BF16) {  // as a model runs: graphs on (a prefill launches directly anyway)
      unsetenv("NOVA_CUDA_GRAPHS");
      auto model_be = nova::kernels::make_backend(device);
      forward(*model_be, tokens);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_prefill_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
