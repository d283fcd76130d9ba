// LoRA adapters through the C API (API version 4): a session with an adapter writes the greedy
// text of the model libpocket's merge_lora writes (an independent path: the weights changed on
// disk, not the matmuls), scale 0 is the base model, the KV cache is dropped when the adapters
// change, freeing an adapter while a session uses it is safe, and the failures are statuses with
// messages (a missing file, a file that is not an adapter, another model's shapes or handle).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "capi/capi_handles.h"
#include "pocket.h"
#include "pocket/core/dtype.h"
#include "pocket/model/lora.h"
#include "pocket/model/model.h"
#include "support/random_lora.h"
#include "support/test_support.h"

namespace pocket {
namespace {

using test::ModelHandle;
using test::SessionHandle;
using test::stories_path;

struct AdapterHandle {
    pocket_adapter* adapter = nullptr;
    AdapterHandle(const pocket_model* model, const std::string& path) {
        EXPECT_EQ(pocket_adapter_load(model, path.c_str(), &adapter), POCKET_OK)
            << pocket_last_error();
    }
    ~AdapterHandle() { pocket_adapter_free(adapter); }
};

const char* const kPrompt = "Once upon a time";

// The greedy continuation of kPrompt, 40 tokens; reused gets the result's reused_tokens.
std::string greedy(pocket_session* session, int64_t* reused = nullptr) {
    auto o = pocket_generate_default_options();
    o.temperature = 0;
    o.max_tokens = 40;
    pocket_generation r{};
    r.struct_size = sizeof r;
    EXPECT_EQ(pocket_session_generate(session, kPrompt, &o, nullptr, nullptr, &r), POCKET_OK)
        << pocket_last_error();
    if (reused != nullptr) *reused = r.reused_tokens;
    return std::string(r.text, r.text_length);
}

class CApiLora : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new test::ScratchDir();
        const auto base = model::Model::load(stories_path());
        // Mild (B small): the text changes but stays text, so equal outputs mean something.
        const auto adapter = test::random_lora(*base, 21, 4, 8.0f, test::kAllProjections, 0.1f);
        adapter_ = (*dir_ / "adapter.gguf").string();
        adapter->save(adapter_, DType::F32);
        merged_ = (*dir_ / "merged.gguf").string();
        const model::AppliedLora applied[] = {{adapter, 1.0f}};
        model::merge_lora(std::filesystem::path(stories_path()), applied, merged_, DType::F32);
        // An adapter of the same architecture for a model of other shapes.
        const auto other = model::Model::load(test::shared_path("models/tiny/tiny-llama-spm.gguf"));
        other_adapter_ = (*dir_ / "other-adapter.gguf").string();
        test::random_lora(*other, 5)->save(other_adapter_, DType::F32);
    }
    static void TearDownTestSuite() { delete dir_; }

    static test::ScratchDir* dir_;
    static std::string adapter_, merged_, other_adapter_;
};

test::ScratchDir* CApiLora::dir_ = nullptr;
std::string CApiLora::adapter_, CApiLora::merged_, CApiLora::other_adapter_;

TEST_F(CApiLora, AnAdaptedSessionWritesTheMergedModelsText) {
    ModelHandle merged(merged_);
    SessionHandle merged_session(merged.model);
    const std::string expected = greedy(merged_session.session);

    ModelHandle base(stories_path());
    AdapterHandle adapter(base.model, adapter_);
    ASSERT_NE(adapter.adapter, nullptr);
    SessionHandle session(base.model);
    const std::string plain = greedy(session.session);
    EXPECT_NE(plain, expected);

    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, nullptr, 1), POCKET_OK)
        << pocket_last_error();
    EXPECT_EQ(greedy(session.session), expected);

    // Half the adapter twice is the whole adapter.
    const pocket_adapter* twice[] = {adapter.adapter, adapter.adapter};
    const float halves[] = {0.5f, 0.5f};
    ASSERT_EQ(pocket_session_set_adapters(session.session, twice, halves, 2), POCKET_OK);
    EXPECT_EQ(greedy(session.session), expected);

    // Scale 0 is the base model, and so is no adapter.
    const float zero = 0.0f;
    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, &zero, 1), POCKET_OK);
    EXPECT_EQ(greedy(session.session), plain);
    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, nullptr, 1),
              POCKET_OK);
    EXPECT_EQ(greedy(session.session), expected);
    ASSERT_EQ(pocket_session_set_adapters(session.session, nullptr, nullptr, 0), POCKET_OK);
    EXPECT_EQ(greedy(session.session), plain);
}

TEST_F(CApiLora, ChangingTheAdaptersDropsTheCache) {
    ModelHandle base(stories_path());
    AdapterHandle adapter(base.model, adapter_);
    SessionHandle session(base.model);
    int64_t reused = -1;
    greedy(session.session, &reused);
    EXPECT_EQ(reused, 0);
    greedy(session.session, &reused);
    EXPECT_GT(reused, 0);  // the prompt was cached by the first call

    ASSERT_EQ(pocket_session_add_message(session.session, "user", "a message to keep"), POCKET_OK);
    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, nullptr, 1),
              POCKET_OK);
    // The conversation stays; only the cached keys and values go.
    EXPECT_NE(
        std::string(pocket_session_conversation_json(session.session)).find("a message to keep"),
        std::string::npos);
    greedy(session.session, &reused);
    EXPECT_EQ(reused, 0);  // computed without the adapter: not reused
    // The same adapters at the same scale keep the cache.
    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, nullptr, 1),
              POCKET_OK);
    greedy(session.session, &reused);
    EXPECT_GT(reused, 0);
    const float other_scale = 0.5f;
    ASSERT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, &other_scale, 1),
              POCKET_OK);
    greedy(session.session, &reused);
    EXPECT_EQ(reused, 0);
}

TEST_F(CApiLora, SessionsKeepAnAdapterFreedBeforeThem) {
    ModelHandle merged(merged_);
    SessionHandle merged_session(merged.model);
    const std::string expected = greedy(merged_session.session);

    ModelHandle base(stories_path());
    pocket_adapter* adapter = nullptr;
    ASSERT_EQ(pocket_adapter_load(base.model, adapter_.c_str(), &adapter), POCKET_OK)
        << pocket_last_error();
    SessionHandle first(base.model), second(base.model);
    ASSERT_EQ(pocket_session_set_adapters(first.session, &adapter, nullptr, 1), POCKET_OK);
    ASSERT_EQ(pocket_session_set_adapters(second.session, &adapter, nullptr, 1), POCKET_OK);
    pocket_adapter_free(adapter);
    pocket_adapter_free(nullptr);  // allowed
    EXPECT_EQ(greedy(first.session), expected);
    EXPECT_EQ(greedy(second.session), expected);
}

TEST_F(CApiLora, LoadFailuresAreStatusesWithMessages) {
    ModelHandle base(stories_path());
    pocket_adapter* adapter = reinterpret_cast<pocket_adapter*>(0x1);  // must be reset

    EXPECT_EQ(pocket_adapter_load(base.model, "/nonexistent/adapter.gguf", &adapter),
              POCKET_ERR_IO);
    EXPECT_EQ(adapter, nullptr);
    EXPECT_NE(std::string(pocket_last_error()).find("/nonexistent/adapter.gguf"),
              std::string::npos);

    // A model file is not an adapter.
    EXPECT_EQ(pocket_adapter_load(base.model, stories_path().c_str(), &adapter), POCKET_ERR_FORMAT);
    EXPECT_EQ(adapter, nullptr);
    EXPECT_NE(std::string(pocket_last_error()).find("not a LoRA adapter"), std::string::npos)
        << pocket_last_error();

    // An adapter for a llama model of other shapes.
    EXPECT_EQ(pocket_adapter_load(base.model, other_adapter_.c_str(), &adapter), POCKET_ERR_FORMAT);
    EXPECT_EQ(adapter, nullptr);
    const std::string error = pocket_last_error();
    EXPECT_NE(error.find("other-adapter.gguf"), std::string::npos) << error;
    EXPECT_NE(error.find("the LoRA pair for '"), std::string::npos) << error;  // names a tensor
    EXPECT_NE(error.find("expected ["), std::string::npos) << error;           // and its shapes

    EXPECT_EQ(pocket_adapter_load(nullptr, adapter_.c_str(), &adapter),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_adapter_load(base.model, nullptr, &adapter), POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_adapter_load(base.model, adapter_.c_str(), nullptr),
              POCKET_ERR_INVALID_ARGUMENT);
}

TEST_F(CApiLora, SetAdaptersRefusesOtherModelsAndBadArgumentsChangingNothing) {
    ModelHandle base(stories_path());
    ModelHandle same_file(stories_path());  // another model handle, though from the same file
    AdapterHandle adapter(base.model, adapter_);
    AdapterHandle foreign(same_file.model, adapter_);
    SessionHandle session(base.model);
    const std::string plain = greedy(session.session);
    int64_t reused = -1;

    EXPECT_EQ(pocket_session_set_adapters(session.session, &foreign.adapter, nullptr, 1),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(pocket_last_error()).find("another model"), std::string::npos)
        << pocket_last_error();
    const pocket_adapter* with_null[] = {adapter.adapter, nullptr};
    EXPECT_EQ(pocket_session_set_adapters(session.session, with_null, nullptr, 2),
              POCKET_ERR_INVALID_ARGUMENT);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(pocket_session_set_adapters(session.session, &adapter.adapter, &nan, 1),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_session_set_adapters(session.session, nullptr, nullptr, 1),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pocket_session_set_adapters(nullptr, &adapter.adapter, nullptr, 1),
              POCKET_ERR_INVALID_ARGUMENT);

    // None of those changed the session: no adapter, the cache kept.
    EXPECT_EQ(greedy(session.session, &reused), plain);
    EXPECT_GT(reused, 0);
}

}  // namespace
}  // namespace pocket
