// A measurement build's timeline of the PDL kernels (CMake -DNOVA_CUDA_TRACE=ON; off in every
// other build, where the hooks below are empty). Thread 0 of every block records %globaltimer when
// the block starts (point 0: the decode GEMVs and attention record it) and when its pdl_wait()
// returns (point 1), i.e. when the kernel before had completed and flushed: the step's critical
// path is the chain of wait returns. A kernel may add its own points (NOVA_TRACE_POINT(2..15)) to
// see where its time goes. Each translation unit keeps its own ring of records (device globals
// are per unit without relocatable device code); at exit, with NOVA_CUDA_TRACE_FILE set, every
// unit appends its ring to that file (scripts/kernel_trace.py reads it). Why: no Nsight Systems on
// the GPU machine, and ncu runs kernels one at a time, so neither shows how the decode step's
// kernels overlap.
#pragma once

#if defined(NOVA_CUDA_TRACE)
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace nova::kernels::cuda::trace {

struct Record {
  unsigned long long t;  // %globaltimer, ns
  unsigned grid;         // bits 0..23: blocks in the grid; 24..31: the SM's ring
  unsigned tag;          // bits 28..31: point (0 start, 1 wait return, 2.. a kernel's own); 16..27:
                         // threads / 32; 0..15: block % 65536
  unsigned long long launch;  // %gridid: which launch
};
// A ring per SM (per-SM counters: one shared counter's atomics would serialise ~10^5 blocks a step).
constexpr unsigned kSms = 160, kRing = 1u << 14;  // SMs beyond 160 share rings (modulo)

static __device__ Record ring[kSms][kRing];
static __device__ unsigned long long count[kSms];

__device__ __forceinline__ void point(unsigned id) {
  if (threadIdx.x | threadIdx.y | threadIdx.z) return;
  unsigned long long t, launch;
  unsigned sm;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  asm volatile("mov.u64 %0, %%gridid;" : "=l"(launch));
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  const unsigned grid = gridDim.x * gridDim.y * gridDim.z;
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  sm %= kSms;
  const unsigned long long i = atomicAdd(&count[sm], 1ull);
  ring[sm][i % kRing] =
      Record{t, (grid & 0xffffffu) | (sm << 24), (id << 28) | ((threads / 32) << 16) | (block & 0xffffu), launch};
}

// The units' dump functions, run once at exit.
inline std::vector<void (*)(std::FILE*)>& dumpers() {
  static std::vector<void (*)(std::FILE*)> d;
  return d;
}
inline void dump_all() {
  const char* path = std::getenv("NOVA_CUDA_TRACE_FILE");
  if (!path) return;
  std::FILE* f = std::fopen(path, "wb");
  if (!f) return;
  for (auto* d : dumpers()) d(f);
  std::fclose(f);
}
inline bool register_dumper(void (*d)(std::FILE*)) {
  dumpers().push_back(d);
  return true;
}
// Called at each PDL launch (pdl_launch.cuh): the dump is registered once the CUDA runtime is up,
// so that it runs before the runtime's own exit handler tears the context down.
inline void arm() {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(&dump_all); });
}

// This unit's rings: its name, the number of records, then the newest records of every SM.
static void dump_unit(std::FILE* f) {
  std::vector<unsigned long long> n(kSms);
  if (cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpyFromSymbol(n.data(), count, sizeof(unsigned long long) * kSms) != cudaSuccess)
    return;
  unsigned long long total = 0;
  for (unsigned long long c : n) total += c < kRing ? c : kRing;
  if (total == 0) return;
  std::vector<Record> r(static_cast<size_t>(kSms) * kRing);
  if (cudaMemcpyFromSymbol(r.data(), ring, sizeof(Record) * r.size()) != cudaSuccess) return;
  char name[64] = {};
  std::snprintf(name, sizeof name, "%s", __BASE_FILE__);
  std::fwrite(name, 1, sizeof name, f);
  std::fwrite(&total, sizeof total, 1, f);
  for (unsigned sm = 0; sm < kSms; ++sm) {
    const unsigned long long keep = n[sm] < kRing ? n[sm] : kRing;
    for (unsigned long long k = n[sm] - keep; k < n[sm]; ++k) std::fwrite(&r[sm * kRing + k % kRing], sizeof(Record), 1, f);
  }
}
[[maybe_unused]] static const bool registered = register_dumper(&dump_unit);

}  // namespace nova::kernels::cuda::trace
#define NOVA_TRACE_POINT(id) ::nova::kernels::cuda::trace::point(id)
#else
#define NOVA_TRACE_POINT(id) ((void)0)
#endif
