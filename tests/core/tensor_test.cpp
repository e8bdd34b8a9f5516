#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace nova {

TEST(DType, Bf16RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 3.14159f, 1e-30f, 65504.0f, -1e30f})
    EXPECT_NEAR(bf16_to_f32(f32_to_bf16(f)), f, std::fabs(f) / 128);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F16ExhaustiveRoundTrip) {
  // Every finite f16 value converts to f32 and back to itself.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // inf / nan
    const uint16_t back = f32_to_f16(f16_to_f32(static_cast<uint16_t>(h)));
    ASSERT_EQ(back, h) << "h=" << h;
  }
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00u);     // overflow -> +inf
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
}

TEST(Tensor, ViewsReshapeAndConvert) {
  Tensor t = Tensor::zeros(DType::BF16, {2, 3});
  for (int i = 0; i < 6; ++i) t.data_as<uint16_t>()[i] = f32_to_bf16(static_cast<float>(i));
  Tensor f = t.to_f32();
  EXPECT_EQ(f.shape_string(), "[2, 3]");
  EXPECT_EQ(f.data_as<float>()[5], 5.0f);
  EXPECT_EQ(f.slice_rows(1, 2).data_as<float>()[0], 3.0f);
  EXPECT_EQ(f.reshape({3, 2}).dim(0), 3);
  EXPECT_THROW(f.reshape({4, 2}), Error);
  EXPECT_THROW(f.slice_rows(1, 3), Error);
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
  ThreadPool pool(4);
  std::vector<int> hits(1000, 0);
  pool.parallel_for(1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) ASSERT_EQ(h, 1);
  // Nested calls run serially instead of deadlocking.
  std::atomic<int> total{0};
  pool.parallel_for(8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pool.parallel_for(10, [&](int64_t b2, int64_t e2) { total += int(e2 - b2); });
  });
  EXPECT_EQ(total.load(), 80);
}

}  // namespace nova
