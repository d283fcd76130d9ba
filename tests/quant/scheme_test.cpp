// Quantization schemes against llama-quantize's rules, stated here from its documented behaviour.
#include <gtest/gtest.h>

#include "pocket/quant/scheme.h"

namespace pocket::quant {
namespace {

TEST(QuantScheme, ParsesPureTypesAndMixes) {
    EXPECT_EQ(parse_scheme("Q8_0")->base, DType::Q8_0);
    EXPECT_FALSE(parse_scheme("q8_0")->k_mix);
    EXPECT_TRUE(parse_scheme("q4_k_m")->k_mix);
    EXPECT_EQ(parse_scheme("q4_k_m")->file_type, 15u);
    EXPECT_EQ(parse_scheme("q5_k_m")->base, DType::Q5_K);
    EXPECT_FALSE(parse_scheme("q4_k_xl").has_value());
}

TEST(QuantScheme, FallbacksForRowsThatDoNotSplitIntoSuperBlocks) {
    EXPECT_EQ(fallback_type(DType::Q4_K, 576), DType::Q5_0);
    EXPECT_EQ(fallback_type(DType::Q5_K, 576), DType::Q5_1);
    EXPECT_EQ(fallback_type(DType::Q6_K, 896), DType::Q8_0);
    EXPECT_EQ(fallback_type(DType::Q3_K, 576), DType::IQ4_NL);
    EXPECT_EQ(fallback_type(DType::Q4_K, 2048), DType::Q4_K);
    EXPECT_EQ(fallback_type(DType::Q8_0, 100), DType::F16);
}

// Q4_K_M: the output head (or the tied embedding) in Q6_K; attn_v and ffn_down in Q6_K on the first
// and last eighth of the layers and every third layer in between; everything else Q4_K.
TEST(QuantScheme, Q4KMPlacesQ6KLikeLlamaQuantize) {
    const Scheme s = *parse_scheme("q4_k_m");
    const int64_t n_layer = 16, row = 2048;
    EXPECT_EQ(choose_type(s, TensorRole::Output, 0, n_layer, row, false), DType::Q6_K);
    EXPECT_EQ(choose_type(s, TensorRole::TokenEmbedding, 0, n_layer, row, false), DType::Q4_K);
    EXPECT_EQ(choose_type(s, TensorRole::TokenEmbedding, 0, n_layer, row, true), DType::Q6_K);
    std::vector<int64_t> more_bits;
    for (int64_t layer = 0; layer < n_layer; ++layer) {
        const DType v = choose_type(s, TensorRole::AttnV, layer, n_layer, row, true);
        EXPECT_EQ(v, choose_type(s, TensorRole::FfnDown, layer, n_layer, row, true));
        EXPECT_EQ(choose_type(s, TensorRole::AttnQ, layer, n_layer, row, true), DType::Q4_K);
        if (v == DType::Q6_K) more_bits.push_back(layer);
    }
    // n_layer / 8 = 2: layers 0, 1 and 14, 15, and (layer - 2) % 3 == 2 in between: 4, 7, 10, 13.
    EXPECT_EQ(more_bits, (std::vector<int64_t>{0, 1, 4, 7, 10, 13, 14, 15}));
}

}  // namespace
}  // namespace pocket::quant
