// `pocket search` and `pocket eval-retrieval` as a user runs them: output shapes, the BM25-only
// notice, refusing a file that is not a store, and the --json metrics object.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace pocket {
namespace {

TEST(RagSearchCli, SearchesAnIndexAndMarksMatches) {
    test::ScratchDir dir;
    std::filesystem::create_directories(dir / "docs");
    std::ofstream(dir / "docs" / "cats.md") << "# Cats\n\nA running cat purrs.\n";
    std::ofstream(dir / "docs" / "dogs.md") << "# Dogs\n\nDogs bark.\n";
    const auto db = (dir / "idx.db").string();
    const auto idx =
        test::run_pocket({"index", (dir / "docs").string(), "--db", db, "--embed-model", "none"});
    ASSERT_EQ(idx.exit_code, 0) << idx.err;
    const auto r = test::run_pocket({"search", "cats running", "--db", db});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("BM25 only"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("cats.md"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[[running]]"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("dogs.md"), std::string::npos) << r.out;
    const auto j = test::run_pocket({"search", "dogs", "--db", db, "--json", "--mode", "bm25"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    const auto hits = nlohmann::json::parse(j.out);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0]["path"], "dogs.md");
    EXPECT_EQ(hits[0]["rank"], 1);

    std::ofstream(dir / "notes.txt") << "not a database\n";
    const auto bad = test::run_pocket({"search", "x", "--db", (dir / "notes.txt").string()});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("not a pocket store"), std::string::npos) << bad.err;
}

TEST(RagSearchCli, EvalRetrievalPrintsMetricsAsJson) {
    const auto r = test::run_pocket({"eval-retrieval", "--format", "cranfield", "--data",
                                     test::shared_path("data/retrieval/cranfield").string(),
                                     "--mode", "bm25", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.contains("bm25"));
    EXPECT_GT(j["bm25"]["ndcg@10"].get<double>(), 0.328);
    for (const char* key : {"recall@10", "recall@100", "mrr@10"}) {
        EXPECT_TRUE(j["bm25"].contains(key)) << key;
    }
    // Vector modes without a model are a usage error, not a silent BM25 run.
    const auto v = test::run_pocket({"eval-retrieval", "--format", "cranfield", "--data",
                                     test::shared_path("data/retrieval/cranfield").string(),
                                     "--mode", "hybrid"});
    EXPECT_NE(v.exit_code, 0);
}

}  // namespace
}  // namespace pocket
