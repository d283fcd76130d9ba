// Grounded prompts: numbered sources in the system message, the citation map, the relevance
// threshold (the "don't know" path never touches the model), fitting the context budget with the
// chat model's own tokenizer (lowest-ranked sources dropped, the last kept one trimmed), citation
// parsing, and templates that reject a system role.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pocket/generate/chat.h"
#include "pocket/model/context.h"
#include "pocket/model/model.h"
#include "pocket/rag/grounded_prompt.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket::rag {
namespace {

const model::Model& load(const std::string& relative) {
    static std::map<std::string, std::unique_ptr<model::Model>> cache;
    auto& slot = cache[relative];
    if (!slot) slot = model::Model::load(test::shared_path("models/" + relative));
    return *slot;
}

SearchHit hit(std::string path, std::string text, double relevance, int32_t page = 0,
              std::string heading = {}, int64_t id = 0) {
    SearchHit h;
    h.document.path = std::move(path);
    h.document.title = h.document.path;
    h.chunk.text = std::move(text);
    h.chunk.page = page;
    h.chunk.heading = std::move(heading);
    h.chunk.id = id;
    h.relevance = relevance;
    h.score = relevance * 10;
    return h;
}

// About `words` words of distinct text.
std::string filler(const std::string& tag, int words) {
    std::string out;
    for (int i = 0; i < words; ++i) out += tag + std::to_string(i) + (i % 12 == 11 ? "\n" : " ");
    return out;
}

GroundingOptions roomy() {
    GroundingOptions o;
    o.context_tokens = 4096;
    o.answer_tokens = 256;
    o.min_relevance = 0.3;
    return o;
}

TEST(GroundedPrompt, NumbersSourcesInRankOrderWithTheirLabels) {
    const model::Model& m = load("tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    const std::vector<SearchHit> hits = {
        hit("docs/a.pdf", "Alpha facts.", 0.9, 3, "Intro > Setup", 11),
        hit("notes/b.md", "Beta facts.", 0.7, 0, "Usage", 12),
        hit("c.txt", "Gamma facts.", 0.5, 0, "", 13),
    };
    const GroundedPrompt p =
        build_grounded_prompt(t, m.tokenizer(), "What is alpha?", hits, roomy());
    ASSERT_TRUE(p.relevant);
    ASSERT_EQ(p.sources.size(), 3u);
    EXPECT_EQ(p.dropped_sources, 0);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(p.sources[i].number, i + 1);
    EXPECT_EQ(source_label(p.sources[0]), "docs/a.pdf, page 3 > Intro > Setup");
    EXPECT_EQ(source_label(p.sources[1]), "notes/b.md > Usage");
    EXPECT_EQ(source_label(p.sources[2]), "c.txt");

    ASSERT_EQ(p.messages.size(), 2u);
    EXPECT_EQ(p.messages[0]["role"], "system");
    const std::string system = p.messages[0]["content"];
    EXPECT_NE(system.find(default_grounding_instructions()), std::string::npos);
    const size_t s1 = system.find("[1] docs/a.pdf, page 3 > Intro > Setup\nAlpha facts.");
    const size_t s2 = system.find("[2] notes/b.md > Usage\nBeta facts.");
    const size_t s3 = system.find("[3] c.txt\nGamma facts.");
    ASSERT_NE(s1, std::string::npos);
    ASSERT_NE(s2, std::string::npos);
    ASSERT_NE(s3, std::string::npos);
    EXPECT_LT(s1, s2);
    EXPECT_LT(s2, s3);
    EXPECT_EQ(p.messages[1]["content"], "What is alpha?");
    EXPECT_NE(p.rendered.text.find("What is alpha?"), std::string::npos);
    EXPECT_EQ(p.tokens, tokenize_rendered(m.tokenizer(), p.rendered));

    // The citation map and the printed source list.
    const auto cites = citations_json(p.sources, "Alpha is first [1], see also [3].");
    ASSERT_EQ(cites.size(), 3u);
    EXPECT_EQ(cites[0]["n"], 1);
    EXPECT_EQ(cites[0]["path"], "docs/a.pdf");
    EXPECT_EQ(cites[0]["page"], 3);
    EXPECT_EQ(cites[0]["heading"], "Intro > Setup");
    EXPECT_EQ(cites[0]["chunk_id"], 11);
    EXPECT_EQ(cites[0]["cited"], true);
    EXPECT_EQ(cites[1]["cited"], false);
    EXPECT_EQ(cites[2]["cited"], true);
    EXPECT_EQ(format_source_list(p.sources),
              "Sources:\n[1] docs/a.pdf, page 3 > Intro > Setup\n[2] notes/b.md > Usage\n"
              "[3] c.txt\n");
}

TEST(GroundedPrompt, NothingRelevantMeansNoPromptAndNoModel) {
    const model::Model& m = load("tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    {
        const GroundedPrompt p = build_grounded_prompt(t, m.tokenizer(), "Anything?", {}, roomy());
        EXPECT_FALSE(p.relevant);
        EXPECT_TRUE(p.sources.empty());
        EXPECT_TRUE(p.tokens.empty());
    }
    const std::vector<SearchHit> weak = {hit("a.txt", "x", 0.29), hit("b.txt", "y", 0.1)};
    const GroundedPrompt p = build_grounded_prompt(t, m.tokenizer(), "Anything?", weak, roomy());
    EXPECT_FALSE(p.relevant);
    EXPECT_EQ(p.irrelevant_hits, 2);
    EXPECT_TRUE(format_source_list(p.sources).empty());
    EXPECT_TRUE(citations_json(p.sources).empty());

    // answer_grounded streams the fixed answer and never evaluates a token.
    model::Context ctx(m, {.n_ctx = 256});
    Session session(ctx);
    std::string streamed;
    GenerateOptions gen;
    gen.max_tokens = 8;
    const GroundedAnswer a =
        answer_grounded(session, t, "Anything?", weak, roomy(), gen, [&](std::string_view piece) {
            streamed += piece;
            return true;
        });
    EXPECT_EQ(a.text, no_answer_text());
    EXPECT_EQ(streamed, no_answer_text());
    EXPECT_EQ(a.result.prompt_tokens, 0);
    EXPECT_EQ(a.result.completion_tokens, 0);
    EXPECT_TRUE(session.cached_tokens().empty());
}

TEST(GroundedPrompt, WeakHitsAreLeftOutAndTheRestRenumbered) {
    const model::Model& m = load("tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    const std::vector<SearchHit> hits = {hit("a.txt", "A", 0.8), hit("b.txt", "B", 0.2),
                                         hit("c.txt", "C", 0.6)};
    const GroundedPrompt p = build_grounded_prompt(t, m.tokenizer(), "q", hits, roomy());
    ASSERT_EQ(p.sources.size(), 2u);
    EXPECT_EQ(p.irrelevant_hits, 1);
    EXPECT_EQ(p.sources[1].path, "c.txt");
    EXPECT_EQ(p.sources[1].number, 2);
}

TEST(GroundedPrompt, FitsTheBudgetByDroppingTheLowestRankedAndTrimmingTheLastKept) {
    const model::Model& m = load("tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    const std::vector<SearchHit> hits = {
        hit("one.txt", filler("alpha", 300), 0.9), hit("two.txt", filler("beta", 300), 0.8),
        hit("three.txt", filler("gamma", 300), 0.7), hit("four.txt", filler("delta", 300), 0.6)};
    GroundingOptions o = roomy();
    // Everything: the budget the full prompt needs.
    o.context_tokens = 1 << 20;
    const GroundedPrompt all = build_grounded_prompt(t, m.tokenizer(), "q", hits, o);
    ASSERT_EQ(all.sources.size(), 4u);
    const GroundedPrompt none = build_grounded_prompt(t, m.tokenizer(), "q", {}, o);
    const int64_t full = static_cast<int64_t>(all.tokens.size());

    // Room for about one and a half sources.
    const GroundedPrompt first =
        build_grounded_prompt(t, m.tokenizer(), "q", std::span(hits).first(1), o);
    const int64_t one = static_cast<int64_t>(first.tokens.size());
    o.answer_tokens = 128;
    o.context_tokens = one + (full - one) / 6 + o.answer_tokens;
    const GroundedPrompt p = build_grounded_prompt(t, m.tokenizer(), "q", hits, o);
    ASSERT_TRUE(p.relevant);
    EXPECT_LE(static_cast<int64_t>(p.tokens.size()), o.context_tokens - o.answer_tokens);
    ASSERT_EQ(p.sources.size(), 2u);
    EXPECT_EQ(p.dropped_sources, 2);
    EXPECT_FALSE(p.sources[0].trimmed);
    EXPECT_EQ(p.sources[0].text, hits[0].chunk.text);
    EXPECT_TRUE(p.sources[1].trimmed);
    EXPECT_LT(p.sources[1].text.size(), hits[1].chunk.text.size());
    EXPECT_TRUE(p.sources[1].text.ends_with(" ..."));
    // Cut at a word: what is kept (ellipsis aside) is a prefix of the chunk ending a word.
    const std::string kept = p.sources[1].text.substr(0, p.sources[1].text.size() - 4);
    EXPECT_TRUE(hits[1].chunk.text.starts_with(kept));
    EXPECT_TRUE(std::isspace(static_cast<unsigned char>(hits[1].chunk.text[kept.size()])));
    // The trimmed source uses the room: a few more bytes would not have fitted much.
    EXPECT_GT(static_cast<int64_t>(p.tokens.size()), o.context_tokens - o.answer_tokens - 40);

    // Too small for even the instructions and the question: a clear error.
    o.context_tokens = static_cast<int64_t>(none.tokens.size()) + o.answer_tokens - 1;
    EXPECT_THROW(build_grounded_prompt(t, m.tokenizer(), "q", hits, o), Error);
}

TEST(GroundedPrompt, TheCallersSystemMessageAndHistoryAreKept) {
    const model::Model& m = load("tiny/tiny-qwen2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    const nlohmann::ordered_json conversation = nlohmann::ordered_json::array({
        {{"role", "system"}, {"content", "Be brief."}},
        {{"role", "user"}, {"content", "Hi"}},
        {{"role", "assistant"}, {"content", "Hello"}},
        {{"role", "user"}, {"content", "What is alpha?"}},
    });
    const std::vector<SearchHit> hits = {hit("a.txt", "Alpha facts.", 0.9)};
    const GroundedPrompt p =
        build_grounded_conversation(t, m.tokenizer(), conversation, hits, roomy());
    ASSERT_EQ(p.messages.size(), 4u);
    const std::string system = p.messages[0]["content"];
    EXPECT_TRUE(system.starts_with(default_grounding_instructions()));
    EXPECT_TRUE(system.ends_with("\n\nBe brief."));
    EXPECT_EQ(p.messages[3]["content"], "What is alpha?");
}

TEST(GroundedPrompt, TemplatesWithoutASystemRoleGetTheSourcesInTheUserTurn) {
    const model::Model& m = load("tiny/tiny-gemma2.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    const std::vector<SearchHit> hits = {hit("a.txt", "Alpha facts.", 0.9)};
    const GroundedPrompt p =
        build_grounded_prompt(t, m.tokenizer(), "What is alpha?", hits, roomy());
    EXPECT_TRUE(p.system_folded);
    ASSERT_EQ(p.messages.size(), 1u);
    EXPECT_EQ(p.messages[0]["role"], "user");
    const std::string user = p.messages[0]["content"];
    EXPECT_NE(user.find("[1] a.txt\nAlpha facts."), std::string::npos);
    EXPECT_TRUE(user.ends_with("What is alpha?"));
}

TEST(GroundedPrompt, AnswersThroughTheSessionWithTheGroundedPrompt) {
    const model::Model& m = load("stories260K.gguf");
    const ModelChatTemplate t = chat_template_for(m);
    model::Context ctx(m, {.n_ctx = 512});
    Session session(ctx);
    GenerateOptions gen;
    gen.sampling = SamplingParams::greedy();
    gen.max_tokens = 6;
    std::string streamed;
    const std::vector<SearchHit> hits = {hit("story.txt", "Lily had a red ball.", 0.9)};
    const GroundedAnswer a = answer_grounded(session, t, "What did Lily have?", hits, roomy(), gen,
                                             [&](std::string_view piece) {
                                                 streamed += piece;
                                                 return true;
                                             });
    ASSERT_TRUE(a.prompt.relevant);
    EXPECT_EQ(a.result.prompt_tokens, static_cast<int64_t>(a.prompt.tokens.size()));
    EXPECT_GT(a.result.completion_tokens, 0);
    EXPECT_EQ(streamed, a.text);
}

TEST(GroundedPrompt, CitationsAreParsedFromTheAnswer) {
    EXPECT_EQ(cited_sources("A [2] and B [1][3].", 3), (std::vector<int>{2, 1, 3}));
    EXPECT_EQ(cited_sources("[1, 2] then [2,3] and [1-3]", 3), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(cited_sources("[2-4]", 5), (std::vector<int>{2, 3, 4}));
    EXPECT_EQ(cited_sources("[0] [4] [x] [1a] [] [", 3), std::vector<int>{});
    EXPECT_EQ(cited_sources("see [3] [3] [3]", 3), std::vector<int>{3});
    EXPECT_EQ(cited_sources("no citations", 3), std::vector<int>{});
}

TEST(GroundedPrompt, HitJsonHasTheSearchFields) {
    SearchHit h = hit("a.pdf", "text", 0.5, 2, "H", 7);
    h.snippet = "[[te]]xt";
    const auto j = hit_json(h, 1);
    for (const char* key : {"rank", "path", "title", "page", "heading", "chunk_id", "score",
                            "bm25_score", "vector_score", "relevance", "snippet", "text"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j["page"], 2);
    EXPECT_EQ(j["snippet"], "[[te]]xt");
}

// `pocket ask` end to end on a small lexical index built by `pocket index`.
class AskCommand : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::ScratchDir();
        std::filesystem::create_directories(*dir_ / "docs");
        write(*dir_ / "docs/volcanoes.md",
              "# Volcanoes\n\n## Eruptions\n\nA volcano erupts when magma rises through the crust. "
              "Basaltic magma is runny; rhyolitic magma is thick and erupts explosively.\n");
        write(*dir_ / "docs/bread.md",
              "# Bread\n\nSourdough bread rises with wild yeast and lactic acid bacteria.\n");
        const auto r = test::run_pocket(
            {"index", (*dir_ / "docs").string(), "--db", (*dir_ / "index.sqlite").string()});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static void write(const std::filesystem::path& path, const std::string& text) {
        std::ofstream(path, std::ios::binary) << text;
    }
    static std::vector<std::string> ask(const std::string& question) {
        return {"ask",    question,
                "-m",     test::shared_path("models/stories260K.gguf").string(),
                "--db",   (*dir_ / "index.sqlite").string(),
                "-n",     "8",
                "--temp", "0"};
    }
    static inline test::ScratchDir* dir_ = nullptr;
};

TEST_F(AskCommand, AnswersThenListsTheSources) {
    const auto r = test::run_pocket(ask("What makes a volcano erupt explosively?"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const size_t list = r.out.rfind("\nSources:\n[1] volcanoes.md");
    ASSERT_NE(list, std::string::npos) << r.out;
    EXPECT_NE(r.out.find("> Volcanoes > Eruptions", list), std::string::npos) << r.out;
}

TEST_F(AskCommand, JsonHasTheAnswerAndTheCitationMap) {
    auto args = ask("What makes a volcano erupt explosively?");
    args.push_back("--json");
    const auto r = test::run_pocket(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["answered"], true);
    EXPECT_EQ(j["mode"], "bm25");  // the index has no embeddings
    EXPECT_DOUBLE_EQ(j["min_relevance"].get<double>(), default_min_relevance(SearchMode::Bm25));
    ASSERT_GE(j["sources"].size(), 1u);
    EXPECT_EQ(j["sources"][0]["n"], 1);
    EXPECT_EQ(j["sources"][0]["path"], "volcanoes.md");
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int64_t>(), 0);
    EXPECT_TRUE(j["answer"].is_string());
}

TEST_F(AskCommand, NothingRelevantSaysItDoesNotKnowWithoutTheModel) {
    auto args = ask("zzzqqq xxyyzz");
    args.push_back("--json");
    const auto r = test::run_pocket(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["answered"], false);
    EXPECT_EQ(j["answer"], std::string(no_answer_text()));
    EXPECT_TRUE(j["sources"].empty());
    EXPECT_EQ(j["usage"]["prompt_tokens"], 0);
    EXPECT_EQ(j["finish_reason"], "no_relevant_sources");

    // A relevant question with the threshold out of reach: the same, in text mode.
    auto strict = ask("What makes a volcano erupt explosively?");
    strict.insert(strict.end(), {"--min-relevance", "1"});
    const auto t = test::run_pocket(strict);
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_EQ(t.out, std::string(no_answer_text()) + "\n");
    EXPECT_NE(t.err.find("the model was not asked"), std::string::npos) << t.err;
}

TEST_F(AskCommand, AMissingIndexIsAClearError) {
    auto args = ask("x");
    args[5] = (*dir_ / "missing.sqlite").string();
    const auto r = test::run_pocket(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no index at"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pocket::rag
