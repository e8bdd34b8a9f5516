// Loading weights from altered checkpoints: missing or misshapen tensors are reported by name,
// BF16/F16 checkpoints run through the same code, and fused (transformers 5) MoE experts load
// like per-expert ones.
#include "model/model_weights.h"

#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/transformer.h"
#include "model_fixture.h"

namespace nova {
namespace {

using model::Transformer;

std::map<std::string, Tensor> all_tensors(const std::string& model) {
  const auto ckpt = formats::Checkpoint::open_dir(test::model_dir(model));
  std::map<std::string, Tensor> m;
  for (const std::string& n : ckpt.names()) m[n] = ckpt.get(n).to_f32();
  return m;
}

// A model dir with the fixture's config.json and the given tensors.
std::string write_model(const std::string& name, const std::string& model, const std::map<std::string, Tensor>& t) {
  const std::string dir = test::scratch_dir("model_weights/" + name);
  std::filesystem::copy_file(test::model_dir(model) + "/config.json", dir + "/config.json");
  formats::save_safetensors(dir + "/model.safetensors", t);
  return dir;
}

void expect_error_naming(const std::string& dir, const std::string& tensor) {
  try {
    Transformer::load(dir);
    ADD_FAILURE() << "loading " << dir << " should fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(tensor), std::string::npos) << e.what();
  }
}

TEST(ModelWeights, MissingTensorIsNamed) {
  for (const char* name : {"model.layers.1.self_attn.k_proj.weight", "lm_head.weight", "model.norm.weight",
                           "model.layers.0.self_attn.q_proj.bias"}) {
    const std::string model = std::string(name).find("bias") != std::string::npos ? "qwen2" : "llama-gqa";
    auto t = all_tensors(model);
    ASSERT_EQ(t.erase(name), 1u) << name;
    expect_error_naming(write_model("missing", model, t), name);
  }
}

TEST(ModelWeights, WrongShapeIsNamed) {
  auto t = all_tensors("llama-gqa");
  t["model.layers.0.mlp.up_proj.weight"] = Tensor::zeros(DType::F32, {175, 64});
  expect_error_naming(write_model("shape", "llama-gqa", t), "model.layers.0.mlp.up_proj.weight");
  t = all_tensors("qwen3");
  t["model.layers.1.self_attn.q_norm.weight"] = Tensor::zeros(DType::F32, {16});
  expect_error_naming(write_model("shape", "qwen3", t), "model.layers.1.self_attn.q_norm.weight");
  t = all_tensors("mixtral-moe");
  t.erase("model.layers.0.block_sparse_moe.experts.3.w2.weight");
  expect_error_naming(write_model("shape", "mixtral-moe", t), "model.layers.0.block_sparse_moe.experts.3.w2.weight");
}

TEST(ModelWeights, IntegerTensorIsRejected) {
  auto t = all_tensors("llama-gqa");
  t["model.norm.weight"] = Tensor::zeros(DType::I32, {64});
  expect_error_naming(write_model("dtype", "llama-gqa", t), "model.norm.weight");
}

// Half-precision checkpoints: the same values stored as BF16 / F16 give the logits of the F32
// checkpoint holding those rounded values.
TEST(ModelWeights, HalfPrecisionCheckpointsMatchRoundedF32) {
  const std::vector<int32_t> ids = test::model_cases("qwen2-moe-shared").at(0).input_ids;
  for (DType dt : {DType::BF16, DType::F16}) {
    std::map<std::string, Tensor> half, rounded;
    for (auto& [name, f] : all_tensors("qwen2-moe-shared")) {
      Tensor h = Tensor::zeros(dt, f.shape());
      Tensor r = Tensor::zeros(DType::F32, f.shape());
      for (int64_t i = 0; i < f.numel(); ++i) {
        const float x = f.data_as<float>()[i];
        const uint16_t bits = dt == DType::BF16 ? f32_to_bf16(x) : f32_to_f16(x);
        h.data_as<uint16_t>()[i] = bits;
        r.data_as<float>()[i] = dt == DType::BF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
      }
      half[name] = h;
      rounded[name] = r;
    }
    std::vector<float> a, b;
    Transformer::load(write_model("half", "qwen2-moe-shared", half))->new_session()->forward(ids, a, true);
    Transformer::load(write_model("rounded", "qwen2-moe-shared", rounded))->new_session()->forward(ids, b, true);
    EXPECT_LE(test::max_abs_diff(a, b), 1e-4) << dtype_name(dt);
  }
}

// transformers 5 may store experts fused: mlp.experts.gate_up_proj [E, 2I, H] (gate rows first)
// and mlp.experts.down_proj [E, H, I], router at mlp.gate.weight.
TEST(ModelWeights, FusedExpertTensorsGiveTheSameLogits) {
  const std::string model = "mixtral-moe";
  const test::ModelCase c = test::model_cases(model).at(1);
  auto t = all_tensors(model);
  const int64_t E = 4, I = 176, H = 64;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Tensor gate_up = Tensor::zeros(DType::F32, {E, 2 * I, H}), down = Tensor::zeros(DType::F32, {E, H, I});
    for (int e = 0; e < E; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      float* gu = gate_up.data_as<float>() + e * 2 * I * H;
      std::copy_n(t.at(x + "w1.weight").data_as<float>(), I * H, gu);
      std::copy_n(t.at(x + "w3.weight").data_as<float>(), I * H, gu + I * H);
      std::copy_n(t.at(x + "w2.weight").data_as<float>(), H * I, down.data_as<float>() + e * H * I);
      for (const char* w : {"w1.weight", "w2.weight", "w3.weight"}) t.erase(x + w);
    }
    t[p + "mlp.gate.weight"] = t.at(p + "block_sparse_moe.gate.weight");
    t.erase(p + "block_sparse_moe.gate.weight");
    t[p + "mlp.experts.gate_up_proj"] = gate_up;
    t[p + "mlp.experts.down_proj"] = down;
  }
  std::vector<float> logits;
  Transformer::load(write_model("fused", model, t))->new_session()->forward(c.input_ids, logits, true);
  EXPECT_LE(test::max_abs_diff(logits, c.logits), 1e-4);
}

}  // namespace
}  // namespace nova
