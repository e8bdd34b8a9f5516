// KV caches are not zero-filled (KvCache::allocate, PagedKvCache::allocate use Backend::empty):
// that is right only if no attention reads a position its sequence has not written. Checked by
// running the same prompts and decode steps on caches whose every slot was first filled with
// zeros and with NaN: the logits must be finite and equal. A NaN read through V (even with a
// probability of 0: 0 * NaN is NaN) or through K would show. A random Llama of head_dim 64 with a
// prompt past 256 tokens, so that a CUDA device runs its large-prefill paths (the tensor-core
// attention kernels, launches without graphs) as well as its decode attention; on the CPU
// backend (CI) with fp32 weights, on a CUDA device (when present) with fp32 and bf16 weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../kernels/cuda/cuda_test_util.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/kv_cache.h"
#include "model/paged_kv_cache.h"
#include "model/transformer.h"
#include "model_fixture.h"

namespace nova::model {
namespace {

constexpr int64_t kHidden = 128, kHeads = 2, kKvHeads = 1, kHeadDim = 64, kInter = 256, kLayers = 2, kVocab = 256;

// A random Llama-architecture checkpoint (weights uniform in +-1/sqrt(fan_in), norms 1) stored
// as `dtype`, in a scratch directory; returns the directory.
std::string write_model(DType dtype) {
  const std::string dir = test::scratch_dir(std::string("kv_unwritten_") + std::string(dtype_name(dtype)));
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"model_type", "llama"},
                                 {"hidden_size", kHidden},
                                 {"intermediate_size", kInter},
                                 {"num_hidden_layers", kLayers},
                                 {"num_attention_heads", kHeads},
                                 {"num_key_value_heads", kKvHeads},
                                 {"head_dim", kHeadDim},
                                 {"vocab_size", kVocab},
                                 {"max_position_embeddings", 1024},
                                 {"rms_norm_eps", 1e-5},
                                 {"hidden_act", "silu"},
                                 {"rope_theta", 10000.0},
                                 {"tie_word_embeddings", false}};
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";
  std::mt19937 rng(11);
  auto matrix = [&](int64_t rows, int64_t cols) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    Tensor t = Tensor::zeros(dtype, {rows, cols});
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = scale * d(rng);
      if (dtype == DType::BF16) t.data_as<uint16_t>()[i] = f32_to_bf16(v);
      else t.data_as<float>()[i] = v;
    }
    return t;
  };
  auto ones = [](int64_t n) {
    Tensor t = Tensor::zeros(DType::F32, {n});
    for (int64_t i = 0; i < n; ++i) t.data_as<float>()[i] = 1.0f;
    return t;
  };
  std::map<std::string, Tensor> w;
  w["model.embed_tokens.weight"] = matrix(kVocab, kHidden);
  w["lm_head.weight"] = matrix(kVocab, kHidden);
  w["model.norm.weight"] = ones(kHidden);
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w[p + "input_layernorm.weight"] = ones(kHidden);
    w[p + "post_attention_layernorm.weight"] = ones(kHidden);
    w[p + "self_attn.q_proj.weight"] = matrix(kHeads * kHeadDim, kHidden);
    w[p + "self_attn.k_proj.weight"] = matrix(kKvHeads * kHeadDim, kHidden);
    w[p + "self_attn.v_proj.weight"] = matrix(kKvHeads * kHeadDim, kHidden);
    w[p + "self_attn.o_proj.weight"] = matrix(kHidden, kHeads * kHeadDim);
    w[p + "mlp.gate_proj.weight"] = matrix(kInter, kHidden);
    w[p + "mlp.up_proj.weight"] = matrix(kInter, kHidden);
    w[p + "mlp.down_proj.weight"] = matrix(kHidden, kInter);
  }
  formats::save_safetensors(dir + "/model.safetensors", w);
  return dir;
}

// Every element of `t` (a backend tensor) set to `value`, through an upload and a row copy.
void fill(kernels::Backend& be, Tensor& t, float value) {
  Tensor host = Tensor::zeros(t.dtype(), t.shape());
  for (int64_t i = 0; i < host.numel(); ++i) {
    if (t.dtype() == DType::BF16) host.data_as<uint16_t>()[i] = f32_to_bf16(value);
    else host.data_as<float>()[i] = value;
  }
  be.copy_rows(be.upload(host), t, 0);
}

std::vector<int32_t> random_ids(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(0, kVocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// A prompt of 300 tokens into a contiguous cache of 640 positions, then three decode steps; all
// logits (the prompt's last row, each step's row), after filling the cache with `value`.
std::vector<float> contiguous_run(const Transformer& model, float value) {
  kernels::Backend& be = model.backend();
  KvCache cache = KvCache::allocate(be, kLayers, 640, kKvHeads, kHeadDim, model.kv_dtype());
  for (int l = 0; l < kLayers; ++l) {
    fill(be, cache.k[l], value);
    fill(be, cache.v[l], value);
  }
  const std::vector<int32_t> prompt = random_ids(300, 1);
  std::vector<float> all, logits;
  model.forward(prompt, 0, cache, logits, /*all_logits=*/false, nullptr);
  all = logits;
  int64_t pos = static_cast<int64_t>(prompt.size());
  for (int32_t id : {7, 100, 255}) {
    const int32_t one[] = {id};
    model.forward(one, pos++, cache, logits, /*all_logits=*/false, nullptr);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

// Two sequences in shuffled blocks of 16 slots of a paged cache (prompts of 300 and 37 tokens in
// one step, then a decode step of both), after filling every block with `value`.
std::vector<float> paged_run(const Transformer& model, float value) {
  kernels::Backend& be = model.backend();
  const int64_t bs = 16, blocks = 32;
  PagedKvCache cache = model.new_paged_cache(blocks, bs);
  for (int l = 0; l < kLayers; ++l) {
    fill(be, cache.k[l], value);
    fill(be, cache.v[l], value);
  }
  std::vector<int32_t> perm(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) perm[static_cast<size_t>(i)] = static_cast<int32_t>(blocks - 1 - i);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(5));
  const std::vector<int32_t> table_a(perm.begin(), perm.begin() + 20), table_b(perm.begin() + 20, perm.begin() + 24);
  const std::vector<int32_t> a = random_ids(300, 2), b = random_ids(37, 3);
  std::vector<float> all, logits;
  BatchInput prefill;
  prefill.sequences.push_back({a, 0, table_a, 1});
  prefill.sequences.push_back({b, 0, table_b, 2});
  model.forward_batch(prefill, cache, logits);
  all = logits;
  const int32_t next_a[] = {9}, next_b[] = {200};
  BatchInput step;
  step.sequences.push_back({next_a, 300, table_a, 1});
  step.sequences.push_back({next_b, 37, table_b, 1});
  model.forward_batch(step, cache, logits);
  all.insert(all.end(), logits.begin(), logits.end());
  return all;
}

void expect_same_finite(const std::vector<float>& zeroed, const std::vector<float>& poisoned, const char* what) {
  ASSERT_FALSE(zeroed.empty()) << what;
  bool finite = true;
  for (float v : poisoned) finite = finite && std::isfinite(v);
  EXPECT_TRUE(finite) << what << ": a NaN-filled cache leaked into the logits";
  // The same kernels on the same written values: equal but for nothing (a small bound, not 0,
  // only so that a device's reduction order could not fail it).
  EXPECT_LE(test::max_abs_diff(zeroed, poisoned), 1e-6) << what;
}

void check(kernels::Backend& be, DType weights) {
  SCOPED_TRACE(std::string(be.name()) + " " + std::string(dtype_name(weights)) + " weights");
  const std::string dir = write_model(weights);
  auto model = Transformer::create(formats::load_hf_config(dir + "/config.json"), formats::Checkpoint::open_dir(dir), be);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_same_finite(contiguous_run(*model, 0.0f), contiguous_run(*model, nan), "contiguous cache");
  expect_same_finite(paged_run(*model, 0.0f), paged_run(*model, nan), "paged cache");
}

TEST(KvCacheUnwritten, NothingReadsUnwrittenPositionsCpu) {
  auto cpu = kernels::make_backend("cpu");
  check(*cpu, DType::F32);
}

TEST(KvCacheUnwritten, NothingReadsUnwrittenPositionsCuda) {
  NOVA_REQUIRE_CUDA(gpu);
  check(*gpu, DType::F32);
  check(*gpu, DType::BF16);
}

}  // namespace
}  // namespace nova::model
