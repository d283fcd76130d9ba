// Load-time interleaving of Q4_0 / Q8_0 weights: the same model loaded with and without it gives
// the same logits (to float rounding: the kernels sum the same exact integer blocks in another
// order), the tied output head is interleaved and still gathered correctly as the embedding
// table, and a model whose types have no interleaved layout is left in place.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/interleaved.h"
#include "kernels/kernels.h"
#include "model/synth.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/quant/scheme.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::Model;

std::vector<float> run(const Model& m, const std::vector<int32_t>& ids) {
    model::Context ctx(m, {.n_ctx = 64});
    const auto logits = ctx.eval(ids);
    return {logits.begin(), logits.end()};
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
}

// Restores the instruction set chosen at start-up when a test that forced another one ends.
struct IsaGuard {
    kernels::Isa saved = kernels::active_isa();
    ~IsaGuard() { kernels::force_isa(saved); }
};

void expect_same_logits(const std::filesystem::path& path) {
    const std::vector<int32_t> ids = {1, 15, 300, 7, 42, 99, 5, 250, 3, 17, 11};
    const IsaGuard guard;
    // The scalar reference kernels sum the same blocks in the same order in both layouts.
    kernels::force_isa(kernels::Isa::Scalar);
    const auto plain_scalar = run(*Model::load(path, {.interleave = false}), ids);
    const auto interleaved_scalar = run(*Model::load(path, {.interleave = true}), ids);
    EXPECT_EQ(plain_scalar, interleaved_scalar);
    kernels::force_isa(guard.saved);

    const auto plain = Model::load(path, {.interleave = false});
    const auto interleaved = Model::load(path, {.interleave = true});
    EXPECT_EQ(plain->interleaved_bytes(), 0u);
    ASSERT_GT(interleaved->interleaved_bytes(), 0u) << "nothing was interleaved";
    for (const auto& layer : interleaved->weights().layers) {
        EXPECT_EQ(layer.w_down.layout, Layout::Interleaved8);
    }
    // SIMD kernels round differently, and in a small random model a different rounding can flip a
    // later activation's 8-bit quantization and move logits by ~1% of their range: the row-major
    // SIMD kernels differ from the scalar ones by as much. The interleaved SIMD logits must stay
    // as close to the row-major ones as that; a wiring mistake (wrong matrix, layout or activation
    // format) moves them by their own magnitude.
    const auto want = run(*plain, ids);
    const auto got = run(*interleaved, ids);
    ASSERT_EQ(want.size(), got.size());
    double max_abs = 0;
    for (float v : want) max_abs = std::max(max_abs, std::fabs(double(v)));
    const double isa_noise = max_difference(want, plain_scalar);
    EXPECT_LE(max_difference(want, got), std::max(0.02 * max_abs, 2 * isa_noise))
        << "max |logit| " << max_abs << ", row-major SIMD vs scalar " << isa_noise;
}

TEST(Interleave, Q4_0ReferenceModelGivesTheSameLogits) {
    expect_same_logits(shared_path("models/tiny/tiny-llama-spm.Q4_0.gguf"));
}

TEST(Interleave, Q8_0ReferenceModelGivesTheSameLogits) {
    if (kernels::ops(DType::Q8_0).matmul_interleaved == nullptr)
        GTEST_SKIP() << "no interleaved Q8_0 kernels on this instruction set";
    expect_same_logits(shared_path("models/tiny/tiny-llama-spm.Q8_0.gguf"));
}

TEST(Interleave, TiedOutputHeadIsInterleavedAndStillGathered) {
    ScratchDir dir;
    const auto path = dir / "tied.gguf";
    model::SynthShape shape = *model::find_synth_shape("tiny");
    shape.tied_output = true;
    model::write_synth_model(shape, {.scheme = *quant::parse_scheme("q4_0"), .seed = 5}, path);
    const auto plain = Model::load(path, {.interleave = false});
    const auto interleaved = Model::load(path, {.interleave = true});
    ASSERT_TRUE(plain->weights().output_tied);
    const auto& table = interleaved->weights().token_embd;
    EXPECT_EQ(table.layout, Layout::Interleaved8);
    EXPECT_EQ(interleaved->weights().output.data, table.data);
    const auto& plain_table = plain->weights().token_embd;
    std::vector<float> want(plain_table.cols), got(plain_table.cols);
    for (const int64_t row : {int64_t{0}, int64_t{9}, plain_table.rows - 1}) {
        kernels::ops(plain_table.type).to_float(plain_table.row(row), want.data(), want.size());
        kernels::interleaved_row_to_float(table.type, table.cols, table.data, row, got.data());
        EXPECT_EQ(want, got) << "row " << row;
    }
    expect_same_logits(path);
}

TEST(Interleave, Q5_0ReferenceModelGivesTheSameLogits) {
    expect_same_logits(shared_path("models/tiny/tiny-llama-spm.Q5_0.gguf"));
}

TEST(Interleave, Q4_KReferenceModelGivesTheSameLogits) {
    expect_same_logits(shared_path("models/tiny/tiny-llama-spm.Q4_K.gguf"));
}

TEST(Interleave, Q6_KReferenceModelGivesTheSameLogits) {
    expect_same_logits(shared_path("models/tiny/tiny-llama-spm.Q6_K.gguf"));
}

TEST(Interleave, TypesWithoutTheLayoutStayInPlace) {
    const auto m = Model::load(shared_path("models/tiny/tiny-llama-spm.Q5_K.gguf"));
    int in_place = 0;
    for (const auto& layer : m->weights().layers) {
        for (const TensorView* w : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.w_gate,
                                    &layer.w_up, &layer.w_down}) {
            if (kernels::can_interleave(w->type)) continue;
            EXPECT_EQ(w->layout, Layout::Rows) << w->name;
            ++in_place;
        }
    }
    EXPECT_GT(in_place, 0);
}

}  // namespace
}  // namespace pocket::test
