// Sampling on the device (Backend::sample_rows): the launcher and the buffers it fills. The
// algorithm is engine::Sampler's (engine/sampler.h); sampling.cu says how it is split up.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/backend.h"

namespace nova::kernels::cuda {

// Logits per block of the per-chunk passes (penalties, max, sum of exp).
constexpr int64_t kSampleChunk = 4096;
// The candidate list: a row's best finite logits, sorted, on which top_k, top_logprobs, top_p,
// min_p and the draw are decided exactly as the host does. A row whose survivors reach past it
// comes back NeedsHost — except the id-order draw over many survivors (top_p 1), done over the
// whole vocabulary.
constexpr int kSampleCandidates = 1024;
// The candidate list's radix select: its first level (the keys' top 11 bits) is counted by the
// per-chunk pass, the other two by the per-row one.
constexpr int kSampleHistBuckets = 2048;
// The candidate buffer: the per-chunk pass 2 gathers every logit of the first-level buckets down
// to the one holding the kSampleCandidates-th largest, when they are at most this many (else the
// per-row pass selects the list itself, two more passes over the row).
constexpr int kSampleBuffer = 2048;

struct SampleOut {
  int32_t status;  // SampledRow::Status
  int32_t id;
  float logprob;
  int32_t n_top;
};
struct SampleTop {
  int32_t id;
  float logprob;
};
// One chunk's statistics (first pass), then its sum of exp (second pass).
struct SamplePartial {
  float max;            // of the penalised logits
  int32_t argmax;       // lowest id holding max
  int32_t finite;       // logits != -inf
  int32_t bad;          // a NaN or +inf logit (before the penalties, as the host checks)
  int32_t last_finite;  // largest id with a finite logit, -1 if none
  int32_t pad;
  double sum;  // sum of exp(z - zmax) over the chunk, z = logit / temperature in double
               // (greedy_only: exp(l - max) with the chunk's own max, rescaled by pass 3)
};

struct SampleArgs {
  const float* logits;  // [rows, vocab]
  int64_t rows, vocab;
  const SamplingRow* params;        // [rows]
  const PenaltyEntry* penalties;    // indexed by params[r].penalty_begin
  float* work;                      // [rows, vocab]: the penalised logits
  SamplePartial* partials;          // [rows, sample_chunks(vocab, greedy_only)]
  SampleOut* out;                   // [rows]
  SampleTop* top;                   // [rows, top_stride]
  int32_t top_stride;
  int32_t* hist;                    // [rows, kSampleHistBuckets]: the first radix level, zeroed here
  int32_t* cand_count;              // [rows]: the candidate buffer's fill, zeroed here
  float* cand_key;                  // [rows, kSampleBuffer]
  int32_t* cand_id;                 // [rows, kSampleBuffer]
  int32_t* ids;                     // [rows] or null: out's ids for the next step (0 where not Ok)
  // Every row greedy, without top logprobs or penalties (the host checks): nothing needs the
  // penalised copy, the candidate list or a second pass, so pass 1 also sums exp(l - its max)
  // and pass 3 rescales the chunks' sums (two kernels instead of a memset and three).
  int32_t greedy_only;
};

// Greedy-only calls (SampleArgs::greedy_only) read a row in smaller chunks: their one pass is the
// whole of it, so more blocks shorten it (a 128256-entry row: 126 blocks instead of 32; in the 1B
// decode step on an H100 its kernel's share fell from 9.3 to 4.9 us, BENCHMARKS.md "Eighth round").
constexpr int64_t kGreedyChunk = 1024;
// Chunks of a row of `vocab` logits (SampleArgs::partials per row).
inline int64_t sample_chunks(int64_t vocab, bool greedy_only) {
  const int64_t c = greedy_only ? kGreedyChunk : kSampleChunk;
  return (vocab + c - 1) / c;
}

// Three launches: per chunk (penalties, NaN check, max, argmax), per chunk (sum of exp), per row
// (the rest). No host synchronisation.
void launch_sample(const SampleArgs& a, cudaStream_t s);

}  // namespace nova::kernels::cuda
