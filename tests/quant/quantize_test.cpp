// pocket quantize against llama-quantize: byte-identical files for the shared references, the mix
// rules of every scheme on a synthetic 8-layer llama, and failures that leave no file behind.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "convert/hf_fixture.h"
#include "kernels/kernels.h"
#include "model/synth.h"
#include "pocket/convert/convert.h"
#include "pocket/core/error.h"
#include "pocket/gguf/gguf.h"
#include "pocket/quant/quantize.h"
#include "support/test_support.h"

namespace pocket::quant {
namespace {

using test::ScratchDir;
using test::shared_path;

// Every metadata key/value (in order) and every tensor (name, type, shape, bytes) equal, and then
// the whole file byte for byte.
void expect_same_gguf(const std::filesystem::path& got_path,
                      const std::filesystem::path& want_path) {
    const auto got = gguf::File::open(got_path);
    const auto want = gguf::File::open(want_path);
    ASSERT_EQ(got.metadata().size(), want.metadata().size());
    for (size_t i = 0; i < want.metadata().size(); ++i) {
        EXPECT_EQ(got.metadata()[i].key, want.metadata()[i].key) << "metadata entry " << i;
        EXPECT_TRUE(got.metadata()[i].value == want.metadata()[i].value) << want.metadata()[i].key;
    }
    ASSERT_EQ(got.tensors().size(), want.tensors().size());
    for (size_t i = 0; i < want.tensors().size(); ++i) {
        const auto& g = got.tensors()[i];
        const auto& w = want.tensors()[i];
        EXPECT_EQ(g.name, w.name);
        EXPECT_EQ(g.type, w.type) << w.name;
        EXPECT_EQ(g.shape, w.shape) << w.name;
        const auto gd = got.tensor_data(g), wd = want.tensor_data(w);
        EXPECT_TRUE(gd.size() == wd.size() && std::equal(gd.begin(), gd.end(), wd.begin()))
            << w.name << " data differs";
    }
    EXPECT_TRUE(test::read_file_bytes(got_path) == test::read_file_bytes(want_path))
        << "whole file differs";
}

bool folder_holds_only(const std::filesystem::path& dir, std::set<std::string> names) {
    std::set<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        found.insert(e.path().filename().string());
    return found == names;
}

// llama-quantize --pure on the F32 tiny llama (README: tiny-llama-spm quantized copies).
class PureReference : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(PureReference, ByteIdenticalToLlamaQuantizePure) {
    const auto [scheme_name, suffix] = GetParam();
    ScratchDir dir;
    const auto out = dir / "out.gguf";
    const auto result = quantize_model(shared_path("models/tiny/tiny-llama-spm.gguf"), out,
                                       *parse_scheme(scheme_name), {.pure = true});
    EXPECT_TRUE(result.fallbacks.empty());
    EXPECT_TRUE(result.warnings.empty());
    expect_same_gguf(out,
                     shared_path(std::string("models/tiny/tiny-llama-spm.") + suffix + ".gguf"));
}

INSTANTIATE_TEST_SUITE_P(Types, PureReference,
                         ::testing::Values(std::pair{"q8_0", "Q8_0"}, std::pair{"q4_0", "Q4_0"},
                                           std::pair{"q4_1", "Q4_1"}, std::pair{"q5_0", "Q5_0"},
                                           std::pair{"q5_1", "Q5_1"}, std::pair{"q2_k", "Q2_K"},
                                           std::pair{"q3_k_m", "Q3_K"}, std::pair{"q4_k_m", "Q4_K"},
                                           std::pair{"q5_k_m", "Q5_K"}, std::pair{"q6_k", "Q6_K"},
                                           std::pair{"iq4_nl", "IQ4_NL"}, std::pair{"f16", "F16"},
                                           std::pair{"bf16", "BF16"}),
                         [](const auto& info) { return std::string(info.param.second); });

// stories260K's ffn_down rows (172 values) fit no 32-block: they fall back to F16, as in the
// stored files (README: stories260K Q8_0 / Q4_0). Q8_0 needs no --pure (the output rule keeps
// Q8_0); Q4_0 does, since llama-quantize's default puts the output head in Q6_K -> Q8_0.
TEST(Quantize, Stories260KQ8_0AndQ4_0WithF16Fallbacks) {
    ScratchDir dir;
    const auto in = shared_path("models/stories260K.gguf");
    for (bool pure : {false, true}) {
        const auto r = quantize_model(in, dir / "q8.gguf", *parse_scheme("q8_0"),
                                      {.pure = pure, .source_order = true});
        ASSERT_EQ(r.fallbacks.size(), 5u);
        for (const auto& f : r.fallbacks) {
            EXPECT_NE(f.name.find("ffn_down"), std::string::npos);
            EXPECT_EQ(f.used, DType::F16);
            EXPECT_EQ(f.row_length, 172);
        }
        expect_same_gguf(dir / "q8.gguf", shared_path("models/stories260K.Q8_0.gguf"));
    }
    quantize_model(in, dir / "q4.gguf", *parse_scheme("q4_0"),
                   {.pure = true, .source_order = true});
    expect_same_gguf(dir / "q4.gguf", shared_path("models/stories260K.Q4_0.gguf"));
    const auto mixed = plan_quantization(in, *parse_scheme("q4_0"));
    for (const auto& t : mixed.tensors) {
        if (t.name == "output.weight") {
            EXPECT_EQ(t.to, DType::Q8_0);  // Q6_K cannot tile 64
        }
    }
}

TEST(Quantize, KeepOutputAndLeaveTensors) {
    const auto in = shared_path("models/tiny/tiny-llama-spm.gguf");
    const auto r = plan_quantization(in, *parse_scheme("q4_0"),
                                     {.keep_output = true, .leave_tensors = {"attn_q\\."}});
    size_t kept = 0;
    for (const auto& t : r.tensors) {
        if (t.name == "output.weight" || t.name.find("attn_q.") != std::string::npos) {
            EXPECT_EQ(t.to, DType::F32) << t.name;
            ++kept;
        } else if (t.shape.size() == 1) {
            EXPECT_EQ(t.to, DType::F32) << t.name;
        } else {
            EXPECT_EQ(t.to, DType::Q4_0) << t.name;
        }
    }
    EXPECT_EQ(kept, 3u);  // output + 2 layers' attn_q
}

TEST(Quantize, RequantizingWarns) {
    ScratchDir dir;
    const auto r = quantize_model(shared_path("models/tiny/tiny-llama-spm.Q8_0.gguf"),
                                  dir / "q4.gguf", *parse_scheme("q4_0"), {.pure = true});
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("already quantized"), std::string::npos);
}

// ---- mix rules on a synthetic 8-layer llama (n_layer / 8 = 1, n_layer / 16 = 0;
// use_more_bits(i, 8) holds for i = 0, 3, 6, 7) ----

std::filesystem::path write_synth8(const ScratchDir& dir, int64_t n_head_kv) {
    model::SynthShape shape = *model::find_synth_shape("tiny");
    shape.n_layer = 8;
    shape.n_embd = 256;
    shape.n_ff = 512;
    shape.n_head = 8;
    shape.n_head_kv = n_head_kv;
    shape.head_dim = 32;
    shape.n_vocab = 512;
    const auto path = dir / "synth8.gguf";
    model::write_synth_model(shape, {.seed = 3}, path);
    return path;
}

struct Expect {
    DType base;
    std::map<std::string, DType> by_kind;   // "output", "token_embd", "attn_output", ...
    std::map<int, DType> attn_v, ffn_down;  // by layer; absent = base
};

void check_mix(const char* scheme, int64_t n_head_kv, const Expect& e) {
    ScratchDir dir;
    const auto path = write_synth8(dir, n_head_kv);
    const auto r = plan_quantization(path, *parse_scheme(scheme));
    for (const auto& t : r.tensors) {
        if (t.shape.size() == 1) {
            EXPECT_EQ(t.to, DType::F32) << scheme << " " << t.name;
            continue;
        }
        DType want = e.base;
        std::string kind = t.name;
        int layer = -1;
        if (t.name.starts_with("blk.")) {
            layer = std::stoi(t.name.substr(4));
            kind = t.name.substr(t.name.find('.', 4) + 1);
        }
        kind = kind.substr(0, kind.find(".weight"));
        if (auto it = e.by_kind.find(kind); it != e.by_kind.end()) want = it->second;
        if (kind == "attn_v" && e.attn_v.contains(layer)) want = e.attn_v.at(layer);
        if (kind == "ffn_down" && e.ffn_down.contains(layer)) want = e.ffn_down.at(layer);
        EXPECT_EQ(dtype_name(t.to), dtype_name(want)) << scheme << " " << t.name;
    }
}

std::map<int, DType> layers(std::initializer_list<int> ls, DType t) {
    std::map<int, DType> m;
    for (int l : ls) m[l] = t;
    return m;
}

// Output rule (every quantized ftype): output.weight -> Q6_K unless the scheme is Q8_0.
TEST(QuantizeMix, PlainTypesGetAQ6KHead) {
    for (auto [name, base] : {std::pair{"q4_0", DType::Q4_0}, std::pair{"q4_1", DType::Q4_1},
                              std::pair{"q5_0", DType::Q5_0}, std::pair{"q5_1", DType::Q5_1}}) {
        check_mix(name, 2, {.base = base, .by_kind = {{"output", DType::Q6_K}}});
    }
    check_mix("q8_0", 2, {.base = DType::Q8_0});
    check_mix("q6_k", 2, {.base = DType::Q6_K});
    check_mix("f16", 2, {.base = DType::F16});
}

// Q4_K_M / Q5_K_M: attn_v and ffn_down Q6_K where use_more_bits.
TEST(QuantizeMix, Q4KMAndQ5KM) {
    for (auto [name, base] : {std::pair{"q4_k_m", DType::Q4_K}, std::pair{"q5_k_m", DType::Q5_K}}) {
        check_mix(name, 2,
                  {.base = base,
                   .by_kind = {{"output", DType::Q6_K}},
                   .attn_v = layers({0, 3, 6, 7}, DType::Q6_K),
                   .ffn_down = layers({0, 3, 6, 7}, DType::Q6_K)});
    }
}

// Q4_K_S: attn_v Q5_K while i_attention_wv < 4; ffn_down Q5_K for i < n/8.
TEST(QuantizeMix, Q4KS) {
    check_mix("q4_k_s", 2,
              {.base = DType::Q4_K,
               .by_kind = {{"output", DType::Q6_K}},
               .attn_v = layers({0, 1, 2, 3}, DType::Q5_K),
               .ffn_down = layers({0}, DType::Q5_K)});
}

// Q5_K_S and Q3_K_S: only the output rule.
TEST(QuantizeMix, Q5KSAndQ3KS) {
    check_mix("q5_k_s", 2, {.base = DType::Q5_K, .by_kind = {{"output", DType::Q6_K}}});
    check_mix("q3_k_s", 2, {.base = DType::Q3_K, .by_kind = {{"output", DType::Q6_K}}});
}

// Q3_K_M: attn_v Q5_K for i_attention_wv < 2 else Q4_K; ffn_down Q5_K for i < n/16 (none of 8)
// else Q4_K; attn_output Q4_K.
TEST(QuantizeMix, Q3KM) {
    check_mix("q3_k_m", 2,
              {.base = DType::Q3_K,
               .by_kind = {{"output", DType::Q6_K},
                           {"attn_v", DType::Q4_K},
                           {"ffn_down", DType::Q4_K},
                           {"attn_output", DType::Q4_K}},
               .attn_v = layers({0, 1}, DType::Q5_K)});
}

// Q2_K: attn_v Q4_K when n_gqa >= 4, else Q3_K; ffn_down and attn_output Q3_K.
TEST(QuantizeMix, Q2KDependsOnGqa) {
    const std::map<std::string, DType> common = {
        {"output", DType::Q6_K}, {"ffn_down", DType::Q3_K}, {"attn_output", DType::Q3_K}};
    auto with_v = [&](DType v) {
        auto m = common;
        m["attn_v"] = v;
        return m;
    };
    check_mix("q2_k", 2, {.base = DType::Q2_K, .by_kind = with_v(DType::Q4_K)});  // 8/2 = 4
    check_mix("q2_k", 8, {.base = DType::Q2_K, .by_kind = with_v(DType::Q3_K)});  // 8/8 = 1
}

// IQ4_NL / IQ4_XS: attn_v Q5_K with n_gqa >= 4; ffn_down Q5_K for i < n/8 (no imatrix).
TEST(QuantizeMix, Iq4) {
    for (auto [name, base] :
         {std::pair{"iq4_nl", DType::IQ4_NL}, std::pair{"iq4_xs", DType::IQ4_XS}}) {
        check_mix(name, 2,
                  {.base = base,
                   .by_kind = {{"output", DType::Q6_K}, {"attn_v", DType::Q5_K}},
                   .ffn_down = layers({0}, DType::Q5_K)});
        check_mix(name, 8,
                  {.base = base,
                   .by_kind = {{"output", DType::Q6_K}},
                   .ffn_down = layers({0}, DType::Q5_K)});
    }
}

// ---- failures: a clear error and nothing left in the output folder ----

TEST(QuantizeErrors, NotAGgufOrTruncated) {
    ScratchDir dir;
    { std::ofstream(dir / "text.gguf") << "this is not a gguf file"; }
    const std::string full = test::read_file_bytes(shared_path("models/tiny/tiny-llama-spm.gguf"));
    { std::ofstream(dir / "cut.gguf", std::ios::binary) << full.substr(0, full.size() / 2); }
    EXPECT_THROW(quantize_model(dir / "text.gguf", dir / "out.gguf", *parse_scheme("q4_0")),
                 FormatError);
    EXPECT_THROW(quantize_model(dir / "cut.gguf", dir / "out.gguf", *parse_scheme("q4_0")),
                 FormatError);
    EXPECT_THROW(quantize_model(dir / "missing.gguf", dir / "out.gguf", *parse_scheme("q4_0")),
                 Error);
    EXPECT_TRUE(folder_holds_only(dir.path(), {"text.gguf", "cut.gguf"}));
}

TEST(QuantizeErrors, MissingOutputFolder) {
    ScratchDir dir;
    try {
        quantize_model(shared_path("models/stories260K.gguf"), dir / "nope" / "out.gguf",
                       *parse_scheme("q8_0"));
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(folder_holds_only(dir.path(), {}));
}

TEST(QuantizeErrors, FailureMidwayLeavesNoFile) {
    ScratchDir dir;
    size_t calls = 0;
    QuantizeOptions options{.progress = [&](const QuantizeProgress& p) {
        ++calls;
        return p.index < 5;  // fail in the middle of the tensors
    }};
    try {
        quantize_model(shared_path("models/tiny/tiny-llama-spm.gguf"), dir / "out.gguf",
                       *parse_scheme("q4_k_m"), options);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
    }
    EXPECT_EQ(calls, 5u);
    EXPECT_TRUE(folder_holds_only(dir.path(), {}));
}

// ---- the command line ----

TEST(QuantizeCli, WritesTheReferenceAndReportsErrors) {
    ScratchDir dir;
    const auto in = shared_path("models/tiny/tiny-llama-spm.gguf").string();
    const auto out = (dir / "q4.gguf").string();
    auto r = test::run_pocket({"quantize", in, out, "Q4_0", "--pure", "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
    expect_same_gguf(out, shared_path("models/tiny/tiny-llama-spm.Q4_0.gguf"));

    r = test::run_pocket({"quantize", in, (dir / "x.gguf").string(), "Q9_9"});
    EXPECT_EQ(r.exit_code, 64);
    EXPECT_NE(r.err.find("unknown type"), std::string::npos) << r.err;
    { std::ofstream(dir / "bad.imatrix", std::ios::binary) << std::string("\x01\0\0\0\x13", 5); }
    r = test::run_pocket({"quantize", in, (dir / "x.gguf").string(), "q4_k_m", "--imatrix",
                          (dir / "bad.imatrix").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    std::filesystem::remove(dir / "bad.imatrix");
    r = test::run_pocket({"quantize", out + ".missing", (dir / "x.gguf").string(), "q4_0"});
    EXPECT_EQ(r.exit_code, 1);
    r = test::run_pocket(
        {"quantize", shared_path("README.md").string(), (dir / "x.gguf").string(), "q4_0"});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_TRUE(folder_holds_only(dir.path(), {"q4.gguf"}));
}

// ---- a Hugging Face folder, converted on the fly ----

// Quantizing the folder directly gives the same file as converting it first and quantizing the
// converted GGUF (no intermediate file is written: the folder holds only its own files after).
TEST(Quantize, HuggingFaceFolderEqualsConvertThenQuantize) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    std::filesystem::create_directories(hf);
    std::filesystem::copy_file(shared_path("tokenizers/hf/smollm2/tokenizer.json"),
                               hf / "tokenizer.json");
    std::ofstream(hf / "config.json")
        << R"({"model_type":"llama","hidden_size":32,"num_hidden_layers":2,
        "num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":64,"rms_norm_eps":1e-5,
        "rope_theta":10000.0,"max_position_embeddings":256,"tie_word_embeddings":true,
        "vocab_size":49152,"hidden_act":"silu","rope_scaling":null})";
    test::HfCheckpoint m(
        test::HfSpec{.model_type = "llama", .vocab = 49152, .embd = 32, .layers = 2, .ff = 64});
    m.write_weights(hf);
    const auto direct = quantize_model(hf, dir / "direct.gguf", *parse_scheme("q8_0"));
    EXPECT_TRUE(direct.fallbacks.empty());
    convert::convert_hf_to_gguf(hf, dir / "converted.gguf", {});
    quantize_model(dir / "converted.gguf", dir / "two_step.gguf", *parse_scheme("q8_0"));
    expect_same_gguf(dir / "direct.gguf", dir / "two_step.gguf");
    EXPECT_TRUE(folder_holds_only(hf, {"tokenizer.json", "config.json", "model.safetensors"}));
}

// ---- IQ4_XS kernels ----
namespace iq4xs {

std::vector<float> random_values(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) - 0.5f) * 2.0f;
    }
    v[5] = 0.0f;
    return v;
}

// 4.25 bits per weight on uniform values: the round-trip RMS error stays well under the spacing
// of the 16 levels (about a tenth of the range).
TEST(Iq4Xs, RoundTripErrorBound) {
    const auto& ops = kernels::ops(DType::IQ4_XS, kernels::Isa::Scalar);
    const int64_t n = 4096;
    const auto x = random_values(n, 11);
    std::vector<std::byte> q(static_cast<size_t>(*row_bytes(DType::IQ4_XS, n)));
    ops.from_float_ref(x.data(), q.data(), n);
    std::vector<float> y(n);
    ops.to_float(q.data(), y.data(), n);
    double err = 0.0;
    for (int64_t i = 0; i < n; ++i) err += (x[i] - y[i]) * (x[i] - y[i]);
    EXPECT_LT(std::sqrt(err / n), 0.06);
    // A zero block stays zero.
    std::vector<float> zeros(256, 0.0f), back(256, 1.0f);
    ops.from_float_ref(zeros.data(), q.data(), 256);
    ops.to_float(q.data(), back.data(), 256);
    for (float v : back) EXPECT_EQ(v, 0.0f);
}

// vec_dot against Q8_K activations equals the dot of the dequantized rows (to float rounding and
// the activations' own 8-bit rounding).
TEST(Iq4Xs, VecDotMatchesDequantizedDot) {
    const int64_t n = 1024;
    const auto w = random_values(n, 3), a = random_values(n, 4);
    for (auto isa : {kernels::Isa::Scalar, kernels::active_isa()}) {
        const auto& ops = kernels::ops(DType::IQ4_XS, isa);
        ASSERT_EQ(ops.dot_type, DType::Q8_K);
        std::vector<std::byte> wq(static_cast<size_t>(*row_bytes(DType::IQ4_XS, n)));
        std::vector<std::byte> aq(static_cast<size_t>(*row_bytes(DType::Q8_K, n)));
        ops.from_float_ref(w.data(), wq.data(), n);
        ops.to_dot_type(a.data(), aq.data(), n);
        std::vector<float> wd(n), ad(n);
        ops.to_float(wq.data(), wd.data(), n);
        kernels::ops(DType::Q8_K, kernels::Isa::Scalar).to_float(aq.data(), ad.data(), n);
        double want = 0.0;
        for (int64_t i = 0; i < n; ++i) want += static_cast<double>(wd[i]) * ad[i];
        EXPECT_NEAR(ops.vec_dot(n, wq.data(), aq.data()), want, 1e-3 * std::abs(want) + 1e-3);
    }
}

// A whole model in IQ4_XS (pure) is written, reloads and every matrix has the type.
TEST(Iq4Xs, QuantizesAModel) {
    ScratchDir dir;
    const auto r = quantize_model(shared_path("models/tiny/tiny-llama-spm.gguf"), dir / "x.gguf",
                                  *parse_scheme("iq4_xs"), {.pure = true});
    EXPECT_TRUE(r.fallbacks.empty());
    const auto f = gguf::File::open(dir / "x.gguf");
    for (const auto& t : f.tensors()) {
        EXPECT_EQ(t.type, t.shape.size() == 2 ? DType::IQ4_XS : DType::F32) << t.name;
    }
    EXPECT_EQ(f.get_uint("general.file_type"), 30u);
}

}  // namespace iq4xs
}  // namespace
}  // namespace pocket::quant
