// The fused variants train_perf added to kernels/cuda/train/train_ops.h, against the CPU training
// layers: SwiGLU on the fused gate|up layout, and the one-pass RMSNorm backward with its copy of
// dx as the next GEMM's operand (incl. many dw chunks, a row past 48 KiB of shared memory and the
// two-pass fallback for rows too long for it). Skipped without a GPU (CI).
#ifdef NOVA_HAVE_CUDA

#include <gtest/gtest.h>

#include "kernels/cuda/train/train_ops.h"
#include "train/layers/rmsnorm.h"
#include "train/layers/swiglu.h"
#include "train_ops_test_util.h"

namespace nova::test {
namespace {

namespace kt = kernels::cuda::train;
using bf16 = __nv_bfloat16;

template <class T>
void check_swiglu_fused(int64_t rows, int64_t inter) {
  SCOPED_TRACE("rows=" + std::to_string(rows) + " inter=" + std::to_string(inter));
  const int64_t n = rows * inter;
  const auto gu = rounded_to<T>(random_floats(2 * n, 60, 2.0f)), d = rounded_to<T>(random_floats(n, 61));
  std::vector<float> g(n), u(n);  // the reference's separate gate and up
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < inter; ++c) {
      g[r * inter + c] = gu[r * 2 * inter + c];
      u[r * inter + c] = gu[r * 2 * inter + inter + c];
    }
  DeviceArray<T> dgu(gu), dd(d), out(n), dgrad(2 * n);
  kt::swiglu_forward_fused<T>(out.get(), dgu.get(), rows, inter, nullptr);
  kt::swiglu_backward_fused<T>(dgrad.get(), dd.get(), dgu.get(), rows, inter, nullptr);
  std::vector<float> ro(n), rg(n), ru(n);
  train::swiglu_forward(ro.data(), g.data(), u.data(), n);
  train::swiglu_backward(rg.data(), ru.data(), d.data(), g.data(), u.data(), n);
  std::vector<float> ref_grad(2 * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < inter; ++c) {
      ref_grad[r * 2 * inter + c] = rg[r * inter + c];
      ref_grad[r * 2 * inter + inter + c] = ru[r * inter + c];
    }
  EXPECT_LT(rel_error(out.download(), ro), kTol<T>);
  EXPECT_LT(rel_error(dgrad.download(), ref_grad), kTol<T>);
  // In place, as the trainer runs it: the same values.
  kt::swiglu_backward_fused<T>(dgu.get(), dd.get(), dgu.get(), rows, inter, nullptr);
  EXPECT_EQ(dgu.download(), dgrad.download());
}

TEST(TrainOpsCudaFused, SwigluGateUp) {
  NOVA_REQUIRE_GPU();
  check_swiglu_fused<float>(37, 24);  // 8-wide vectors
  check_swiglu_fused<float>(37, 13);  // element by element
  check_swiglu_fused<bf16>(37, 24);
  check_swiglu_fused<bf16>(5, 13);
}

template <class TIn, class TOut>
void check_rmsnorm_backward_copy(int64_t groups, int64_t dim) {
  SCOPED_TRACE("groups=" + std::to_string(groups) + " dim=" + std::to_string(dim));
  const auto x = rounded_to<TIn>(random_floats(groups * dim, 70, 2.0f));
  auto w = random_floats(dim, 71, 0.3f);
  for (float& v : w) v += 1.0f;
  const auto dy = rounded_to<TOut>(random_floats(groups * dim, 72));
  const auto dx0 = rounded_to<TIn>(random_floats(groups * dim, 73));
  const auto dw0 = random_floats(dim, 74);
  DeviceArray<TIn> dx_(x), ddx(dx0);
  DeviceArray<TOut> y(groups * dim), ddy(dy), copy(groups * dim);
  DeviceArray<float> dw_(w), rstd(groups), ddw(dw0), scratch(kt::rmsnorm_backward_scratch_floats(groups, dim));
  kt::rmsnorm_forward<TIn, TOut>(y.get(), rstd.get(), dx_.get(), dw_.get(), groups, dim, 1e-6f, nullptr);
  kt::rmsnorm_backward<TIn, TOut>(ddx.get(), ddw.get(), ddy.get(), dx_.get(), dw_.get(), rstd.get(), groups, dim,
                                  scratch.get(), copy.get(), nullptr);
  std::vector<float> yr(groups * dim), rr(groups), dxr = dx0, dwr = dw0;
  train::rmsnorm_forward(yr.data(), rr.data(), x.data(), w.data(), groups, dim, 1e-6f);
  train::rmsnorm_backward(dxr.data(), dwr.data(), dy.data(), x.data(), w.data(), rr.data(), groups, dim);
  const std::vector<float> got_dx = ddx.download();
  EXPECT_LT(rel_error(got_dx, dxr), kTol<TIn>) << "dx";
  EXPECT_LT(rel_error(ddw.download(), dwr), 1e-5) << "dw";
  // The copy is dx rounded to TOut, exactly.
  EXPECT_EQ(copy.download(), rounded_to<TOut>(got_dx));
  // Without a copy: the same dx and dw bits (the copy changes nothing else).
  DeviceArray<TIn> ddx2(dx0);
  DeviceArray<float> ddw2(dw0);
  kt::rmsnorm_backward<TIn, TOut>(ddx2.get(), ddw2.get(), ddy.get(), dx_.get(), dw_.get(), rstd.get(), groups, dim,
                                  scratch.get(), nullptr);
  EXPECT_EQ(ddx2.download(), got_dx);
  EXPECT_EQ(ddw2.download(), ddw.download());
}

TEST(TrainOpsCudaFused, RmsNormBackwardWithCopy) {
  NOVA_REQUIRE_GPU();
  check_rmsnorm_backward_copy<float, bf16>(3000, 256);  // hundreds of dw chunks
  check_rmsnorm_backward_copy<float, bf16>(9, 67);      // odd dim, a partial chunk
  check_rmsnorm_backward_copy<float, float>(40, 5000);  // 80 KB of shared memory (opt-in)
  check_rmsnorm_backward_copy<float, bf16>(3, 60000);   // too long for it: the two-pass path
  check_rmsnorm_backward_copy<bf16, bf16>(37 * 4, 128);
}

}  // namespace
}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
