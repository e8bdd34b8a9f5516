// CudaBackend::moe_experts: an MoE block's routed experts without a host synchronisation —
// routing, the plan (counts, prefix sums, permutation, tiles), the grouped expert GEMMs and the
// combine run in a fixed number of launches whatever the number of experts (moe.cuh), so a decode
// step of an MoE model replays as CUDA graphs like a dense one. Few token rows (decode) take the
// two GEMV launches of moe_gemv.cu (routing inside, weights streamed once per routed expert and
// row, x kept fp32); more take six: route, plan, gather into a BF16 permuted copy (as linear()
// rounds x for cuBLASLt), the tensor-core grouped GEMMs, combine. F32 weights (fp32 checkpoints)
// take the GEMV launches at every size. F16 weights, biases, experts of unequal sizes
// or widths not a multiple of 8 run Backend's composition; so does everything under
// NOVA_CUDA_MOE=0 (the before of bench/cuda_moe.cpp).
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/cuda_backend_impl.cuh"
#include "kernels/cuda/moe.cuh"
#include "kernels/moe_checks.h"

namespace nova::kernels::cuda::detail {

namespace {

// Token rows up to which the GEMV kernels run with 16-bit weights: they stream an expert's weights
// once per row that chose it, so they win while experts see a row or two each (decode).
constexpr int64_t kGemvMaxRows = 4;

bool moe_kernels_off() {
  const char* env = std::getenv("NOVA_CUDA_MOE");
  return env && std::strcmp(env, "0") == 0;
}

size_t align256(size_t n) { return (n + 255) & ~size_t{255}; }

}  // namespace

void CudaBackend::moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                              bool normalize, Tensor& out) {
  checks::moe_experts(x, router_logits, experts, k, out, supports_activation(DType::BF16));
  const int64_t T = x.dim(0), H = x.dim(1), E = static_cast<int64_t>(experts.size());
  const DType wd = experts[0].gate->dtype();
  const int64_t I = experts[0].gate->dim(0);
  // 16-byte vector loads and cp.async need 16-byte aligned rows (widths are multiples of 8).
  auto aligned16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  bool fits = !moe_kernels_off() && k <= kMoeMaxK && E <= kMoeMaxExperts && I > 0 && H > 0 &&
              (x.dtype() == DType::F32 || x.dtype() == DType::BF16) && moe_gemv_supports(wd, H, I) &&
              aligned16(x.data());
  for (const MoeExpert& ex : experts)
    fits = fits && !ex.gate_bias && !ex.up_bias && !ex.down_bias && ex.gate->dtype() == wd && ex.up->dtype() == wd &&
           ex.down->dtype() == wd && ex.gate->dim(0) == I && aligned16(ex.gate->data()) && aligned16(ex.up->data()) &&
           aligned16(ex.down->data());
  if (!fits) return Backend::moe_experts(x, router_logits, experts, k, normalize, out);
  if (T == 0) return;

  const int64_t P = T * k;  // assignments
  const bool gemv = T <= kGemvMaxRows || !moe_mma_supports(wd, H, I);
  if (gemv && P > 65535) return Backend::moe_experts(x, router_logits, experts, k, normalize, out);

  // The experts' weight addresses through the step's argument block (constant bytes: replays keep them).
  std::vector<MoeExpertPtrs> table(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    const MoeExpert& ex = experts[static_cast<size_t>(e)];
    table[static_cast<size_t>(e)] = {ex.gate->data(), ex.up->data(), ex.down->data()};
  }
  const MoeExpertPtrs* d_experts = arg(kWeights, std::span<const MoeExpertPtrs>(table));
  const float* logits = router_logits.data_as<float>();
  float* o = out.data_as<float>();
  const size_t n = static_cast<size_t>(P);

  if (gemv) {  // two launches; h: F32 [P, I] (the block cache hands the same one out next step)
    auto mem = device_bytes(n * static_cast<size_t>(I) * 4);
    auto* h = static_cast<float*>(mem.get());
    enqueue(&launch_moe_gemv_gate_up, logits, E, k, normalize, x.data(), x.dtype(), T, d_experts, wd, I, H, h);
    enqueue(&launch_moe_gemv_down_combine, logits, E, k, normalize, static_cast<const float*>(h), T, d_experts, wd, H,
            I, o);
    return;
  }

  // Tensor cores: route, plan, gather (BF16), gate|up, down, combine — one block of temporaries.
  const int64_t max_tiles = moe_max_tiles(P, E, kMoeMmaRows);
  const int splits = moe_mma_down_splits(max_tiles, H, I, sm_count_);
  const int64_t plane = P * H;
  const size_t at_weight = align256(n * 4), at_pos = at_weight + align256(n * 4), at_perm = at_pos + align256(n * 4),
               at_tiles = at_perm + align256(n * 4),
               at_count = at_tiles + align256(static_cast<size_t>(max_tiles) * sizeof(MoeTile)),
               at_xp = at_count + 256, at_h = at_xp + align256(n * static_cast<size_t>(H) * 2),
               at_y = at_h + align256(n * static_cast<size_t>(I) * 2),
               total = at_y + static_cast<size_t>(splits) * n * static_cast<size_t>(H) * 4;
  auto mem = device_bytes(total);
  char* base = static_cast<char*>(mem.get());
  auto* d_expert = reinterpret_cast<int32_t*>(base);
  auto* d_weight = reinterpret_cast<float*>(base + at_weight);
  auto* d_pos = reinterpret_cast<int32_t*>(base + at_pos);
  auto* d_perm = reinterpret_cast<int32_t*>(base + at_perm);
  auto* d_tiles = reinterpret_cast<MoeTile*>(base + at_tiles);
  auto* d_num_tiles = reinterpret_cast<int32_t*>(base + at_count);
  void* d_xp = base + at_xp;
  void* d_h = base + at_h;
  auto* d_y = reinterpret_cast<float*>(base + at_y);
  const MoeTile* c_tiles = d_tiles;
  const int32_t* c_count = d_num_tiles;
  const int32_t* c_perm = d_perm;

  enqueue(&launch_route_top_k, logits, T, E, k, normalize, d_expert, d_weight);
  enqueue(&launch_moe_plan, static_cast<const int32_t*>(d_expert), P, k, E, kMoeMmaRows, d_pos, d_perm, d_tiles,
          d_num_tiles);
  enqueue(&launch_moe_gather, x.data(), x.dtype(), H, c_perm, P, d_xp);
  enqueue(&launch_moe_mma_gate_up, static_cast<const void*>(d_xp), c_tiles, c_count, max_tiles, d_experts, I, H, d_h);
  enqueue(&launch_moe_mma_down, static_cast<const void*>(d_h), c_tiles, c_count, max_tiles, d_experts, H, I, splits,
          plane, d_y);
  enqueue(&launch_moe_combine, static_cast<const float*>(d_y), H, splits, plane, static_cast<const int32_t*>(d_expert),
          static_cast<const float*>(d_weight), static_cast<const int32_t*>(d_pos), T, k, o);
}

}  // namespace nova::kernels::cuda::detail
