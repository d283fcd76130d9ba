// `pocket bench` end to end: the JSON it prints has every field, with sane values. Timings vary
// with the machine and its load, so they are only checked to be measured (positive, finite).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string stories_path() {
    return shared_path("models/stories260K.gguf").string();
}

void expect_positive_finite(const nlohmann::json& j, const std::string& key) {
    ASSERT_TRUE(j.contains(key)) << key << " missing";
    ASSERT_TRUE(j[key].is_number()) << key << " is " << j[key].dump();
    const double v = j[key].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0.0) << key << " = " << v;
}

void expect_stddev(const nlohmann::json& j, const std::string& key) {
    ASSERT_TRUE(j.contains(key)) << key << " missing";
    ASSERT_TRUE(j[key].is_number()) << key << " is " << j[key].dump();
    const double v = j[key].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v >= 0.0) << key << " = " << v;
}

TEST(CliBench, JsonHasEveryMeasurement) {
    const auto r =
        run_pocket({"bench", "-m", stories_path(), "-p", "16", "-n", "8", "-r", "2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);  // one object, nothing else on stdout

    for (const char* key :
         {"pp_tokens_per_s", "tg_tokens_per_s", "ttft_ms", "load_ms", "peak_rss_bytes"}) {
        expect_positive_finite(j, key);
        expect_stddev(j, std::string(key) + "_stddev");
    }

    EXPECT_EQ(j["n_prompt"].get<int>(), 16);
    EXPECT_EQ(j["n_gen"].get<int>(), 8);
    EXPECT_EQ(j["reps"].get<int>(), 2);
    EXPECT_GE(j["threads"].get<int>(), 1);
    EXPECT_EQ(j["model"].get<std::string>(), stories_path());
    EXPECT_EQ(j["model_size_bytes"].get<uint64_t>(), std::filesystem::file_size(stories_path()));
    const std::string isa = j["isa"].get<std::string>();
    EXPECT_TRUE(isa == "scalar" || isa == "avx2" || isa == "avx512") << isa;
    EXPECT_FALSE(j["cpu"].get<std::string>().empty());

    // The reference describes stories260K as all F32 with an untied output head (48 tensors), so
    // a token reads every weight but the embedding table: (n_params - n_vocab * n_embd) floats.
    const auto info = read_json(shared_path("reference/stories260K.json"))["model_info"];
    const uint64_t embd_params = info["n_vocab"].get<uint64_t>() * info["n_embd"].get<uint64_t>();
    EXPECT_EQ(j["weight_bytes"].get<uint64_t>(),
              (info["n_params"].get<uint64_t>() - embd_params) * 4);
    EXPECT_EQ(j["type"].get<std::string>(), "f32");
    EXPECT_EQ(j["type_mix"]["f32"].get<int>(), 48);

    // Peak RSS holds at least the weights a token reads (mapped and touched) and, for a 1 MiB
    // model, nowhere near a gigabyte.
    const auto rss = j["peak_rss_bytes"].get<double>();
    EXPECT_GE(rss, j["weight_bytes"].get<double>());
    EXPECT_LT(rss, 1024.0 * 1024 * 1024);
}

// POCKET_AMX=0 keeps prompts off AMX tiles (the JSON says so on every machine); another value is
// a clear error, not silently ignored.
TEST(CliBench, AmxSwitchIsReportedAndChecked) {
    {
        const ScopedEnv amx("POCKET_AMX", "0");
        const auto r =
            run_pocket({"bench", "-m", stories_path(), "-p", "16", "-n", "0", "-r", "1", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        ASSERT_TRUE(j["amx"].is_boolean()) << j["amx"].dump();
        EXPECT_FALSE(j["amx"].get<bool>());
    }
    const ScopedEnv amx("POCKET_AMX", "yes");
    const auto r = run_pocket({"bench", "-m", stories_path(), "-p", "16", "-n", "0", "-r", "1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("POCKET_AMX=yes"), std::string::npos) << r.err;
}

TEST(CliBench, TableNamesEachTest) {
    const auto r =
        run_pocket({"bench", "-m", stories_path(), "-p", "16", "-n", "8", "-r", "1", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* test : {"pp16", "tg8", "ttft32", "load", "peak RSS", "t/s"}) {
        EXPECT_NE(r.out.find(test), std::string::npos) << test << " missing from:\n" << r.out;
    }
}

TEST(CliBench, SkippedTestsAreNullInJson) {
    const auto r =
        run_pocket({"bench", "-m", stories_path(), "-p", "0", "-n", "0", "-r", "1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["pp_tokens_per_s"].is_null());
    EXPECT_TRUE(j["tg_tokens_per_s"].is_null());
    expect_positive_finite(j, "ttft_ms");
}

TEST(CliBench, BadArgumentsAreUsageErrors) {
    EXPECT_EQ(run_pocket({"bench"}).exit_code, 64);  // -m missing
    EXPECT_EQ(run_pocket({"bench", "-m", stories_path(), "-r", "0"}).exit_code, 64);
    EXPECT_EQ(run_pocket({"bench", "-m", stories_path(), "-p", "-5"}).exit_code, 64);
    EXPECT_EQ(run_pocket({"bench", "-m", stories_path(), "-n", "many"}).exit_code, 64);
}

TEST(CliBench, MissingModelIsAClearError) {
    const auto r = run_pocket({"bench", "-m", "/nonexistent/model.gguf"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_LT(r.exit_code, 128) << "crashed";
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pocket::test
