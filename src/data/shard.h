// Tokenized binary shards: the on-disk form of a prepared data set, read zero-copy through mmap.
//
// ## Shard format, version 1 (all integers little-endian)
//
//   offset  size  field
//   0       8     magic "NOVASHRD"
//   8       4     u32 version (1)
//   12      4     u32 token width in bytes: 2 (u16 ids, used when vocab_size <= 65535) or 4 (u32 ids)
//   16      8     u64 token count N
//   24      8     u64 document count (documents that end in this shard)
//   32      8     u64 checksum: FNV-1a 64 over every payload byte (tokens, then the loss mask if present)
//   40      4     u32 flags: bit 0 = a loss mask follows the tokens; other bits must be 0
//   44      4     u32 vocab_size of the tokenizer that produced the ids (every id is < vocab_size)
//   48      16    reserved, must be 0
//   64      N*w   token ids
//   64+N*w  N     (flag bit 0 only) loss mask, one byte per token: 1 = the model is trained to predict this
//                 token (it may be a target), 0 = it is context only (e.g. the prompt of a prompt/completion pair)
//
// The file size must be exactly 64 + N*w (+ N with a mask); anything else is a truncated or corrupted
// shard. Shards are written to a temporary file in the same directory and renamed into place, so a
// reader never sees half a shard.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace nova {
class MappedFile;
}

namespace nova::data {

inline constexpr char kShardMagic[8] = {'N', 'O', 'V', 'A', 'S', 'H', 'R', 'D'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 64;
inline constexpr uint32_t kShardFlagLossMask = 1u;

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t token_width = 2;  // bytes per id: 2 or 4
  uint64_t token_count = 0;
  uint64_t document_count = 0;
  uint64_t checksum = 0;
  uint32_t flags = 0;
  uint32_t vocab_size = 0;

  bool has_loss_mask() const { return (flags & kShardFlagLossMask) != 0; }
  // Bytes after the header that the file must hold.
  uint64_t payload_bytes() const;
};

// FNV-1a 64; `state` continues a running hash (start with kFnvOffset).
inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(const void* data, size_t size, uint64_t state = kFnvOffset);

// The narrowest id width that holds every id of a vocabulary: 2 when vocab_size <= 65535, else 4.
uint32_t token_width_for_vocab(uint32_t vocab_size);

// Writes one shard atomically (temp file + rename). `loss_mask` is empty or one byte (0/1) per token.
// Throws nova::Error naming `path` if an id does not fit the width implied by vocab_size, the mask has
// the wrong length, or the file cannot be written.
void write_shard(const std::string& path, std::span<const int32_t> tokens, uint64_t document_count,
                 uint32_t vocab_size, std::span<const uint8_t> loss_mask = {});

// Validates a whole shard image (header, exact size, reserved fields, and the checksum when
// `verify_checksum`) and returns its header. Throws nova::Error naming `where` and the problem.
ShardHeader parse_shard(std::span<const unsigned char> bytes, const std::string& where, bool verify_checksum);

// A read-only shard mapped into memory; copies share the mapping.
class Shard {
 public:
  // Maps and validates `path` (see parse_shard). Verifying the checksum reads every byte once.
  static Shard open(const std::string& path, bool verify_checksum = true);

  const std::string& path() const;
  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.token_count; }
  uint64_t document_count() const { return header_.document_count; }
  bool has_loss_mask() const { return header_.has_loss_mask(); }

  int32_t token(uint64_t i) const;
  // Copies ids [begin, begin+count) into `out` (widening u16 ids); the range must lie inside the shard.
  void copy_tokens(uint64_t begin, uint64_t count, int32_t* out) const;
  // Copies mask bytes [begin, begin+count); writes 1s when the shard has no mask.
  void copy_loss_mask(uint64_t begin, uint64_t count, uint8_t* out) const;
  std::vector<int32_t> tokens() const;

 private:
  std::shared_ptr<const MappedFile> file_;
  ShardHeader header_;
  const unsigned char* tokens_ = nullptr;
  const unsigned char* mask_ = nullptr;
};

}  // namespace nova::data
