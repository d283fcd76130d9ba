// POCKET_RAG_LEXICAL_INDEX_THRESHOLD is read by the `pocket` command (libpocket takes the
// threshold as rag::StoreOptions): 0 sends `pocket search` through the impact index, which it
// saves beside the database; a value that is not a number is refused, naming the variable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_support.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;

TEST(CliStoreEnv, TheLexicalIndexThresholdComesFromTheEnvironment) {
    test::ScratchDir dir;
    fs::create_directories(dir / "docs");
    std::ofstream(dir / "docs" / "a.txt") << "Alpine lakes freeze in winter.\n";
    std::ofstream(dir / "docs" / "b.txt") << "Desert nights are cold.\n";
    const std::string db = (dir / "index.sqlite").string();
    const test::ScopedEnv unset("POCKET_RAG_LEXICAL_INDEX_THRESHOLD", std::nullopt);
    const auto indexed =
        test::run_pocket({"index", (dir / "docs").string(), "--db", db, "--embed-model", "none"});
    ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

    const std::string lex = db + ".lex";
    auto search = [&] {
        return test::run_pocket({"search", "alpine lakes", "--db", db, "--mode", "bm25"});
    };
    {
        const auto r = search();  // two chunks: under the default threshold, FTS5 answers
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("a.txt"), std::string::npos) << r.out;
        EXPECT_FALSE(fs::exists(lex));
    }
    {
        const test::ScopedEnv force("POCKET_RAG_LEXICAL_INDEX_THRESHOLD", "0");
        const auto r = search();
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("a.txt"), std::string::npos) << r.out;
        EXPECT_TRUE(fs::exists(lex));
    }
    {
        const test::ScopedEnv bad("POCKET_RAG_LEXICAL_INDEX_THRESHOLD", "lots");
        const auto r = search();
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find("POCKET_RAG_LEXICAL_INDEX_THRESHOLD=lots"), std::string::npos)
            << r.err;
    }
}

}  // namespace
}  // namespace pocket
