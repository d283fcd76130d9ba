// Every corrupted GGUF file of the corpus, given to the `pocket` binary: a clear message naming the
// file and the field, exit code 65 (malformed input), never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "support/corrupt_corpus.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

TEST(CliCorruptFiles, EveryCorpusFileIsRejectedClearly) {
    ScratchDir dir;
    const auto corpus = corrupt_corpus();
    ASSERT_GE(corpus.size(), 30u);
    for (const auto& c : corpus) {
        SCOPED_TRACE(c.name);
        const auto path = dir / (c.name + ".gguf");
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(c.bytes.data()),
                   static_cast<std::streamsize>(c.bytes.size()));
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"info", path.string()}, {"run", "-m", path.string(), "-p", "hi", "-n", "1"}}) {
            const auto r = run_pocket(args);
            EXPECT_EQ(r.exit_code, 65) << args[0] << ": " << r.err;
            EXPECT_NE(r.err.find("invalid GGUF file"), std::string::npos) << r.err;
            EXPECT_NE(r.err.find(path.string()), std::string::npos) << r.err;
            EXPECT_NE(r.err.find(c.expected_field), std::string::npos) << r.err;
            EXPECT_TRUE(r.out.empty()) << r.out;
        }
    }
}

TEST(CliCorruptFiles, NotAGgufFile) {
    ScratchDir dir;
    const auto path = dir / "notes.txt";
    std::ofstream(path) << "these are not the weights you are looking for\n";
    const auto r = run_pocket({"info", path.string()});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("magic"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pocket::test
