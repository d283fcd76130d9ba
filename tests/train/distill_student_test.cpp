// Students for distillation made by synth --like: a smaller random model
// carrying the teacher's vocabulary (same tokens, same encodings), at the
// chosen dimensions.
#include <gtest/gtest.h>

#include <cmath>

#include "model/synth.h"
#include "pocket/core/error.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/quant/scheme.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

model::SynthOptions f32_options(uint64_t seed) {
    model::SynthOptions o;
    o.scheme = *quant::parse_scheme("f32");
    o.seed = seed;
    return o;
}

TEST(SynthLike, StudentCarriesTheTeachersVocabularyAtTheChosenShape) {
    ScratchDir dir;
    const auto teacher_path = shared_path("models/stories260K.gguf");
    const auto result = model::write_synth_like(
        teacher_path, {.n_layer = 2, .n_embd = 32, .n_head = 4, .n_head_kv = 2, .n_ff = 96},
        f32_options(9), dir / "student.gguf");
    EXPECT_GT(result.n_params, 0u);
    const auto teacher = model::Model::load(teacher_path);
    const auto student = model::Model::load(dir / "student.gguf");
    const auto& hp = student->hparams();
    EXPECT_EQ(hp.n_layer, 2);
    EXPECT_EQ(hp.n_embd, 32);
    EXPECT_EQ(hp.n_head, 4);
    EXPECT_EQ(hp.n_head_kv, 2);
    EXPECT_EQ(hp.n_ff, 96);
    EXPECT_EQ(hp.n_vocab, teacher->hparams().n_vocab);
    EXPECT_EQ(hp.norm_eps, teacher->hparams().norm_eps);
    EXPECT_EQ(student->weights().output_tied, teacher->weights().output_tied);
    const auto& tt = teacher->tokenizer();
    const auto& st = student->tokenizer();
    ASSERT_EQ(st.n_vocab(), tt.n_vocab());
    for (TokenId id = 0; id < static_cast<TokenId>(tt.n_vocab()); ++id)
        ASSERT_EQ(st.token_to_piece(id, true), tt.token_to_piece(id, true)) << id;
    const std::string text = "Once upon a time, a dog named Max found a shiny stone.";
    EXPECT_EQ(st.encode(text, true, false), tt.encode(text, true, false));
    model::Context ctx(*student, {.n_ctx = 32});
    for (float v : ctx.eval(st.encode(text, true, false))) ASSERT_TRUE(std::isfinite(v));

    // Unchanged dimensions are the teacher's; a head count that does not divide
    // is refused.
    model::write_synth_like(teacher_path, {.n_layer = 1}, f32_options(1), dir / "one.gguf");
    const auto one = model::Model::load(dir / "one.gguf");
    EXPECT_EQ(one->hparams().n_layer, 1);
    EXPECT_EQ(one->hparams().n_embd, teacher->hparams().n_embd);
    EXPECT_EQ(one->hparams().n_head_kv, teacher->hparams().n_head_kv);
    EXPECT_THROW(
        model::write_synth_like(teacher_path, {.n_embd = 30, .n_head = 4}, {}, dir / "bad.gguf"),
        Error);
}

}  // namespace
}  // namespace pocket::test
