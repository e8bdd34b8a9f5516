// Backend::sample_rows' default: backends without device sampling (the CPU one) leave sampling to
// the engine's host Sampler, which reads downloaded logits.
#include "core/error.h"
#include "kernels/backend.h"

namespace nova::kernels {

std::vector<SampledRow> Backend::sample_rows(const Tensor&, std::span<const SamplingRow>, std::span<const PenaltyEntry>) {
  fail("sample_rows", "the " + name() + " backend does not sample on the device (samples_on_device() is false)");
}

}  // namespace nova::kernels
