// forward_batch over a paged cache against the single-sequence forward(): several sequences of
// different lengths, split into different prefill chunks and decoded together, in shuffled
// blocks, must get the logits forward() gives each one alone (to ~1e-5: only the matmul row
// grouping differs), and the reference transformers logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/transformer.h"
#include "model_fixture.h"

namespace nova::model {
namespace {

struct Seq {
  std::vector<int32_t> ids;
  std::vector<int32_t> table;
  int64_t done = 0;
};

std::vector<int32_t> random_ids(std::mt19937& rng, int64_t n, int vocab) {
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Every row's logits of every sequence through forward_batch in steps of the given chunk sizes.
void check_model(const std::string& name) {
  SCOPED_TRACE(name);
  auto model = Transformer::load(test::model_dir(name));
  const int vocab = model->config().vocab_size;
  const int64_t bs = 4;
  std::mt19937 rng(7);
  std::vector<Seq> seqs;
  for (int64_t len : {19, 5, 12, 1, 9}) seqs.push_back({random_ids(rng, len, vocab), {}, 0});
  seqs[0].ids = test::model_cases(name)[0].input_ids;  // the fixture prompt: compare to transformers too

  int64_t blocks = 0;
  for (auto& s : seqs) blocks += (static_cast<int64_t>(s.ids.size()) + bs - 1) / bs;
  std::vector<int32_t> perm(static_cast<size_t>(blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  size_t next = 0;
  for (auto& s : seqs)
    for (int64_t b = 0; b < (static_cast<int64_t>(s.ids.size()) + bs - 1) / bs; ++b) s.table.push_back(perm[next++]);
  PagedKvCache cache = model->new_paged_cache(blocks, bs);

  // Expected: forward() of each whole sequence alone, all logits.
  std::vector<std::vector<float>> expect(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    KvCache kv = KvCache::allocate(model->backend(), model->config().num_layers, 64, model->config().num_kv_heads,
                                   model->config().head_dim);
    model->forward(seqs[i].ids, 0, kv, expect[i], true);
  }

  // Steps of mixed chunk sizes (1 = decode-like) until every sequence is through.
  const int chunk_plan[] = {3, 1, 5, 2, 7, 1, 1, 4};
  std::vector<std::vector<float>> got(seqs.size());
  for (int step = 0;; ++step) {
    BatchInput batch;
    std::vector<size_t> who;
    for (size_t i = 0; i < seqs.size(); ++i) {
      Seq& s = seqs[i];
      const int64_t left = static_cast<int64_t>(s.ids.size()) - s.done;
      if (left == 0) continue;
      const int64_t n = std::min<int64_t>(left, chunk_plan[(step + i) % std::size(chunk_plan)]);
      BatchSequence bsq;
      bsq.tokens = std::span<const int32_t>(s.ids).subspan(s.done, n);
      bsq.pos0 = s.done;
      bsq.block_table = std::span<const int32_t>(s.table).first((s.done + n + bs - 1) / bs);
      bsq.num_logits = static_cast<int>(n);
      batch.sequences.push_back(bsq);
      who.push_back(i);
    }
    if (batch.sequences.empty()) break;
    std::vector<float> logits;
    model->forward_batch(batch, cache, logits);
    size_t off = 0;
    for (size_t j = 0; j < who.size(); ++j) {
      const size_t n = batch.sequences[j].tokens.size() * vocab;
      got[who[j]].insert(got[who[j]].end(), logits.begin() + off, logits.begin() + off + n);
      off += n;
      seqs[who[j]].done += static_cast<int64_t>(batch.sequences[j].tokens.size());
    }
    ASSERT_EQ(off, logits.size());
  }
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_LE(test::max_abs_diff(got[i], expect[i]), 1e-5) << "sequence " << i;
  EXPECT_LE(test::max_abs_diff(got[0], test::model_cases(name)[0].logits), 3e-5);
}

TEST(ForwardBatch, MatchesSingleSequenceForward) {
  for (const char* name : {"qwen3", "mixtral-moe", "mistral-swa", "qwen2-moe-shared", "llama3-rope"})
    check_model(name);
}

TEST(ForwardBatch, OnlyRequestedLogitsInBatchOrder) {
  auto model = Transformer::load(test::model_dir("qwen3"));
  const int vocab = model->config().vocab_size;
  const std::vector<int32_t> a = {1, 2, 3, 4, 5}, b = {9, 8, 7};
  const std::vector<int32_t> ta = {2, 0}, tb = {1};
  PagedKvCache cache = model->new_paged_cache(3, 4);
  BatchInput batch;
  batch.sequences.push_back({a, 0, ta, 1});
  batch.sequences.push_back({b, 0, tb, 0});
  std::vector<float> logits;
  model->forward_batch(batch, cache, logits);
  ASSERT_EQ(logits.size(), static_cast<size_t>(vocab));
  std::vector<float> single;
  auto session = model->new_session(16);
  session->forward(a, single);
  EXPECT_LE(test::max_abs_diff(logits, single), 1e-5);

  batch.sequences[0].num_logits = 0;
  model->forward_batch(batch, cache, logits);
  EXPECT_TRUE(logits.empty());
}

TEST(ForwardBatch, RejectsBadBatchesBeforeWriting) {
  auto model = Transformer::load(test::model_dir("qwen3"));
  PagedKvCache cache = model->new_paged_cache(4, 4);
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5}, bad_id = {1, 100000};
  const std::vector<int32_t> one = {0}, two = {0, 1}, out_of_range = {0, 9}, other = {1, 2};
  std::vector<float> logits;
  auto run = [&](BatchSequence s, std::optional<BatchSequence> t = std::nullopt) {
    BatchInput b;
    b.sequences.push_back(s);
    if (t) b.sequences.push_back(*t);
    model->forward_batch(b, cache, logits);
  };
  EXPECT_THROW(run({ids, 0, one, 1}), Error);            // 5 positions, one block of 4
  EXPECT_THROW(run({ids, 0, out_of_range, 1}), Error);   // block 9 of 4
  EXPECT_THROW(run({bad_id, 0, one, 1}), Error);         // id outside the vocabulary
  EXPECT_THROW(run({ids, 0, two, 6}), Error);            // more logits than tokens
  EXPECT_THROW(run({{}, 0, two, 0}), Error);             // no tokens
  EXPECT_THROW(run({ids, 0, two, 1}, BatchSequence{ids, 0, other, 1}), Error);  // both write block 1
  // Reading a block another sequence writes in the same step.
  EXPECT_THROW(run({std::span(ids).first(1), 4, two, 1}, BatchSequence{ids, 0, std::vector<int32_t>{0, 3}, 1}),
               Error);
  BatchInput empty;
  EXPECT_THROW(model->forward_batch(empty, cache, logits), Error);
}

}  // namespace
}  // namespace nova::model
