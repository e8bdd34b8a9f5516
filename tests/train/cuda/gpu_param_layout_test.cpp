// The GPU trainer's flat buffer layout and its device checks, which need no GPU.
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/gpu/gpu_device.h"
#include "train/gpu/gpu_param_layout.h"
#include "train/model_params.h"
#include "../tiny_configs.h"

namespace nova::train {
namespace {

TEST(GpuParamLayout, AlignedOffsetsInStoreOrder) {
  const ParamStore s = make_params(test::tiny_configs()[0].second);
  const GpuParamLayout layout(s);
  ASSERT_EQ(layout.slots().size(), s.size());
  int64_t end = 0, numel = 0;
  size_t i = 0;
  for (const Param& p : s.params()) {
    const GpuParamSlot& slot = layout.slots()[i++];
    EXPECT_EQ(slot.name, p.name);
    EXPECT_EQ(slot.numel, p.numel());
    EXPECT_EQ(slot.decays, p.decays());
    EXPECT_EQ(slot.offset % GpuParamLayout::kAlign, 0) << p.name;
    EXPECT_GE(slot.offset, end) << p.name;  // no overlap, store order
    end = slot.offset + slot.numel;
    numel += p.numel();
  }
  EXPECT_GE(layout.total(), end);
  EXPECT_EQ(layout.numel(), numel);
  EXPECT_EQ(layout.offset(s.params().front().name), 0);
  EXPECT_EQ(layout.offset("no.such.weight"), -1);
  EXPECT_THROW(layout.require("no.such.weight"), Error);
  EXPECT_TRUE(layout.matches(s));
  EXPECT_FALSE(layout.matches(make_params(test::tiny_configs()[1].second)));
}

TEST(GpuDevice, ParsesDeviceNames) {
  EXPECT_EQ(parse_train_device("cpu", "k"), -1);
  EXPECT_EQ(parse_train_device("cuda", "k"), 0);
  EXPECT_EQ(parse_train_device("cuda:3", "k"), 3);
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "cuda:1x", ""}) {
    try {
      parse_train_device(bad, "train.device");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("train.device"), std::string::npos) << e.what();
    }
  }
}

TEST(GpuDevice, AcceptsMoEModelsWithinTheRoutingLimits) {
  for (const auto& [name, c] : test::tiny_configs()) EXPECT_NO_THROW(check_gpu_trainable_model(c, "x")) << name;
  for (const auto& [name, base] : test::tiny_configs()) {
    if (base.num_experts == 0) continue;
    formats::ModelConfig c = base;
    c.num_experts = 300;
    c.experts_per_token = 2;
    try {
      check_gpu_trainable_model(c, "train.device");
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("at most 256 experts"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("train.device"), std::string::npos) << e.what();
    }
  }
}

TEST(GpuDevice, UnavailableDeviceSaysWhy) {
  std::string why;
  EXPECT_FALSE(cuda_device_available(100000, &why));
  EXPECT_FALSE(why.empty());
  if (!cuda_device_available(0, &why)) {  // CI: the trainer refuses to start, with the reason
    const formats::ModelConfig c = test::tiny_configs()[0].second;
    try {
      check_gpu_training(c, 0);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace nova::train
