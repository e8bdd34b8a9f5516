// RAII owners of CUDA device and pinned host memory, and a carver that lays many typed arrays
// out in one allocation. Internal to the GPU trainer; CUDA builds only.
#pragma once

#ifdef NOVA_HAVE_CUDA

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::train::gpu {

// One cudaMalloc (device) or cudaMallocHost (pinned host) block.
template <bool kPinned>
class Block {
 public:
  Block() = default;
  ~Block() { release(); }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  Block(Block&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  Block& operator=(Block&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }

  // Replaces the block (contents lost). The caller makes sure no queued work still uses it.
  void allocate(size_t bytes) {
    release();
    if (bytes == 0) return;
    if constexpr (kPinned)
      kernels::cuda::check_cuda(cudaMallocHost(&p_, bytes), "cudaMallocHost");
    else
      kernels::cuda::check_cuda(cudaMalloc(&p_, bytes), "cudaMalloc");
    bytes_ = bytes;
  }
  void release() {
    if (!p_) return;
    if constexpr (kPinned)
      cudaFreeHost(p_);
    else
      cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  template <class U>
  U* as() const {
    return static_cast<U*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

using DeviceBlock = Block<false>;
using PinnedBlock = Block<true>;

// Lays typed arrays out back to back (256-byte aligned). Run once with a null base to measure.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <class U>
  U* take(int64_t n) {
    const size_t off = (used_ + 255) / 256 * 256;
    used_ = off + sizeof(U) * static_cast<size_t>(n);
    return base_ ? reinterpret_cast<U*>(base_ + off) : nullptr;
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
