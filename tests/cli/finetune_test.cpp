// `pocket finetune` as users run it: a LoRA adapter trained on stories260K and written in
// llama.cpp's layout with its provenance, a run killed with SIGKILL (and one stopped with Ctrl-C)
// and resumed from its checkpoint reporting the same losses as an uninterrupted run, and bad data
// reported with its line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/sha256.h"
#include "pocket/gguf/gguf.h"
#include "support/test_support.h"

namespace pocket {
namespace {

void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

struct FinetuneSetup {
    test::ScratchDir dir;
    std::filesystem::path data = dir / "shakespeare.txt";
    FinetuneSetup() {
        write(data, test::read_file_bytes(test::shared_path("data/corpus/tinyshakespeare.txt"))
                        .substr(0, 3000));
    }
    std::vector<std::string> args(const std::string& output) const {
        return {"finetune",
                "-m",
                test::shared_path("models/stories260K.gguf").string(),
                "--data",
                data.string(),
                "--ctx",
                "32",
                "--batch",
                "2",
                "--epochs",
                "2",
                "--lora-rank",
                "4",
                "--lr",
                "0.01",
                "--seed",
                "5",
                "--val-split",
                "0.1",
                "-t",
                "1",
                "--json",
                "--checkpoint-every",
                "2",
                "-o",
                (dir / output).string()};
    }
};

nlohmann::json run_json(const std::vector<std::string>& args) {
    const test::CommandResult r = test::run_pocket(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

// Starts `pocket ARGS` in the background (output discarded), waits for `file` to appear, sends
// `sig`, and returns the wait status.
int interrupt_when_exists(const std::vector<std::string>& args, const std::filesystem::path& file,
                          int sig) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        std::vector<char*> argv;
        std::string binary = pocket::test::pocket_binary();
        argv.push_back(binary.data());
        std::vector<std::string> copies = args;
        for (auto& a : copies) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return status;  // ended first
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

void expect_same_tail(const nlohmann::json& whole, const nlohmann::json& resumed) {
    const auto& all = whole["step_losses"];
    const int64_t first = resumed["first_step"];
    const auto& tail = resumed["step_losses"];
    EXPECT_GT(first, 0);
    EXPECT_LT(first, static_cast<int64_t>(all.size())) << "stopped after the last step";
    ASSERT_EQ(first + static_cast<int64_t>(tail.size()), static_cast<int64_t>(all.size()));
    for (size_t i = 0; i < tail.size(); ++i)
        EXPECT_NEAR(tail[i].get<double>(), all[static_cast<size_t>(first) + i].get<double>(), 1e-5)
            << "step " << first + static_cast<int64_t>(i) + 1;
    EXPECT_NEAR(resumed["held_out"].back()["loss"].get<double>(),
                whole["held_out"].back()["loss"].get<double>(), 1e-5);
}

TEST(Finetune, WritesALoraAdapterWithItsProvenance) {
    FinetuneSetup s;
    const nlohmann::json r = run_json(s.args("a.gguf"));
    EXPECT_EQ(r["first_step"], 0);
    EXPECT_GT(r["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(r["peak_rss_mib"].get<double>(), 0.0);
    ASSERT_EQ(r["held_out"].size(), 3u);  // before, after each of the 2 epochs
    EXPECT_LT(r["held_out"][2]["ppl"].get<double>(), r["held_out"][0]["ppl"].get<double>());
    EXPECT_FALSE(std::filesystem::exists(s.dir / "a.gguf.ckpt")) << "removed once written";

    const gguf::File f = gguf::File::open(s.dir / "a.gguf");
    EXPECT_EQ(f.get_string("general.type"), "adapter");
    EXPECT_EQ(f.get_string("adapter.type"), "lora");
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_string("training.base_model"), "stories260K.gguf");
    EXPECT_EQ(f.get_string("training.data_sha256"), sha256_hex(test::read_file_bytes(s.data)));
    EXPECT_EQ(f.get_string("training.steps"), std::to_string(r["steps"].get<int64_t>()));
    const gguf::TensorInfo* a = f.find_tensor("blk.0.attn_q.weight.lora_a");
    const gguf::TensorInfo* b = f.find_tensor("blk.0.attn_q.weight.lora_b");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->shape, (std::vector<uint64_t>{64, 4}));  // ne = [n_in, rank]
    EXPECT_EQ(b->shape, (std::vector<uint64_t>{4, 64}));  // ne = [rank, n_out]

    // The adapter applies at inference.
    const test::CommandResult run = test::run_pocket(
        {"run", "-m", test::shared_path("models/stories260K.gguf").string(), "--lora",
         (s.dir / "a.gguf").string(), "-n", "8", "--temp", "0", "-p", "First Citizen:"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(Finetune, KilledRunResumesWithTheSameLosses) {
    FinetuneSetup s;
    const nlohmann::json whole = run_json(s.args("a.gguf"));
    ASSERT_GE(whole["step_losses"].size(), 20u);

    const int status = interrupt_when_exists(s.args("b.gguf"), s.dir / "b.gguf.ckpt", SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
    ASSERT_TRUE(std::filesystem::exists(s.dir / "b.gguf.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(s.dir / "b.gguf"));

    // Starting over without --resume would lose the work: refused.
    const test::CommandResult again = test::run_pocket(s.args("b.gguf"));
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;

    std::vector<std::string> resume = s.args("b.gguf");
    resume.push_back("--resume");
    expect_same_tail(whole, run_json(resume));
    EXPECT_TRUE(std::filesystem::exists(s.dir / "b.gguf"));

    // Resuming with other settings is refused, naming the setting.
    const int stopped = interrupt_when_exists(s.args("c.gguf"), s.dir / "c.gguf.ckpt", SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(stopped));
    std::vector<std::string> other = s.args("c.gguf");
    other.push_back("--resume");
    other[std::find(other.begin(), other.end(), "--lr") - other.begin() + 1] = "0.02";
    const test::CommandResult refused = test::run_pocket(other);
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("lr = 0.01; this run has 0.02"), std::string::npos) << refused.err;
}

TEST(Finetune, CtrlCSavesACheckpointAndResumes) {
    FinetuneSetup s;
    const nlohmann::json whole = run_json(s.args("a.gguf"));
    // Ctrl-C once the first checkpoint is there: the run saves another after its current step
    // and ends with 130, cleanly.
    const int status = interrupt_when_exists(s.args("b.gguf"), s.dir / "b.gguf.ckpt", SIGINT);
    ASSERT_TRUE(WIFEXITED(status)) << "Ctrl-C must end the run cleanly";
    EXPECT_EQ(WEXITSTATUS(status), 130);
    ASSERT_TRUE(std::filesystem::exists(s.dir / "b.gguf.ckpt"));
    std::vector<std::string> resume = s.args("b.gguf");
    resume.push_back("--resume");
    expect_same_tail(whole, run_json(resume));
}

TEST(Finetune, BadDataIsReportedWithItsLine) {
    test::ScratchDir dir;
    write(dir / "c.jsonl",
          "{\"prompt\": \"Once\", \"completion\": \" upon\"}\n\n{\"prompt\": \"a\"}\n");
    const test::CommandResult r = test::run_pocket(
        {"finetune", "-m", test::shared_path("models/stories260K.gguf").string(), "--data",
         (dir / "c.jsonl").string(), "--format", "completion", "-o", (dir / "x.gguf").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("c.jsonl:3: \"completion\" must be a string"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

}  // namespace
}  // namespace pocket
