// Kernel launches with programmatic dependent launch (PDL, Hopper and later) and, optionally, a
// thread-block cluster: the decode kernels (gemv.cu, attention.cu) start while the kernel before
// them finishes and do the work that depends on nothing it writes (weight loads, descriptor and
// block-table reads) before device_math.cuh's pdl_wait(). NOVA_CUDA_PDL=0 launches them plainly.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/kernel_trace.cuh"

namespace nova::kernels::cuda {

// The current device's compute capability major version (0 when it cannot be read).
inline int device_cc_major() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return major;
}

// Whether launches on the current device may overlap the kernel before (compute capability 9+).
inline bool use_pdl() {
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_PDL");
    if (env && std::strcmp(env, "0") == 0) return false;
    return device_cc_major() >= 9;
  }();
  return on;
}

// kernel<<<grid, block, smem, s>>>(args...) with the programmatic-serialization attribute when
// use_pdl(), and clusters of `cluster_z` blocks along z when cluster_z > 1 (the caller checked the
// device supports them).
template <class Kernel, class... A>
void launch_pdl(Kernel kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t s, unsigned cluster_z, const char* what,
                const A&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (use_pdl()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (cluster_z > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = 1;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = cluster_z;
    ++n;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
#if defined(NOVA_CUDA_TRACE)
  trace::arm();
#endif
  check_cuda(cudaLaunchKernelEx(&cfg, kernel, args...), what);
}

}  // namespace nova::kernels::cuda
