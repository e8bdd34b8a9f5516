// Where each parameter of a ParamStore lives in the GPU trainer's flat buffers: one float32 array
// each for the values, the gradients and AdamW's m and v (and a bf16 copy of the values in mixed
// precision), all with the same offsets, in ParamStore order. Offsets are padded to 64 elements
// so every tensor starts 256-byte aligned (cuBLASLt's fast paths want 16); padding stays zero.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/param_store.h"

namespace nova::train {

struct GpuParamSlot {
  std::string name;
  int64_t offset = 0, numel = 0;
  bool decays = false;  // Param::decays(): AdamW's weight decay applies
};

class GpuParamLayout {
 public:
  static constexpr int64_t kAlign = 64;
  GpuParamLayout() = default;
  explicit GpuParamLayout(const ParamStore& params);

  const std::vector<GpuParamSlot>& slots() const { return slots_; }
  int64_t total() const { return total_; }  // elements of each flat buffer, padding included
  int64_t numel() const { return numel_; }  // parameters, padding excluded
  // The offset of `name`, or -1 when the store has no such parameter (e.g. an absent bias).
  int64_t offset(const std::string& name) const;
  // As offset(), but throws nova::Error naming the parameter when absent.
  int64_t require(const std::string& name) const;
  // Same names, shapes and order as `params` (what upload/download need).
  bool matches(const ParamStore& params) const;

 private:
  std::vector<GpuParamSlot> slots_;
  int64_t total_ = 0, numel_ = 0;
};

}  // namespace nova::train
