// bench_matmul: matmul GFLOP/s and weight-streaming GB/s for F32/BF16/F16 weights, decode (M <= 4,
// compared with the measured read bandwidth) and prefill (M large, compared with the measured
// fp32 FMA peak), with the machine baseline measured in the same run.
// Usage: bench_matmul [--isa avx512|avx2|scalar] [--quick]
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_detail.h"

namespace {

using nova::DType;
using nova::IsaTier;

struct Shape {
  int64_t N, K;
};

std::vector<uint16_t> random_half(int64_t count, DType dtype, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<uint16_t> h(count);
  for (uint16_t& v : h) v = dtype == DType::BF16 ? nova::f32_to_bf16(u(rng)) : nova::f32_to_f16(u(rng));
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  IsaTier isa = nova::active_isa();
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
      const std::string v = argv[++i];
      isa = v == "avx512" ? IsaTier::Avx512 : v == "avx2" ? IsaTier::Avx2 : IsaTier::Scalar;
    } else {
      std::fprintf(stderr, "usage: %s [--isa avx512|avx2|scalar] [--quick]\n", argv[0]);
      return 2;
    }
  }
  if ((isa == IsaTier::Avx512 && !nova::cpu_features().has_avx512_kernels()) ||
      (isa == IsaTier::Avx2 && !nova::cpu_features().has_avx2_kernels())) {
    std::fprintf(stderr, "this CPU cannot run the %s kernels (it has: %s)\n", nova::isa_name(isa),
                 nova::cpu_features().summary().c_str());
    return 2;
  }
  // The scalar tier has no FMA peak of its own: compare it with the best vector tier's.
  const IsaTier peak_isa = isa == IsaTier::Scalar ? nova::active_isa() : isa;
  const nova::bench::MachineBaseline base = nova::bench::measure_baseline(peak_isa);
  nova::bench::print_baseline(base, peak_isa);
  std::printf("matmul kernels: %s\n\n", nova::isa_name(isa));

  const std::vector<Shape> shapes = quick ? std::vector<Shape>{{4096, 4096}}
                                          : std::vector<Shape>{{4096, 4096}, {11008, 4096}, {4096, 11008}};
  const std::vector<int64_t> rows = quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 4, 8, 64, 512};
  std::mt19937 rng(42);
  std::printf("best = fastest repeat (GFLOP/s, GB/s and %% use it); median shows the load of the machine\n");
  std::printf("%-5s %6s %6s %5s %9s %9s %9s %7s %8s %7s\n", "dtype", "N", "K", "M", "best ms", "median ms", "GFLOP/s",
              "%peak", "W GB/s", "%read");
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    for (const Shape& s : shapes) {
      std::vector<float> wf;
      std::vector<uint16_t> wh;
      if (dtype == DType::F32) {
        wf.resize(s.N * s.K);
        std::uniform_real_distribution<float> u(-0.05f, 0.05f);
        for (float& v : wf) v = u(rng);
      } else {
        wh = random_half(s.N * s.K, dtype, rng);
      }
      const void* W = dtype == DType::F32 ? static_cast<const void*>(wf.data()) : wh.data();
      const double w_bytes = double(s.N) * s.K * nova::dtype_size(dtype);
      for (int64_t M : rows) {
        std::vector<float> x(M * s.K, 0.01f), y(M * s.N);
        auto run = [&] { nova::kernels::cpu::detail::matmul_with_isa(isa, x.data(), M, s.K, W, dtype, s.N, y.data()); };
        const double flops = 2.0 * M * s.N * s.K;
        const int repeats = M <= 8 ? 21 : M <= 64 ? 7 : 3;
        const nova::bench::Timing tm = nova::bench::time_repeats(run, repeats);
        const double t = tm.best, gflops = flops / t / 1e9, gbs = w_bytes / t / 1e9;
        std::printf("%-5s %6lld %6lld %5lld %9.3f %9.3f %9.1f %6.1f%% %8.1f %6.1f%%\n",
                    std::string(nova::dtype_name(dtype)).c_str(), (long long)s.N, (long long)s.K, (long long)M,
                    t * 1e3, tm.median * 1e3, gflops,
                    base.fma_peak_gflops > 0 ? 100 * gflops / base.fma_peak_gflops : 0.0, gbs,
                    100 * gbs / base.read_gbs);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
