// A set of shards read as one token stream: the shards' tokens concatenated in the given order.
// Documents inside are already separated by the separator token (see prepare.h), so windows cut from the
// stream pack documents back to back and may cross document and shard boundaries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard.h"

namespace nova::data {

class TokenStream {
 public:
  // Shards with no tokens are dropped. All shards must share one vocab_size.
  explicit TokenStream(std::vector<Shard> shards);
  // Opens (and by default verifies) each path; throws nova::Error naming the bad file.
  static TokenStream open(const std::vector<std::string>& paths, bool verify_checksum = true);
  // The shards of one split ("train" or "val") of a manifest.json written by prepare_dataset.
  static TokenStream open_manifest(const std::string& manifest_path, const std::string& split,
                                   bool verify_checksum = true);

  uint64_t size() const { return total_; }
  uint32_t vocab_size() const { return vocab_size_; }
  const std::vector<Shard>& shards() const { return shards_; }

  // Copies tokens [begin, begin+count) into `tokens` and, when `loss_mask` is not null, their loss-mask
  // bytes (1 where a shard has no mask). The range must lie inside the stream.
  void copy(uint64_t begin, uint64_t count, int32_t* tokens, uint8_t* loss_mask) const;

 private:
  std::vector<Shard> shards_;
  std::vector<uint64_t> starts_;  // starts_[i]: stream offset of shards_[i]'s first token
  uint64_t total_ = 0;
  uint32_t vocab_size_ = 0;
};

}  // namespace nova::data
