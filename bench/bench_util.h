// Shared helpers for the CPU benchmarks: timing, medians, and the machine baselines every
// benchmark prints beside its own figures (memory read / copy bandwidth, fp32 FMA peak), all
// measured in the same run on the same thread pool the kernels use.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"

namespace nova::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Wall time of repeated calls. On a shared machine other processes only ever slow a run down,
// so `best` (the fastest repeat) is the figure for what the code can do, `median` for what it
// did under the machine's load at the time; benchmarks print both.
struct Timing {
  double best = 0, median = 0;
};

// `repeats` timed calls of fn() after `warmup` untimed ones.
template <class Fn>
Timing time_repeats(Fn&& fn, int repeats, int warmup = 1) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t(std::max(repeats, 1));
  for (double& s : t) {
    const double t0 = now_seconds();
    fn();
    s = now_seconds() - t0;
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

// "model name" from /proc/cpuinfo (what lscpu prints), for the benchmark log.
inline std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

// A buffer much larger than any last-level cache, with every page written so reads hit DRAM
// rather than the shared zero page.
class BigBuffer {
 public:
  explicit BigBuffer(size_t bytes) : words_(bytes / sizeof(uint64_t)) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] = i * 0x9e3779b97f4a7c15ull;
  }
  uint64_t* data() { return words_.data(); }
  size_t bytes() const { return words_.size() * sizeof(uint64_t); }
  size_t words() const { return words_.size(); }

 private:
  std::vector<uint64_t> words_;
};

inline volatile uint64_t g_sink = 0;

// Streaming read over `buf` on every pool thread (each its own contiguous share); GB/s = 1e9 B/s.
inline double measure_read_bandwidth_gbs(BigBuffer& buf, int repeats = 7) {
  ThreadPool& pool = ThreadPool::global();
  const int64_t n = static_cast<int64_t>(buf.words());
  const uint64_t* w = buf.data();
  const double t = time_repeats(
      [&] {
        pool.parallel_for(
            pool.size(),
            [&](int64_t b, int64_t e) {
              for (int64_t part = b; part < e; ++part) {
                const int64_t lo = n * part / pool.size(), hi = n * (part + 1) / pool.size();
                uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // independent sums: vectorised, no chain
                int64_t i = lo;
                for (; i + 4 <= hi; i += 4) {
                  a0 += w[i];
                  a1 += w[i + 1];
                  a2 += w[i + 2];
                  a3 += w[i + 3];
                }
                for (; i < hi; ++i) a0 += w[i];
                g_sink = g_sink + (a0 ^ a1 ^ a2 ^ a3);
              }
            },
            1);
      },
      repeats).best;
  return static_cast<double>(buf.bytes()) / t / 1e9;
}

// memcpy from `src` to `dst` on every pool thread; GB/s counts bytes read plus bytes written.
inline double measure_copy_bandwidth_gbs(BigBuffer& src, BigBuffer& dst, int repeats = 7) {
  ThreadPool& pool = ThreadPool::global();
  const int64_t n = static_cast<int64_t>(std::min(src.words(), dst.words()));
  const double t = time_repeats(
      [&] {
        pool.parallel_for(
            pool.size(),
            [&](int64_t b, int64_t e) {
              const int64_t lo = n * b / pool.size(), hi = n * e / pool.size();
              std::memcpy(dst.data() + lo, src.data() + lo, (hi - lo) * sizeof(uint64_t));
            },
            1);
      },
      repeats).best;
  return 2.0 * static_cast<double>(n * sizeof(uint64_t)) / t / 1e9;
}

// ---- fp32 FMA peak: a register-only loop of independent FMAs on every pool thread ----------
// Compiled per ISA with target attributes and chosen by run-time CPUID, like the kernels. The
// loops are unrolled so the accumulators stay in registers (a loop over an array spills them).

constexpr int64_t kPeakIters = 20'000'000;

__attribute__((target("avx2,fma"))) inline double fma_loop_avx2(int64_t iters) {
  __m256 a[10];
#pragma GCC unroll 16
  for (int j = 0; j < 10; ++j) a[j] = _mm256_set1_ps(0.001f * j);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 10; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  }
  __m256 s = a[0];
#pragma GCC unroll 16
  for (int j = 1; j < 10; ++j) s = _mm256_add_ps(s, a[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f,fma"))) inline double fma_loop_avx512(int64_t iters) {
  __m512 a[16];
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) a[j] = _mm512_set1_ps(0.001f * j);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  }
  __m512 s = a[0];
#pragma GCC unroll 16
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, a[j]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}

// Peak fp32 GFLOP/s (one FMA = 2 flops) of `isa` summed over the pool's threads.
inline double measure_fma_peak_gflops(IsaTier isa) {
  ThreadPool& pool = ThreadPool::global();
  const bool z = isa == IsaTier::Avx512;
  if (isa == IsaTier::Scalar) return 0;
  const int64_t iters = z ? kPeakIters / 2 : kPeakIters;
  const double flops_per_thread = double(iters) * (z ? 16 * 16 : 10 * 8) * 2;
  const double t = time_repeats(
      [&] {
        pool.parallel_for(
            pool.size(),
            [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i)
                g_sink = g_sink + uint64_t(z ? fma_loop_avx512(iters) : fma_loop_avx2(iters));
            },
            1);
      },
      3).best;
  return flops_per_thread * pool.size() / t / 1e9;
}

// The baseline block every CPU benchmark prints first (best of several repeats each).
struct MachineBaseline {
  double read_gbs = 0, copy_gbs = 0, fma_peak_gflops = 0;
};

inline MachineBaseline measure_baseline(IsaTier isa, size_t buffer_bytes = size_t(512) << 20) {
  MachineBaseline m;
  BigBuffer a(buffer_bytes / 2), b(buffer_bytes / 2);
  m.read_gbs = measure_read_bandwidth_gbs(a);
  m.copy_gbs = measure_copy_bandwidth_gbs(a, b);
  m.fma_peak_gflops = measure_fma_peak_gflops(isa);
  return m;
}

inline void print_baseline(const MachineBaseline& m, IsaTier isa) {
  std::printf("cpu: %s | threads: %d | features: %s\n", cpu_model_name().c_str(), ThreadPool::global().size(),
              cpu_features().summary().c_str());
  std::printf("baseline: read %.1f GB/s | copy %.1f GB/s (read+write) | fp32 FMA peak (%s) %.1f GFLOP/s\n",
              m.read_gbs, m.copy_gbs, isa_name(isa), m.fma_peak_gflops);
}

// Reads the command line as "--flag value" pairs: set(flag, value) applies one and returns false
// for a flag it does not know. On a flag without a value or an unknown one, says so on stderr
// (pointing at the top comment of `source`, which lists the flags) and returns false.
inline bool parse_flags(int argc, char** argv, const char* source,
                        const std::function<bool(const std::string& flag, const std::string& value)>& set) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value for %s\n", a.c_str());
      return false;
    }
    if (!set(a, argv[++i])) {
      std::fprintf(stderr, "unknown flag %s (see the comment at the top of %s)\n", a.c_str(), source);
      return false;
    }
  }
  return true;
}

// A deterministic prompt of n token ids below `vocab`; a different `salt` gives a different one.
inline std::vector<int32_t> prompt_ids(int64_t n, int64_t vocab, int64_t salt = 0) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 7919 + 3 + salt * 104729) % vocab);
  return ids;
}

// The greedy token of one row of logits (the first maximum).
inline int32_t argmax(const float* logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

// The non-empty items of a `sep`-separated list ("1b,8b").
inline std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  for (size_t at = 0; at <= s.size();) {
    const size_t end = std::min(s.find(sep, at), s.size());
    if (end > at) out.push_back(s.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// Device-to-device copy bandwidth through a backend (copy_rows of 1 GiB, best of 5 x 10 copies),
// bytes read + written, in GB/s: the roofline's denominator of the GPU benches.
inline double backend_copy_gbs(kernels::Backend& be) {
  const int64_t rows = 1024, width = (int64_t{1} << 30) / 4 / rows;
  Tensor a = be.alloc(DType::F32, {rows, width}), b = be.alloc(DType::F32, {rows, width});
  Tensor tiny = be.alloc(DType::F32, {1});
  float sink = 0;
  be.copy_rows(a, b, 0);
  be.download(tiny, &sink);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = now_seconds();
    for (int i = 0; i < 10; ++i) be.copy_rows(i % 2 ? b : a, i % 2 ? a : b, 0);
    be.download(tiny, &sink);
    best = std::min(best, (now_seconds() - t0) / 10);
  }
  return 2.0 * double(a.nbytes()) / best / 1e9;
}

}  // namespace nova::bench
