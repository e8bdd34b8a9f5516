#include "data/data_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "data/index_permutation.h"
#include "support/fixtures.h"

namespace nova::data {
namespace {

// A stream whose token at position i is i (so a window tells where it was cut), spread over three
// shards of unequal size, the middle one with a loss mask that is 0 on even positions.
std::shared_ptr<const TokenStream> counting_stream(const std::string& name, uint64_t n = 1000) {
  const std::string dir = test::scratch_dir(name);
  const uint64_t cuts[] = {0, n / 3, n / 3 + n / 4, n};
  std::vector<std::string> paths;
  for (int s = 0; s < 3; ++s) {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    for (uint64_t i = cuts[s]; i < cuts[s + 1]; ++i) {
      ids.push_back(static_cast<int32_t>(i));
      mask.push_back(i % 2);
    }
    paths.push_back(dir + "/train-0000" + std::to_string(s) + ".bin");
    write_shard(paths.back(), ids, 1, 65535, s == 1 ? mask : std::vector<uint8_t>{});
  }
  return std::make_shared<const TokenStream>(TokenStream::open(paths));
}

std::vector<Batch> take(DataLoader& loader, int n) {
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) out.push_back(loader.next());
  return out;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].inputs != b[i].inputs || a[i].targets != b[i].targets || a[i].mask != b[i].mask) return false;
  return true;
}

TEST(TokenStream, ConcatenatesShardsAcrossBoundaries) {
  auto s = counting_stream("stream_concat");
  EXPECT_EQ(s->size(), 1000u);
  std::vector<int32_t> ids(600);
  std::vector<uint8_t> mask(600);
  s->copy(200, 600, ids.data(), mask.data());  // spans all three shards
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint64_t pos = 200 + i;
    ASSERT_EQ(ids[i], static_cast<int32_t>(pos));
    ASSERT_EQ(mask[i], (pos >= 333 && pos < 583) ? pos % 2 : 1) << pos;
  }
}

TEST(DataLoader, PackedWindowsTargetsAreInputsShiftedByOne) {
  auto s = counting_stream("loader_pack");
  DataLoader loader(s, {.batch_size = 4, .seq_len = 16, .seed = 7});
  for (const Batch& b : take(loader, 30)) {
    ASSERT_EQ(b.rows, 4);
    ASSERT_EQ(b.inputs.size(), 64u);
    for (int64_t r = 0; r < b.rows; ++r) {
      const int32_t start = b.inputs[static_cast<size_t>(r * 16)];
      for (int64_t t = 0; t < 16; ++t) {
        const size_t k = static_cast<size_t>(r * 16 + t);
        // A contiguous slice of the stream: input t is start+t, its target the next token.
        ASSERT_EQ(b.inputs[k], start + t);
        ASSERT_EQ(b.targets[k], start + t + 1);
        if (t + 1 < 16) {
          ASSERT_EQ(b.targets[k], b.inputs[k + 1]);
        }
        const int32_t target = b.targets[k];
        ASSERT_EQ(b.mask[k], (target >= 333 && target < 583) ? target % 2 : 1);
      }
    }
  }
}

TEST(DataLoader, EpochVisitsEveryWindowOnceWithAnEpochOffset) {
  auto s = counting_stream("loader_epoch");
  const int64_t T = 16;
  DataLoader loader(s, {.batch_size = 1, .seq_len = T, .seed = 3});
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    ASSERT_EQ(loader.cursor().epoch, epoch);
    const uint64_t windows = loader.windows_in_epoch(epoch);
    std::set<int32_t> starts;
    for (uint64_t w = 0; w < windows; ++w) starts.insert(loader.next().inputs[0]);
    ASSERT_EQ(starts.size(), windows);
    const int32_t offset = *starts.begin();
    EXPECT_LT(offset, T);
    for (int32_t st : starts) ASSERT_EQ((st - offset) % T, 0);
    EXPECT_EQ(windows, (1000u - 1 - static_cast<uint64_t>(offset)) / T);
  }
}

TEST(DataLoader, DeterministicBySeedAndSeedsDiffer) {
  auto s = counting_stream("loader_seed");
  DataLoader a(s, {.batch_size = 3, .seq_len = 8, .seed = 11});
  DataLoader b(s, {.batch_size = 3, .seq_len = 8, .seed = 11});
  DataLoader c(s, {.batch_size = 3, .seq_len = 8, .seed = 12});
  const auto ba = take(a, 100), bb = take(b, 100), bc = take(c, 100);  // > 1 epoch (124 windows)
  EXPECT_TRUE(same(ba, bb));
  EXPECT_FALSE(same(ba, bc));
  size_t differing = 0;
  for (size_t i = 0; i < ba.size(); ++i) differing += ba[i].inputs != bc[i].inputs;
  EXPECT_GT(differing, 90u);
}

TEST(DataLoader, NoShuffleIsStreamOrder) {
  auto s = counting_stream("loader_noshuffle");
  DataLoader loader(s, {.batch_size = 2, .seq_len = 10, .seed = 5, .shuffle = false});
  const Batch b = loader.next();
  EXPECT_EQ(b.inputs[0], 0);
  EXPECT_EQ(b.inputs[10], 10);
}

TEST(DataLoader, ResumeFromSavedCursorReproducesTheBatches) {
  auto s = counting_stream("loader_resume");
  const LoaderOptions opt{.batch_size = 5, .seq_len = 12, .seed = 42};
  DataLoader full(s, opt);
  const auto reference = take(full, 60);  // several epochs of 83 windows; batches straddle epochs
  for (int stop : {0, 1, 16, 17, 33, 59}) {
    DataLoader first(s, opt);
    take(first, stop);
    // The cursor goes through JSON text, as a checkpoint would store it.
    const std::string saved = first.cursor().to_json().dump();
    DataLoader resumed(s, opt);
    resumed.restore(LoaderCursor::from_json(nlohmann::json::parse(saved), "cursor"));
    EXPECT_EQ(resumed.cursor(), first.cursor());
    const auto rest = take(resumed, 60 - stop);
    EXPECT_TRUE(same(rest, std::vector<Batch>(reference.begin() + stop, reference.end()))) << "stop " << stop;
  }
}

TEST(DataLoader, RefusesIncompatibleCursorsAndTinyData) {
  auto s = counting_stream("loader_refuse");
  DataLoader a(s, {.batch_size = 2, .seq_len = 8, .seed = 1});
  a.next();
  DataLoader other_seed(s, {.batch_size = 2, .seq_len = 8, .seed = 2});
  EXPECT_THROW(other_seed.restore(a.cursor()), nova::Error);
  LoaderCursor c = a.cursor();
  c.dataset_tokens += 1;
  EXPECT_THROW(a.restore(c), nova::Error);
  c = a.cursor();
  c.position = 1u << 30;
  EXPECT_THROW(a.restore(c), nova::Error);

  EXPECT_THROW(LoaderCursor::from_json(nlohmann::json::parse(R"({"epoch": 0})"), "c"), nova::Error);
  EXPECT_THROW(LoaderCursor::from_json(
                   nlohmann::json::parse(R"({"epoch":0,"position":0,"rng_state":5,"dataset_tokens":1})"), "c"),
               nova::Error);
  EXPECT_THROW(LoaderCursor::from_json(
                   nlohmann::json::parse(R"({"epoch":0,"position":0,"rng_state":"99999999999999999999","dataset_tokens":1})"), "c"),
               nova::Error);
  EXPECT_THROW(DataLoader(s, {.batch_size = 1, .seq_len = 1000}), nova::Error);
  EXPECT_NO_THROW(DataLoader(s, {.batch_size = 1, .seq_len = 999}));
  EXPECT_THROW(DataLoader(s, {.batch_size = 0, .seq_len = 4}), nova::Error);
}

TEST(DataLoader, SmallestStreamWorks) {
  auto s = counting_stream("loader_smallest", 9);
  DataLoader loader(s, {.batch_size = 3, .seq_len = 8, .seed = 9});
  const Batch b = loader.next();  // one window per epoch, repeated
  for (int r = 0; r < 3; ++r) EXPECT_EQ(b.inputs[static_cast<size_t>(r * 8)], 0);
}

TEST(SequentialLoader, EveryTokenIsATargetExactlyOnce) {
  auto s = counting_stream("loader_eval", 1001);  // 1000 targets: 62 full windows of 16 and one of 8
  SequentialLoader eval(s, 5, 16);
  EXPECT_EQ(eval.windows(), 63u);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int32_t> seen;
    int batches = 0;
    while (auto b = eval.next()) {
      ++batches;
      for (size_t k = 0; k < b->targets.size(); ++k) {
        if (k % 16 != 15 && b->targets[k] != 0) {
          ASSERT_EQ(b->inputs[k + 1], b->targets[k]);
        }
        if (b->mask[k] == 0) continue;  // padding, or a loss-masked target of the middle shard
        seen.push_back(b->targets[k]);
      }
      if (b->rows < 5) {
        EXPECT_EQ(b->rows, 3);  // 63 = 12*5 + 3
      }
    }
    EXPECT_EQ(batches, 13);
    // With the loss-masked targets of the middle shard left out, everything else appears once, in order.
    std::vector<int32_t> expected;
    for (int32_t t = 1; t <= 1000; ++t)
      if (!(t >= 333 && t < 583 && t % 2 == 0)) expected.push_back(t);
    EXPECT_EQ(seen, expected);
    eval.reset();
  }
}

TEST(SequentialLoader, UnmaskedStreamCoversEveryTokenExactlyOnce) {
  const std::string dir = test::scratch_dir("loader_eval_plain");
  std::vector<int32_t> ids(77);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i * 3 % 50);
  write_shard(dir + "/val-00000.bin", ids, 4, 50);
  auto s = std::make_shared<const TokenStream>(TokenStream::open({dir + "/val-00000.bin"}));
  SequentialLoader eval(s, 2, 10);
  std::vector<int32_t> inputs_first, targets;
  while (auto b = eval.next())
    for (size_t k = 0; k < b->targets.size(); ++k)
      if (b->mask[k]) {
        targets.push_back(b->targets[k]);
        if (k % 10 == 0) inputs_first.push_back(b->inputs[k]);
      }
  EXPECT_EQ(targets, std::vector<int32_t>(ids.begin() + 1, ids.end()));
  EXPECT_EQ(inputs_first.front(), ids[0]);
}

TEST(IndexPermutation, IsABijection) {
  for (uint64_t n : {1ull, 2ull, 3ull, 17ull, 64ull, 1000ull, 4097ull}) {
    IndexPermutation p(n, 12345 + n);
    std::vector<bool> hit(n, false);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t j = p(i);
      ASSERT_LT(j, n);
      ASSERT_FALSE(hit[j]);
      hit[j] = true;
    }
  }
  IndexPermutation a(1000, 1), b(1000, 2);
  int moved = 0;
  for (uint64_t i = 0; i < 1000; ++i) moved += a(i) != b(i);
  EXPECT_GT(moved, 900);
}

}  // namespace
}  // namespace nova::data
