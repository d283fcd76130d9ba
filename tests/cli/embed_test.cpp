// `pocket embed`: JSON output, texts from -p and --file, errors. The vectors are compared with the
// library's StaticEmbedder, which tests/embed checks against an independent computation.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "pocket/embed/static_embedder.h"
#include "support/test_support.h"

using pocket::test::read_json;
using pocket::test::run_pocket;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

namespace {

const std::string kModel = shared_path("models/embed/potion-base-4M-int8").string();

void expect_vector(const nlohmann::json& got, const std::vector<float>& want) {
    ASSERT_TRUE(got.is_array());
    ASSERT_EQ(got.size(), want.size());
    double norm = 0;
    for (size_t j = 0; j < want.size(); ++j) {
        EXPECT_EQ(got[j].get<float>(), want[j]);  // %.9g round-trips floats exactly
        norm += got[j].get<double>() * got[j].get<double>();
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
}

}  // namespace

TEST(CliEmbed, PrintsOneVectorPerTextInOrder) {
    ScratchDir dir;
    std::ofstream(dir / "texts.txt") << "first line of the file\r\nsecond line\n";
    const auto r = run_pocket({"embed", "-m", kModel, "-p", "Hello world", "-p", "The lazy dog.",
                               "--file", (dir / "texts.txt").string(), "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    ASSERT_EQ(out.size(), 4u);
    const auto embedder = pocket::embed::StaticEmbedder::open_hf(kModel);
    const std::vector<std::string> texts = {"Hello world", "The lazy dog.",
                                            "first line of the file", "second line"};
    for (size_t i = 0; i < texts.size(); ++i) expect_vector(out[i], embedder->embed(texts[i]));
}

TEST(CliEmbed, JsonObjectsCarryIndexAndText) {
    const auto r = run_pocket({"embed", "-m", kModel, "-p", "caf\xc3\xa9 \"quoted\"", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].at("index"), 0);
    EXPECT_EQ(out[0].at("text"), "caf\xc3\xa9 \"quoted\"");
    const auto embedder = pocket::embed::StaticEmbedder::open_hf(kModel);
    expect_vector(out[0].at("embedding"), embedder->embed("caf\xc3\xa9 \"quoted\""));
}

TEST(CliEmbed, ReportsErrors) {
    EXPECT_EQ(run_pocket({"embed", "-m", kModel}).exit_code, 64);  // no text
    EXPECT_EQ(run_pocket({"embed", "-p", "x"}).exit_code, 64);     // no model
    const auto missing = run_pocket({"embed", "-m", "/nonexistent/model", "-p", "x"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;
}

// A BERT GGUF: mean pooling and L2 normalisation as llama-embedding computes them
// (reference/tiny-bert.json, `embedding` of each case); the tolerance is the one the encoder's
// reference test justifies (F16 GELU table granularity).
TEST(CliEmbed, BertGgufMatchesLlamaCppEmbeddings) {
    const auto ref = read_json(shared_path("reference/tiny-bert.json"));
    std::vector<std::string> args = {"embed", "-m",
                                     shared_path("models/tiny/tiny-bert.gguf").string()};
    for (const auto& c : ref["cases"]) {
        args.push_back("-p");
        args.push_back(c["prompt"].get<std::string>());
    }
    const auto r = run_pocket(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    ASSERT_EQ(out.size(), ref["cases"].size());
    for (size_t k = 0; k < out.size(); ++k) {
        const auto& expected = ref["cases"][k]["embedding"];
        ASSERT_EQ(out[k].size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
            EXPECT_NEAR(out[k][i].get<double>(), expected[i].get<double>(), 5e-3)
                << "case " << k << " component " << i;
        }
    }
}
