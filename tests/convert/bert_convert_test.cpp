// `convert_hf_to_gguf` for BERT: a random-weight Hugging Face BertModel checkpoint with a
// WordPiece tokenizer.json, converted, loaded, and its final hidden states compared with a
// straightforward BERT forward pass written here (post-norm layers, absolute positions, token
// type 0, non-causal attention), and with the folder loaded directly.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "pocket/convert/convert.h"
#include "pocket/core/fp16.h"
#include "pocket/model/context.h"
#include "pocket/convert/hf_loader.h"
#include "pocket/model/model.h"
#include "pocket/safetensors/safetensors.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
namespace st = pocket::safetensors;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

constexpr int kVocab = 29528, kEmbd = 32, kLayers = 2, kHeads = 4, kFf = 64, kPos = 64, kTypes = 2;
constexpr double kEps = 1e-12;
using Vec = std::vector<double>;

struct Bert {
    std::map<std::string, std::vector<float>> w;
    std::mt19937 rng{77};
    void add(st::Writer& writer, const std::string& name, std::vector<uint64_t> shape, float scale,
             float offset = 0.0f) {
        size_t n = 1;
        for (auto d : shape) n *= d;
        std::uniform_real_distribution<float> dist(-scale, scale);
        std::vector<float> m(n);
        for (auto& v : m) v = offset + dist(rng);
        std::vector<std::byte> bytes(n * 4);
        std::memcpy(bytes.data(), m.data(), bytes.size());
        writer.add_tensor(name, st::DType::F32, std::move(shape), std::move(bytes));
        w[name] = std::move(m);
    }
    Vec linear(const std::string& p, const Vec& x, size_t rows) const {
        const auto& m = w.at(p + ".weight");
        const auto& b = w.at(p + ".bias");
        Vec y(rows);
        for (size_t r = 0; r < rows; ++r) {
            double s = b[r];
            for (size_t c = 0; c < x.size(); ++c) s += m[r * x.size() + c] * x[c];
            y[r] = s;
        }
        return y;
    }
    Vec layer_norm(const std::string& p, const Vec& x) const {
        double mean = 0, var = 0;
        for (double v : x) mean += v;
        mean /= static_cast<double>(x.size());
        for (double v : x) var += (v - mean) * (v - mean);
        var /= static_cast<double>(x.size());
        Vec y(x.size());
        for (size_t i = 0; i < x.size(); ++i)
            y[i] = (x[i] - mean) / std::sqrt(var + kEps) * w.at(p + ".weight")[i] +
                   w.at(p + ".bias")[i];
        return y;
    }

    std::vector<Vec> forward(const std::vector<int32_t>& tokens) const {
        const size_t n = tokens.size(), D = kEmbd / kHeads;
        std::vector<Vec> x(n, Vec(kEmbd));
        for (size_t t = 0; t < n; ++t) {
            for (int i = 0; i < kEmbd; ++i)
                x[t][i] = w.at("embeddings.word_embeddings.weight")[tokens[t] * kEmbd + i] +
                          w.at("embeddings.position_embeddings.weight")[t * kEmbd + i] +
                          w.at("embeddings.token_type_embeddings.weight")[i];
            x[t] = layer_norm("embeddings.LayerNorm", x[t]);
        }
        for (int l = 0; l < kLayers; ++l) {
            const std::string p = pocket::cat("encoder.layer.", l, ".");
            std::vector<Vec> q(n), k(n), v(n);
            for (size_t t = 0; t < n; ++t) {
                q[t] = linear(p + "attention.self.query", x[t], kEmbd);
                k[t] = linear(p + "attention.self.key", x[t], kEmbd);
                v[t] = linear(p + "attention.self.value", x[t], kEmbd);
                for (auto* vec : {&q[t], &k[t], &v[t]})  // pocket's F16 K/V cache and F16 Q
                    for (double& e : *vec) e = pocket::round_to_f16(static_cast<float>(e));
            }
            for (size_t t = 0; t < n; ++t) {
                Vec ctx(kEmbd, 0.0);
                for (size_t h = 0; h < kHeads; ++h) {
                    Vec s(n);
                    double mx = -1e300, sum = 0;
                    for (size_t j = 0; j < n; ++j) {
                        double d = 0;
                        for (size_t i = 0; i < D; ++i) d += q[t][h * D + i] * k[j][h * D + i];
                        mx = std::max(mx, s[j] = d / std::sqrt(static_cast<double>(D)));
                    }
                    for (auto& e : s) sum += (e = std::exp(e - mx));
                    for (size_t j = 0; j < n; ++j)
                        for (size_t i = 0; i < D; ++i)
                            ctx[h * D + i] += s[j] / sum * v[j][h * D + i];
                }
                Vec a = linear(p + "attention.output.dense", ctx, kEmbd);
                for (int i = 0; i < kEmbd; ++i) a[i] += x[t][i];
                const Vec h1 = layer_norm(p + "attention.output.LayerNorm", a);
                Vec f = linear(p + "intermediate.dense", h1, kFf);
                for (double& e : f)  // tanh-approximated GELU, as llama.cpp evaluates it
                    e = 0.5 * e * (1 + std::tanh(std::sqrt(2 / M_PI) * (e + 0.044715 * e * e * e)));
                Vec o = linear(p + "output.dense", f, kEmbd);
                for (int i = 0; i < kEmbd; ++i) o[i] += h1[i];
                x[t] = layer_norm(p + "output.LayerNorm", o);
            }
        }
        return x;
    }
};

}  // namespace

TEST(ConvertBert, HiddenStatesMatchAnIndependentForwardPass) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    fs::create_directories(hf);
    fs::copy_file(shared_path("models/embed/potion-base-4M-int8/tokenizer.json"),
                  hf / "tokenizer.json");
    std::ofstream(hf / "config.json") << pocket::cat(
        R"({"model_type":"bert","architectures":["BertModel"],"hidden_size":)", kEmbd,
        R"(,"num_hidden_layers":)", kLayers, R"(,"num_attention_heads":)", kHeads,
        R"(,"intermediate_size":)", kFf, R"(,"max_position_embeddings":)", kPos,
        R"(,"type_vocab_size":)", kTypes, R"(,"vocab_size":)", kVocab,
        R"(,"layer_norm_eps":1e-12,"hidden_act":"gelu","position_embedding_type":"absolute"})");
    Bert m;
    st::Writer writer;
    // BertModel's names; the pooler at the end is dropped by the converter.
    m.add(writer, "embeddings.word_embeddings.weight", {kVocab, kEmbd}, 1.0f);
    m.add(writer, "embeddings.position_embeddings.weight", {kPos, kEmbd}, 0.5f);
    m.add(writer, "embeddings.token_type_embeddings.weight", {kTypes, kEmbd}, 0.5f);
    m.add(writer, "embeddings.LayerNorm.weight", {kEmbd}, 0.2f, 1.0f);
    m.add(writer, "embeddings.LayerNorm.bias", {kEmbd}, 0.2f);
    for (int l = 0; l < kLayers; ++l) {
        const std::string p = pocket::cat("encoder.layer.", l, ".");
        for (const char* name : {"attention.self.query", "attention.self.key",
                                 "attention.self.value", "attention.output.dense"}) {
            m.add(writer, p + name + ".weight", {kEmbd, kEmbd}, 0.4f);
            m.add(writer, p + name + ".bias", {kEmbd}, 0.2f);
        }
        m.add(writer, p + "attention.output.LayerNorm.weight", {kEmbd}, 0.2f, 1.0f);
        m.add(writer, p + "attention.output.LayerNorm.bias", {kEmbd}, 0.2f);
        m.add(writer, p + "intermediate.dense.weight", {kFf, kEmbd}, 0.4f);
        m.add(writer, p + "intermediate.dense.bias", {kFf}, 0.2f);
        m.add(writer, p + "output.dense.weight", {kEmbd, kFf}, 0.3f);
        m.add(writer, p + "output.dense.bias", {kEmbd}, 0.2f);
        m.add(writer, p + "output.LayerNorm.weight", {kEmbd}, 0.2f, 1.0f);
        m.add(writer, p + "output.LayerNorm.bias", {kEmbd}, 0.2f);
    }
    m.add(writer, "pooler.dense.weight", {kEmbd, kEmbd}, 0.1f);
    m.add(writer, "pooler.dense.bias", {kEmbd}, 0.1f);
    writer.write(hf / "model.safetensors");

    const auto gguf_path = dir / "bert.gguf";
    const auto result = pocket::convert::convert_hf_to_gguf(
        hf, gguf_path, {.type = pocket::DType::F32, .pre_tokenizer = ""});
    EXPECT_EQ(result.kind, "bert");
    EXPECT_EQ(result.n_tensors, 5u + 16u * kLayers);  // pooler dropped
    const auto model = pocket::model::Model::load(gguf_path);
    const auto direct = pocket::model::load_hf_model(hf);

    const std::vector<int32_t> tokens = {2, 6598, 1094, 16, 700, 5, 3};
    auto hidden = [&](const pocket::model::Model& mdl) {
        pocket::model::Context ctx(mdl);
        std::vector<pocket::model::BatchEntry> batch;
        for (size_t i = 0; i < tokens.size(); ++i)
            batch.push_back({tokens[i], static_cast<int64_t>(i), 0, true});
        ctx.decode(batch);
        std::vector<std::vector<float>> out;
        for (size_t i = 0; i < tokens.size(); ++i) {
            const auto e = ctx.embedding(i);
            out.emplace_back(e.begin(), e.end());
        }
        return out;
    };
    const auto got = hidden(*model);
    EXPECT_EQ(hidden(*direct), got);
    const auto want = m.forward(tokens);
    double worst = 0;
    for (size_t t = 0; t < tokens.size(); ++t) {
        ASSERT_EQ(got[t].size(), static_cast<size_t>(kEmbd));
        for (int i = 0; i < kEmbd; ++i) worst = std::max(worst, std::abs(got[t][i] - want[t][i]));
    }
    std::printf("[ measured ] bert: max |hidden state diff| %.3g\n", worst);
    // Hidden states are LayerNorm outputs of size ~1; pocket's F16 K/V/softmax/GELU rounding leaves
    // ~1e-3. A wrong mapping (say, swapped LayerNorms) gives errors of order 1.
    EXPECT_LT(worst, 1e-2);
    EXPECT_EQ(model->file().get_string("tokenizer.ggml.model"), "bert");
}
