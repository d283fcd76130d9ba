// --cache-type-k / --cache-type-v (f16, q8_0, q4_0) on the commands that make a context: a bad
// name is a usage error that names the accepted ones, before any model is loaded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace pocket::test {
namespace {

std::string stories() {
    return shared_path("models/stories260K.gguf").string();
}

TEST(CliKvCacheType, BadNamesAreUsageErrorsNamingTheChoices) {
    const std::string text = shared_path("reference/ppl-text.txt").string();
    const std::vector<std::vector<std::string>> commands = {
        {"perplexity", "-m", stories(), "-f", text, "--cache-type-k", "q5_0"},
        {"run", "-m", stories(), "-p", "Once", "-n", "1", "--cache-type-v", "fp16"},
        {"chat", "-m", stories(), "--cache-type-k", "q8"},
        {"eval", "-m", stories(), "--task", "hellaswag", "-f", text, "--cache-type-v", "f32"},
        {"serve", "-m", stories(), "--port", "0", "--cache-type-k", "Q4_1"},
        {"ask", "-m", stories(), "question", "--cache-type-k", "iq4_nl"},
    };
    for (const auto& args : commands) {
        const auto r = run_pocket(args);
        SCOPED_TRACE(args[0]);
        EXPECT_EQ(r.exit_code, 64) << r.err;
        EXPECT_NE(r.err.find("unknown KV cache type '" + args.back() + "'"), std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("use f16, q8_0 or q4_0"), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace pocket::test
