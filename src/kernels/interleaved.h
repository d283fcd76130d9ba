// Interleaved weight layout: Q4_0, Q5_0, Q8_0, Q4_K and Q6_K matrices re-laid out at load time in
// groups of 8 rows, block by block (BlockQ4_0x8, BlockQ5_0x8, BlockQ8_0x8, BlockQ4_Kx8, BlockQ6_Kx8
// in blocks.h), so that one 256-bit vector holds four consecutive values of each of 8 rows.
//
// Why: with rows stored one after another, a kernel gets a row's block sum spread over 8 vector
// lanes and must convert, scale and accumulate it per row, per token, per block (and reduce the
// lanes at the end). Interleaved, each lane IS one row: a vpdpbusd with four broadcast activation
// bytes advances 8 rows at once, and the float work (convert, scale, accumulate) is done once per
// 8 rows. The same layout streams as one contiguous run per group of rows during generation.
//
// Group g holds rows 8g..8g+7 (the last group is padded with zero rows), its blocks in column
// order: an interleaved matrix of `rows` x `k` occupies interleaved_bytes() bytes, the same as the
// row-major matrix rounded up to whole groups (Q4_K: 2.8% more, its scales unpacked). The layout is
// the same for every instruction set; only the kernels differ (TypeOps::to_interleaved_act /
// matmul_interleaved).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pocket/core/dtype.h"

namespace pocket::kernels {

inline constexpr int64_t kInterleaveRows = 8;

// Whether `type` has an interleaved layout (Q4_0, Q5_0, Q8_0, Q4_K, Q6_K).
bool can_interleave(DType type);

// Bytes of the interleaved copy of a rows x k matrix of `type` (rows rounded up to a group).
size_t interleaved_bytes(DType type, int64_t rows, int64_t k);

// Writes groups [group_begin, group_end) of the interleaved copy of the row-major matrix `src`
// (`rows` rows of k values, row r at src + r * src_row_bytes) into `dst`, which points at the start
// of the whole interleaved matrix. Groups are independent, so callers may split them between
// threads.
void interleave_rows(DType type, int64_t k, const void* src, size_t src_row_bytes, int64_t rows,
                     void* dst, int64_t group_begin, int64_t group_end);

// Dequantizes row `row` of an interleaved matrix (k values) into `out`.
void interleaved_row_to_float(DType type, int64_t k, const void* interleaved, int64_t row,
                              float* out);

// Bytes of one row of k activations in the format of `type`'s interleaved kernels (BlockQ8_0Act
// for Q4_0, Q5_0 and Q8_0, BlockQ8_KAct for Q4_K, BlockQ8_K for Q6_K).
size_t interleaved_act_row_bytes(DType type, int64_t k);

}  // namespace pocket::kernels
