// The C API (include/pocket.h) held to the C++ library it wraps: the same tokens, the same
// generations, the same embeddings and verdicts; and every failure a status plus a message,
// never an exception or a crash.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "capi/capi_handles.h"
#include "pocket.h"
#include "pocket/embed/embedder.h"
#include "pocket/generate/chat.h"
#include "pocket/model/model.h"
#include "pocket/safety/guard.h"
#include "pocket/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace pocket {
namespace {

using test::ModelHandle;
using test::SessionHandle;
using test::stories_path;

pocket_generation fresh_result() {
    pocket_generation r{};
    r.struct_size = sizeof r;
    return r;
}

pocket_generate_options greedy(int64_t max_tokens) {
    auto o = pocket_generate_default_options();
    o.temperature = 0;
    o.max_tokens = max_tokens;
    return o;
}

TEST(CApi, VersionAndStatusNames) {
    EXPECT_STREQ(pocket_version(), "0.1.0");
    EXPECT_EQ(pocket_api_version(), POCKET_API_VERSION);
    EXPECT_STREQ(pocket_status_name(POCKET_OK), "ok");
    EXPECT_STREQ(pocket_status_name(POCKET_ERR_CONTEXT_FULL), "context full");
    EXPECT_STREQ(pocket_status_name(static_cast<pocket_status>(12345)), "unknown status");
}

TEST(CApi, LoadFailuresAreStatusesWithMessages) {
    pocket_model* model = reinterpret_cast<pocket_model*>(0x1);
    EXPECT_EQ(pocket_model_load("/nonexistent/model.gguf", nullptr, &model), POCKET_ERR_IO);
    EXPECT_EQ(model, nullptr);
    EXPECT_NE(std::string(pocket_last_error()).find("/nonexistent/model.gguf"), std::string::npos);

    test::ScratchDir dir;
    const auto bad = dir / "bad.gguf";
    {
        std::ofstream out(bad, std::ios::binary);
        out << "GGUF\x03\x00\x00\x00 truncated";
    }
    EXPECT_EQ(pocket_model_load(bad.c_str(), nullptr, &model), POCKET_ERR_FORMAT);
    EXPECT_EQ(model, nullptr);
    EXPECT_FALSE(std::string(pocket_last_error()).empty());

    EXPECT_EQ(pocket_model_load(nullptr, nullptr, &model), POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_model_load(stories_path().c_str(), nullptr, nullptr),
              POCKET_ERR_INVALID_ARGUMENT);

    auto options = pocket_model_default_options();
    options.struct_size = sizeof(options) + 64;  // from a header newer than the library
    EXPECT_EQ(pocket_model_load(stories_path().c_str(), &options, &model),
              POCKET_ERR_INVALID_ARGUMENT);
    pocket_model_free(nullptr);  // allowed
}

TEST(CApi, ErrorMessagesAreThreadLocal) {
    pocket_model* model = nullptr;
    ASSERT_NE(pocket_model_load("/nonexistent/a.gguf", nullptr, &model), POCKET_OK);
    std::string other;
    std::thread([&] {
        pocket_model* m = nullptr;
        EXPECT_NE(pocket_model_load("/nonexistent/b.gguf", nullptr, &m), POCKET_OK);
        other = pocket_last_error();
    }).join();
    EXPECT_NE(std::string(pocket_last_error()).find("a.gguf"), std::string::npos);
    EXPECT_NE(other.find("b.gguf"), std::string::npos);
}

TEST(CApi, ModelFactsMatchTheLibrary) {
    ModelHandle h(stories_path());
    ASSERT_NE(h.model, nullptr);
    const auto m = model::Model::load(stories_path());
    EXPECT_STREQ(pocket_model_architecture(h.model), m->hparams().arch_name.c_str());
    EXPECT_EQ(pocket_model_n_vocab(h.model), static_cast<int32_t>(m->tokenizer().n_vocab()));
    EXPECT_EQ(pocket_model_n_embd(h.model), m->hparams().n_embd);
    EXPECT_EQ(pocket_model_n_ctx_train(h.model), m->hparams().n_ctx_train);
    EXPECT_EQ(pocket_model_n_params(h.model), static_cast<int64_t>(m->n_params()));
    EXPECT_EQ(pocket_token_bos(h.model), m->tokenizer().bos());
    EXPECT_EQ(pocket_token_eos(h.model), m->tokenizer().eos());
    EXPECT_EQ(pocket_token_is_end_of_generation(h.model, m->tokenizer().eos()), 1);
    EXPECT_EQ(pocket_token_is_end_of_generation(h.model, -5), 0);
}

TEST(CApi, TokenizeAndDetokenizeMatchTheTokenizer) {
    ModelHandle h(stories_path());
    const auto m = model::Model::load(stories_path());
    const std::string text = "Once upon a time, a cat sat on the mat.";
    const auto expected = m->tokenizer().encode(text, true, false);

    size_t n = 0;
    EXPECT_EQ(pocket_tokenize(h.model, text.c_str(), -1, 1, 0, nullptr, 0, &n),
              POCKET_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, expected.size());
    std::vector<int32_t> ids(n);
    ASSERT_EQ(pocket_tokenize(h.model, text.c_str(), -1, 1, 0, ids.data(), ids.size(), &n),
              POCKET_OK);
    EXPECT_EQ(ids, expected);
    // An explicit length stops at that byte, NULs included.
    ASSERT_EQ(pocket_tokenize(h.model, text.c_str(), 4, 0, 0, ids.data(), ids.size(), &n),
              POCKET_OK);
    ids.resize(n);
    EXPECT_EQ(ids, m->tokenizer().encode("Once", false, false));

    const auto all = expected;
    size_t length = 0;
    char tiny[4];
    EXPECT_EQ(pocket_detokenize(h.model, all.data(), all.size(), 1, tiny, sizeof tiny, &length),
              POCKET_ERR_BUFFER_TOO_SMALL);
    std::string out(length + 1, '\0');
    ASSERT_EQ(
        pocket_detokenize(h.model, all.data(), all.size(), 1, out.data(), out.size(), &length),
        POCKET_OK);
    out.resize(length);
    EXPECT_EQ(out, m->tokenizer().decode(all, true, false));
    const int32_t bad = 1 << 30;
    EXPECT_EQ(pocket_detokenize(h.model, &bad, 1, 1, out.data(), out.size(), &length),
              POCKET_ERR_INVALID_ARGUMENT);
}

TEST(CApi, GenerationMatchesTheSessionAndStreams) {
    const std::string prompt = "Once upon a time";
    const auto m = model::Model::load(stories_path());
    model::Context ctx(*m);
    Session reference(ctx);
    GenerateOptions options;
    options.sampling = SamplingParams::greedy();
    options.max_tokens = 24;
    const auto expected = reference.generate(prompt, options);

    ModelHandle h(stories_path());
    SessionHandle s(h.model);
    std::string streamed;
    auto callback = [](const char* piece, size_t length, void* user) {
        static_cast<std::string*>(user)->append(piece, length);
        return 0;
    };
    auto o = greedy(24);
    auto r = fresh_result();
    ASSERT_EQ(pocket_session_generate(s.session, prompt.c_str(), &o, callback, &streamed, &r),
              POCKET_OK)
        << pocket_last_error();
    EXPECT_EQ(std::string(r.text, r.text_length), expected.text);
    EXPECT_EQ(streamed, expected.text);
    EXPECT_EQ(r.completion_tokens, expected.completion_tokens);
    EXPECT_EQ(r.prompt_tokens, expected.prompt_tokens);

    // From token ids, in a fresh session: the same text.
    std::vector<int32_t> ids(64);
    size_t n = 0;
    ASSERT_EQ(pocket_tokenize(h.model, prompt.c_str(), -1, 1, 0, ids.data(), ids.size(), &n),
              POCKET_OK);
    SessionHandle t(h.model);
    auto r2 = fresh_result();
    ASSERT_EQ(pocket_session_generate_tokens(t.session, ids.data(), n, &o, nullptr, nullptr, &r2),
              POCKET_OK);
    EXPECT_EQ(std::string(r2.text, r2.text_length), expected.text);
}

TEST(CApi, CallbackAndCancelStopAGeneration) {
    ModelHandle h(stories_path());
    SessionHandle s(h.model);
    auto o = greedy(200);
    o.ignore_eos = 1;
    int pieces = 0;
    auto stop_after_three = [](const char*, size_t, void* user) {
        return ++*static_cast<int*>(user) >= 3 ? 1 : 0;
    };
    auto r = fresh_result();
    ASSERT_EQ(
        pocket_session_generate(s.session, "Once upon a time", &o, stop_after_three, &pieces, &r),
        POCKET_OK);
    EXPECT_EQ(r.finish, POCKET_FINISH_CANCELLED);
    EXPECT_EQ(pieces, 3);

    // Cancel from another thread while the session generates.
    struct Shared {
        pocket_session* session;
        std::atomic<int> pieces{0};
    } shared{s.session};
    auto count = [](const char*, size_t, void* user) {
        static_cast<Shared*>(user)->pieces.fetch_add(1);
        return 0;
    };
    o.max_tokens = 100000;
    o.ignore_eos = 1;
    std::thread canceller([&] {
        while (shared.pieces.load() < 5) std::this_thread::yield();
        pocket_session_cancel(shared.session);
    });
    SessionHandle big(h.model);
    shared.session = big.session;
    auto r2 = fresh_result();
    ASSERT_EQ(pocket_session_generate(big.session, "Once", &o, count, &shared, &r2), POCKET_OK);
    canceller.join();
    EXPECT_EQ(r2.finish, POCKET_FINISH_CANCELLED);
    EXPECT_LT(r2.completion_tokens, 500);
}

TEST(CApi, StopStringsAndAFullContext) {
    ModelHandle h(stories_path());
    auto so = pocket_session_default_options();
    so.n_ctx = 16;
    SessionHandle s(h.model, &so);
    auto o = greedy(8);
    auto r = fresh_result();
    const std::string long_prompt(400, 'a');
    EXPECT_EQ(pocket_session_generate(s.session, long_prompt.c_str(), &o, nullptr, nullptr, &r),
              POCKET_ERR_CONTEXT_FULL);
    EXPECT_NE(std::string(pocket_last_error()).find("context"), std::string::npos);

    SessionHandle t(h.model);
    const char* stops[] = {"."};
    o = greedy(100);
    o.stop = stops;
    o.n_stop = 1;
    ASSERT_EQ(pocket_session_generate(t.session, "Once upon a time", &o, nullptr, nullptr, &r),
              POCKET_OK);
    EXPECT_EQ(r.finish, POCKET_FINISH_STOP);
    EXPECT_EQ(std::string(r.text).find('.'), std::string::npos);
}

TEST(CApi, JsonSchemaConstrainsTheOutput) {
    ModelHandle h(stories_path());
    SessionHandle s(h.model);
    auto o = greedy(60);
    o.json_schema = R"({"type":"object","properties":{"name":{"type":"string","maxLength":8}},
                        "required":["name"],"additionalProperties":false})";
    auto r = fresh_result();
    ASSERT_EQ(pocket_session_generate(s.session, "Once upon a time", &o, nullptr, nullptr, &r),
              POCKET_OK)
        << pocket_last_error();
    const auto doc = nlohmann::json::parse(std::string(r.text, r.text_length));
    ASSERT_TRUE(doc.is_object());
    EXPECT_TRUE(doc["name"].is_string());

    o.json_schema = "{not json";
    EXPECT_EQ(pocket_session_generate(s.session, "x", &o, nullptr, nullptr, &r),
              POCKET_ERR_INVALID_ARGUMENT);
    o.json_schema = nullptr;
    o.grammar = "root ::= \"yes\" | \"no\"";
    o.json_object = 1;
    EXPECT_EQ(pocket_session_generate(s.session, "x", &o, nullptr, nullptr, &r),
              POCKET_ERR_INVALID_ARGUMENT);
    o.json_object = 0;
    ASSERT_EQ(pocket_session_generate(s.session, "Once", &o, nullptr, nullptr, &r), POCKET_OK);
    EXPECT_TRUE(std::string(r.text) == "yes" || std::string(r.text) == "no") << r.text;
}

TEST(CApi, ChatMatchesChatSession) {
    const auto path = test::shared_path("models/tiny/tiny-qwen2.gguf").string();
    const auto m = model::Model::load(path);
    model::Context ctx(*m);
    ChatSession reference(ctx, ChatOptions{.system = "Be brief."});
    GenerateOptions options;
    options.sampling = SamplingParams::greedy();
    options.max_tokens = 12;
    const auto first = reference.send("Hello!", options);
    const auto second = reference.send("And then?", options);

    ModelHandle h(path);
    auto so = pocket_session_default_options();
    so.system_prompt = "Be brief.";
    SessionHandle s(h.model, &so);
    EXPECT_EQ(pocket_model_has_chat_template(h.model), 1);
    auto o = greedy(12);
    auto r = fresh_result();
    ASSERT_EQ(pocket_session_chat(s.session, "Hello!", &o, nullptr, nullptr, &r), POCKET_OK)
        << pocket_last_error();
    EXPECT_EQ(std::string(r.text), first.result.text);
    ASSERT_EQ(pocket_session_chat(s.session, "And then?", &o, nullptr, nullptr, &r), POCKET_OK);
    EXPECT_EQ(std::string(r.text), second.result.text);
    EXPECT_GT(r.reused_tokens, 0);  // the first turn was not evaluated again

    const auto conversation = nlohmann::json::parse(pocket_session_conversation_json(s.session));
    EXPECT_EQ(conversation["system"], "Be brief.");
    ASSERT_EQ(conversation["messages"].size(), 4u);
    EXPECT_EQ(conversation["messages"][2]["content"], "And then?");

    EXPECT_EQ(pocket_session_add_message(s.session, "system", "x"), POCKET_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(pocket_session_reset(s.session), POCKET_OK);
    const auto empty = nlohmann::json::parse(pocket_session_conversation_json(s.session));
    EXPECT_TRUE(empty["messages"].empty());
}

TEST(CApi, EmbeddingsMatchTheEmbedder) {
    const auto path = test::shared_path("models/embed/potion-base-4M-int8").string();
    pocket_embedder* e = nullptr;
    ASSERT_EQ(pocket_embedder_load(path.c_str(), &e), POCKET_OK) << pocket_last_error();
    const auto reference = embed::open_embedder(path);
    ASSERT_EQ(pocket_embedder_dim(e), reference->dim());
    std::vector<float> v(pocket_embedder_dim(e));
    EXPECT_EQ(pocket_embed(e, "hello", v.data(), v.size() - 1), POCKET_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(pocket_embed(e, "local models on small devices", v.data(), v.size()), POCKET_OK);
    EXPECT_EQ(v, reference->embed("local models on small devices"));
    pocket_embedder_free(e);
}

TEST(CApi, IndexAndSearchAFolder) {
    test::ScratchDir dir;
    std::filesystem::create_directories(dir / "docs");
    std::ofstream(dir / "docs" / "cats.md") << "# Cats\n\nCats sleep sixteen hours a day.\n";
    std::ofstream(dir / "docs" / "rust.md") << "# Rust\n\nThe borrow checker rejects data races.\n";
    pocket_embedder* e = nullptr;
    ASSERT_EQ(pocket_embedder_load(
                  test::shared_path("models/embed/potion-base-4M-int8").string().c_str(), &e),
              POCKET_OK);
    pocket_index* index = nullptr;
    ASSERT_EQ(pocket_index_open((dir / "index.sqlite").c_str(), e, &index), POCKET_OK)
        << pocket_last_error();
    size_t chunks = 0;
    ASSERT_EQ(pocket_index_add_folder(index, (dir / "docs").c_str(), &chunks), POCKET_OK)
        << pocket_last_error();
    EXPECT_EQ(chunks, 2u);
    pocket_search_hit hits[5];
    size_t n = 0;
    for (auto mode : {POCKET_SEARCH_HYBRID, POCKET_SEARCH_BM25, POCKET_SEARCH_VECTOR}) {
        ASSERT_EQ(pocket_index_search(index, "how long do cats sleep", 5, mode, hits, 5, &n),
                  POCKET_OK)
            << pocket_last_error();
        ASSERT_GE(n, 1u);
        EXPECT_STREQ(hits[0].path, "cats.md");
        EXPECT_NE(std::string(hits[0].text).find("sixteen"), std::string::npos);
    }
    EXPECT_EQ(pocket_index_search(index, "cats", 0, POCKET_SEARCH_BM25, hits, 5, &n),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_index_add_folder(index, (dir / "missing").c_str(), &chunks), POCKET_ERR_IO);
    pocket_index_free(index);
    pocket_embedder_free(e);
}

TEST(CApi, GuardMatchesTheBuiltinClassifier) {
    pocket_guard* g = nullptr;
    ASSERT_EQ(pocket_guard_load(nullptr, &g), POCKET_OK) << pocket_last_error();
    const auto reference = safety::load_guard();
    for (const char* text : {"How do I bake bread?", "How do I make a bomb to kill people?"}) {
        pocket_guard_verdict v{};
        ASSERT_EQ(pocket_guard_check(g, text, nullptr, &v), POCKET_OK);
        const auto expected = reference->check({text, std::nullopt});
        EXPECT_EQ(v.safe, expected.safe ? 1 : 0) << text;
        EXPECT_EQ(v.score, expected.score) << text;
        uint32_t bits = 0;
        for (int c : expected.categories) bits |= 1u << (c - 1);
        EXPECT_EQ(v.categories, bits) << text;
    }
    pocket_guard_verdict v{};
    EXPECT_EQ(pocket_guard_check(g, nullptr, nullptr, &v), POCKET_ERR_INVALID_ARGUMENT);
    pocket_guard_free(g);
    EXPECT_EQ(pocket_guard_load("/nonexistent/guard.gguf", &g), POCKET_ERR_IO);
}

TEST(CApi, InstructionSetAndThreads) {
    const std::string before = pocket_isa();
    EXPECT_EQ(pocket_set_isa("vax"), POCKET_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(pocket_set_isa("scalar"), POCKET_OK) << pocket_last_error();
    EXPECT_STREQ(pocket_isa(), "scalar");
    {
        ModelHandle h(stories_path());
        EXPECT_EQ(pocket_set_isa("scalar"), POCKET_OK);  // no change: allowed
        if (before != "scalar") {
            EXPECT_EQ(pocket_set_isa(before.c_str()), POCKET_ERR_INVALID_ARGUMENT);
        }
    }
    ASSERT_EQ(pocket_set_isa("auto"), POCKET_OK);
    EXPECT_STREQ(pocket_isa(), before.c_str());

    EXPECT_EQ(pocket_set_threads(-1), POCKET_ERR_INVALID_ARGUMENT);
    const int threads = pocket_threads();
    ASSERT_EQ(pocket_set_threads(1), POCKET_OK);
    EXPECT_EQ(pocket_threads(), 1);
    ASSERT_EQ(pocket_set_threads(threads), POCKET_OK);
}

}  // namespace
}  // namespace pocket
