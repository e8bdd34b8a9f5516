// nova train export: a checkpoint as a release model directory, in f32 or rounded to bf16.
#include "train/export_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "support/fixtures.h"
#include "tiny_configs.h"
#include "train/train_model.h"

namespace nova::train {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = "train/llama-train/init";

TEST(ExportModel, Bf16KeepsNamesShapesAndRoundsEachWeightOnce) {
  const std::string src = nova::test::fixture(kFixture);
  const std::string out = nova::test::scratch_dir("export_bf16") + "/model";
  const ExportSummary s = export_model(src, out, DType::BF16);
  EXPECT_GT(s.tensors, 0);
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json"})
    EXPECT_TRUE(fs::is_regular_file(out + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + "/optimizer.safetensors"));
  EXPECT_FALSE(fs::exists(out + "/trainer_state.json"));
  const auto cfg = nlohmann::json::parse(nova::test::read_file(out + "/config.json"));
  EXPECT_EQ(cfg["dtype"], "bfloat16");
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");

  const auto a = formats::SafetensorsFile::open(src + "/model.safetensors");
  const auto b = formats::SafetensorsFile::open(out + "/model.safetensors");
  ASSERT_EQ(a.names().size(), b.names().size());
  for (const auto& name : a.names()) {
    const Tensor ta = a.get(name), tb = b.get(name);
    ASSERT_EQ(tb.dtype(), DType::BF16) << name;
    ASSERT_EQ(ta.shape(), tb.shape()) << name;
    const float* x = ta.data_as<float>();
    const uint16_t* y = tb.data_as<uint16_t>();
    for (int64_t i = 0; i < ta.numel(); ++i) ASSERT_EQ(y[i], f32_to_bf16(x[i])) << name << "[" << i << "]";
  }
  EXPECT_EQ(s.bytes, static_cast<int64_t>(fs::file_size(out + "/model.safetensors")));

  // The bf16 model computes nearly the same loss.
  const auto f32_model = TrainModel::from_pretrained(src), bf16_model = TrainModel::from_pretrained(out);
  const Batch batch = test::random_batch(2, 12, f32_model->config().vocab_size, 4);
  const double la = f32_model->forward(batch).loss, lb = bf16_model->forward(batch).loss;
  EXPECT_NEAR(lb, la, 0.02 * la);
}

TEST(ExportModel, F32IsExactAndBadInputsAreErrors) {
  const std::string src = nova::test::fixture(kFixture);
  const std::string out = nova::test::scratch_dir("export_f32") + "/model";
  export_model(src, out, DType::F32);
  const auto a = formats::SafetensorsFile::open(src + "/model.safetensors");
  const auto b = formats::SafetensorsFile::open(out + "/model.safetensors");
  for (const auto& name : a.names()) {
    const Tensor ta = a.get(name), tb = b.get(name);
    ASSERT_EQ(tb.dtype(), DType::F32);
    for (int64_t i = 0; i < ta.numel(); ++i) ASSERT_EQ(ta.data_as<float>()[i], tb.data_as<float>()[i]) << name;
  }
  EXPECT_THROW(export_model(out + "/missing", out + "2", DType::F32), Error);
  EXPECT_THROW(export_model(src, out, DType::I64), Error);
}

}  // namespace
}  // namespace nova::train
