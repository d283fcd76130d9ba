// quantize -> dequantize stays within each format's error bound. The legacy formats have exact
// per-element bounds derived from their scale rules; the K formats and IQ4_NL (whose scales come
// from a search) are held to RMS error bounds relative to the input's RMS, per super-block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"

namespace pocket::kernels {
namespace {

using test_util::dequantize;
using test_util::quantize;

constexpr double kF16Eps = 1.0 / 2048;  // half an F16 ulp, relative

struct BlockStats {
    double amax = 0, min = 0, max = 0, sum_sq = 0;
};
BlockStats stats(const float* x, int n) {
    BlockStats s{0, x[0], x[0], 0};
    for (int i = 0; i < n; ++i) {
        s.amax = std::max(s.amax, std::fabs(double(x[i])));
        s.min = std::min(s.min, double(x[i]));
        s.max = std::max(s.max, double(x[i]));
        s.sum_sq += double(x[i]) * x[i];
    }
    return s;
}

// Largest allowed |x - dequant(quant(x))| for one element of a 32-block of a legacy format.
double legacy_bound(DType t, const BlockStats& s) {
    const double slack = 1e-6 * s.amax + 1e-30;
    switch (t) {
        case DType::Q8_0:
        case DType::Q8_1:  // half a step, plus up to 127 steps of F16 rounding of d
            return s.amax / 127 * (0.5 + 127 * kF16Eps) + slack;
        case DType::Q4_0:  // one step on the clamped side (q = 8 is not representable)
            return s.amax / 8 * (1 + 8 * kF16Eps) + slack;
        case DType::Q5_0:
            return s.amax / 16 * (1 + 16 * kF16Eps) + slack;
        case DType::Q4_1: {
            const double d = (s.max - s.min) / 15;
            return d * (0.5 + 15 * kF16Eps) + std::fabs(s.min) * kF16Eps + slack;
        }
        case DType::Q5_1: {
            const double d = (s.max - s.min) / 31;
            return d * (0.5 + 31 * kF16Eps) + std::fabs(s.min) * kF16Eps + slack;
        }
        default:
            return 0;
    }
}

// RMS error relative to the input's RMS: per block (256 values, 32 for IQ4_NL) and over the whole
// row. Measured on these inputs (llama.cpp's quantizers give the same numbers, the bytes being
// identical) with about 25% headroom; the "mixed" rows put 2^6 of dynamic range and outliers into
// one super-block, which the single super-block scale handles worse.
struct RmsBound {
    double block = 0;
    double row = 0;
};
RmsBound rms_bound(DType t, bool mixed) {
    switch (t) {
        case DType::Q2_K:
            return mixed ? RmsBound{0.46, 0.34} : RmsBound{0.40, 0.36};
        case DType::Q3_K:
            return mixed ? RmsBound{0.36, 0.25} : RmsBound{0.21, 0.19};
        case DType::Q4_K:
            return mixed ? RmsBound{0.12, 0.10} : RmsBound{0.10, 0.09};
        case DType::Q5_K:
            return mixed ? RmsBound{0.063, 0.053} : RmsBound{0.049, 0.045};
        case DType::Q6_K:
            return mixed ? RmsBound{0.05, 0.036} : RmsBound{0.025, 0.022};
        case DType::IQ4_NL:
            return mixed ? RmsBound{0.20, 0.14} : RmsBound{0.13, 0.094};
        case DType::IQ4_XS:  // IQ4_NL's levels under 6-bit group scales of one F16 scale
            return mixed ? RmsBound{0.20, 0.14} : RmsBound{0.13, 0.094};
        default:
            return {};
    }
}

void check_roundtrip(DType t, const std::vector<float>& x, bool mixed, const std::string& what) {
    const TypeOps& o = ops(t, Isa::Scalar);
    const int64_t n = static_cast<int64_t>(x.size());
    const auto y = dequantize(o, quantize(o, x), n);
    switch (t) {
        case DType::F32:
            for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i]) << what << " i=" << i;
            return;
        case DType::F16:
        case DType::BF16: {
            const double rel = t == DType::F16 ? kF16Eps : 1.0 / 256;
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_LE(std::fabs(double(y[i]) - x[i]), std::fabs(double(x[i])) * rel + 3e-8)
                    << what << " i=" << i;
            }
            return;
        }
        case DType::Q8_K:
            for (int64_t b = 0; b < n / 256; ++b) {
                const BlockStats s = stats(x.data() + 256 * b, 256);
                for (int i = 0; i < 256; ++i) {
                    const int64_t k = 256 * b + i;
                    ASSERT_LE(std::fabs(double(y[k]) - x[k]), s.amax / 127 * 0.5001 + 1e-30)
                        << what << " i=" << k;
                }
            }
            return;
        default:
            break;
    }
    if (const RmsBound r = rms_bound(t, mixed); r.block > 0) {
        const int block = t == DType::IQ4_NL ? 32 : 256;
        double row_err = 0, row_sq = 0;
        for (int64_t b = 0; b < n / block; ++b) {
            const BlockStats s = stats(x.data() + block * b, block);
            double err = 0;
            for (int i = 0; i < block; ++i) {
                const double e = double(y[block * b + i]) - x[block * b + i];
                err += e * e;
            }
            ASSERT_LE(std::sqrt(err), r.block * std::sqrt(s.sum_sq) + 1e-30)
                << what << " block " << b;
            row_err += err;
            row_sq += s.sum_sq;
        }
        ASSERT_LE(std::sqrt(row_err), r.row * std::sqrt(row_sq)) << what;
        return;
    }
    for (int64_t b = 0; b < n / 32; ++b) {
        const BlockStats s = stats(x.data() + 32 * b, 32);
        const double bound = legacy_bound(t, s);
        ASSERT_GT(bound, 0) << "no bound for " << dtype_name(t);
        for (int i = 0; i < 32; ++i) {
            const int64_t k = 32 * b + i;
            ASSERT_LE(std::fabs(double(y[k]) - x[k]), bound) << what << " i=" << k;
        }
    }
}

class Roundtrip : public ::testing::TestWithParam<DType> {};

TEST_P(Roundtrip, NormalRowsWithinBound) {
    for (uint32_t seed = 1; seed <= 8; ++seed) {
        check_roundtrip(GetParam(), test_util::normal_row(256 * 3, seed, 0.08f), false,
                        "normal seed " + std::to_string(seed));
    }
}

TEST_P(Roundtrip, MixedRowsWithinBound) {
    // Outliers and sign-skewed blocks; the K formats' RMS bound holds on these too.
    for (uint32_t seed = 1; seed <= 8; ++seed) {
        check_roundtrip(GetParam(), test_util::mixed_row(256 * 4, seed), true,
                        "mixed seed " + std::to_string(seed));
    }
}

TEST_P(Roundtrip, AllZeroRowStaysZero) {
    const TypeOps& o = ops(GetParam(), Isa::Scalar);
    const std::vector<float> zeros(512, 0.f);
    const auto y = dequantize(o, quantize(o, zeros), 512);
    for (float v : y) ASSERT_EQ(v, 0.f);
}

// Values already on the format's grid come back (up to F16 rounding of the scale) for the formats
// whose quantizer derives the scale from the block maximum; the searched scales of the K formats,
// Q4_1/Q5_1 and IQ4_NL may legitimately move to another grid.
TEST(RoundtripGrid, QuantizingDequantizedValuesIsStable) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q8_1, DType::Q4_0,
                    DType::Q5_0, DType::Q8_K}) {
        const TypeOps& o = ops(t, Isa::Scalar);
        const auto once = dequantize(o, quantize(o, test_util::normal_row(512, 7)), 512);
        const auto twice = dequantize(o, quantize(o, once), 512);
        for (size_t i = 0; i < once.size(); ++i) {
            ASSERT_NEAR(twice[i], once[i], std::fabs(once[i]) * 2 * kF16Eps + 1e-7)
                << dtype_name(t) << " " << i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, Roundtrip, ::testing::ValuesIn(test_util::all_types()),
                         [](const auto& info) { return test_util::type_label(info.param); });

}  // namespace
}  // namespace pocket::kernels
