// What the CPU we are running on supports, read once via CPUID (never the build host's flags).
#pragma once

#include <string>

namespace nova {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;
  bool avx512_vnni = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;

  // All the AVX-512 subsets our *_avx512.cpp kernels are compiled for.
  bool has_avx512_kernels() const { return avx512f && avx512bw && avx512vl && avx512dq && avx512_bf16 && fma && f16c; }
  bool has_avx2_kernels() const { return avx2 && fma && f16c; }
  std::string summary() const;
};

const CpuFeatures& cpu_features();

// The kernel tier in use: "avx512", "avx2" or "scalar". $NOVA_ISA may force a lower tier
// (used by tests to run every implementation on one machine).
enum class IsaTier { Scalar = 0, Avx2 = 1, Avx512 = 2 };
IsaTier active_isa();
const char* isa_name(IsaTier t);

}  // namespace nova
