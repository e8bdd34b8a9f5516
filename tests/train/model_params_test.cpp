// Parameter layout and loading: HF names, tied head, fused expert checkpoints split per expert,
// and errors naming the tensor at fault.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "formats/safetensors.h"
#include "support/fixtures.h"
#include "tiny_configs.h"
#include "train/batch.h"
#include "train/model_params.h"

namespace nova::train {
namespace {

TEST(ModelParams, NamesFollowTheHfLayout) {
  const auto configs = test::tiny_configs();
  const ParamStore llama = make_params(configs[0].second);
  EXPECT_TRUE(llama.contains("model.layers.1.self_attn.o_proj.bias"));
  EXPECT_TRUE(llama.contains("model.layers.0.mlp.down_proj.bias"));
  EXPECT_TRUE(llama.contains("lm_head.weight"));
  EXPECT_TRUE(llama.get("model.layers.0.input_layernorm.weight").value.ndim() == 1);
  EXPECT_FALSE(llama.get("model.layers.0.input_layernorm.weight").decays());
  EXPECT_TRUE(llama.get("model.embed_tokens.weight").decays());
  const ParamStore qwen2 = make_params(configs[1].second);
  EXPECT_FALSE(qwen2.contains("lm_head.weight"));
  const ParamStore mixtral = make_params(configs[4].second);
  EXPECT_TRUE(mixtral.contains("model.layers.1.block_sparse_moe.experts.3.w2.weight"));
  EXPECT_TRUE(mixtral.contains("model.layers.1.block_sparse_moe.gate.weight"));
  const ParamStore qmoe = make_params(configs[5].second);
  EXPECT_TRUE(qmoe.contains("model.layers.0.mlp.experts.2.up_proj.weight"));
  EXPECT_TRUE(qmoe.contains("model.layers.0.mlp.shared_expert_gate.weight"));
  EXPECT_TRUE(qmoe.contains("model.layers.1.mlp.gate_proj.weight"));  // dense layer
  EXPECT_EQ(make_params(configs[2].second).get("model.layers.0.self_attn.q_norm.weight").value.shape(),
            std::vector<int64_t>{8});
}

TEST(ModelParams, FusedExpertCheckpointsAreSplitPerExpert) {
  const formats::ModelConfig c = test::tiny_configs()[4].second;  // mixtral
  ParamStore p = make_params(c);
  init_params_random(p, 3, 0.5f);
  const int64_t E = c.num_experts, I = c.moe_intermediate_size, H = c.hidden_size;
  std::map<std::string, Tensor> fused;
  for (const Param& q : p.params())
    if (q.name.find(".experts.") == std::string::npos) fused[q.name] = q.value;
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string base = "model.layers." + std::to_string(l) + ".block_sparse_moe.";
    Tensor gu = Tensor::zeros(DType::F32, {E, 2 * I, H}), dn = Tensor::zeros(DType::F32, {E, H, I});
    for (int e = 0; e < E; ++e) {
      const std::string ex = base + "experts." + std::to_string(e) + ".";
      std::memcpy(gu.data_as<float>() + e * 2 * I * H, p.get(ex + "w1.weight").data(), I * H * 4);
      std::memcpy(gu.data_as<float>() + (e * 2 + 1) * I * H, p.get(ex + "w3.weight").data(), I * H * 4);
      std::memcpy(dn.data_as<float>() + e * H * I, p.get(ex + "w2.weight").data(), H * I * 4);
    }
    fused[base + "experts.gate_up_proj"] = gu;
    fused[base + "experts.down_proj"] = dn;
  }
  const std::string dir = nova::test::scratch_dir("train_fused");
  formats::save_safetensors(dir + "/model.safetensors", fused);
  const ParamStore back = load_params(c, formats::Checkpoint::open_dir(dir));
  for (const Param& q : p.params())
    EXPECT_EQ(0, std::memcmp(q.value.data(), back.get(q.name).value.data(), q.value.nbytes())) << q.name;
}

TEST(ModelParams, ErrorsNameTheTensor) {
  const formats::ModelConfig c = test::tiny_configs()[0].second;
  ParamStore p = make_params(c);
  std::map<std::string, Tensor> t = p.values();
  t["model.norm.weight"] = Tensor::zeros(DType::F32, {3});
  try {
    p.load_values(t, "ckpt");
    FAIL() << "no error";
  } catch (const nova::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.norm.weight"), std::string::npos) << e.what();
  }
  t.erase("lm_head.weight");
  EXPECT_THROW(p.load_values(t, "ckpt"), nova::Error);
  EXPECT_THROW(p.get("nope"), nova::Error);
  EXPECT_THROW(p.add("model.norm.weight", {2}), nova::Error);
  formats::ModelConfig bad = c;
  bad.num_kv_heads = 3;
  EXPECT_THROW(make_params(bad), nova::Error);
}

TEST(BatchTest, FromSequencesShiftsTargets) {
  const int32_t tokens[] = {1, 2, 3, 4, 5, 6, 7, 8};
  const Batch b = Batch::from_sequences(tokens, 2, 4);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.inputs, (std::vector<int32_t>{1, 2, 3, 5, 6, 7}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{2, 3, 4, 6, 7, 8}));
  EXPECT_EQ(b.target_count(), 6);
  EXPECT_THROW(Batch::from_sequences(tokens, 1, 1), nova::Error);
}

}  // namespace
}  // namespace nova::train
