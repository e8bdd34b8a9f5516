#include "data/shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "support/fixtures.h"

namespace nova::data {
namespace {

std::vector<int32_t> sample_tokens(size_t n, int32_t vocab) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 7919 + 13) % static_cast<size_t>(vocab));
  return t;
}

std::string expect_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const nova::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no nova::Error thrown";
  return "";
}

TEST(Shard, RoundTripU16) {
  const std::string dir = test::scratch_dir("shard_u16");
  const auto tokens = sample_tokens(1000, 50257);
  write_shard(dir + "/a.bin", tokens, 3, 50257);
  const Shard s = Shard::open(dir + "/a.bin");
  EXPECT_EQ(s.header().token_width, 2u);
  EXPECT_EQ(s.size(), 1000u);
  EXPECT_EQ(s.document_count(), 3u);
  EXPECT_FALSE(s.has_loss_mask());
  EXPECT_EQ(s.tokens(), tokens);
  EXPECT_EQ(s.token(999), tokens[999]);
  EXPECT_EQ(std::filesystem::file_size(dir + "/a.bin"), kShardHeaderBytes + 2000);
  std::vector<uint8_t> mask(4, 7);
  s.copy_loss_mask(10, 4, mask.data());
  EXPECT_EQ(mask, std::vector<uint8_t>(4, 1));  // no mask: every token counts
  // Exactly one file: the temporary one was renamed.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
}

TEST(Shard, RoundTripU32WithLossMask) {
  const std::string dir = test::scratch_dir("shard_u32");
  const auto tokens = sample_tokens(777, 151669);
  std::vector<uint8_t> mask(777);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 == 0;
  write_shard(dir + "/b.bin", tokens, 1, 151669, mask);
  const Shard s = Shard::open(dir + "/b.bin");
  EXPECT_EQ(s.header().token_width, 4u);
  EXPECT_EQ(s.header().vocab_size, 151669u);
  EXPECT_TRUE(s.has_loss_mask());
  EXPECT_EQ(s.tokens(), tokens);
  std::vector<uint8_t> got(777);
  s.copy_loss_mask(0, 777, got.data());
  EXPECT_EQ(got, mask);
  EXPECT_EQ(std::filesystem::file_size(dir + "/b.bin"), kShardHeaderBytes + 777 * 5);
}

TEST(Shard, WidthBoundaryIsVocab65535) {
  EXPECT_EQ(token_width_for_vocab(65535), 2u);
  EXPECT_EQ(token_width_for_vocab(65536), 4u);
  const std::string dir = test::scratch_dir("shard_width");
  write_shard(dir + "/c.bin", std::vector<int32_t>{0, 65534}, 1, 65535);
  EXPECT_EQ(Shard::open(dir + "/c.bin").tokens(), (std::vector<int32_t>{0, 65534}));
  write_shard(dir + "/d.bin", std::vector<int32_t>{65535, 7}, 1, 65536);
  EXPECT_EQ(Shard::open(dir + "/d.bin").tokens(), (std::vector<int32_t>{65535, 7}));
}

TEST(Shard, EmptyShardIsValid) {
  const std::string dir = test::scratch_dir("shard_empty");
  write_shard(dir + "/e.bin", {}, 0, 100);
  EXPECT_EQ(Shard::open(dir + "/e.bin").size(), 0u);
}

TEST(Shard, WriterRejectsBadInput) {
  const std::string dir = test::scratch_dir("shard_bad_input");
  EXPECT_NE(expect_error([&] { write_shard(dir + "/x.bin", std::vector<int32_t>{1, 100}, 1, 100); })
                .find("outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { write_shard(dir + "/x.bin", std::vector<int32_t>{-1}, 1, 100); }).find("-1"),
            std::string::npos);
  const std::vector<uint8_t> short_mask(1, 1);
  EXPECT_NE(expect_error([&] { write_shard(dir + "/x.bin", std::vector<int32_t>{1, 2}, 1, 100, short_mask); })
                .find("loss mask"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.bin"));
  EXPECT_THROW(write_shard(dir + "/no/such/dir/x.bin", std::vector<int32_t>{1}, 1, 100), nova::Error);
}

class CorruptShard : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("shard_corrupt");
    path_ = dir_ + "/s.bin";
    write_shard(path_, sample_tokens(100, 1000), 2, 1000);
    bytes_ = test::read_file(path_);
  }
  std::string open_error(const std::string& bytes) {
    test::write_file(path_, bytes);
    return expect_error([&] { Shard::open(path_); });
  }
  std::string dir_, path_, bytes_;
};

TEST_F(CorruptShard, TruncatedPayloadNamesFileAndProblem) {
  const std::string msg = open_error(bytes_.substr(0, bytes_.size() - 1));
  EXPECT_NE(msg.find(path_), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST_F(CorruptShard, TruncatedHeader) {
  const std::string msg = open_error(bytes_.substr(0, 20));
  EXPECT_NE(msg.find(path_), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(open_error("").find("truncated"), std::string::npos);
}

TEST_F(CorruptShard, TrailingBytes) {
  EXPECT_NE(open_error(bytes_ + "xx").find("corrupted"), std::string::npos);
}

TEST_F(CorruptShard, FlippedPayloadByteFailsChecksum) {
  std::string b = bytes_;
  b[kShardHeaderBytes + 17] ^= 0x01;
  const std::string msg = open_error(b);
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  // Without verification the header and size still check out.
  EXPECT_NO_THROW(Shard::open(path_, /*verify_checksum=*/false));
}

TEST_F(CorruptShard, BadHeaderFields) {
  std::string b = bytes_;
  b[0] = 'X';
  EXPECT_NE(open_error(b).find("magic"), std::string::npos);
  b = bytes_;
  b[8] = 2;
  EXPECT_NE(open_error(b).find("version 2"), std::string::npos);
  b = bytes_;
  b[12] = 3;
  EXPECT_NE(open_error(b).find("token width"), std::string::npos);
  b = bytes_;
  b[40] = 2;
  EXPECT_NE(open_error(b).find("flag"), std::string::npos);
  b = bytes_;
  b[50] = 1;
  EXPECT_NE(open_error(b).find("reserved"), std::string::npos);
  b = bytes_;
  b[16] = 101;  // token count 101 in a file with room for 100
  EXPECT_NE(open_error(b).find("truncated"), std::string::npos);
  b = bytes_;
  for (int i = 16; i < 24; ++i) b[static_cast<size_t>(i)] = '\xff';  // an absurd count must not overflow
  EXPECT_NE(open_error(b).find("truncated"), std::string::npos);
  b = bytes_;
  b[24] = static_cast<char>(200);  // more documents than tokens
  EXPECT_NE(open_error(b).find("documents"), std::string::npos);
}

TEST_F(CorruptShard, OutOfVocabularyIdIsCaught) {
  // A valid checksum over an id >= vocab_size (a writer bug, not a bit flip) is still refused.
  std::string b = bytes_;
  b[kShardHeaderBytes] = '\xff';
  b[kShardHeaderBytes + 1] = '\xff';
  const uint64_t sum = fnv1a64(b.data() + kShardHeaderBytes, b.size() - kShardHeaderBytes);
  std::memcpy(b.data() + 32, &sum, 8);
  EXPECT_NE(open_error(b).find("outside the vocabulary"), std::string::npos);
}

TEST(ShardFuzz, HeaderAndPayloadMutations) {
  const std::string dir = test::scratch_dir("shard_fuzz");
  std::vector<uint8_t> mask(40, 1);
  mask[3] = 0;
  write_shard(dir + "/f.bin", sample_tokens(40, 300), 2, 300, mask);
  const std::string seed = test::read_file(dir + "/f.bin");
  int accepted = 0;
  test::mutate_each(seed, 4000, 1234, [&](const std::string& s) {
    for (bool verify : {true, false}) {
      try {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const ShardHeader h = parse_shard({p, s.size()}, "fuzz.bin", verify);
        ASSERT_EQ(kShardHeaderBytes + h.payload_bytes(), s.size());
        accepted += verify;
      } catch (const nova::Error& e) {
        ASSERT_EQ(e.where(), "fuzz.bin");
      }
    }
  });
  // Most mutations are caught with verification on (the checksum covers every payload byte).
  EXPECT_LT(accepted, 400);
}

}  // namespace
}  // namespace nova::data
