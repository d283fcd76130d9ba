// `convert_hf_to_gguf` for the decoder families: each test writes a random-weight Hugging Face
// checkpoint with a real tokenizer.json, converts it, and checks
//  - the GGUF's last-token logits against the straightforward Hugging Face-convention forward
//    pass in hf_fixture.h (independent of pocket's model layer and of the converter), and
//  - that loading the folder directly (load_hf_model) gives bit-identical logits.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hf_fixture.h"
#include "pocket/convert/convert.h"
#include "pocket/model/context.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/model/model.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using pocket::test::HfCheckpoint;
using pocket::test::HfSpec;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

const std::vector<int32_t> kTokens = {1, 504, 2784, 30, 9000, 12, 77, 3000};

json config_for(const HfSpec& s) {
    json c = {{"model_type", s.model_type},
              {"hidden_size", s.embd},
              {"num_hidden_layers", s.layers},
              {"num_attention_heads", s.heads},
              {"num_key_value_heads", s.heads_kv},
              {"intermediate_size", s.ff},
              {"rms_norm_eps", s.eps},
              {"rope_theta", s.theta},
              {"max_position_embeddings", 256},
              {"tie_word_embeddings", s.tied},
              {"vocab_size", s.vocab},
              {"rope_scaling", nullptr}};
    if (s.head_dim != s.embd / s.heads || s.model_type == "qwen3" ||
        s.model_type.starts_with("gemma"))
        c["head_dim"] = s.head_dim;
    if (s.model_type.starts_with("gemma")) {
        c["hidden_activation"] = "gelu_pytorch_tanh";
        c["query_pre_attn_scalar"] = s.head_dim;
        c["sliding_window"] = s.sliding_window;
        c["final_logit_softcapping"] = s.final_softcap > 0 ? json(s.final_softcap) : json();
        c["attn_logit_softcapping"] = s.attn_softcap > 0 ? json(s.attn_softcap) : json();
    } else {
        c["hidden_act"] = "silu";
    }
    if (s.model_type == "gemma3") {
        c["rope_local_base_freq"] = s.local_theta;
        c["sliding_window_pattern"] = 6;
    }
    if (s.model_type == "phi3") c["sliding_window"] = 2047;
    return c;
}

// Writes the checkpoint folder; returns the fixture holding the weights.
HfCheckpoint write_hf(const fs::path& dir, const HfSpec& spec, const std::string& tokenizer_dir) {
    fs::create_directories(dir);
    fs::copy_file(shared_path("tokenizers/hf/" + tokenizer_dir + "/tokenizer.json"),
                  dir / "tokenizer.json");
    if (fs::exists(shared_path("tokenizers/hf/" + tokenizer_dir + "/tokenizer_config.json")))
        fs::copy_file(shared_path("tokenizers/hf/" + tokenizer_dir + "/tokenizer_config.json"),
                      dir / "tokenizer_config.json");
    std::ofstream(dir / "config.json") << config_for(spec).dump(2);
    HfCheckpoint m(spec);
    m.write_weights(dir);
    return m;
}

std::vector<float> run(const pocket::model::Model& model, const std::vector<int32_t>& tokens) {
    pocket::model::Context ctx(model);
    const auto logits = ctx.eval(tokens);
    return {logits.begin(), logits.end()};
}

double max_diff(const std::vector<float>& a, const std::vector<double>& b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst;
}

template <class V>
size_t argmax(const V& v) {
    return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Converts, loads both ways, compares; returns the GGUF model for further checks.
std::unique_ptr<pocket::model::Model> check_round_trip(const HfSpec& spec,
                                                       const std::string& tokenizer_dir,
                                                       const std::string& want_arch,
                                                       double tolerance) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    const auto m = write_hf(hf, spec, tokenizer_dir);
    const auto gguf_path = dir / "out.gguf";
    const auto result = pocket::convert::convert_hf_to_gguf(
        hf, gguf_path, {.type = pocket::DType::F32, .pre_tokenizer = ""});
    EXPECT_EQ(result.kind, want_arch);
    auto model = pocket::model::Model::load(gguf_path);
    EXPECT_EQ(model->arch().name, want_arch);

    const auto got = run(*model, kTokens);
    const auto want = m.logits(kTokens);
    const double worst = max_diff(got, want);
    std::printf(
        "[ measured ] %s: max |logit diff| vs HF-convention reference over %zu logits: %.3g\n",
        want_arch.c_str(), want.size(), worst);
    EXPECT_LT(worst, tolerance);
    EXPECT_EQ(argmax(got), argmax(want));

    // The folder loaded directly converts the same way: identical numbers.
    const auto direct = pocket::model::load_hf_model(hf);
    EXPECT_EQ(run(*direct, kTokens), got);
    return model;
}

// Logits here spread over roughly +-10. pocket rounds Q/K/V to F16 (mirrored in the reference)
// and also the softmax weights and GELU inputs (not mirrored), which leaves a few 1e-3; a wrong
// tensor mapping, row order, norm offset or hyper-parameter gives errors of order 1.
constexpr double kTolerance = 1e-2;

}  // namespace

TEST(ConvertQwen2, BiasesAndNeoxRopeMatchTheReferenceAndThePaddedVocabLoads) {
    // Real Qwen checkpoints pad the embedding table past the tokenizer's ids (151665 -> 151936);
    // the converter fills the gap with unused [PADi] tokens.
    HfSpec s{.model_type = "qwen2", .vocab = 151680, .theta = 1e6};
    const auto model = check_round_trip(s, "qwen3", "qwen2", kTolerance);
    EXPECT_EQ(model->tokenizer().n_vocab(), 151680u);
    EXPECT_EQ(model->file().get_string("tokenizer.ggml.pre"), "qwen2");
    EXPECT_EQ(model->file().get_string("tokenizer.ggml.model"), "gpt2");
}

TEST(ConvertQwen3, QkNormsAndExplicitHeadDim) {
    // SmolLM2's smaller vocabulary keeps the test fast; the tokenizer does not affect the weights.
    HfSpec s{.model_type = "qwen3", .vocab = 49152, .head_dim = 16, .theta = 1e6, .tied = false};
    const auto model = check_round_trip(s, "smollm2", "qwen3", kTolerance);
    EXPECT_EQ(model->hparams().head_dim, 16);
}

TEST(ConvertPhi3, FusedQkvAndGateUpWithSentencePieceVocab) {
    HfSpec s{.model_type = "phi3", .vocab = 32000, .tied = false};
    const auto model = check_round_trip(s, "llama2", "phi3", kTolerance);
    EXPECT_EQ(model->file().get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(model->hparams().sliding_window, 2047);
}

TEST(ConvertGemma2, PlusOneNormsSoftcapsAndSlidingWindow) {
    HfSpec s{.model_type = "gemma2",
             .vocab = 32000,
             .heads_kv = 2,
             .head_dim = 16,
             .attn_softcap = 3.0,
             .final_softcap = 15.0,
             .sliding_window = 4};
    const auto model = check_round_trip(s, "llama2", "gemma2", kTolerance);
    EXPECT_FLOAT_EQ(model->hparams().attn_softcap, 3.0f);
    EXPECT_EQ(model->hparams().sliding_window, 4);
}

TEST(ConvertGemma3, TextModelWithLocalRopeBaseAndGemmaVocab) {
    // Six layers so that layer 5 is global (rope_theta) and 0-4 are local (10000, window 4).
    HfSpec s{.model_type = "gemma3",
             .vocab = 262145,
             .layers = 6,
             .head_dim = 16,
             .theta = 1e6,
             .sliding_window = 4};
    const auto model = check_round_trip(s, "gemma3", "gemma3", kTolerance);
    EXPECT_EQ(model->file().get_bool("tokenizer.ggml.add_space_prefix"), false);
    EXPECT_EQ(model->tokenizer().n_vocab(), 262145u);
}

TEST(ConvertLlama, Llama3TokenizerAndUntiedHead) {
    HfSpec s{.model_type = "llama", .vocab = 128256, .tied = false};
    // The reference rotates HF halves; the GGUF needs the converter's row permutation to agree.
    const auto model = check_round_trip(s, "llama3", "llama", kTolerance);
    EXPECT_EQ(model->file().get_string("tokenizer.ggml.pre"), "llama-bpe");
}

TEST(ConvertTypes, F16AndQ8_0AreLoadableAndCloseToF32) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    // Smaller projections than elsewhere: with the default ranges the attention of this wider
    // model is nearly one-hot, which turns any rounding into large logit changes.
    HfSpec s{.model_type = "qwen2",
             .vocab = 32000,
             .embd = 64,
             .head_dim = 16,
             .ff = 128,
             .matrix_scale = 0.3f};
    write_hf(hf, s, "llama2");
    auto logits_for = [&](pocket::DType type) {
        const auto path = dir / pocket::cat("out-", pocket::dtype_name(type), ".gguf");
        pocket::convert::convert_hf_to_gguf(hf, path, {.type = type, .pre_tokenizer = ""});
        const auto model = pocket::model::Model::load(path);
        EXPECT_EQ(model->weights().layers[0].wq.type, type);
        return run(*model, kTokens);
    };
    const auto f32 = logits_for(pocket::DType::F32);
    const auto f16 = logits_for(pocket::DType::F16);
    const auto q8 = logits_for(pocket::DType::Q8_0);
    double d16 = 0, d8 = 0, spread = 0;
    for (size_t i = 0; i < f32.size(); ++i) {
        d16 = std::max(d16, static_cast<double>(std::abs(f16[i] - f32[i])));
        d8 = std::max(d8, static_cast<double>(std::abs(q8[i] - f32[i])));
        spread = std::max(spread, static_cast<double>(std::abs(f32[i])));
    }
    std::printf("[ measured ] max |logit| %.3g; |F16 - F32| %.3g; |Q8_0 - F32| %.3g\n", spread, d16,
                d8);
    // F16 weights: relative rounding 2^-11 per weight (and F16 activations), ~1e-3 of the logit
    // range; the README's 2e-2 for F16 models. Q8_0: weights and activations quantized to 8 bits
    // per block of 32 (relative error up to 1/254 of the block maximum each), the README's 0.25
    // for quantized models. A wrong block layout would give errors of the order of the logits.
    EXPECT_LT(d16, 2e-2);
    EXPECT_LT(d8, 0.25);
    EXPECT_EQ(argmax(f16), argmax(f32));
}

TEST(ConvertErrors, UnsupportedConfigNamesTheField) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    HfSpec s{.model_type = "qwen2", .vocab = 32000};
    write_hf(hf, s, "llama2");
    auto expect_error = [&](json config, const std::string& field) {
        std::ofstream(hf / "config.json") << config.dump();
        try {
            pocket::convert::convert_hf_to_gguf(hf, dir / "x.gguf");
            ADD_FAILURE() << "no error for " << field;
        } catch (const pocket::Error& e) {
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
        }
    };
    auto with = [&](const std::string& key, json value) {
        json c = config_for(s);
        if (value.is_null())
            c.erase(key);
        else
            c[key] = std::move(value);
        return c;
    };
    expect_error(with("rope_scaling", {{"type", "yarn"}, {"factor", 4.0}}), "rope_scaling");
    expect_error(with("hidden_act", "gelu"), "hidden_act");
    expect_error(with("use_sliding_window", true), "use_sliding_window");
    expect_error(with("model_type", "mamba"), "mamba");
    expect_error(with("hidden_size", nullptr), "hidden_size");
    fs::remove(hf / "tokenizer.json");
    expect_error(config_for(s), "tokenizer.json");
}
