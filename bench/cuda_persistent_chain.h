// The persistent GEMV-chain probe (cuda_persistent_chain.cu): its arguments and launcher.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace nova::bench {

struct PersistentChain {
  const __nv_bfloat16* w;  // per layer: q|k|v [3072, 2048] | o [2048, 2048] | gate, up [8192, 2048] | down [2048, 8192]
  float* resid;            // [2048]
  const float* norm;       // [2048]
  __nv_bfloat16* q;        // [3072]
  __nv_bfloat16* h;        // [8192]
  unsigned* counters;      // [layers * 5], zero before each launch
  int layers, slots;       // slots: the ring's 32 KB chunks (at most 6)
  int no_wait;             // skip the stage dependencies: the streaming bound (results wrong)
  // With an attention step between q|k|v and o: 8 kv heads x 4 q heads of 64 over `context`
  // (512) cached positions of kv ([layers][k, v][context][8][64]); o then reads attn.
  int attention, context;
  const __nv_bfloat16* kv;
  __nv_bfloat16* attn;  // [2048]
};

// One block per SM (`sms`); Hopper or later.
cudaError_t launch_persistent_chain(const PersistentChain& a, int sms, cudaStream_t s);

}  // namespace nova::bench
