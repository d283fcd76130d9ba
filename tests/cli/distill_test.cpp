// `pocket distill` as users run it: stories260K teaches a smaller student made by `pocket synth
// --like` (LoRA or --full) on a few KB of Shakespeare; the teacher cache is written once and
// reused; each KD loss trains something different; bad input is refused with a message that says
// why.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pocket/gguf/gguf.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

const std::string kTeacher = shared_path("models/stories260K.gguf").string();

class CliDistill : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new ScratchDir();
        // ~40 windows of 32 tokens: a few optimizer steps, each a few milliseconds.
        std::ofstream(*dir_ / "train.txt", std::ios::binary)
            << read_file_bytes(shared_path("data/corpus/tinyshakespeare.txt")).substr(0, 4000);
        const auto r = run_pocket({"synth", "--like", kTeacher, "--n-layer", "1", "--n-embd", "32",
                                   "--n-head", "4", "--n-head-kv", "2", "--n-ff", "64", "--type",
                                   "f32", "--seed", "3", "-o", student()});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    static std::string student() { return (*dir_ / "student.gguf").string(); }
    static std::string path(const std::string& name) { return (*dir_ / name).string(); }

    // A distill run on the fixture's data writing `output`, with `extra` flags after the rest.
    static CommandResult distill(const std::string& output, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {
            "distill", "--teacher", kTeacher,  "--student", student(), "--data", path("train.txt"),
            "--ctx",   "32",        "--batch", "4",         "--lr",    "0.01",   "--lora-rank",
            "4",       "--top-k",   "8",       "--seed",    "1",       "-t",     "1",
            "-o",      path(output)};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_pocket(args);
    }

    static inline ScratchDir* dir_ = nullptr;
};

TEST_F(CliDistill, WritesAnAdapterAndReusesTheTeacherCache) {
    const CommandResult first = distill("a.gguf", {"--val-split", "0.2"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_NE(first.err.find("teacher cache: " + path("a.gguf.teacher") + " (top 8"),
              std::string::npos)
        << first.err;
    EXPECT_NE(first.out.find("forward-kl, alpha 0.5"), std::string::npos) << first.out;
    EXPECT_NE(first.out.find("top-1 agreement"), std::string::npos) << first.out;
    ASSERT_TRUE(std::filesystem::exists(path("a.gguf.teacher")));
    const auto cache_time = std::filesystem::last_write_time(path("a.gguf.teacher"));

    const gguf::File adapter = gguf::File::open(path("a.gguf"));
    EXPECT_EQ(adapter.get_string("general.type"), "adapter");
    EXPECT_EQ(adapter.get_string("adapter.type"), "lora");
    ASSERT_NE(adapter.find_tensor("blk.0.attn_q.weight.lora_a"), nullptr);
    // It applies to the student it was trained on.
    const CommandResult run = run_pocket({"run", "-m", student(), "--lora", path("a.gguf"), "-n",
                                          "4", "--temp", "0", "-p", "First Citizen:"});
    EXPECT_EQ(run.exit_code, 0) << run.err;

    // The same run again: the cache is read, not rewritten, and training is the same.
    const std::string bytes = read_file_bytes(path("a.gguf"));
    const CommandResult second = distill("a.gguf", {"--val-split", "0.2"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_NE(second.err.find("teacher cache: reusing " + path("a.gguf.teacher")),
              std::string::npos)
        << second.err;
    EXPECT_EQ(second.err.find("teacher 1/"), std::string::npos) << "the teacher ran again";
    EXPECT_EQ(std::filesystem::last_write_time(path("a.gguf.teacher")), cache_time);
    EXPECT_EQ(read_file_bytes(path("a.gguf")), bytes);

    // A cache made for other data is refused, naming what differs.
    std::ofstream(*dir_ / "other.txt", std::ios::binary)
        << read_file_bytes(shared_path("data/corpus/tinyshakespeare.txt")).substr(4000, 2000);
    const CommandResult refused =
        run_pocket({"distill", "--teacher", kTeacher, "--student", student(), "--data",
                    path("other.txt"), "--ctx", "32", "--top-k", "8", "-t", "1", "--cache",
                    path("a.gguf.teacher"), "-o", path("c.gguf")});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("was made for another run"), std::string::npos) << refused.err;
    EXPECT_FALSE(std::filesystem::exists(path("c.gguf")));
}

TEST_F(CliDistill, EachKdLossTrainsItsOwnWay) {
    // One cache serves the three losses: it holds the teacher's rows, not the loss.
    std::vector<std::string> adapters;
    for (const std::string loss : {"forward-kl", "reverse-kl", "jsd"}) {
        const CommandResult r =
            distill(loss + ".gguf", {"--kd-loss", loss, "--cache", path("losses.teacher")});
        ASSERT_EQ(r.exit_code, 0) << loss << ": " << r.err;
        EXPECT_NE(r.out.find(", " + loss + ", alpha 0.5"), std::string::npos) << r.out;
        adapters.push_back(read_file_bytes(path(loss + ".gguf")));
    }
    EXPECT_NE(adapters[0], adapters[1]);
    EXPECT_NE(adapters[0], adapters[2]);
    EXPECT_NE(adapters[1], adapters[2]);

    // --alpha 0 is the text alone: no teacher cache at all.
    const CommandResult text = distill("text.gguf", {"--alpha", "0"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("text only, alpha 0"), std::string::npos) << text.out;
    EXPECT_FALSE(std::filesystem::exists(path("text.gguf.teacher")));
}

TEST_F(CliDistill, FullTrainingWritesAModel) {
    const CommandResult r = distill("full.gguf", {"--full", "--max-steps", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("trained 3 steps"), std::string::npos) << r.out;
    const gguf::File model = gguf::File::open(path("full.gguf"));
    EXPECT_EQ(model.get_string("general.architecture"), "llama");
    EXPECT_NE(model.find_tensor("token_embd.weight"), nullptr);
    EXPECT_NE(read_file_bytes(path("full.gguf")), read_file_bytes(student())) << "nothing trained";
    const CommandResult run = run_pocket(
        {"run", "-m", path("full.gguf"), "-n", "4", "--temp", "0", "-p", "First Citizen:"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_F(CliDistill, BadInputIsRefusedWithTheReason) {
    const struct {
        std::vector<std::string> extra;
        int exit_code;
        std::string message;
    } cases[] = {
        {{"--alpha", "1.5"}, 1, "--alpha must be in [0, 1]"},
        {{"--alpha", "-0.1"}, 1, "--alpha must be in [0, 1]"},
        {{"--kd-loss", "kl"}, 1, "unknown KD loss 'kl' (forward-kl, reverse-kl, jsd)"},
        {{"--targets", "q,nope"}, 1, "nope"},
        {{"--val-split", "0.1", "--val", path("train.txt")}, 1, "not both"},
    };
    for (const auto& c : cases) {
        const CommandResult r = distill("bad.gguf", c.extra);
        SCOPED_TRACE(c.extra.front() + " " + c.extra.back());
        EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(path("bad.gguf")));

    // A student with another vocabulary.
    const CommandResult vocab = run_pocket({"distill", "--teacher", kTeacher, "--student",
                                            shared_path("models/tiny/tiny-llama-bpe.gguf").string(),
                                            "--data", path("train.txt"), "-o", path("bad.gguf")});
    EXPECT_EQ(vocab.exit_code, 1);
    EXPECT_NE(vocab.err.find("distillation needs the same vocabulary"), std::string::npos)
        << vocab.err;

    // Data that is not there.
    const CommandResult missing =
        run_pocket({"distill", "--teacher", kTeacher, "--student", student(), "--data",
                    path("missing.txt"), "-o", path("bad.gguf")});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("missing.txt"), std::string::npos) << missing.err;
    EXPECT_FALSE(std::filesystem::exists(path("bad.gguf")));
}

}  // namespace
}  // namespace pocket::test
