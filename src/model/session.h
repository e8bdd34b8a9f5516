// A Session is one running sequence of a model: its KV cache and position. The engine
// (sampling, generation, beam search) drives models only through this interface, so it can be
// tested with a toy model and later run on any backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace nova::kernels {
class Backend;
}

namespace nova::model {

class Session {
 public:
  virtual ~Session() = default;

  virtual int vocab_size() const = 0;
  // Tokens already in the KV cache.
  virtual int64_t length() const = 0;
  // The most tokens this session can hold.
  virtual int64_t capacity() const = 0;

  // Appends `ids` (a prompt chunk or one decode token) at positions length().. and returns the
  // logits: [ids.size(), vocab] row-major if all_logits, else [1, vocab] for the last token.
  // Throws nova::Error if capacity would be exceeded or an id is out of range.
  virtual void forward(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits = false) = 0;

  // Sampling where the logits are: the backend forward_logits() leaves them on when that backend
  // samples there (Backend::samples_on_device()), else null and the engine samples forward()'s
  // host logits. Default: null.
  virtual kernels::Backend* device_sampling_backend() const { return nullptr; }
  // forward() leaving the last token's logits on device_sampling_backend(): [1, vocab] F32,
  // nothing downloaded. Default: throws (a session without device logits).
  virtual Tensor forward_logits(std::span<const int32_t> /*ids*/) {
    fail("Session::forward_logits", "this session does not keep logits on a device");
  }
  // forward_logits() of ids device_sampling_backend() holds (I32 [n]: a pending sample's ids,
  // kernels::PendingSamples), so the next step is enqueued before the host knows the token: the
  // asynchronous decode loop (engine::generate). Default: throws.
  virtual Tensor forward_logits_from_device(const Tensor& /*device_ids*/) {
    fail("Session::forward_logits_from_device", "this session does not keep logits on a device");
  }

  // An independent copy (same cache contents), e.g. for beam search.
  virtual std::unique_ptr<Session> fork() const = 0;
  // Forgets everything after the first n tokens.
  virtual void truncate(int64_t n) = 0;
};

}  // namespace nova::model
