// ModelDirectory: names resolve to files in a models folder, and listing reads headers only,
// reporting a corrupt file instead of stopping.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pocket/core/error.h"
#include "pocket/model/model_directory.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

namespace fs = std::filesystem;
using model::ModelDirectory;
using model::ModelEntry;

void write(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// A models folder with three GGUF models (symlinks into the shared data), a Hugging Face folder,
// a corrupt file and things that are not models.
class ModelDirectoryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fs::create_symlink(shared_path("models/stories260K.gguf"), dir_ / "stories.gguf");
        fs::create_symlink(shared_path("models/tiny/tiny-qwen2.gguf"), dir_ / "qwen.gguf");
        fs::create_symlink(shared_path("models/tiny/tiny-llama-spm.Q8_0.gguf"),
                           dir_ / "llama-q8.gguf");
        write(dir_ / "broken.gguf", std::string("GGUF\x03\0\0\0garbage", 15));
        write(dir_ / "notes.txt", "not a model");
        write(dir_ / ".hidden.gguf", "ignored");
        fs::create_directory(dir_ / "empty-folder");
        fs::create_directory(dir_ / "hf-model");
        write(dir_ / "hf-model" / "config.json",
              R"({"model_type": "qwen2", "torch_dtype": "bfloat16"})");
        write(dir_ / "hf-model" / "tokenizer_config.json", R"({"chat_template": "{{ x }}"})");
    }
    ScratchDir dir_;
};

const ModelEntry& find(const std::vector<ModelEntry>& entries, const std::string& name) {
    for (const auto& e : entries) {
        if (e.name == name) return e;
    }
    throw Error("no entry " + name);
}

TEST_F(ModelDirectoryTest, ListsModelsFromTheirHeaders) {
    const auto entries = ModelDirectory(dir_.path()).list();
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"broken", "hf-model", "llama-q8", "qwen", "stories"}));

    const ModelEntry& stories = find(entries, "stories");
    EXPECT_EQ(stories.error, "");
    EXPECT_EQ(stories.format, "gguf");
    EXPECT_EQ(stories.architecture, "llama");
    EXPECT_EQ(stories.type, "f32");
    EXPECT_EQ(stories.size_bytes, fs::file_size(shared_path("models/stories260K.gguf")));
    ASSERT_TRUE(stories.n_params.has_value());
    EXPECT_GT(*stories.n_params, 200'000u);
    EXPECT_LT(*stories.n_params, 400'000u);
    EXPECT_FALSE(stories.has_chat_template);
    EXPECT_EQ(stories.path, dir_ / "stories.gguf");

    EXPECT_EQ(find(entries, "llama-q8").type, "q8_0");
    EXPECT_TRUE(find(entries, "qwen").has_chat_template);
    EXPECT_EQ(find(entries, "qwen").architecture, "qwen2");

    const ModelEntry& hf = find(entries, "hf-model");
    EXPECT_EQ(hf.error, "");
    EXPECT_EQ(hf.format, "hf");
    EXPECT_EQ(hf.architecture, "qwen2");
    EXPECT_EQ(hf.type, "bfloat16");
    EXPECT_TRUE(hf.has_chat_template);
    EXPECT_GT(hf.size_bytes, 0u);

    const ModelEntry& broken = find(entries, "broken");
    EXPECT_NE(broken.error, "");
    EXPECT_EQ(broken.size_bytes, 15u);
}

TEST_F(ModelDirectoryTest, ABrokenSymlinkIsListedWithItsError) {
    fs::create_symlink(dir_ / "gone.bin", dir_ / "dangling.gguf");
    const auto entries = ModelDirectory(dir_.path()).list();
    EXPECT_NE(find(entries, "dangling").error, "");
    EXPECT_EQ(find(entries, "stories").error, "");
}

TEST_F(ModelDirectoryTest, ResolvesNamesAndPaths) {
    const ModelDirectory models(dir_.path());
    EXPECT_EQ(models.resolve("stories"), dir_ / "stories.gguf");
    EXPECT_EQ(models.resolve("stories.gguf"), dir_ / "stories.gguf");
    EXPECT_EQ(models.resolve("hf-model"), dir_ / "hf-model");
    EXPECT_EQ(models.resolve("Stories"), std::nullopt);  // case-sensitive
    EXPECT_EQ(models.resolve("nothing"), std::nullopt);
    EXPECT_EQ(models.resolve(""), std::nullopt);
    // An existing path is taken as it is, whatever the folder holds.
    const fs::path file = shared_path("models/stories260K.Q8_0.gguf");
    EXPECT_EQ(models.resolve(file.string()), file);
    EXPECT_EQ(models.require("qwen"), dir_ / "qwen.gguf");
}

TEST_F(ModelDirectoryTest, AMissingNameSuggestsCloseOnes) {
    const ModelDirectory models(dir_.path());
    try {
        models.require("storie");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("did you mean: stories"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(dir_.path().string()), std::string::npos);
    }
    try {
        models.require("zzzzzzzzzz");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("models there: broken, hf-model, llama-q8, qwen, "
                                             "stories"),
                  std::string::npos)
            << e.what();
    }
}

TEST(ModelDirectoryAbsentTest, AnAbsentFolderHasNoModels) {
    ScratchDir dir;
    const ModelDirectory models(dir / "missing");
    EXPECT_TRUE(models.list().empty());
    EXPECT_EQ(models.resolve("stories"), std::nullopt);
    EXPECT_THROW(models.require("stories"), Error);
}

TEST(CloseNamesTest, RanksCaseThenContainmentThenTypos) {
    const std::vector<std::string> all = {"qwen2-0.5b", "Stories", "stories-15m", "llama", "phi3"};
    EXPECT_EQ(model::close_names("stories", all),
              (std::vector<std::string>{"Stories", "stories-15m"}));
    EXPECT_EQ(model::close_names("lama", all), (std::vector<std::string>{"llama"}));
    EXPECT_EQ(model::close_names("phi4", all), (std::vector<std::string>{"phi3"}));
    EXPECT_TRUE(model::close_names("mistral", all).empty());
}

}  // namespace
}  // namespace pocket::test
