// Reading a quantized KV cache (kernels/kv_rows.h): every instruction set's quantizer writes the
// scalar reference's bytes, and every set's reader gives the scalar reader's F16 values, which are
// the dequantized values rounded to F16 -- for head slices narrower than a block, slices that
// straddle blocks, and rows with zero, constant and outlier blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/attention.h"
#include "kernels/kv_rows.h"
#include "pocket/core/fp16.h"

namespace pocket::kernels {
namespace {

constexpr DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0};

std::vector<Isa> supported_isas() {
    std::vector<Isa> isas;
    for (Isa isa : kAllIsas) {
        if (isa_supported(isa)) isas.push_back(isa);
    }
    return isas;
}

// n_rows rows of n values, quantized by `isa`'s run-time quantizer.
std::vector<std::byte> quantized_rows(DType type, int64_t n, int64_t n_rows, Isa isa) {
    const size_t row = *row_bytes(type, static_cast<uint64_t>(n));
    std::vector<std::byte> out(row * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto x = test_util::mixed_row(n, static_cast<uint32_t>(100 + r));
        ops(type, isa).from_float(x.data(), out.data() + static_cast<size_t>(r) * row, n);
    }
    return out;
}

TEST(KvRows, QuantizedRowsMatchTheScalarQuantizerOnEveryIsa) {
    for (DType type : kQuantTypes) {
        const auto want = quantized_rows(type, 256, 5, Isa::Scalar);
        for (Isa isa : supported_isas()) {
            EXPECT_EQ(quantized_rows(type, 256, 5, isa), want)
                << dtype_name(type) << " on " << isa_name(isa);
        }
    }
}

// Every table's Q8_0 / Q4_0 expansion (the SIMD tables inherit the scalar one today): q * d is
// exact in F32, so a SIMD version must give the same bits, which the reader relies on.
TEST(KvRows, DequantizationIsBitIdenticalOnEveryIsa) {
    for (DType type : kQuantTypes) {
        const auto rows = quantized_rows(type, 256, 4, Isa::Scalar);
        std::vector<float> want(256 * 4);
        ops(type, Isa::Scalar).to_float(rows.data(), want.data(), 256 * 4);
        for (Isa isa : supported_isas()) {
            std::vector<float> got(want.size(), 1.0f);
            ops(type, isa).to_float(rows.data(), got.data(), 256 * 4);
            EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0)
                << dtype_name(type) << " on " << isa_name(isa);
        }
    }
}

// The reader against a computation from the scalar to_float and F32 -> F16 conversion.
TEST(KvRows, SlicesAreTheDequantizedValuesRoundedToF16OnEveryIsa) {
    constexpr int64_t n = 128, n_rows = 7;
    struct Slice {
        int64_t col, width;
    };
    // Heads of 8 inside a block (stories260K), of 32 and 64 on block boundaries, and slices that
    // start inside one block and end inside another.
    const Slice slices[] = {{0, 8}, {24, 8}, {32, 32}, {64, 64}, {40, 48}, {0, 128}, {100, 20}};
    for (DType type : kQuantTypes) {
        const auto rows = quantized_rows(type, n, n_rows, Isa::Scalar);
        const size_t row = rows.size() / n_rows;
        for (const Slice s : slices) {
            std::vector<f16_t> want(static_cast<size_t>(n_rows * s.width));
            std::vector<float> full(n);
            for (int64_t r = 0; r < n_rows; ++r) {
                ops(type, Isa::Scalar).to_float(rows.data() + r * row, full.data(), n);
                for (int64_t c = 0; c < s.width; ++c)
                    want[r * s.width + c] = f32_to_f16(full[s.col + c]);
            }
            std::vector<float> scratch(kv_rows_scratch(type, s.col, s.width));
            EXPECT_LE(scratch.size(), static_cast<size_t>(s.width + 62));
            for (Isa isa : supported_isas()) {
                // A stride wider than the slice: the gaps must stay untouched.
                const int64_t stride = s.width + 3;
                std::vector<f16_t> got(static_cast<size_t>(n_rows * stride), f16_t{0x7777});
                kv_rows_to_f16(type, rows.data(), row, n_rows, s.col, s.width, got.data(), stride,
                               scratch, isa);
                for (int64_t r = 0; r < n_rows; ++r) {
                    for (int64_t c = 0; c < s.width; ++c) {
                        ASSERT_EQ(got[r * stride + c], want[r * s.width + c])
                            << dtype_name(type) << " " << isa_name(isa) << " slice " << s.col << "+"
                            << s.width << " row " << r << " col " << c;
                    }
                    for (int64_t c = s.width; c < stride; ++c)
                        ASSERT_EQ(got[r * stride + c], f16_t{0x7777});
                }
            }
        }
    }
}

// Rows written by hand rather than by a quantizer: every byte value (Q8_0's -128, which no
// quantizer writes, and every Q4_0 nibble pair) under scales that are zero, negative zero,
// subnormal, the largest F16 (products that round to infinity), infinite and NaN. The one-pass
// readers of whole blocks must give the bits of the scalar to_float followed by F32 -> F16.
TEST(KvRows, WholeBlocksAreTheDequantizedValuesForEveryByteAndHostileScales) {
    const uint16_t scales[] = {0x3c00, 0x0000, 0x8000, 0x0001, 0x83ff, 0x7bff, 0xfbff,
                               0x7c00, 0xfc00, 0x7e00, 0x7d01, 0x2e66, 0xb1e0, 0x5640};
    for (DType type : kQuantTypes) {
        const DTypeTraits& t = traits(type);
        constexpr int64_t n_blocks = 16, n_rows = std::size(scales);
        const size_t row = t.block_bytes * n_blocks + 6;  // rows need not be packed
        std::vector<std::byte> rows(row * n_rows);
        for (int64_t r = 0; r < n_rows; ++r) {
            for (int64_t b = 0; b < n_blocks; ++b) {
                std::byte* block = rows.data() + r * row + b * t.block_bytes;
                // The scale of row r, but block 3 of every row takes another row's.
                const uint16_t d = scales[(b == 3 ? r + 5 : r) % n_rows];
                std::memcpy(block, &d, sizeof d);
                for (size_t i = sizeof d; i < t.block_bytes; ++i)
                    block[i] = static_cast<std::byte>((b * 37 + r * 11 + i * 5) & 0xff);
            }
        }
        // Slices of whole blocks: the first, a run from the middle, and the whole row.
        for (const auto& [first, count] :
             {std::pair<int64_t, int64_t>{0, 1}, {5, 3}, {0, n_blocks}}) {
            const int64_t col = first * 32, width = count * 32, stride = width + 5;
            std::vector<f16_t> want(static_cast<size_t>(n_rows * width));
            std::vector<float> full(n_blocks * 32);
            for (int64_t r = 0; r < n_rows; ++r) {
                ops(type, Isa::Scalar).to_float(rows.data() + r * row, full.data(), n_blocks * 32);
                for (int64_t c = 0; c < width; ++c) want[r * width + c] = f32_to_f16(full[col + c]);
            }
            std::vector<float> scratch(kv_rows_scratch(type, col, width));
            for (Isa isa : supported_isas()) {
                std::vector<f16_t> got(static_cast<size_t>(n_rows * stride), f16_t{0x7777});
                kv_rows_to_f16(type, rows.data(), row, n_rows, col, width, got.data(), stride,
                               scratch, isa);
                for (int64_t r = 0; r < n_rows; ++r) {
                    for (int64_t c = 0; c < width; ++c) {
                        ASSERT_EQ(got[r * stride + c], want[r * width + c])
                            << dtype_name(type) << " " << isa_name(isa) << " blocks " << first
                            << "+" << count << " row " << r << " col " << c;
                    }
                    for (int64_t c = width; c < stride; ++c)
                        ASSERT_EQ(got[r * stride + c], f16_t{0x7777});
                }
            }
        }
    }
}

TEST(KvRows, F16RowsAreCopied) {
    constexpr int64_t n = 64, n_rows = 3;
    std::vector<f16_t> rows(n * n_rows);
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = f32_to_f16(0.25f * static_cast<float>(i));
    std::vector<f16_t> got(n_rows * 16);
    kv_rows_to_f16(DType::F16, reinterpret_cast<const std::byte*>(rows.data()), n * sizeof(f16_t),
                   n_rows, 8, 16, got.data(), 16, {});
    for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(got[r * 16 + c], rows[r * n + 8 + c]);
    }
}

TEST(KvRows, TooLittleScratchIsAnError) {
    const auto rows = quantized_rows(DType::Q8_0, 64, 1, Isa::Scalar);
    std::vector<float> scratch(31);
    std::vector<f16_t> out(8);
    EXPECT_ANY_THROW(
        kv_rows_to_f16(DType::Q8_0, rows.data(), rows.size(), 1, 0, 8, out.data(), 8, scratch));
}

}  // namespace
}  // namespace pocket::kernels
