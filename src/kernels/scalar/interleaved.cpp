// The interleaved layout (see pocket/kernels/interleaved.h): building it from row-major blocks,
// reading rows back, and the scalar reference kernels every SIMD variant is held to.
#include "pocket/kernels/interleaved.h"

#include <cstring>

#include "kernels/scalar/quant_math.h"
#include "kernels/scalar/scalar_registry.h"
#include "pocket/core/error.h"
#include "pocket/kernels/blocks.h"

// Bit-identity with the row-major scalar dot products needs the same unfused multiply-adds.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pocket::kernels {
namespace {

constexpr int kRows = static_cast<int>(kInterleaveRows);
constexpr int kWord = 4;  // bytes of one row per 32-bit word of an interleaved block

// Per format: the row-major block, the interleaved block, and how a row's bytes map in.
struct Q4_0Layout {
    using Row = BlockQ4_0;
    using Group = BlockQ4_0x8;
    static constexpr int kWords = kQK32 / 2 / kWord;  // 4 words of qs per row
    static constexpr uint8_t kFlip = 0;
    // Signed value of element e (0..31) of row i.
    static int value(const Group& g, int i, int e) {
        const int j = (e % 16) / kWord;
        const uint8_t byte = g.qs[(j * kRows + i) * kWord + e % kWord];
        return (e < 16 ? (byte & 0x0F) : (byte >> 4)) - 8;
    }
    static const uint8_t* row_bytes(const Row& r) { return r.qs; }
};

struct Q8_0Layout {
    using Row = BlockQ8_0;
    using Group = BlockQ8_0x8;
    static constexpr int kWords = kQK32 / kWord;  // 8
    static constexpr uint8_t kFlip = 0x80;
    static int value(const Group& g, int i, int e) {
        const int j = e / kWord;
        return static_cast<int8_t>(g.qs[(j * kRows + i) * kWord + e % kWord] ^ kFlip);
    }
    static const uint8_t* row_bytes(const Row& r) { return reinterpret_cast<const uint8_t*>(r.qs); }
};

template <class L>
void interleave(int64_t k, const void* src, size_t src_row_bytes, int64_t rows, void* dst,
                int64_t group_begin, int64_t group_end) {
    const int64_t nb = k / kQK32;
    auto* groups = static_cast<typename L::Group*>(dst);
    const auto* src_bytes = static_cast<const std::byte*>(src);
    for (int64_t g = group_begin; g < group_end; ++g) {
        for (int64_t b = 0; b < nb; ++b) {
            typename L::Group& out = groups[g * nb + b];
            std::memset(&out, 0, sizeof out);
            for (int i = 0; i < kRows; ++i) {
                const int64_t r = g * kRows + i;
                if (r >= rows) {
                    // Padding row: scale 0 and the bytes of value 0.
                    for (int j = 0; j < L::kWords; ++j) {
                        for (int c = 0; c < kWord; ++c) {
                            out.qs[(j * kRows + i) * kWord + c] = L::kFlip ? L::kFlip : 0x88;
                        }
                    }
                    continue;
                }
                const auto& block = reinterpret_cast<const typename L::Row*>(
                    src_bytes + static_cast<size_t>(r) * src_row_bytes)[b];
                out.d[i] = block.d;
                const uint8_t* bytes = L::row_bytes(block);
                for (int j = 0; j < L::kWords; ++j) {
                    for (int c = 0; c < kWord; ++c) {
                        out.qs[(j * kRows + i) * kWord + c] = bytes[j * kWord + c] ^ L::kFlip;
                    }
                }
            }
        }
    }
}

template <class L>
void row_to_float(int64_t k, const void* interleaved, int64_t row, float* out) {
    const int64_t nb = k / kQK32;
    const auto* group = static_cast<const typename L::Group*>(interleaved) + (row / kRows) * nb;
    const int i = static_cast<int>(row % kRows);
    for (int64_t b = 0; b < nb; ++b) {
        const float d = scalar::half(group[b].d[i]);
        for (int e = 0; e < kQK32; ++e) {
            out[b * kQK32 + e] = static_cast<float>(L::value(group[b], i, e)) * d;
        }
    }
}

// Activations: the Q8_0 activation quantizer, block by block, plus the offset correction.
template <int kOffset>
void act_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<BlockQ8_0Act*>(dst);
    for (int64_t b = 0; b < n / kQK32; ++b) {
        BlockQ8_0 q;
        scalar::quantize_q8_0_activations(src + b * kQK32, &q, kQK32);
        int sum = 0;
        for (int e = 0; e < kQK32; ++e) sum += q.qs[e];
        std::memcpy(out[b].qs, q.qs, sizeof q.qs);
        out[b].d = scalar::half(q.d);
        out[b].bias = -kOffset * sum;
    }
}

// Reference: per row and token, exact integer block sums scaled by d_w * d_a and accumulated in
// block order, exactly as the row-major scalar vec_dot does (so the two agree bit for bit).
template <class L>
void matmul(int64_t k, const void* w, size_t /*w_row_bytes*/, const void* act, size_t act_row_bytes,
            int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    const int64_t nb = k / kQK32;
    const auto* groups = static_cast<const typename L::Group*>(w);
    const auto* act_bytes = static_cast<const std::byte*>(act);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const typename L::Group* group = groups + (r / kRows) * nb;
        const int i = static_cast<int>(r % kRows);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const auto* a = reinterpret_cast<const BlockQ8_0Act*>(act_bytes + t * act_row_bytes);
            float sum = 0.f;
            for (int64_t b = 0; b < nb; ++b) {
                int isum = 0;
                for (int e = 0; e < kQK32; ++e) isum += L::value(group[b], i, e) * a[b].qs[e];
                sum += static_cast<float>(isum) * (scalar::half(group[b].d[i]) * a[b].d);
            }
            y[t * y_stride + r] = sum;
        }
    }
}

void check_type(DType type) {
    if (!can_interleave(type)) fail("tensor type ", dtype_name(type), " has no interleaved layout");
}

}  // namespace

bool can_interleave(DType type) {
    return type == DType::Q4_0 || type == DType::Q8_0;
}

size_t interleaved_bytes(DType type, int64_t rows, int64_t k) {
    check_type(type);
    const auto row = row_bytes(type, static_cast<uint64_t>(k));
    if (!row || rows < 0) fail("interleaved_bytes: bad shape ", rows, " x ", k);
    const int64_t groups = (rows + kInterleaveRows - 1) / kInterleaveRows;
    return static_cast<size_t>(groups * kInterleaveRows) * static_cast<size_t>(*row);
}

void interleave_rows(DType type, int64_t k, const void* src, size_t src_row_bytes, int64_t rows,
                     void* dst, int64_t group_begin, int64_t group_end) {
    check_type(type);
    if (type == DType::Q4_0) {
        interleave<Q4_0Layout>(k, src, src_row_bytes, rows, dst, group_begin, group_end);
    } else {
        interleave<Q8_0Layout>(k, src, src_row_bytes, rows, dst, group_begin, group_end);
    }
}

void interleaved_row_to_float(DType type, int64_t k, const void* interleaved, int64_t row,
                              float* out) {
    check_type(type);
    if (type == DType::Q4_0) {
        row_to_float<Q4_0Layout>(k, interleaved, row, out);
    } else {
        row_to_float<Q8_0Layout>(k, interleaved, row, out);
    }
}

size_t interleaved_act_row_bytes(int64_t k) {
    if (k < 0 || k % kQK32 != 0) fail("interleaved activations: ", k, " is not a multiple of 32");
    return static_cast<size_t>(k / kQK32) * sizeof(BlockQ8_0Act);
}

namespace scalar {

void register_interleaved(KernelTable& table) {
    entry(table, DType::Q4_0).to_interleaved_act = act_from_float<8>;
    entry(table, DType::Q4_0).matmul_interleaved = matmul<Q4_0Layout>;
    entry(table, DType::Q8_0).to_interleaved_act = act_from_float<128>;
    entry(table, DType::Q8_0).matmul_interleaved = matmul<Q8_0Layout>;
}

}  // namespace scalar
}  // namespace pocket::kernels
