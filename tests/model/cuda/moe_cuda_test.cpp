// An MoE model's decode steps on the CUDA backend: with the device-side routing of
// moe_experts each step is one segment of recorded work between two downloads, so after the
// first steps it replays as one CUDA graph; the composition (NOVA_CUDA_MOE=0) downloads the
// routing in every MoE layer and cuts each step into a segment per layer. Counts from the
// backend's NOVA_CUDA_GRAPHS_STATS report, segments left uncut by length (NOVA_CUDA_SEGMENT_OPS).
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../../kernels/cuda/cuda_test_util.h"
#include "../model_fixture.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"

namespace nova {
namespace {

struct StepCounts {
  long replayed = -1, captured = -1;
  int downloads = 0;
  std::vector<float> last_logits;
};

// Prefill of the fixture's first prompt, then `steps` greedy decode steps, on a fresh backend
// whose graph statistics are read back at its destruction.
StepCounts decode(const std::string& name, bool device_moe, int steps) {
  setenv("NOVA_CUDA_GRAPHS_STATS", "1", 1);
  // One segment per step at most, whatever the backend's default segment length.
  setenv("NOVA_CUDA_SEGMENT_OPS", "100000", 1);
  setenv("NOVA_CUDA_FIRST_SEGMENT_OPS", "100000", 1);
  if (device_moe) unsetenv("NOVA_CUDA_MOE");
  else setenv("NOVA_CUDA_MOE", "0", 1);
  std::unique_ptr<kernels::Backend> be = kernels::make_backend("cuda");
  unsetenv("NOVA_CUDA_GRAPHS_STATS");
  unsetenv("NOVA_CUDA_SEGMENT_OPS");
  unsetenv("NOVA_CUDA_FIRST_SEGMENT_OPS");
  StepCounts counts;
  {
    const std::string dir = test::model_dir(name);
    auto model = model::Transformer::create(formats::load_hf_config(dir + "/config.json"),
                                            formats::Checkpoint::open_dir(dir), *be);
    const test::ModelCase c = test::model_cases(name).at(0);
    auto session = model->new_session(static_cast<int64_t>(c.input_ids.size()) + steps + 1);
    std::vector<float> logits;
    session->forward(c.input_ids, logits);
    ++counts.downloads;
    for (int i = 0; i < steps; ++i) {
      const int32_t next = test::argmax(logits.data() + logits.size() - c.vocab, c.vocab);
      session->forward(std::span<const int32_t>(&next, 1), logits);
      ++counts.downloads;
    }
    counts.last_logits = logits;
  }
  unsetenv("NOVA_CUDA_MOE");
  testing::internal::CaptureStderr();
  be.reset();
  const std::string report = testing::internal::GetCapturedStderr();
  const size_t at = report.find("cuda graphs:");
  if (at != std::string::npos)
    std::sscanf(report.c_str() + at, "cuda graphs: %ld segments replayed, %ld captured", &counts.replayed,
                &counts.captured);
  return counts;
}

TEST(CudaMoeModel, DecodeStepReplaysAsOneGraph) {
  NOVA_REQUIRE_CUDA(gpu);
  (void)gpu;
  if (const char* g = std::getenv("NOVA_CUDA_GRAPHS"); g && std::string(g) == "0") GTEST_SKIP() << "graphs are off";
  const int steps = 12;
  for (const char* name : {"mixtral-moe", "qwen2-moe-shared"}) {
    const StepCounts fused = decode(name, true, steps);
    const StepCounts composed = decode(name, false, steps);
    ASSERT_GE(fused.replayed, 0) << "no graph statistics reported";
    ASSERT_GE(composed.replayed, 0);
    const long fused_segments = fused.replayed + fused.captured, composed_segments = composed.replayed + composed.captured;
    std::printf("[cuda moe graphs] %s: %d downloads; device routing %ld segments (%ld captured), composition %ld (%ld captured)\n",
                name, fused.downloads, fused_segments, fused.captured, composed_segments, composed.captured);
    // One segment per step (a few more while the weights load), captured only while the first
    // steps differ (prefill, first decode steps); the composition's steps are cut per MoE layer.
    EXPECT_LE(fused_segments, fused.downloads + 4) << name;
    EXPECT_LE(fused.captured, 8) << name;
    EXPECT_GE(composed_segments, 2 * composed.downloads) << name;
    // Both decode the same tokens to the same logits (fp32 weights).
    EXPECT_LE(test::max_abs_diff(fused.last_logits, composed.last_logits), 1e-3) << name;
  }
}

}  // namespace
}  // namespace nova
