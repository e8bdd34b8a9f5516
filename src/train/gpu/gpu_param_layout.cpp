#include "train/gpu/gpu_param_layout.h"

#include "core/error.h"

namespace nova::train {

GpuParamLayout::GpuParamLayout(const ParamStore& params) {
  for (const Param& p : params.params()) {
    slots_.push_back({p.name, total_, p.numel(), p.decays()});
    numel_ += p.numel();
    total_ += (p.numel() + kAlign - 1) / kAlign * kAlign;
  }
}

int64_t GpuParamLayout::offset(const std::string& name) const {
  for (const GpuParamSlot& s : slots_)
    if (s.name == name) return s.offset;
  return -1;
}

int64_t GpuParamLayout::require(const std::string& name) const {
  const int64_t o = offset(name);
  nova::require(o >= 0, "gpu trainer", "the parameter store has no " + name);
  return o;
}

bool GpuParamLayout::matches(const ParamStore& params) const {
  if (params.size() != slots_.size()) return false;
  size_t i = 0;
  for (const Param& p : params.params()) {
    const GpuParamSlot& s = slots_[i++];
    if (p.name != s.name || p.numel() != s.numel) return false;
  }
  return true;
}

}  // namespace nova::train
