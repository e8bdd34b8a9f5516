// Batches for training and evaluation, cut from a TokenStream (packed documents, see token_stream.h).
//
// Training (DataLoader): an epoch is the stream split into windows of T+1 tokens that overlap by one
// (window i starts at offset + i*T, so every token is a target at most once per epoch). Each epoch
// draws a start offset in [0, T) and a permutation of the windows from (seed, epoch), so epochs differ
// and any seed gives a fixed, reproducible order. Batches are always full: an epoch that runs out in
// the middle of a batch continues with the next one. The cursor (epoch, position, RNG state) is all the
// state there is: restoring it reproduces exactly the batches an uninterrupted run would have seen.
//
// Evaluation (SequentialLoader): the windows in stream order, offset 0; the last window may be short
// and is padded (mask 0), so every token after the first is a target exactly once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/token_stream.h"

namespace nova::data {

struct Batch {
  int64_t rows = 0;     // sequences in this batch (== batch_size except possibly an eval batch's last)
  int64_t seq_len = 0;  // T
  std::vector<int32_t> inputs;   // [rows, T]: window[:, :-1]
  std::vector<int32_t> targets;  // [rows, T]: window[:, 1:]
  std::vector<uint8_t> mask;     // [rows, T]: 1 = target counts in the loss (shard loss mask, not padding)
};

struct LoaderCursor {
  uint64_t epoch = 0;
  uint64_t position = 0;        // windows of this epoch already handed out
  uint64_t rng_state = 0;       // the epoch's shuffle key, derived from (seed, epoch); checked on restore
  uint64_t dataset_tokens = 0;  // stream size, to refuse a cursor from a different data set

  nlohmann::json to_json() const;
  // Throws nova::Error naming `where` and the key.
  static LoaderCursor from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const LoaderCursor&) const = default;
};

struct LoaderOptions {
  int64_t batch_size = 1;  // B
  int64_t seq_len = 1;     // T
  uint64_t seed = 0;
  bool shuffle = true;     // false: offset 0 and windows in stream order every epoch
};

class DataLoader {
 public:
  // Throws nova::Error if B or T is not positive or the stream has fewer than T+1 tokens.
  DataLoader(std::shared_ptr<const TokenStream> stream, LoaderOptions options);

  Batch next();
  const LoaderCursor& cursor() const { return cursor_; }
  // Continues from a cursor saved earlier by the same data set and seed; throws nova::Error otherwise.
  void restore(const LoaderCursor& cursor);

  uint64_t windows_in_epoch(uint64_t epoch) const;

 private:
  struct Epoch {
    uint64_t offset = 0;
    uint64_t windows = 0;
  };
  Epoch epoch_layout(uint64_t epoch) const;
  uint64_t epoch_key(uint64_t epoch) const;
  void begin_epoch(uint64_t epoch);

  std::shared_ptr<const TokenStream> stream_;
  LoaderOptions options_;
  LoaderCursor cursor_;
  Epoch epoch_;
};

class SequentialLoader {
 public:
  SequentialLoader(std::shared_ptr<const TokenStream> stream, int64_t batch_size, int64_t seq_len);
  // The next batch, or nullopt after the last window; reset() starts over.
  std::optional<Batch> next();
  void reset() { next_window_ = 0; }
  uint64_t windows() const { return windows_; }

 private:
  std::shared_ptr<const TokenStream> stream_;
  int64_t batch_size_, seq_len_;
  uint64_t windows_ = 0;
  uint64_t next_window_ = 0;
};

}  // namespace nova::data
