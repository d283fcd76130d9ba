// Retrieval evaluation: metrics against hand-computed rankings, the BEIR round trip, and the
// Cranfield collection end to end through the real Store + Retriever (small and fast).
#include <gtest/gtest.h>

#include <cmath>

#include "pocket/embed/embedder.h"
#include "pocket/rag/eval_retrieval.h"
#include "support/test_support.h"

namespace pocket::rag::eval {
namespace {

TEST(RagEvalMetrics, MatchHandComputations) {
    const std::map<std::string, double> rel = {{"a", 3}, {"b", 1}, {"c", 0}, {"d", 2}};
    const std::vector<std::string> ranking = {"x", "b", "c", "a"};
    // DCG@10 = 1/log2(3) + 3/log2(5); ideal order a, d, b: 3 + 2/log2(3) + 1/2.
    const double dcg = 1 / std::log2(3.0) + 3 / std::log2(5.0);
    const double idcg = 3 + 2 / std::log2(3.0) + 0.5;
    EXPECT_NEAR(ndcg_at(ranking, rel, 10), dcg / idcg, 1e-12);
    // @2 only b counts; the ideal is a, d.
    EXPECT_NEAR(ndcg_at(ranking, rel, 2), (1 / std::log2(3.0)) / (3 + 2 / std::log2(3.0)), 1e-12);
    EXPECT_NEAR(recall_at(ranking, rel, 10), 2.0 / 3.0, 1e-12);  // c has gain 0: not relevant
    EXPECT_NEAR(recall_at(ranking, rel, 1), 0.0, 1e-12);
    EXPECT_NEAR(mrr_at(ranking, rel, 10), 0.5, 1e-12);
    EXPECT_NEAR(mrr_at(ranking, rel, 1), 0.0, 1e-12);
    EXPECT_NEAR(ndcg_at({"a", "d", "b"}, rel, 10), 1.0, 1e-12);
    EXPECT_EQ(ndcg_at({}, rel, 10), 0.0);

    Collection c;
    c.queries = {{"q1", "x"}, {"q2", "y"}};
    c.qrels["q1"] = {{"a", 1}};
    c.qrels["q2"] = {{"b", 1}};
    const eval::Run run = {{"q1", {"a"}}, {"q2", {"z", "b"}}};
    const auto m = evaluate(run, c);
    EXPECT_EQ(m.n_queries, 2u);
    EXPECT_NEAR(m.mrr10, 0.75, 1e-12);
    EXPECT_NEAR(m.ndcg10, (1 + 1 / std::log2(3.0)) / 2, 1e-12);
}

TEST(RagEvalData, BeirRoundTripKeepsGradesAndSkipsUnjudgedQueries) {
    Collection c;
    c.corpus = {{"d1", "Title \"one\"", "text é"}, {"d2", "", "two"}};
    c.queries = {{"q1", "find one"}};
    c.qrels["q1"] = {{"d1", 2}, {"d2", 0}};
    test::ScratchDir dir;
    write_beir(c, dir.path());
    const auto back = load_beir(dir / "corpus.jsonl", dir / "queries.jsonl", dir / "qrels.tsv");
    ASSERT_EQ(back.corpus.size(), 2u);
    EXPECT_EQ(back.corpus[0].title, "Title \"one\"");
    EXPECT_EQ(back.corpus[0].text, "text é");
    ASSERT_EQ(back.queries.size(), 1u);
    EXPECT_EQ(back.qrels.at("q1").at("d1"), 2);
    EXPECT_EQ(back.qrels.at("q1").at("d2"), 0);
}

TEST(RagEvalData, CranfieldQuirks) {
    const auto c = load_cranfield(test::shared_path("data/retrieval/cranfield"));
    ASSERT_EQ(c.corpus.size(), 1400u);
    EXPECT_EQ(c.queries.size(), 225u);
    EXPECT_EQ(c.queries[0].id, "1");  // positions, not the .I ids (which skip numbers)
    EXPECT_EQ(c.queries[224].id, "225");
    EXPECT_EQ(c.queries[0].text.find('\r'), std::string::npos);
    EXPECT_TRUE(c.corpus[470].text.empty());  // document 471 has an empty abstract
    EXPECT_EQ(c.qrels.at("1").at("184"), 3);  // grade 2 -> gain 3
}

// The whole pipeline on Cranfield: plain BM25 reproduces the published figure's neighbourhood,
// the stemmed BM25F beats it, and hybrid is no worse than BM25.
TEST(RagEvalEndToEnd, CranfieldBm25AndHybrid) {
    const auto c = load_cranfield(test::shared_path("data/retrieval/cranfield"));
    const auto plain = evaluate(plain_bm25_run(c), c);
    EXPECT_NEAR(plain.ndcg10, 0.3226, 0.002);
    const auto embedder =
        embed::open_embedder(test::shared_path("models/embed/potion-base-4M-int8"));
    test::ScratchDir dir;
    const IndexedCollection index(c, dir / "cran.db", embedder.get(), "potion-base-4M-int8");
    const RetrieverConfig config;
    const auto bm25 = evaluate(index.run(SearchMode::Bm25, config), c);
    const auto hybrid = evaluate(index.run(SearchMode::Hybrid, config), c);
    EXPECT_GT(bm25.ndcg10, 0.328);
    EXPECT_GE(hybrid.ndcg10, bm25.ndcg10);
    EXPECT_GE(hybrid.ndcg10, 0.37);
    EXPECT_GT(bm25.recall100, plain.recall100);
}

}  // namespace
}  // namespace pocket::rag::eval
