// bench_memory_bandwidth: the machine baselines (DRAM read and copy bandwidth over a buffer far
// larger than the LLC, fp32 FMA peak) that the other CPU benchmarks compare themselves with.
// Usage: bench_memory_bandwidth [buffer MiB, default 512]
#include <cstdlib>

#include "bench_util.h"

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 512;
  const nova::IsaTier isa = nova::active_isa();
  const nova::bench::MachineBaseline m = nova::bench::measure_baseline(isa, mib << 20);
  nova::bench::print_baseline(m, isa);
  return 0;
}
