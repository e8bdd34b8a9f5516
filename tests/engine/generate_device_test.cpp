// generate() sampling where the logits are (Session::forward_logits + DeviceSampling) against
// its host path (GenerationRequest::device_sampling = false): the same seed must give the same
// tokens and logprobs. The CPU tests check that sessions without device logits keep the host
// path; the CUDA test (skipped without a GPU) runs seeded requests on fixture models both ways.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/generate.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "model/transformer.h"
#include "../kernels/cuda/cuda_test_util.h"
#include "support/fixtures.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

std::vector<GenerationRequest> seeded_requests(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<GenerationRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    const size_t len = 1 + rng() % 24;
    for (size_t j = 0; j < len; ++j) r.prompt.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
    r.max_tokens = 16;
    SamplingParams& s = r.sampling;
    s.temperature = i % 4 == 0 ? 0.0f : (i % 4 == 1 ? 0.7f : 1.0f);
    s.top_k = i % 3 == 0 ? 0 : 40;
    s.top_p = i % 2 ? 0.9f : 1.0f;
    s.min_p = i % 5 == 0 ? 0.05f : 0.0f;
    s.repetition_penalty = i % 2 ? 1.1f : 1.0f;
    s.presence_penalty = i % 3 == 1 ? 0.4f : 0.0f;
    s.frequency_penalty = i % 3 == 2 ? 0.2f : 0.0f;
    s.seed = 500 + static_cast<uint64_t>(i);
    r.logprobs = i % 3 * 2;
    r.prefill_chunk = i % 2 ? 7 : 512;  // several prefill chunks too
    out.push_back(r);
  }
  return out;
}

void expect_same(const GenerationResult& a, const GenerationResult& b, double lp_tol, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  ASSERT_EQ(a.token_logprobs.size(), b.token_logprobs.size());
  for (size_t j = 0; j < a.token_logprobs.size(); ++j)
    EXPECT_NEAR(a.token_logprobs[j], b.token_logprobs[j], lp_tol) << "token " << j;
  ASSERT_EQ(a.top_logprobs.size(), b.top_logprobs.size());
  for (size_t j = 0; j < a.top_logprobs.size(); ++j) {
    ASSERT_EQ(a.top_logprobs[j].size(), b.top_logprobs[j].size());
    for (size_t k = 0; k < a.top_logprobs[j].size(); ++k) {
      EXPECT_EQ(a.top_logprobs[j][k].id, b.top_logprobs[j][k].id) << "token " << j << " top " << k;
      EXPECT_NEAR(a.top_logprobs[j][k].logprob, b.top_logprobs[j][k].logprob, lp_tol);
    }
  }
}

TEST(GenerateDeviceSampling, SessionsWithoutDeviceLogitsUseTheHostPath) {
  test::ToySession toy(50, 64, test::markov_logits(3));
  EXPECT_EQ(toy.device_sampling_backend(), nullptr);
  const std::vector<int32_t> ids = {1, 2};
  EXPECT_THROW(toy.forward_logits(ids), Error);  // the default: no device logits
  for (const GenerationRequest& r : seeded_requests(6, 50, 1)) {
    test::ToySession a(50, 64, test::markov_logits(3)), b(50, 64, test::markov_logits(3));
    GenerationRequest host = r;
    host.device_sampling = false;
    expect_same(generate(a, nullptr, r), generate(b, nullptr, host), 0.0, "toy");
  }
}

TEST(GenerateDeviceSampling, CpuTransformerUsesTheHostPath) {
  auto m = model::Transformer::load(test::fixture("models/qwen3"));
  for (const GenerationRequest& r : seeded_requests(3, m->config().vocab_size, 2)) {
    auto a = m->new_session(64), b = m->new_session(64);
    GenerationRequest host = r;
    host.device_sampling = false;
    const GenerationResult ra = generate(*a, nullptr, r), rb = generate(*b, nullptr, host);
    expect_same(ra, rb, 0.0, "qwen3 cpu");
    EXPECT_EQ(a->length(), b->length());
  }
}

// ---- CUDA ----

TEST(GenerateDeviceSamplingCuda, SameTokensAsTheHostPath) {
  std::string why;
  kernels::Backend* be = test::cuda_backend(&why);
  if (!be) GTEST_SKIP() << "no CUDA backend: " << why;
  ASSERT_TRUE(be->samples_on_device());
  for (const char* name : {"llama-gqa", "qwen3"}) {
    const std::string dir = test::fixture(std::string("models/") + name);
    auto gpu = model::Transformer::create(formats::load_hf_config(dir + "/config.json"),
                                          formats::Checkpoint::open_dir(dir), *be);
    auto cpu = model::Transformer::load(dir);
    const auto reqs = seeded_requests(12, gpu->config().vocab_size, 7);
    for (size_t i = 0; i < reqs.size(); ++i) {
      const std::string what = std::string(name) + " request " + std::to_string(i);
      auto on_device = gpu->new_session(64);
      ASSERT_NE(on_device->device_sampling_backend(), nullptr);
      const GenerationResult dev = generate(*on_device, nullptr, reqs[i]);
      GenerationRequest host_req = reqs[i];
      host_req.device_sampling = false;
      auto on_host = gpu->new_session(64);
      const GenerationResult host = generate(*on_host, nullptr, host_req);
      expect_same(dev, host, 1e-5, what + " (gpu: device vs host sampling)");
      EXPECT_EQ(on_device->length(), on_host->length()) << what;
      EXPECT_EQ(dev.tokens.size(), static_cast<size_t>(reqs[i].max_tokens)) << what;
      // And the CPU model's tokens (fp32 on both: logits agree to ~1e-5).
      auto on_cpu = cpu->new_session(64);
      expect_same(dev, generate(*on_cpu, nullptr, reqs[i]), 1e-3, what + " (gpu vs cpu)");
    }
  }
}

}  // namespace
}  // namespace nova::engine
