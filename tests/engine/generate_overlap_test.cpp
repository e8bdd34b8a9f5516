// generate()'s overlapped decode (GenerationRequest::overlap_steps, a device backend, no
// penalties): each step is enqueued on the token the device picked before the host reads it. It
// must give exactly the tokens, logprobs, finish reasons and session contents of the same
// request run step by step — when a stop token, the capacity, max_tokens or a cancel ends the
// run one step after a step was already run ahead, and when the device leaves a row to the host
// (NeedsHost: the step run ahead used the wrong token and is run again). Needs a GPU (skipped
// without one).
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "engine/device_sampler.h"
#include "engine/generate.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "model/transformer.h"
#include "../kernels/cuda/cuda_test_util.h"
#include "support/fixtures.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

// A ToySession whose logits are handed over on a device backend, so generate() samples there and
// overlaps its steps. Ids held by the device are downloaded (a synchronisation: only the logic is
// under test here).
class DeviceToySession final : public test::ToySession {
 public:
  DeviceToySession(int vocab, int64_t capacity, test::ToyLogitsFn fn, kernels::Backend& be)
      : ToySession(vocab, capacity, std::move(fn)), be_(&be) {}
  kernels::Backend* device_sampling_backend() const override { return be_; }
  Tensor forward_logits(std::span<const int32_t> ids) override {
    if (ids.size() == 1) ++host_id_steps;
    std::vector<float> logits;
    forward(ids, logits);
    const Tensor host = Tensor::view(DType::F32, {1, vocab_size()}, logits.data());
    return be_->upload(host);
  }
  Tensor forward_logits_from_device(const Tensor& device_ids) override {
    ++device_id_steps;
    std::vector<int32_t> ids(static_cast<size_t>(device_ids.numel()));
    be_->download(device_ids, ids.data());
    std::vector<float> logits;
    forward(ids, logits);
    return be_->upload(Tensor::view(DType::F32, {1, vocab_size()}, logits.data()));
  }
  int host_id_steps = 0, device_id_steps = 0;

 private:
  kernels::Backend* be_;
};

void expect_same(const GenerationResult& a, const GenerationResult& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  EXPECT_EQ(a.stop_token, b.stop_token);
  EXPECT_EQ(a.token_logprobs, b.token_logprobs);
  ASSERT_EQ(a.top_logprobs.size(), b.top_logprobs.size());
  for (size_t j = 0; j < a.top_logprobs.size(); ++j) {
    ASSERT_EQ(a.top_logprobs[j].size(), b.top_logprobs[j].size());
    for (size_t k = 0; k < a.top_logprobs[j].size(); ++k) {
      EXPECT_EQ(a.top_logprobs[j][k].id, b.top_logprobs[j][k].id);
      EXPECT_EQ(a.top_logprobs[j][k].logprob, b.top_logprobs[j][k].logprob);
    }
  }
}

std::vector<GenerationRequest> requests_without_penalties(int vocab) {
  std::vector<GenerationRequest> out;
  auto add = [&](float t, int k, float p, float min_p, int logprobs) {
    GenerationRequest r;
    for (int i = 0; i < 5; ++i) r.prompt.push_back((7 + 31 * i + static_cast<int>(out.size())) % vocab);
    r.max_tokens = 20;
    r.sampling.temperature = t;
    r.sampling.top_k = k;
    r.sampling.top_p = p;
    r.sampling.min_p = min_p;
    r.sampling.seed = 40 + out.size();
    r.logprobs = logprobs;
    out.push_back(r);
  };
  add(0, 0, 1, 0, 0);         // greedy
  add(1, 0, 1, 0, 0);         // the whole distribution
  add(0.8f, 40, 0.9f, 0, 3);  // top_k + top_p + logprobs
  add(1, 0, 1, 0.05f, 1);     // min_p
  add(1, 2000, 1, 0, 0);      // top_k past the device's candidate list (vocab 4096): the host decides
  add(1, 0, 0.97f, 0, 2);     // a nucleus past the list: the host decides
  return out;
}

TEST(GenerateOverlapCuda, ToyModelGivesTheStepByStepResults) {
  NOVA_REQUIRE_CUDA(be);
  const int V = 4096;
  auto run = [&](const GenerationRequest& r, bool overlap, int64_t capacity, int cancel_after = -1) {
    DeviceToySession s(V, capacity, test::markov_logits(9, 1.0f), *be);
    GenerationRequest q = r;
    q.overlap_steps = overlap;
    TokenCallback cb;
    if (cancel_after >= 0) cb = [&](const TokenEvent& ev) { return ev.index < cancel_after; };
    GenerationResult res = generate(s, nullptr, q, cb);
    return std::make_tuple(res, s.tokens(), s.host_id_steps, s.device_id_steps);
  };
  const auto reqs = requests_without_penalties(V);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const std::string what = "request " + std::to_string(i);
    const auto [a, a_tokens, a_host, a_dev] = run(reqs[i], true, 64);
    const auto [b, b_tokens, b_host, b_dev] = run(reqs[i], false, 64);
    expect_same(a, b, what);
    EXPECT_EQ(a_tokens, b_tokens) << what;  // the session holds the same tokens
    EXPECT_EQ(a.tokens.size(), 20u) << what;
    EXPECT_EQ(b_dev, 0) << what;
    EXPECT_GT(a_dev, 0) << what << ": no step was run ahead";
    if (i >= 4) {
      EXPECT_GT(a_host, 0) << what << ": no step was run again on the host's token";
    }
    // And the host path (download the logits, sample on the host) with the same seed.
    GenerationRequest host = reqs[i];
    host.device_sampling = false;
    test::ToySession plain(V, 64, test::markov_logits(9, 1.0f));
    EXPECT_EQ(generate(plain, nullptr, host).tokens, a.tokens) << what;

    // Ends one step after a step ran ahead: a stop token, the capacity, a cancel, max_tokens.
    GenerationRequest stop = reqs[i];
    stop.stop_token_ids = {a.tokens[6]};
    const auto [s1, s1_tokens, s1h, s1d] = run(stop, true, 64);
    const auto [s2, s2_tokens, s2h, s2d] = run(stop, false, 64);
    expect_same(s1, s2, what + " stop token");
    EXPECT_EQ(s1.finish_reason, "stop");
    EXPECT_EQ(s1_tokens, s2_tokens) << what << " stop token";
    const auto [c1, c1_tokens, c1h, c1d] = run(reqs[i], true, 5 + 8);
    const auto [c2, c2_tokens, c2h, c2d] = run(reqs[i], false, 5 + 8);
    expect_same(c1, c2, what + " capacity");
    EXPECT_EQ(c1.finish_reason, "length");
    EXPECT_EQ(c1_tokens, c2_tokens) << what << " capacity";
    const auto [x1, x1_tokens, x1h, x1d] = run(reqs[i], true, 64, 3);
    const auto [x2, x2_tokens, x2h, x2d] = run(reqs[i], false, 64, 3);
    expect_same(x1, x2, what + " cancel");
    EXPECT_EQ(x1.finish_reason, "cancelled");
    EXPECT_EQ(x1_tokens, x2_tokens) << what << " cancel";
    for (int max_tokens : {0, 1, 2}) {
      GenerationRequest m = reqs[i];
      m.max_tokens = max_tokens;
      const auto [m1, m1_tokens, m1h, m1d] = run(m, true, 64);
      const auto [m2, m2_tokens, m2h, m2d] = run(m, false, 64);
      expect_same(m1, m2, what + " max_tokens " + std::to_string(max_tokens));
      EXPECT_EQ(m1_tokens, m2_tokens) << what << " max_tokens " << max_tokens;
    }
  }
}

// The real thing: fixture models on the CUDA backend (embedding_ids, sampled ids fed to the next
// step in the same stream, graphs recorded in both halves of the argument ring).
TEST(GenerateOverlapCuda, FixtureModelsGiveTheStepByStepResults) {
  NOVA_REQUIRE_CUDA(be);
  for (const char* name : {"llama-gqa", "qwen3"}) {
    const std::string dir = test::fixture(std::string("models/") + name);
    auto m = model::Transformer::create(formats::load_hf_config(dir + "/config.json"),
                                        formats::Checkpoint::open_dir(dir), *be);
    auto reqs = requests_without_penalties(m->config().vocab_size);
    reqs.resize(4);  // (vocab 512: no row reaches past the candidate list)
    for (size_t i = 0; i < reqs.size(); ++i) {
      const std::string what = std::string(name) + " request " + std::to_string(i);
      for (int64_t capacity : {int64_t{64}, int64_t{5 + 9}}) {
        auto a = m->new_session(capacity), b = m->new_session(capacity);
        GenerationRequest step_by_step = reqs[i];
        step_by_step.overlap_steps = false;
        const GenerationResult ra = generate(*a, nullptr, reqs[i]), rb = generate(*b, nullptr, step_by_step);
        expect_same(ra, rb, what + " capacity " + std::to_string(capacity));
        EXPECT_EQ(a->length(), b->length()) << what;
        // The sessions continue alike: the KV rows of a dropped step were overwritten or unused.
        std::vector<float> la, lb;
        const int32_t next = ra.tokens.back();
        if (a->length() < a->capacity()) {
          a->forward(std::span<const int32_t>(&next, 1), la);
          b->forward(std::span<const int32_t>(&next, 1), lb);
          EXPECT_EQ(la, lb) << what;
        }
      }
    }
  }
}

}  // namespace
}  // namespace nova::engine
