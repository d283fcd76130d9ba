// The interleaved layout (see kernels/interleaved.h): building it from row-major blocks,
// reading rows back, and the scalar reference kernels every SIMD variant is held to.
#include "kernels/interleaved.h"

#include <cstring>

#include "kernels/blocks.h"
#include "kernels/scalar/quant_math.h"
#include "kernels/scalar/scalar_registry.h"
#include "pocket/core/error.h"

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

// Per format: the row-major block (Row), the interleaved block (Group) and its activation block
// (Act), with
//   pack_row(r, i, out)       writes block r as row i of out; r is nullptr for a padding row
//                             (value 0). Only row i's bytes are written.
//   to_float(g, i, out)       row i's values;
//   act_from_float(x, out)    one activation block;
//   block_dot(g, i, a)        row i's block against a, as the row-major scalar dot product forms
//                             it (exact integer sums, the same float operations).

// Word j (j < kWords) of row i sits at qs + (j * 8 + i) * 4; the 32-element formats.
template <class RowT, class GroupT, int kWordsT, uint8_t kFlipT, int kOffsetT>
struct Legacy32Layout {
    using Row = RowT;
    using Group = GroupT;
    using Act = BlockQ8_0Act;
    static constexpr int kBlock = kQK32;
    static constexpr int kWords = kWordsT;
    static constexpr uint8_t kFlip = kFlipT;  // stored byte = row byte ^ kFlip
    static constexpr int kOffset = kOffsetT;  // what the stored form adds to each value

    static const uint8_t* row_qs(const Row& r) { return reinterpret_cast<const uint8_t*>(r.qs); }

    // G: Group, or a group type with the same d and qs (Q5_0's).
    template <class G>
    static void pack_row(const Row* r, int i, G& out) {
        out.d[i] = r ? r->d : f16_t{0};
        // A padding row stores the bytes of value 0 (0x88: two nibbles of 8 for Q4_0).
        const uint8_t zero = kFlip ? kFlip : 0x88;
        for (int j = 0; j < kWords; ++j) {
            for (int c = 0; c < kWord; ++c) {
                out.qs[(j * kRows + i) * kWord + c] =
                    r ? static_cast<uint8_t>(row_qs(*r)[j * kWord + c] ^ kFlip) : zero;
            }
        }
    }

    // Signed value of element e (0..31) of row i.
    static int value(const Group& g, int i, int e) {
        if constexpr (kWords == 4) {  // nibbles: element e and e + 16 share a byte
            const int j = (e % 16) / kWord;
            const uint8_t byte = g.qs[(j * kRows + i) * kWord + e % kWord];
            return (e < 16 ? (byte & 0x0F) : (byte >> 4)) - 8;
        } else {
            const int j = e / kWord;
            return static_cast<int8_t>(g.qs[(j * kRows + i) * kWord + e % kWord] ^ kFlip);
        }
    }

    static void to_float(const Group& g, int i, float* out) {
        const float d = scalar::half(g.d[i]);
        for (int e = 0; e < kBlock; ++e) out[e] = static_cast<float>(value(g, i, e)) * d;
    }

    static void act_from_float(const float* x, Act& out) {
        BlockQ8_0 q;
        scalar::quantize_q8_0_activations(x, &q, kQK32);
        int sum = 0;
        for (int e = 0; e < kQK32; ++e) sum += q.qs[e];
        std::memcpy(out.qs, q.qs, sizeof q.qs);
        out.d = scalar::half(q.d);
        out.bias = -kOffset * sum;
    }

    static float block_dot(const Group& g, int i, const Act& a) {
        int isum = 0;
        for (int e = 0; e < kBlock; ++e) isum += value(g, i, e) * a.qs[e];
        return static_cast<float>(isum) * (scalar::half(g.d[i]) * a.d);
    }
};

using Q4_0Layout = Legacy32Layout<BlockQ4_0, BlockQ4_0x8, 4, 0, 8>;

// Q5_0: the nibbles as Q4_0, plus the fifth bits (see BlockQ5_0x8).
struct Q5_0Layout : Legacy32Layout<BlockQ5_0, BlockQ5_0x8, 4, 0, 16> {
    static void pack_row(const Row* r, int i, Group& out) {
        BlockQ4_0 low{};
        if (r) {
            low.d = r->d;
            std::memcpy(low.qs, r->qs, sizeof low.qs);
        }
        Q4_0Layout::pack_row(r ? &low : nullptr, i, out);
        // A padding row: nibbles of 8 (from Q4_0's padding) and fifth bit 1 make 24 - 16 = 8,
        // not 0; its scale is 0, so its values are 0 all the same.
        const uint32_t high = r ? scalar::load_u32(r->qh) : 0xFFFFFFFFu;
        for (int b = 0; b < kWord; ++b) {
            uint8_t byte = 0;
            for (int v = 0; v < 8; ++v) byte |= ((high >> (4 * v + b)) & 1u) << v;
            out.qh[kWord * i + b] = byte;
        }
    }
    static int value(const Group& g, int i, int e) {
        const int j = (e % 16) / kWord;
        const uint8_t byte = g.qs[(j * kRows + i) * kWord + e % kWord];
        const int nibble = e < 16 ? (byte & 0x0F) : (byte >> 4);
        const int fifth = (g.qh[kWord * i + e % kWord] >> (e / kWord)) & 1;
        return (nibble | (fifth << 4)) - 16;
    }
    static void to_float(const Group& g, int i, float* out) {
        const float d = scalar::half(g.d[i]);
        for (int e = 0; e < kBlock; ++e) out[e] = static_cast<float>(value(g, i, e)) * d;
    }
    static float block_dot(const Group& g, int i, const Act& a) {
        int isum = 0;
        for (int e = 0; e < kBlock; ++e) isum += value(g, i, e) * a.qs[e];
        return static_cast<float>(isum) * (scalar::half(g.d[i]) * a.d);
    }
};
using Q8_0Layout = Legacy32Layout<BlockQ8_0, BlockQ8_0x8, 8, 0x80, 128>;

struct Q4_KLayout {
    using Row = BlockQ4_K;
    using Group = BlockQ4_Kx8;
    using Act = BlockQ8_KAct;
    static constexpr int kBlock = kQKK;

    static void pack_row(const Row* r, int i, Group& out) {
        out.d[i] = r ? r->d : f16_t{0};
        out.dmin[i] = r ? r->dmin : f16_t{0};
        for (int j = 0; j < 8; ++j) {
            int sc = 0, mn = 0;
            if (r) scalar::unpack_q4_k_scale(r->scales, j, sc, mn);
            out.scales[8 * j + i] = static_cast<uint8_t>(sc);
            out.mins[16 * (j / 2) + 2 * i + j % 2] = static_cast<uint8_t>(mn);
        }
        for (int c = 0; c < 4; ++c) {
            for (int w = 0; w < 8; ++w) {
                const uint32_t word = r ? scalar::load_u32(r->qs + 32 * c + kWord * w) : 0;
                scalar::store_u32(out.qs + 256 * c + 32 * w + kWord * i, word);
            }
        }
    }

    // Unsigned level q (0..15) of element e of row i, and the group's scale and min.
    static int level(const Group& g, int i, int e) {
        const int c = e / 64, within = e % 64, m = within % 32;
        const uint8_t byte = g.qs[256 * c + 32 * (m / kWord) + kWord * i + m % kWord];
        return within < 32 ? (byte & 0x0F) : (byte >> 4);
    }
    static int scale(const Group& g, int i, int j) { return g.scales[8 * j + i]; }
    static int min(const Group& g, int i, int j) { return g.mins[16 * (j / 2) + 2 * i + j % 2]; }

    static void to_float(const Group& g, int i, float* out) {
        const float d = scalar::half(g.d[i]);
        const float dmin = scalar::half(g.dmin[i]);
        for (int j = 0; j < 8; ++j) {
            const float dl = d * static_cast<float>(scale(g, i, j));
            const float ml = dmin * static_cast<float>(min(g, i, j));
            for (int l = 0; l < 32; ++l) out[32 * j + l] = dl * level(g, i, 32 * j + l) - ml;
        }
    }

    static void act_from_float(const float* x, Act& out) {
        BlockQ8_K q;
        scalar::quantize_q8_k_activations(x, &q, kQKK);
        out.d = q.d;
        for (int j = 0; j < 8; ++j)
            out.sums[j] = static_cast<int16_t>(q.bsums[2 * j] + q.bsums[2 * j + 1]);
        std::memcpy(out.qs, q.qs, sizeof q.qs);
    }

    static float block_dot(const Group& g, int i, const Act& a) {
        int isum = 0;
        int isum_min = 0;
        for (int j = 0; j < 8; ++j) {
            int dot = 0;
            for (int l = 0; l < 32; ++l) dot += level(g, i, 32 * j + l) * a.qs[32 * j + l];
            isum += scale(g, i, j) * dot;
            isum_min += min(g, i, j) * a.sums[j];
        }
        const float d = scalar::half(g.d[i]) * a.d;
        const float dmin = scalar::half(g.dmin[i]) * a.d;
        return d * static_cast<float>(isum) - dmin * static_cast<float>(isum_min);
    }
};

struct Q6_KLayout {
    using Row = BlockQ6_K;
    using Group = BlockQ6_Kx8;
    using Act = BlockQ8_K;
    static constexpr int kBlock = kQKK;

    // Unsigned levels (0..63, the values plus 32) of a row-major block: element 128h + 32q + l
    // has its low bits in nibble q / 2 of ql[64h + 32(q % 2) + l] and its high bits at bit 2q of
    // qh[32h + l]. Four bytes at a time: a whole model's Q6_K matrices pass through here at load.
    static void row_levels(const Row& r, uint8_t (&out)[kQKK]) {
        for (int h = 0; h < 2; ++h) {
            for (int q = 0; q < 4; ++q) {
                const uint8_t* ql = r.ql + 64 * h + 32 * (q % 2);
                const uint8_t* qh = r.qh + 32 * h;
                uint8_t* o = out + 128 * h + 32 * q;
                for (int l = 0; l < 32; l += 4) {
                    const uint32_t low = (scalar::load_u32(ql + l) >> (4 * (q / 2))) & 0x0F0F0F0Fu;
                    const uint32_t high = (scalar::load_u32(qh + l) >> (2 * q)) & 0x03030303u;
                    scalar::store_u32(o + l, low | (high << 4));
                }
            }
        }
    }

    // A padding row keeps level 0 with scale 0 and d 0: its values are 0.
    static void pack_row(const Row* r, int i, Group& out) {
        out.d[i] = r ? r->d : f16_t{0};
        for (int g = 0; g < 16; ++g)
            out.scales[16 * (g / 2) + 2 * i + g % 2] = r ? r->scales[g] : 0;
        uint8_t lv[kQKK] = {};
        if (r) row_levels(*r, lv);
        // Word w of chunk c: elements 64c + 4w.. in the low nibbles, 32 further in the high.
        for (int c = 0; c < 4; ++c) {
            for (int w = 0; w < 8; ++w) {
                const uint8_t* e = lv + 64 * c + kWord * w;
                scalar::store_u32(out.ql + 256 * c + 32 * w + kWord * i,
                                  (scalar::load_u32(e) & 0x0F0F0F0Fu) |
                                      ((scalar::load_u32(e + 32) & 0x0F0F0F0Fu) << 4));
            }
        }
        // Group g: bits 2k..2k+1 from element 16g + 4k + b.
        for (int g = 0; g < 16; ++g) {
            const uint8_t* e = lv + 16 * g;
            uint32_t word = 0;
            for (int k = 0; k < 4; ++k)
                word |= ((scalar::load_u32(e + kWord * k) >> 4) & 0x03030303u) << (2 * k);
            scalar::store_u32(out.qh + 32 * g + kWord * i, word);
        }
    }

    // Unsigned level of element e of row i, and row i's scale of group g (16 values).
    static int level(const Group& g, int i, int e) {
        const int c = e / 64, within = e % 64, m = within % 32;
        const uint8_t low = g.ql[256 * c + 32 * (m / kWord) + kWord * i + m % kWord];
        const uint8_t high = g.qh[32 * (e / 16) + kWord * i + e % kWord];
        return ((within < 32 ? low : low >> 4) & 0x0F) |
               (((high >> (2 * ((e % 16) / kWord))) & 3) << 4);
    }
    static int scale(const Group& g, int i, int group) {
        return g.scales[16 * (group / 2) + 2 * i + group % 2];
    }

    static void to_float(const Group& g, int i, float* out) {
        const float d = scalar::half(g.d[i]);
        for (int e = 0; e < kBlock; ++e) {
            out[e] = d * static_cast<float>(scale(g, i, e / 16)) *
                     static_cast<float>(level(g, i, e) - 32);
        }
    }

    static void act_from_float(const float* x, Act& out) {
        scalar::quantize_q8_k_activations(x, &out, kQKK);
    }

    static float block_dot(const Group& g, int i, const Act& a) {
        int isum = 0;
        for (int group = 0; group < 16; ++group) {
            int dot = 0;
            for (int l = 0; l < 16; ++l) {
                const int e = 16 * group + l;
                dot += (level(g, i, e) - 32) * a.qs[e];
            }
            isum += scale(g, i, group) * dot;
        }
        return (scalar::half(g.d[i]) * a.d) * static_cast<float>(isum);
    }
};

// Row by row within each group, each row's blocks in order: the source is read as 8 sequential
// streams one after another rather than 8 strided ones at once (the group's blocks, a few KB,
// stay in cache while its rows are written into them).
template <class L>
void interleave(int64_t k, const void* src, size_t src_row_bytes, int64_t rows, void* dst,
                int64_t group_begin, int64_t group_end) {
    const int64_t nb = k / L::kBlock;
    auto* groups = static_cast<typename L::Group*>(dst);
    const auto* src_bytes = static_cast<const std::byte*>(src);
    for (int64_t g = group_begin; g < group_end; ++g) {
        typename L::Group* out = groups + g * nb;
        std::memset(static_cast<void*>(out), 0, static_cast<size_t>(nb) * sizeof *out);
        for (int i = 0; i < kRows; ++i) {
            const int64_t r = g * kRows + i;
            const auto* row = r < rows ? reinterpret_cast<const typename L::Row*>(
                                             src_bytes + static_cast<size_t>(r) * src_row_bytes)
                                       : nullptr;
            for (int64_t b = 0; b < nb; ++b) L::pack_row(row ? row + b : nullptr, i, out[b]);
        }
    }
}

template <class L>
void row_to_float(int64_t k, const void* interleaved, int64_t row, float* out) {
    const int64_t nb = k / L::kBlock;
    const auto* group = static_cast<const typename L::Group*>(interleaved) + (row / kRows) * nb;
    for (int64_t b = 0; b < nb; ++b) {
        L::to_float(group[b], static_cast<int>(row % kRows), out + b * L::kBlock);
    }
}

template <class L>
void act_from_float(const float* src, void* dst, int64_t n) {
    auto* out = static_cast<typename L::Act*>(dst);
    for (int64_t b = 0; b < n / L::kBlock; ++b) L::act_from_float(src + b * L::kBlock, out[b]);
}

// Reference: per row and token, the row-major scalar dot product's block values accumulated in
// block order (so the two agree bit for bit).
template <class L>
void matmul(int64_t k, const void* w, size_t /*w_row_bytes*/, const void* act, size_t act_row_bytes,
            int64_t n_tokens, float* y, size_t y_stride, int64_t row_begin, int64_t row_end) {
    const int64_t nb = k / L::kBlock;
    const auto* groups = static_cast<const typename L::Group*>(w);
    const auto* act_bytes = static_cast<const std::byte*>(act);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const typename L::Group* group = groups + (r / kRows) * nb;
        const int i = static_cast<int>(r % kRows);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const auto* a = reinterpret_cast<const typename L::Act*>(act_bytes + t * act_row_bytes);
            float sum = 0.f;
            for (int64_t b = 0; b < nb; ++b) sum += L::block_dot(group[b], i, a[b]);
            y[t * y_stride + r] = sum;
        }
    }
}

// Calls f(Layout{}) for the layout of `type`.
template <class F>
decltype(auto) with_layout(DType type, F&& f) {
    switch (type) {
        case DType::Q4_0:
            return f(Q4_0Layout{});
        case DType::Q5_0:
            return f(Q5_0Layout{});
        case DType::Q8_0:
            return f(Q8_0Layout{});
        case DType::Q4_K:
            return f(Q4_KLayout{});
        case DType::Q6_K:
            return f(Q6_KLayout{});
        default:
            fail("tensor type ", dtype_name(type), " has no interleaved layout");
    }
}

}  // namespace

bool can_interleave(DType type) {
    return type == DType::Q4_0 || type == DType::Q5_0 || type == DType::Q8_0 ||
           type == DType::Q4_K || type == DType::Q6_K;
}

size_t interleaved_bytes(DType type, int64_t rows, int64_t k) {
    return with_layout(type, [&](auto layout) {
        using L = decltype(layout);
        if (rows < 0 || k < 0 || k % L::kBlock != 0)
            fail("interleaved_bytes: bad shape ", rows, " x ", k, " for ", dtype_name(type));
        const int64_t groups = (rows + kInterleaveRows - 1) / kInterleaveRows;
        return static_cast<size_t>(groups * (k / L::kBlock)) * sizeof(typename L::Group);
    });
}

void interleave_rows(DType type, int64_t k, const void* src, size_t src_row_bytes, int64_t rows,
                     void* dst, int64_t group_begin, int64_t group_end) {
    with_layout(type, [&](auto layout) {
        interleave<decltype(layout)>(k, src, src_row_bytes, rows, dst, group_begin, group_end);
    });
}

void interleaved_row_to_float(DType type, int64_t k, const void* interleaved, int64_t row,
                              float* out) {
    with_layout(type,
                [&](auto layout) { row_to_float<decltype(layout)>(k, interleaved, row, out); });
}

size_t interleaved_act_row_bytes(DType type, int64_t k) {
    return with_layout(type, [&](auto layout) {
        using L = decltype(layout);
        if (k < 0 || k % L::kBlock != 0)
            fail("interleaved ", dtype_name(type), " activations: ", k, " is not a multiple of ",
                 L::kBlock);
        return static_cast<size_t>(k / L::kBlock) * sizeof(typename L::Act);
    });
}

namespace scalar {

void register_interleaved(KernelTable& table) {
    entry(table, DType::Q4_0).to_interleaved_act = act_from_float<Q4_0Layout>;
    entry(table, DType::Q4_0).matmul_interleaved = matmul<Q4_0Layout>;
    entry(table, DType::Q5_0).to_interleaved_act = act_from_float<Q5_0Layout>;
    entry(table, DType::Q5_0).matmul_interleaved = matmul<Q5_0Layout>;
    entry(table, DType::Q8_0).to_interleaved_act = act_from_float<Q8_0Layout>;
    entry(table, DType::Q8_0).matmul_interleaved = matmul<Q8_0Layout>;
    entry(table, DType::Q4_K).to_interleaved_act = act_from_float<Q4_KLayout>;
    entry(table, DType::Q4_K).matmul_interleaved = matmul<Q4_KLayout>;
    entry(table, DType::Q6_K).to_interleaved_act = act_from_float<Q6_KLayout>;
    entry(table, DType::Q6_K).matmul_interleaved = matmul<Q6_KLayout>;
}

}  // namespace scalar
}  // namespace pocket::kernels
