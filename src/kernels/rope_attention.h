// Shared by Backend::rope_store_paged_attention's default and the device overrides: where a
// paged call's new K/V rows go.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/backend.h"

namespace nova::kernels {

// The cache slot of every row of q [total_rows, ...]: row q_begin + i of a sequence is its position
// pos0 + i, stored at block_tables[table_begin + p / block_size] * block_size + p % block_size.
// Throws nova::Error (naming `op`) when a row is named by no sequence or two rows share a slot.
// The sequences and tables must have passed checks::paged_attention.
std::vector<int32_t> paged_step_slots(int64_t total_rows, std::span<const PagedAttentionSeq> seqs,
                                      std::span<const int32_t> block_tables, int64_t block_size, const char* op);

}  // namespace nova::kernels
