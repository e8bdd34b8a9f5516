// The loader's placement of a layer's q|k|v and gate|up weights back to back in one device
// allocation (model_weights.cpp): on the CUDA backend each matrix is a view of its part, holding
// the checkpoint's values; on the CPU backend (zero-copy uploads) nothing is copied or moved.
// The CUDA half is skipped without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "../../kernels/cuda/cuda_test_util.h"
#include "../model_fixture.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/model_weights.h"

namespace nova {
namespace {

const char* end_of(const Tensor& t) { return static_cast<const char*>(t.data()) + t.nbytes(); }

std::vector<char> bytes_of(kernels::Backend& be, const Tensor& t) {
  std::vector<char> b(t.nbytes());
  be.download(t, b.data());
  return b;
}

std::vector<char> bytes_of(const Tensor& host) {
  const char* p = static_cast<const char*>(host.data());
  return std::vector<char>(p, p + host.nbytes());
}

TEST(CudaPackedWeights, CudaPlacesQkvAndGateUpBackToBackWithTheCheckpointsValues) {
  NOVA_REQUIRE_CUDA(gpu);
  for (const std::string name : {"llama-gqa", "qwen2"}) {  // qwen2: q/k/v with biases (placed all the same)
    const std::string dir = test::model_dir(name);
    const formats::ModelConfig c = formats::load_hf_config(dir + "/config.json");
    const formats::Checkpoint ckpt = formats::Checkpoint::open_dir(dir);
    const model::ModelWeights w = model::load_weights(ckpt, c, *gpu);
    for (int l = 0; l < c.num_layers; ++l) {
      const model::LayerWeights& L = w.layers[static_cast<size_t>(l)];
      const std::string at = name + " layer " + std::to_string(l);
      EXPECT_EQ(end_of(L.q.w), L.k.w.data()) << at;
      EXPECT_EQ(end_of(L.k.w), L.v.w.data()) << at;
      EXPECT_EQ(end_of(L.mlp.gate.w), L.mlp.up.w.data()) << at;
      const std::string p = "model.layers." + std::to_string(l) + ".";
      EXPECT_EQ(bytes_of(*gpu, L.q.w), bytes_of(ckpt.get(p + "self_attn.q_proj.weight"))) << at;
      EXPECT_EQ(bytes_of(*gpu, L.k.w), bytes_of(ckpt.get(p + "self_attn.k_proj.weight"))) << at;
      EXPECT_EQ(bytes_of(*gpu, L.v.w), bytes_of(ckpt.get(p + "self_attn.v_proj.weight"))) << at;
      EXPECT_EQ(bytes_of(*gpu, L.mlp.gate.w), bytes_of(ckpt.get(p + "mlp.gate_proj.weight"))) << at;
      EXPECT_EQ(bytes_of(*gpu, L.mlp.up.w), bytes_of(ckpt.get(p + "mlp.up_proj.weight"))) << at;
      EXPECT_EQ(bytes_of(*gpu, L.mlp.down.w), bytes_of(ckpt.get(p + "mlp.down_proj.weight"))) << at;
    }
  }
}

TEST(CudaPackedWeights, CpuKeepsZeroCopyViewsOfTheCheckpoint) {
  kernels::CpuBackend cpu;
  const std::string dir = test::model_dir("llama-gqa");
  const formats::ModelConfig c = formats::load_hf_config(dir + "/config.json");
  const formats::Checkpoint ckpt = formats::Checkpoint::open_dir(dir);
  const model::ModelWeights w = model::load_weights(ckpt, c, cpu);
  for (int l = 0; l < c.num_layers; ++l) {
    const model::LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    EXPECT_EQ(L.q.w.data(), ckpt.get(p + "self_attn.q_proj.weight").data());
    EXPECT_EQ(L.v.w.data(), ckpt.get(p + "self_attn.v_proj.weight").data());
    EXPECT_EQ(L.mlp.up.w.data(), ckpt.get(p + "mlp.up_proj.weight").data());
  }
}

}  // namespace
}  // namespace nova
