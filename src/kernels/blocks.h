// Quantized block layouts, byte-identical to ggml's (ggml-common.h), so tensor data from GGUF files
// can be used in place. Every struct is a plain aggregate of bytes/halves with no padding; the
// static_asserts pin the sizes that GGUF files rely on.
//
// Conventions: `d` is the block scale, `m`/`dmin` the (scale of the) minimum, stored as raw F16
// bits (see pocket/core/fp16.h) except for Q8_K whose scale is an F32.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "pocket/core/fp16.h"

namespace pocket::kernels {

inline constexpr int kQK32 = 32;         // elements per block of the "legacy" formats and IQ4_NL
inline constexpr int kQKK = 256;         // elements per super-block of the K formats
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales/mins of Q3_K/Q4_K/Q5_K

// x = d * (q - 8), q in [0, 15]; element j in the low nibble of qs[j], element j+16 in the high
// one.
struct BlockQ4_0 {
    f16_t d;
    uint8_t qs[kQK32 / 2];
};
// x = d * q + m, q in [0, 15]; nibbles as Q4_0.
struct BlockQ4_1 {
    f16_t d;
    f16_t m;
    uint8_t qs[kQK32 / 2];
};
// x = d * (q - 16), q in [0, 31]: low 4 bits as Q4_0, bit 4 of element j is bit j of qh (LE u32).
struct BlockQ5_0 {
    f16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK32 / 2];
};
// x = d * q + m, q in [0, 31]; bits as Q5_0.
struct BlockQ5_1 {
    f16_t d;
    f16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK32 / 2];
};
// x = d * q.
struct BlockQ8_0 {
    f16_t d;
    int8_t qs[kQK32];
};
// Q8_0 plus s = d * sum(q) (used by the dot products of formats with a minimum).
struct BlockQ8_1 {
    f16_t d;
    f16_t s;
    int8_t qs[kQK32];
};
// x = d * kIq4nlValues[q]; nibbles as Q4_0.
struct BlockIQ4_NL {
    f16_t d;
    uint8_t qs[kQK32 / 2];
};

// 8 groups of 32: x = d * (ls[g] - 32) * kIq4nlValues[q], ls[g] the 6-bit scale whose low 4 bits
// are nibble g of scales_l and high 2 bits are bits 2g, 2g+1 of scales_h; qs as IQ4_NL per group.
struct BlockIQ4_XS {
    f16_t d;
    uint16_t scales_h;
    uint8_t scales_l[kQKK / 64];
    uint8_t qs[kQKK / 2];
};

// 16 groups of 16: x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4), q in [0, 3].
// qs: within each half of 128 elements, byte l of the 32-byte chunk holds elements
// l, l+32, l+64, l+96 of that half in bits 0-1, 2-3, 4-5, 6-7.
struct BlockQ2_K {
    uint8_t scales[kQKK / 16];
    uint8_t qs[kQKK / 4];
    f16_t d;
    f16_t dmin;
};
// 16 groups of 16: x = d * (s[g] - 32) * (q - 4), q = low 2 bits (packed as Q2_K) | hmask bit << 2.
// Bit b of hmask[l] is the high bit of element 32*b + l. The 6-bit scales s[g]: low nibbles in
// scales[0..7] (g < 8 low nibble of scales[g], else high nibble of scales[g-8]), high 2 bits in
// scales[8 + g%4] at bit 2*(g/4).
struct BlockQ3_K {
    uint8_t hmask[kQKK / 8];
    uint8_t qs[kQKK / 4];
    uint8_t scales[kKScaleBytes];
    f16_t d;
};
// 8 groups of 32: x = d * sc[g] * q - dmin * mn[g], q in [0, 15]. 6-bit sc/mn packed in 12 bytes:
// g < 4: sc = scales[g] & 63, mn = scales[g+4] & 63; g >= 4: low 4 bits in scales[g+4] (sc low
// nibble, mn high nibble), high 2 bits in the top bits of scales[g-4] (sc) and scales[g] (mn).
// qs: each 32-byte chunk holds groups 2c (low nibbles) and 2c+1 (high nibbles).
struct BlockQ4_K {
    f16_t d;
    f16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQKK / 2];
};
// As Q4_K with 5-bit q: bit 4 of element 64c + l is bit 2c of qh[l], of element 64c + 32 + l
// is bit 2c+1 of qh[l].
struct BlockQ5_K {
    f16_t d;
    f16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQKK / 8];
    uint8_t qs[kQKK / 2];
};
// 16 groups of 16: x = d * scales[g] * (q - 32), q in [0, 63]. Per half of 128 elements: ql[l]
// holds the low nibbles of elements l (low) and l+64 (high), ql[l+32] of l+32 and l+96; qh[l]
// holds the top 2 bits of elements l, l+32, l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7.
struct BlockQ6_K {
    uint8_t ql[kQKK / 2];
    uint8_t qh[kQKK / 4];
    int8_t scales[kQKK / 16];
    f16_t d;
};
// Activation format of the K dot products: x = d * q, plus the sums of each 16 q.
struct BlockQ8_K {
    float d;
    int8_t qs[kQKK];
    int16_t bsums[kQKK / 16];
};

// ---- interleaved layouts (pocket's own, made at load time; see kernels/interleaved.h) ---

// One 32-column block of 8 consecutive rows of a Q4_0 matrix. d[i] is row i's scale; the 32-bit
// word 8*j + i of qs is row i's qs bytes 4j..4j+3 (j < 4), so one 256-bit load gives 8 rows side by
// side: its low nibbles are elements 4j..4j+3 and its high nibbles elements 16+4j..16+4j+3.
struct BlockQ4_0x8 {
    f16_t d[8];
    uint8_t qs[8 * kQK32 / 2];
};
// The same for Q8_0: word 8*j + i of qs is row i's values 4j..4j+3 (j < 8), stored with the sign
// bit flipped (q + 128, so the bytes are unsigned, as VNNI's vpdpbusd wants its first operand).
struct BlockQ8_0x8 {
    f16_t d[8];
    uint8_t qs[8 * kQK32];
};
// The same for Q5_0: qs as in BlockQ4_0x8, and the fifth bits rearranged so that bit v of byte
// 4*i + b of qh is row i's fifth bit of element 4v + b: the weight vector paired with activation
// word v (elements 4v..4v+3) finds its fifth bits by one shift of the whole qh vector.
struct BlockQ5_0x8 {
    f16_t d[8];
    uint8_t qh[32];
    uint8_t qs[8 * kQK32 / 2];
};
// One 256-column super-block of 8 consecutive rows of a Q4_K matrix, its 6-bit scales and mins
// unpacked to bytes (32 bytes more than the 8 packed blocks: +2.8%) so a kernel widens them with
// one instruction. scales[8*j + i] is row i's scale of group j (32 values); mins[16*p + 2*i + h]
// is row i's min of group 2p+h (pairs side by side for vpmaddwd). qs: byte 256*c + 32*w + 4*i + b
// is row i's qs byte 32*c + 4*w + b, so the 256-bit word at 256*c + 32*w holds, per row, elements
// 64c+4w..64c+4w+3 (group 2c) in its low nibbles and 64c+32+4w.. (group 2c+1) in its high ones.
struct BlockQ4_Kx8 {
    f16_t d[8];
    f16_t dmin[8];
    uint8_t scales[64];
    uint8_t mins[64];
    uint8_t qs[8 * kQKK / 2];
};
// One 256-column super-block of 8 consecutive rows of a Q6_K matrix, the same 1680 bytes as the 8
// row-major blocks. ql: the low 4 bits, laid out as BlockQ4_Kx8::qs (the 256-bit word at
// 256*c + 32*w holds, per row, elements 64c+4w.. in its low nibbles and 64c+32+4w.. in its high
// ones). qh: the 256-bit word at 32*g belongs to group g (16 values, one scale): bits 2k..2k+1 of
// byte 4*i + b are the high 2 bits of row i's element 16g + 4k + b, so each of the group's four
// weight vectors takes one shift and one mask of the same word. scales[16*m + 2*i + e] is row i's
// scale of group 2m + e (pairs side by side for vpmaddwd).
struct BlockQ6_Kx8 {
    f16_t d[8];
    int8_t scales[128];
    uint8_t ql[8 * kQKK / 2];
    uint8_t qh[8 * kQKK / 4];
};
// Activation block of the interleaved Q4_K kernel: the Q8_K quantization of 256 values (same d
// and q as the Q8_K converter) with the sums of each group of 32 q (what the mins multiply).
struct BlockQ8_KAct {
    float d;
    int16_t sums[8];
    int8_t qs[kQKK];
};

// Activation block of the interleaved kernels: the Q8_0 quantization of 32 values (same q and d as
// the Q8_0 activation converter, d widened to float) and `bias` = -offset * sum(q), where offset is
// what the weight format adds to its stored bytes (8 for Q4_0, 16 for Q5_0, 128 for Q8_0): the
// integer dot of the stored bytes with q plus bias is the signed dot.
struct BlockQ8_0Act {
    int8_t qs[kQK32];
    float d;
    int32_t bias;
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0));
static_assert(sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0));
static_assert(sizeof(BlockQ5_0x8) == 8 * sizeof(BlockQ5_0));
static_assert(sizeof(BlockQ8_0Act) == 40);
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K) + 32);
static_assert(sizeof(BlockQ8_KAct) == 276);
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K));

// The 16 non-linear levels of IQ4_NL (ggml's kvalues_iq4nl).
inline constexpr std::array<int8_t, 16> kIq4nlValues = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                        1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace pocket::kernels
