// Random-weight models of real shapes: they load, have the published dimensions and run.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "model/synth.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/quant/scheme.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::Model;

TEST(Synth, Smollm2ShapeLoadsAndRuns) {
    const auto* shape = model::find_synth_shape("smollm2-135m");
    ASSERT_NE(shape, nullptr);
    ScratchDir dir;
    const auto path = dir / "smollm2.gguf";
    const auto result =
        model::write_synth_model(*shape, {.scheme = *quant::parse_scheme("q4_0"), .seed = 7}, path);
    // SmolLM2-135M: 134.5 M parameters (config.json of HuggingFaceTB/SmolLM2-135M, tied
    // embeddings).
    EXPECT_NEAR(static_cast<double>(result.n_params), 134.5e6, 0.1e6);
    EXPECT_TRUE(result.other_types.empty());  // 576 is a multiple of Q4_0's 32-value block

    const auto model = Model::load(path);
    const auto& hp = model->hparams();
    EXPECT_EQ(hp.n_embd, 576);
    EXPECT_EQ(hp.n_layer, 30);
    EXPECT_EQ(hp.n_head, 9);
    EXPECT_EQ(hp.n_head_kv, 3);
    EXPECT_EQ(hp.n_ff, 1536);
    EXPECT_EQ(hp.n_vocab, 49152);
    EXPECT_TRUE(model->weights().output_tied);

    const auto ids = model->tokenizer().encode("hello world, this is a test", true, false);
    ASSERT_GT(ids.size(), 2u);
    model::Context ctx(*model, {.n_ctx = 64});
    const auto logits = ctx.eval(ids);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

// The gemma3 writer (gemma-3-1b's architecture) at a small size: the loader finds the Q/K norms,
// the post-norms and the local layers, and the model runs past its window.
TEST(Synth, Gemma3ArchitectureLoadsAndRuns) {
    const model::SynthShape shape{.name = "tiny-gemma3",
                                  .description = "a small gemma3 for tests",
                                  .n_vocab = 512,
                                  .n_embd = 64,
                                  .n_layer = 6,
                                  .n_head = 4,
                                  .n_head_kv = 1,
                                  .head_dim = 32,
                                  .n_ff = 128,
                                  .n_ctx_train = 1024,
                                  .rope_freq_base = 1000000.0f,
                                  .norm_eps = 1e-6f,
                                  .tied_output = true,
                                  .arch = "gemma3",
                                  .sliding_window = 8};
    ScratchDir dir;
    const auto path = dir / "gemma3.gguf";
    model::write_synth_model(shape, {.scheme = *quant::parse_scheme("q8_0"), .seed = 3}, path);

    const auto model = Model::load(path);
    EXPECT_EQ(model->arch().name, "gemma3");
    const auto& hp = model->hparams();
    EXPECT_EQ(hp.sliding_window, 8);
    EXPECT_EQ(hp.head_dim, 32);
    // Five local layers to one global: layers 0-4 local, 5 global.
    for (int64_t il = 0; il < 6; ++il) EXPECT_EQ(hp.is_sliding_layer(model->arch(), il), il != 5);
    const auto& layer = model->weights().layers.front();
    EXPECT_FALSE(layer.q_norm.empty());
    EXPECT_FALSE(layer.k_norm.empty());
    EXPECT_FALSE(layer.post_attn_norm.empty());
    EXPECT_FALSE(layer.post_ffn_norm.empty());

    std::vector<TokenId> ids;
    for (int i = 0; i < 24; ++i) ids.push_back(static_cast<TokenId>(300 + 7 * i));  // > window
    model::Context ctx(*model, {.n_ctx = 64});
    const auto logits = ctx.eval(ids);
    ASSERT_EQ(static_cast<int64_t>(logits.size()), hp.n_vocab);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

// The qwen3 writer (qwen3-0.6b's architecture, wider attention than n_embd) at a small size.
TEST(Synth, Qwen3ArchitectureLoadsAndRuns) {
    const model::SynthShape shape{.name = "tiny-qwen3",
                                  .description = "a small qwen3 for tests",
                                  .n_vocab = 512,
                                  .n_embd = 64,
                                  .n_layer = 2,
                                  .n_head = 4,
                                  .n_head_kv = 2,
                                  .head_dim = 32,  // 4 x 32 = 128 > n_embd, as Qwen3-0.6B's
                                  .n_ff = 128,
                                  .n_ctx_train = 1024,
                                  .rope_freq_base = 1000000.0f,
                                  .norm_eps = 1e-6f,
                                  .tied_output = true,
                                  .arch = "qwen3"};
    ScratchDir dir;
    const auto path = dir / "qwen3.gguf";
    model::write_synth_model(shape, {.scheme = *quant::parse_scheme("q8_0"), .seed = 4}, path);
    const auto model = Model::load(path);
    EXPECT_EQ(model->arch().name, "qwen3");
    const auto& layer = model->weights().layers.front();
    EXPECT_FALSE(layer.q_norm.empty());
    EXPECT_FALSE(layer.k_norm.empty());
    EXPECT_TRUE(layer.post_attn_norm.empty());
    std::vector<TokenId> ids = {300, 301, 302, 303, 304};
    model::Context ctx(*model, {.n_ctx = 32});
    const auto logits = ctx.eval(ids);
    ASSERT_EQ(static_cast<int64_t>(logits.size()), model->hparams().n_vocab);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

TEST(Synth, Q4KMMixGivesTheOutputAndSomeLayersMoreBits) {
    const auto* shape = model::find_synth_shape("tiny");  // 2 layers, n_embd 128: K rows fall back
    ScratchDir dir;
    const auto path = dir / "mix.gguf";
    model::write_synth_model(*shape, {.scheme = *quant::parse_scheme("q4_k_m"), .seed = 1}, path);
    const auto file = gguf::File::open(path);
    // 128-value rows do not split into 256-value super-blocks: Q4_K falls back to Q5_0, Q6_K to
    // Q8_0.
    EXPECT_EQ(file.find_tensor("output.weight")->type, DType::Q8_0);
    // With 2 layers, layer 1 (the last eighth) gets more bits and layer 0 does not.
    EXPECT_EQ(file.find_tensor("blk.1.attn_v.weight")->type, DType::Q8_0);
    EXPECT_EQ(file.find_tensor("blk.0.attn_v.weight")->type, DType::Q5_0);
    EXPECT_EQ(file.find_tensor("blk.0.attn_q.weight")->type, DType::Q5_0);
    EXPECT_EQ(file.find_tensor("blk.1.ffn_down.weight")->type, DType::Q6_K);  // 256-value rows
    EXPECT_EQ(file.find_tensor("blk.0.ffn_down.weight")->type, DType::Q4_K);
    EXPECT_EQ(file.get_uint("general.file_type"), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
}

TEST(Synth, ShapesWithoutLlama3ScalingHaveNoRopeFactors) {
    EXPECT_TRUE(model::llama3_rope_factors(*model::find_synth_shape("smollm2-135m")).empty());
}

TEST(Synth, SameSeedSameFile) {
    const auto* shape = model::find_synth_shape("tiny");
    ASSERT_NE(shape, nullptr);
    ScratchDir dir;
    model::write_synth_model(*shape, {.scheme = *quant::parse_scheme("q4_k_m"), .seed = 3},
                             dir / "a.gguf");
    model::write_synth_model(*shape, {.scheme = *quant::parse_scheme("q4_k_m"), .seed = 3},
                             dir / "b.gguf");
    model::write_synth_model(*shape, {.scheme = *quant::parse_scheme("q4_k_m"), .seed = 4},
                             dir / "c.gguf");
    EXPECT_EQ(read_file_bytes(dir / "a.gguf"), read_file_bytes(dir / "b.gguf"));
    EXPECT_NE(read_file_bytes(dir / "a.gguf"), read_file_bytes(dir / "c.gguf"));
}

// Llama 3.1 "llama3" rope scaling, computed here from Meta's published description
// (apply_scaling in the reference model code): wavelengths above original_ctx/low_freq_factor are
// divided by `factor`, below original_ctx/high_freq_factor kept, and blended in between.
TEST(Synth, Llama3RopeFactors) {
    const auto* shape = model::find_synth_shape("llama-3.2-1b");
    ASSERT_NE(shape, nullptr);
    const auto f = model::llama3_rope_factors(*shape);
    ASSERT_EQ(f.size(), 32u);
    const double base = 500000.0, factor = 32.0, low = 1.0, high = 4.0, orig = 8192.0;
    for (int i = 0; i < 32; ++i) {
        const double freq = std::pow(base, -2.0 * i / 64.0);
        const double wavelen = 2 * std::numbers::pi / freq;
        double scaled_freq;
        if (wavelen < orig / high) {
            scaled_freq = freq;
        } else if (wavelen > orig / low) {
            scaled_freq = freq / factor;
        } else {
            const double smooth = (orig / wavelen - low) / (high - low);
            scaled_freq = (1 - smooth) * freq / factor + smooth * freq;
        }
        EXPECT_NEAR(f[i], freq / scaled_freq, 1e-4 * freq / scaled_freq) << "dimension pair " << i;
    }
}

}  // namespace
}  // namespace pocket::test
