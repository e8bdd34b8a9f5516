// Token embedding: forward gathers rows of the table, backward scatters the output gradient back
// onto the rows that were read (a token seen twice accumulates twice).
#pragma once

#include <cstdint>

namespace nova::train {

// out[i, :] = table[ids[i], :] for i < n. ids must already be validated against the vocabulary.
void embedding_forward(float* out, const int32_t* ids, int64_t n, const float* table, int64_t dim);
// dtable[ids[i], :] += dout[i, :].
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t dim);

}  // namespace nova::train
