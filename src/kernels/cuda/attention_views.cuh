// Device-side helpers the paged attention kernels share (attention.cu, attention_decode.cu): a
// call's descriptors wherever AttnArgs keeps them, and the store of one output element.
#pragma once

#include <cuda_bf16.h>

#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

// The call's descriptors: device arrays, or the inline copies in the kernel parameters (read in
// place: __grid_constant__ lets the kernel take their address without a local copy).
struct AttnViews {
  const AttnSeq* seqs;
  const AttnTile* tiles;
  const int32_t* tables;
};
__device__ __forceinline__ AttnViews attn_views(const AttnArgs& a) {
  return a.seqs ? AttnViews{a.seqs, a.tiles, a.tables} : AttnViews{a.seqs_inline, a.tiles_inline, a.tables_inline};
}

// One output element in the output's dtype (float32 math throughout).
__device__ __forceinline__ void store_out(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_out(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

}  // namespace nova::kernels::cuda
