#include "core/cpu_features.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>

namespace nova {

namespace {
bool os_saves_avx512() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6;  // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM
}
bool os_saves_avx() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0x6) == 0x6;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool avx_ok = os_saves_avx();
  f.fma = avx_ok && (c & (1u << 12));
  f.f16c = avx_ok && (c & (1u << 29));
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = avx_ok && (b & (1u << 5));
  const bool z = os_saves_avx512();
  f.avx512f = z && (b & (1u << 16));
  f.avx512dq = z && (b & (1u << 17));
  f.avx512bw = z && (b & (1u << 30));
  f.avx512vl = z && (b & (1u << 31));
  f.avx512_vnni = z && (c & (1u << 11));
  f.avx512_fp16 = z && (d & (1u << 23));
  f.amx_bf16 = d & (1u << 22);
  f.amx_tile = d & (1u << 24);
  f.amx_int8 = d & (1u << 25);
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = z && (a1 & (1u << 5));
  return f;
}
}  // namespace

std::string CpuFeatures::summary() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(avx2, "avx2"); add(fma, "fma"); add(f16c, "f16c"); add(avx512f, "avx512f");
  add(avx512bw, "avx512bw"); add(avx512vl, "avx512vl"); add(avx512dq, "avx512dq");
  add(avx512_bf16, "avx512_bf16"); add(avx512_fp16, "avx512_fp16"); add(avx512_vnni, "avx512_vnni");
  add(amx_tile, "amx_tile"); add(amx_bf16, "amx_bf16"); add(amx_int8, "amx_int8");
  return s.empty() ? "baseline" : s;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

IsaTier active_isa() {
  static const IsaTier tier = [] {
    const CpuFeatures& f = cpu_features();
    IsaTier best = f.has_avx512_kernels() ? IsaTier::Avx512 : f.has_avx2_kernels() ? IsaTier::Avx2 : IsaTier::Scalar;
    if (const char* env = std::getenv("NOVA_ISA")) {
      IsaTier want = best;
      if (std::strcmp(env, "scalar") == 0) want = IsaTier::Scalar;
      else if (std::strcmp(env, "avx2") == 0) want = IsaTier::Avx2;
      if (static_cast<int>(want) < static_cast<int>(best)) best = want;
    }
    return best;
  }();
  return tier;
}

const char* isa_name(IsaTier t) {
  switch (t) {
    case IsaTier::Avx512: return "avx512";
    case IsaTier::Avx2: return "avx2";
    case IsaTier::Scalar: return "scalar";
  }
  return "?";
}

}  // namespace nova
