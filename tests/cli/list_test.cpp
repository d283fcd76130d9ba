// `pocket list` and `-m NAME`: models found by name in $POCKET_MODELS (else
// $XDG_DATA_HOME/pocket/models, else ~/.local/share/pocket/models).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket::test {
namespace {

namespace fs = std::filesystem;

// Sets (or unsets) an environment variable for the pocket processes a test starts, and puts the
// old value back afterwards.
class EnvGuard {
  public:
    EnvGuard(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) {
            setenv(name, value->c_str(), 1);
        } else {
            unsetenv(name);
        }
    }
    ~EnvGuard() {
        if (old_) {
            setenv(name_, old_->c_str(), 1);
        } else {
            unsetenv(name_);
        }
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

void fill_models_dir(const fs::path& dir) {
    fs::create_directories(dir);
    fs::create_symlink(shared_path("models/stories260K.gguf"), dir / "stories.gguf");
    fs::create_symlink(shared_path("models/tiny/tiny-qwen2.gguf"), dir / "qwen.gguf");
    fs::create_symlink(shared_path("models/embed/potion-base-4M-int8"), dir / "potion");
    std::ofstream(dir / "corrupt.gguf", std::ios::binary) << "GGUF not really";
}

class CliModelsDir : public ::testing::Test {
  protected:
    void SetUp() override { fill_models_dir(dir_.path()); }
    ScratchDir dir_;
    EnvGuard env_{"POCKET_MODELS", dir_.path().string()};
};

TEST_F(CliModelsDir, ListJson) {
    const auto r = run_pocket({"list", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    ASSERT_TRUE(out.is_array());
    ASSERT_EQ(out.size(), 4u) << r.out;
    EXPECT_EQ(out[0]["name"], "corrupt");
    EXPECT_TRUE(out[0]["error"].is_string());
    EXPECT_EQ(out[1]["name"], "potion");
    EXPECT_EQ(out[1]["format"], "hf");
    EXPECT_EQ(out[2]["name"], "qwen");
    EXPECT_EQ(out[2]["architecture"], "qwen2");
    EXPECT_EQ(out[2]["chat_template"], true);
    EXPECT_TRUE(out[2]["error"].is_null());
    EXPECT_EQ(out[3]["name"], "stories");
    EXPECT_EQ(out[3]["architecture"], "llama");
    EXPECT_EQ(out[3]["type"], "f32");
    EXPECT_EQ(out[3]["chat_template"], false);
    EXPECT_EQ(out[3]["size_bytes"].get<uint64_t>(),
              fs::file_size(shared_path("models/stories260K.gguf")));
    EXPECT_GT(out[3]["n_params"].get<uint64_t>(), 0u);
}

TEST_F(CliModelsDir, ListTable) {
    const auto r = run_pocket({"list"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("NAME"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("stories"), std::string::npos);
    EXPECT_NE(r.out.find("qwen2"), std::string::npos);
    EXPECT_NE(r.out.find("corrupt"), std::string::npos);
    EXPECT_NE(r.out.find("error:"), std::string::npos);
}

TEST_F(CliModelsDir, CommandsTakeAModelName) {
    const auto info = run_pocket({"info", "stories", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    EXPECT_EQ(nlohmann::json::parse(info.out)["architecture"], "llama");

    const auto tok = run_pocket({"tokenize", "-m", "stories", "--ids", "Hello"});
    ASSERT_EQ(tok.exit_code, 0) << tok.err;
    const auto by_path = run_pocket(
        {"tokenize", "-m", shared_path("models/stories260K.gguf").string(), "--ids", "Hello"});
    EXPECT_EQ(tok.out, by_path.out);

    const auto embed = run_pocket({"embed", "-m", "potion", "-p", "hello"});
    ASSERT_EQ(embed.exit_code, 0) << embed.err;
    EXPECT_EQ(embed.out.front(), '[');
}

TEST_F(CliModelsDir, UnknownNameSuggestsCloseOnes) {
    const auto r = run_pocket({"tokenize", "-m", "storis", "Hello"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("did you mean: stories"), std::string::npos) << r.err;
    // An absolute path is never looked up as a name.
    const auto missing = run_pocket({"info", "/nonexistent/model.gguf"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent/model.gguf: no such file"), std::string::npos)
        << missing.err;
}

TEST(CliModelsDirDefault, XdgDataHomeThenHome) {
    ScratchDir xdg, home;
    fill_models_dir(xdg / "pocket/models");
    EnvGuard no_models("POCKET_MODELS", std::nullopt);
    {
        EnvGuard data("XDG_DATA_HOME", xdg.path().string());
        const auto r = run_pocket({"info", "qwen", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EnvGuard no_data("XDG_DATA_HOME", "");  // empty counts as unset
    EnvGuard home_dir("HOME", home.path().string());
    EXPECT_EQ(run_pocket({"info", "qwen"}).exit_code, 1);
    fs::create_directories(home / ".local/share/pocket");
    fs::create_symlink(xdg / "pocket/models", home / ".local/share/pocket/models");
    const auto r = run_pocket({"list", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 4u);
}

TEST(CliModelsDirDefault, NoFolderListsNothing) {
    ScratchDir empty;
    EnvGuard models("POCKET_MODELS", (empty / "absent").string());
    const auto r = run_pocket({"list", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json::array());
    EXPECT_NE(r.err.find("absent"), std::string::npos);
    const auto missing = run_pocket({"info", "stories"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("no models folder"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace pocket::test
