// `pocket convert`: a Model2Vec folder to GGUF, then `pocket embed` on the GGUF gives the same
// vectors as on the folder (the vectors themselves are checked in tests/embed).
#include <gtest/gtest.h>

#include "convert/hf_fixture.h"
#include "support/test_support.h"

using pocket::test::run_pocket;
using pocket::test::ScratchDir;
using pocket::test::shared_path;

TEST(CliConvert, Model2VecFolderToGgufEmbedsIdentically) {
    ScratchDir dir;
    const std::string model = shared_path("models/embed/potion-base-4M-int8").string();
    const std::string out = (dir / "potion.gguf").string();
    const auto r = run_pocket({"convert", model, "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("model2vec"), std::string::npos) << r.out;
    const auto a = run_pocket({"embed", "-m", model, "-p", "Hello world", "-p", "A second text."});
    const auto b = run_pocket({"embed", "-m", out, "-p", "Hello world", "-p", "A second text."});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(run_pocket({"convert", model, "-o", out, "--type", "q4_k"}).exit_code, 64);
    EXPECT_EQ(run_pocket({"convert", (dir / "nope").string(), "-o", out}).exit_code, 1);
}

// A transformer folder: converted by the CLI with --type q8_0, then loadable by `pocket run`-style
// commands; here checked by converting and reading the summary line.
TEST(CliConvert, Phi3FolderToQ8_0Gguf) {
    ScratchDir dir;
    const auto hf = dir / "hf";
    std::filesystem::create_directories(hf);
    std::filesystem::copy_file(shared_path("tokenizers/hf/llama2/tokenizer.json"),
                               hf / "tokenizer.json");
    std::ofstream(hf / "config.json")
        << R"({"model_type":"phi3","hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,
        "num_key_value_heads":2,"intermediate_size":64,"rms_norm_eps":1e-5,"vocab_size":32000,
        "max_position_embeddings":256,"rope_scaling":null,"hidden_act":"silu"})";
    pocket::test::HfCheckpoint m({.model_type = "phi3", .vocab = 32000, .ff = 64, .tied = false});
    m.write_weights(hf);
    const std::string out = (dir / "phi3.gguf").string();
    const auto r = run_pocket({"convert", hf.string(), "-o", out, "--type", "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("phi3, 15 tensors"), std::string::npos) << r.out;
    EXPECT_TRUE(std::filesystem::exists(out));
    // An unsupported setting is a clean error naming the field.
    std::ofstream(hf / "config.json") << R"({"model_type":"phi3","hidden_size":32,
        "num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":64,
        "rope_scaling":{"type":"longrope"}})";
    const auto bad = run_pocket({"convert", hf.string(), "-o", out});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("rope_scaling"), std::string::npos) << bad.err;
}
