// LoRA adapters at inference (ContextParams::loras / Context::set_loras), the adapter file
// (llama.cpp's GGUF layout) and merge_lora:
// - a context applying random adapters (seeded, B non-zero, every projection the architecture
//   has, two adapters at once with their own scales) gives the logits of the merged F32 model,
//   for a batched prompt split over several passes and token by token, on llama (stories260K),
//   qwen2 (qkv biases), gemma2 (GeGLU, soft-caps, post-norms), phi3 (fused qkv and gate|up) and
//   bert (GELU FFN; hidden states);
// - scale 0 and set_loras({}) give the base logits bit for bit;
// - save -> load returns the same values (bit for bit in F32, rounded as F16/BF16 otherwise);
// - damaged or mismatched adapter files are refused with a message naming the file and problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "pocket/core/error.h"
#include "pocket/core/fp16.h"
#include "pocket/gguf/gguf.h"
#include "pocket/model/context.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "support/numeric.h"
#include "support/random_lora.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

using model::AppliedLora;
using model::BatchEntry;
using model::Context;
using model::LoraAdapter;
using model::LoraMatrix;
using model::Model;
using model::Projection;

std::vector<TokenId> make_prompt(size_t n, int64_t n_vocab) {
    std::vector<TokenId> p = {1};
    uint32_t x = 12345;
    while (p.size() < n) {
        x = x * 1664525u + 1013904223u;
        p.push_back(static_cast<TokenId>(3 + (x >> 8) % static_cast<uint32_t>(n_vocab - 3)));
    }
    return p;
}

// The logits (hidden states for models without an LM head) of every position of `prompt`,
// evaluated in one decode() call that the context splits into passes of n_batch.
std::vector<float> all_outputs(Context& ctx, const std::vector<TokenId>& prompt) {
    std::vector<BatchEntry> batch;
    for (size_t i = 0; i < prompt.size(); ++i)
        batch.push_back({prompt[i], static_cast<int64_t>(i), 0, true});
    ctx.decode(batch);
    std::vector<float> out;
    const bool lm = ctx.model().arch().lm_head;
    for (size_t i = 0; i < ctx.n_outputs(); ++i) {
        const auto row = lm ? ctx.logits(i) : ctx.embedding(i);
        out.insert(out.end(), row.begin(), row.end());
    }
    return out;
}

// Logits of each token evaluated on its own after the ones before (the generation path, n = 1).
std::vector<float> token_by_token(Context& ctx, const std::vector<TokenId>& prompt) {
    std::vector<float> out;
    for (const TokenId t : prompt) {
        const auto row = ctx.eval(std::span(&t, 1));
        out.insert(out.end(), row.begin(), row.end());
    }
    return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0.0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
    return m;
}

double max_abs(const std::vector<float>& a) {
    double m = 0.0;
    for (const float v : a) m = std::max(m, static_cast<double>(std::abs(v)));
    return m;
}

struct ModelCase {
    const char* name;
    const char* file;  // under the shared folder
    double tolerance;  // on logits, relative to the largest (see below)
};

class LoraModels : public ::testing::TestWithParam<ModelCase> {};

// Why these tolerances: the merged model computes (W + s·B·A) x in one F32 dot product per
// output, the context W x + s·B(A x) in two; the two orders differ by a few F32 ulps. Both paths
// then round keys and values to F16 in the cache (and gemma2's GELU rounds its input and output
// to F16, as llama.cpp's table does), so an ulp that moves a value across an F16 rounding boundary
// becomes a 2^-11 step. llama and qwen2 stay within 1e-4 of the largest logit; phi3 (a sliding
// window over few positions) reaches 3e-4, gemma2 (GELU table, soft-caps) 1.6e-3 and bert (GELU
// table) 1.2e-4 with the scalar kernels (measured on AVX-512 and scalar). An adapter applied to the
// wrong matrix, without its scale, after silu or in the wrong half of a fused matrix moves the
// logits by far more: the base differs from the adapted model by more than 1e-2 of the largest
// logit, checked below.
TEST_P(LoraModels, AppliedAdaptersGiveTheMergedModelsLogits) {
    const auto path = shared_path(GetParam().file);
    const auto base = Model::load(path);
    const bool lm = base->arch().lm_head;
    // One adapter on everything, one of rank 2 without alpha (s = the user scale) on a few
    // matrices, with a negative scale: both at once.
    const Projection some[] = {Projection::Q, Projection::QKV, Projection::Gate, Projection::Up,
                               Projection::Down};
    const std::vector<AppliedLora> loras = {{random_lora(*base, 7), 1.0f},
                                            {random_lora(*base, 8, 2, 0.0f, some), -0.7f}};
    ASSERT_FALSE(loras[0].adapter->matrices().empty());

    ScratchDir dir;
    const auto merged_path = dir / "merged.gguf";
    model::merge_lora(path, loras, merged_path, DType::F32);
    const auto merged = Model::load(merged_path);

    const auto prompt = make_prompt(24, base->hparams().n_vocab);
    // Passes of 8 tokens: the adapter sees several batches, and chunks of the output rows.
    const model::ContextParams params{.n_ctx = 64, .n_batch = lm ? 8 : 32};
    Context plain(*base, params);
    Context adapted(*base, {.n_ctx = 64, .n_batch = params.n_batch, .loras = loras});
    Context reference(*merged, params);
    const auto base_out = all_outputs(plain, prompt);
    const auto got = all_outputs(adapted, prompt);
    const auto want = all_outputs(reference, prompt);
    const double scale = std::max(1.0, max_abs(want));
    const double tol = GetParam().tolerance * scale;
    EXPECT_LT(max_abs_diff(got, want), tol);
    EXPECT_GT(max_abs_diff(base_out, want), 1e-2 * scale) << "the adapters change too little";

    if (base->arch().causal) {
        Context adapted_1(*base, {.n_ctx = 64, .loras = loras});
        Context reference_1(*merged, {.n_ctx = 64});
        const auto got_1 = token_by_token(adapted_1, prompt);
        const auto want_1 = token_by_token(reference_1, prompt);
        EXPECT_LT(max_abs_diff(got_1, want_1), tol);
        EXPECT_LT(max_abs_diff(got_1, got), 3 * tol);
    }
}

TEST_P(LoraModels, ScaleZeroAndNoAdaptersGiveTheBaseBitForBit) {
    const auto base = Model::load(shared_path(GetParam().file));
    auto adapter = random_lora(*base, 9);
    // Values that would poison every logit if a zero-scaled adapter were computed at all.
    adapter->matrices()[0].b[0] = std::numeric_limits<float>::quiet_NaN();
    const auto prompt = make_prompt(12, base->hparams().n_vocab);
    Context plain(*base, {.n_ctx = 32});
    const auto want = all_outputs(plain, prompt);

    Context zero(*base, {.n_ctx = 32, .loras = {{adapter, 0.0f}}});
    EXPECT_TRUE(bit_equal(all_outputs(zero, prompt), want));

    Context later(*base, {.n_ctx = 32});
    later.set_loras({{random_lora(*base, 10), 1.0f}});
    const auto adapted = all_outputs(later, prompt);
    EXPECT_FALSE(bit_equal(adapted, want));
    later.set_loras({});
    later.kv().clear(0);
    EXPECT_TRUE(bit_equal(all_outputs(later, prompt), want));
}

std::string case_name(const ::testing::TestParamInfo<ModelCase>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    Families, LoraModels,
    ::testing::Values(ModelCase{"stories260K", "models/stories260K.gguf", 1e-4},
                      ModelCase{"qwen2", "models/tiny/tiny-qwen2.gguf", 1e-4},
                      ModelCase{"gemma2", "models/tiny/tiny-gemma2.gguf", 5e-3},
                      ModelCase{"phi3", "models/tiny/tiny-phi3.gguf", 1e-3},
                      ModelCase{"bert", "models/tiny/tiny-bert.gguf", 1e-3}),
    case_name);

class LoraFile : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        stories_ = Model::load(shared_path("models/stories260K.gguf")).release();
    }
    static void TearDownTestSuite() { delete stories_; }

    static Model* stories_;
    ScratchDir dir_;
};

Model* LoraFile::stories_ = nullptr;

TEST_F(LoraFile, SaveThenLoadIsBitExactInF32) {
    const auto adapter = random_lora(*stories_, 3, 3, 6.0f);
    const auto path = dir_ / "a.gguf";
    const std::pair<std::string, std::string> meta[] = {{"general.name", "test adapter"}};
    adapter->save(path, DType::F32, meta);
    const LoraAdapter back = LoraAdapter::load(path, *stories_);
    EXPECT_EQ(back.arch(), "llama");
    EXPECT_EQ(back.alpha(), 6.0f);
    ASSERT_EQ(back.matrices().size(), adapter->matrices().size());
    for (size_t i = 0; i < back.matrices().size(); ++i) {
        const LoraMatrix& x = adapter->matrices()[i];
        const LoraMatrix& y = back.matrices()[i];
        EXPECT_EQ(y.layer, x.layer);
        EXPECT_EQ(y.projection, x.projection);
        EXPECT_EQ(y.rank, x.rank);
        EXPECT_EQ(y.n_in, x.n_in);
        EXPECT_EQ(y.n_out, x.n_out);
        EXPECT_TRUE(bit_equal(y.a, x.a));
        EXPECT_TRUE(bit_equal(y.b, x.b));
    }
    // llama.cpp's keys and names.
    const gguf::File file = gguf::File::open(path);
    EXPECT_EQ(file.get_string("general.type"), "adapter");
    EXPECT_EQ(file.get_string("adapter.type"), "lora");
    EXPECT_EQ(file.get_string("general.architecture"), "llama");
    EXPECT_EQ(file.get_float("adapter.lora.alpha"), 6.0);
    EXPECT_EQ(file.get_string("general.name"), "test adapter");
    const gguf::TensorInfo* a = file.find_tensor("blk.0.attn_q.weight.lora_a");
    const gguf::TensorInfo* b = file.find_tensor("blk.0.attn_q.weight.lora_b");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    const auto n_embd = static_cast<uint64_t>(stories_->hparams().n_embd);
    EXPECT_EQ(a->shape, (std::vector<uint64_t>{n_embd, 3}));
    EXPECT_EQ(b->shape, (std::vector<uint64_t>{3, n_embd}));
}

TEST_F(LoraFile, HalfPrecisionFilesHoldTheRoundedValues) {
    const auto adapter = random_lora(*stories_, 4);
    for (const DType type : {DType::F16, DType::BF16}) {
        SCOPED_TRACE(dtype_name(type));
        const auto path = dir_ / "half.gguf";
        adapter->save(path, type);
        EXPECT_EQ(gguf::File::open(path).tensors()[0].type, type);
        const LoraAdapter back = LoraAdapter::load(path, *stories_);
        const auto round = [type](float v) {
            return type == DType::F16 ? f16_to_f32(f32_to_f16(v)) : bf16_to_f32(f32_to_bf16(v));
        };
        size_t differ = 0;
        for (size_t i = 0; i < back.matrices().size(); ++i) {
            const LoraMatrix& x = adapter->matrices()[i];
            const LoraMatrix& y = back.matrices()[i];
            for (size_t j = 0; j < x.a.size(); ++j) {
                EXPECT_EQ(y.a[j], round(x.a[j]));
                differ += y.a[j] != x.a[j] ? 1 : 0;
            }
            for (size_t j = 0; j < x.b.size(); ++j) EXPECT_EQ(y.b[j], round(x.b[j]));
        }
        EXPECT_GT(differ, 0u);  // rounded, not stored whole
    }
    EXPECT_THROW(adapter->save(dir_ / "q.gguf", DType::Q8_0), Error);
}

// A valid one-pair adapter (blk.0.attn_q) with `edit` applied to its writer before it is written.
std::filesystem::path write_adapter(const ScratchDir& dir, const Model& m,
                                    const std::function<void(gguf::Writer&)>& edit,
                                    bool with_pair = true) {
    const auto n = static_cast<uint64_t>(m.hparams().n_embd);
    gguf::Writer w;
    w.set("general.architecture", std::string("llama"));
    w.set("general.type", std::string("adapter"));
    w.set("adapter.type", std::string("lora"));
    w.set("adapter.lora.alpha", 4.0f);
    if (with_pair) {
        w.add_tensor("blk.0.attn_q.weight.lora_a", DType::F32, {n, 2},
                     std::vector<std::byte>(n * 2 * 4));
        w.add_tensor("blk.0.attn_q.weight.lora_b", DType::F32, {2, n},
                     std::vector<std::byte>(n * 2 * 4));
    }
    edit(w);
    const auto path = dir / "edited.gguf";
    w.write(path);
    return path;
}

std::vector<std::byte> zeros(uint64_t n_floats) {
    return std::vector<std::byte>(n_floats * 4);
}

TEST_F(LoraFile, RefusesDamagedAndMismatchedFiles) {
    const Model& m = *stories_;
    const auto n = static_cast<uint64_t>(m.hparams().n_embd);
    const auto n_ff = static_cast<uint64_t>(m.hparams().n_ff);
    struct Case {
        const char* what;
        std::function<void(gguf::Writer&)> edit;
        std::string message;
        bool with_pair = true;
    };
    const std::vector<Case> cases = {
        {"a model, not an adapter",
         [](gguf::Writer& w) { w.set("general.type", std::string("model")); },
         "not a LoRA adapter (general.type is 'model'"},
        {"no general.type", [](gguf::Writer& w) { w.remove("general.type"); },
         "general.type is missing"},
        {"a control vector",
         [](gguf::Writer& w) { w.set("adapter.type", std::string("control_vector")); },
         "adapter.type is 'control_vector'"},
        {"another architecture",
         [](gguf::Writer& w) { w.set("general.architecture", std::string("qwen2")); },
         "the adapter is for architecture 'qwen2', the base model is 'llama'"},
        {"alpha not a number",
         [](gguf::Writer& w) {
             w.set("adapter.lora.alpha", std::numeric_limits<float>::quiet_NaN());
         },
         "adapter.lora.alpha"},
        {"no pairs at all", [](gguf::Writer&) {}, "holds no LoRA pairs", false},
        {"a missing lora_b",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.1.attn_k.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
         },
         "the LoRA pair for 'blk.1.attn_k.weight' has no lora_b tensor"},
        {"a missing lora_a",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.1.attn_v.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "has no lora_a tensor"},
        {"a tensor outside any pair",
         [n](gguf::Writer& w) { w.add_tensor("blk.0.attn_q.weight", DType::F32, {n}, zeros(n)); },
         "tensor 'blk.0.attn_q.weight' is not half of a LoRA pair"},
        {"the token embedding",
         [n](gguf::Writer& w) {
             w.add_tensor("token_embd.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
             w.add_tensor("token_embd.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "'token_embd.weight' is not a matrix pocket can adapt"},
        {"a layer the model lacks",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.99.attn_q.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
             w.add_tensor("blk.99.attn_q.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "'blk.99.attn_q.weight' does not exist in the base model"},
        {"a phi3 matrix on llama",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.0.attn_qkv.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
             w.add_tensor("blk.0.attn_qkv.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "'blk.0.attn_qkv.weight' does not exist in the base model"},
        {"wrong input width",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.0.ffn_down.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
             w.add_tensor("blk.0.ffn_down.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         cat("the base matrix takes ", n_ff, " inputs to ", n, " outputs")},
        {"lora_a not transposed",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.1.attn_q.weight.lora_a", DType::F32, {2, n}, zeros(n * 2));
             w.add_tensor("blk.1.attn_q.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "has shapes [2, 64] (lora_a) and [2, 64] (lora_b)"},
        {"ranks that differ",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.1.attn_q.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
             w.add_tensor("blk.1.attn_q.weight.lora_b", DType::F32, {3, n}, zeros(n * 3));
         },
         "expected [64, rank] and [rank, 64]"},
        {"a 3-D tensor",
         [n](gguf::Writer& w) {
             w.add_tensor("blk.1.attn_q.weight.lora_a", DType::F32, {n, 2, 2}, zeros(n * 4));
             w.add_tensor("blk.1.attn_q.weight.lora_b", DType::F32, {2, n}, zeros(n * 2));
         },
         "has shapes [64, 2, 2]"},
    };
    ASSERT_EQ(n, 64u);  // the expected messages spell stories260K's width
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const auto path = write_adapter(dir_, m, c.edit, c.with_pair);
        try {
            LoraAdapter::load(path, m);
            ADD_FAILURE() << "loaded";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
        }
    }

    // The model file itself, and a truncated adapter (the GGUF reader's FormatError).
    EXPECT_THROW(
        {
            try {
                LoraAdapter::load(shared_path("models/stories260K.gguf"), m);
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("not a LoRA adapter"), std::string::npos);
                throw;
            }
        },
        Error);
    const auto good = write_adapter(dir_, m, [](gguf::Writer&) {});
    const std::string bytes = read_file_bytes(good);
    const auto cut = dir_ / "cut.gguf";
    {
        std::ofstream out(cut, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 100));
    }
    EXPECT_THROW(LoraAdapter::load(cut, m), FormatError);
}

TEST_F(LoraFile, AcceptsWhatLlamaCppAccepts) {
    const Model& m = *stories_;
    const auto n = static_cast<uint64_t>(m.hparams().n_embd);
    // Rank 1 written as ggml writes it (lora_a's trailing 1 dropped), F16 values, NaN values, a
    // norm vector (skipped), and no alpha (scale = the user scale).
    std::vector<std::byte> a(n * 2), b(172 * 2);
    const f16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
    std::memcpy(b.data(), &nan, 2);
    const auto ok = write_adapter(
        dir_, m,
        [&](gguf::Writer& w) {
            w.remove("adapter.lora.alpha");
            w.add_tensor("blk.1.ffn_gate.weight.lora_a", DType::F16, {n}, a);
            w.add_tensor("blk.1.ffn_gate.weight.lora_b", DType::F16, {1, 172}, b);
            w.add_tensor("blk.1.ffn_norm.weight", DType::F32, {n}, zeros(n));
        },
        false);
    const LoraAdapter adapter = LoraAdapter::load(ok, m);
    ASSERT_EQ(adapter.matrices().size(), 1u);
    EXPECT_EQ(adapter.alpha(), 0.0f);
    const LoraMatrix& pair = adapter.matrices()[0];
    EXPECT_EQ(pair.rank, 1);
    EXPECT_EQ(pair.projection, Projection::Gate);
    EXPECT_EQ(pair.layer, 1);
    EXPECT_TRUE(std::isnan(pair.b[0]));
    EXPECT_EQ(adapter.scale(pair, 0.5f), 0.5f);
}

// tiny-qwen2 reuses token_embd as its output matrix: llama.cpp finds no output.weight to adapt
// there, and neither do we.
TEST_F(LoraFile, RefusesTheOutputOfATiedModel) {
    const auto qwen = Model::load(shared_path("models/tiny/tiny-qwen2.gguf"));
    ASSERT_TRUE(qwen->weights().output_tied);
    EXPECT_EQ(model::projection_weight(qwen->weights(), -1, Projection::Output), nullptr);
    const auto n = static_cast<uint64_t>(qwen->hparams().n_embd);
    const auto n_vocab = static_cast<uint64_t>(qwen->hparams().n_vocab);
    gguf::Writer w;
    w.set("general.architecture", std::string("qwen2"));
    w.set("general.type", std::string("adapter"));
    w.set("adapter.type", std::string("lora"));
    w.add_tensor("output.weight.lora_a", DType::F32, {n, 2}, zeros(n * 2));
    w.add_tensor("output.weight.lora_b", DType::F32, {2, n_vocab}, zeros(n_vocab * 2));
    const auto path = dir_ / "tied.gguf";
    w.write(path);
    try {
        LoraAdapter::load(path, *qwen);
        ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'output.weight' does not exist in the base model "
                                             "(it ties output.weight to token_embd.weight)"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(LoraFile, ContextsAndMergesRefuseAdaptersForOtherModels) {
    const Model& m = *stories_;
    auto wrong_arch = random_lora(m, 1);
    *wrong_arch = LoraAdapter("qwen2", 1.0f);
    wrong_arch->add(0, Projection::Q, 2, m.hparams().n_embd, m.hparams().n_embd);
    EXPECT_THROW(Context(m, {.n_ctx = 16, .loras = {{wrong_arch, 1.0f}}}), Error);

    auto wrong_shape = std::make_shared<LoraAdapter>("llama", 1.0f);
    wrong_shape->add(0, Projection::Down, 2, m.hparams().n_embd, m.hparams().n_embd);
    Context ctx(m, {.n_ctx = 16});
    EXPECT_THROW(ctx.set_loras({{wrong_shape, 1.0f}}), Error);
    EXPECT_TRUE(ctx.loras().empty());  // unchanged
    EXPECT_THROW(model::merge_lora(shared_path("models/stories260K.gguf"),
                                   std::vector<AppliedLora>{{wrong_shape, 1.0f}}, dir_ / "m.gguf",
                                   DType::F32),
                 Error);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "m.gguf"));
    // Merging into a quantized type is left to `pocket quantize`.
    EXPECT_THROW(model::merge_lora(shared_path("models/stories260K.gguf"),
                                   std::vector<AppliedLora>{{random_lora(m, 2), 1.0f}},
                                   dir_ / "m.gguf", DType::Q8_0),
                 Error);
}

TEST(LoraNames, TensorNamesRoundTrip) {
    for (int i = 0; i < model::kProjectionCount; ++i) {
        const auto p = static_cast<Projection>(i);
        EXPECT_EQ(model::parse_projection(model::projection_name(p)), p);
        const int64_t layer = p == Projection::Output ? -1 : 17;
        const auto site =
            model::parse_projection_tensor_name(model::projection_tensor_name(p, layer));
        ASSERT_TRUE(site.has_value());
        EXPECT_EQ(site->layer, layer);
        EXPECT_EQ(site->projection, p);
    }
    for (const char* bad : {"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.bias",
                            "blk.x.attn_q.weight", "blk.-1.attn_q.weight", "blk.01.attn_q.weight",
                            "blk..attn_q.weight", "blk.0.output.weight", "output"}) {
        EXPECT_FALSE(model::parse_projection_tensor_name(bad).has_value()) << bad;
    }
    EXPECT_THROW(model::parse_projection("query"), Error);
}

}  // namespace
}  // namespace pocket::test
