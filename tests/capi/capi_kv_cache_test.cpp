// The KV cache types of pocket_session_options (API version 2): llama.cpp's names, a bad one
// refused as an invalid argument with the accepted names, and a caller built against the older,
// shorter struct getting the F16 cache.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "pocket.h"
#include "support/test_support.h"

namespace pocket {
namespace {

struct Model {
    pocket_model* model = nullptr;
    Model() {
        const auto path = test::shared_path("models/stories260K.gguf").string();
        EXPECT_EQ(pocket_model_load(path.c_str(), nullptr, &model), POCKET_OK)
            << pocket_last_error();
    }
    ~Model() { pocket_model_free(model); }
};

TEST(CApiKvCache, BadTypeNamesAreInvalidArguments) {
    Model m;
    for (const char* bad : {"q5_0", "fp16", "Q8"}) {
        for (bool keys : {true, false}) {
            auto so = pocket_session_default_options();
            (keys ? so.cache_type_k : so.cache_type_v) = bad;
            pocket_session* s = reinterpret_cast<pocket_session*>(&so);  // must be reset
            EXPECT_EQ(pocket_session_create(m.model, &so, &s), POCKET_ERR_INVALID_ARGUMENT);
            EXPECT_EQ(s, nullptr);
            const std::string error = pocket_last_error();
            EXPECT_NE(error.find(std::string("'") + bad + "'"), std::string::npos) << error;
            EXPECT_NE(error.find("f16, q8_0 or q4_0"), std::string::npos) << error;
        }
    }
}

TEST(CApiKvCache, KnownNamesAndTheOlderStructAreAccepted) {
    Model m;
    for (const char* name : {"f16", "q8_0", "Q4_0", ""}) {
        auto so = pocket_session_default_options();
        so.cache_type_k = name;
        so.cache_type_v = name;
        pocket_session* s = nullptr;
        EXPECT_EQ(pocket_session_create(m.model, &so, &s), POCKET_OK) << pocket_last_error();
        pocket_session_free(s);
    }
    // A caller that knows only version 1's fields: what lies past its struct_size is not read.
    auto so = pocket_session_default_options();
    so.struct_size = offsetof(pocket_session_options, cache_type_k);
    so.cache_type_k = "not a type";
    pocket_session* s = nullptr;
    EXPECT_EQ(pocket_session_create(m.model, &so, &s), POCKET_OK) << pocket_last_error();
    pocket_session_free(s);
}

// pocket_*_options_init writes exactly the caller's struct_size: a program built with an older,
// shorter struct (here: version 1's session options) gets its fields filled and nothing past
// them touched; a size from a newer header than the library is refused and nothing is written.
TEST(CApiKvCache, OptionsInitWritesOnlyTheCallersSize) {
    constexpr size_t kOld = offsetof(pocket_session_options, cache_type_k);
    alignas(pocket_session_options) unsigned char bytes[sizeof(pocket_session_options) + 16];
    std::memset(bytes, 0xAB, sizeof bytes);
    auto* so = reinterpret_cast<pocket_session_options*>(bytes);
    ASSERT_EQ(pocket_session_options_init(so, kOld), POCKET_OK) << pocket_last_error();
    EXPECT_EQ(so->struct_size, kOld);
    EXPECT_EQ(so->n_batch, 512);
    for (size_t i = kOld; i < sizeof bytes; ++i) ASSERT_EQ(bytes[i], 0xAB) << "byte " << i;

    std::memset(bytes, 0xAB, sizeof bytes);
    EXPECT_EQ(pocket_session_options_init(so, sizeof(pocket_session_options) + 8),
              POCKET_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(pocket_last_error()).find("struct_size"), std::string::npos);
    for (unsigned char b : bytes) ASSERT_EQ(b, 0xAB);
    EXPECT_EQ(pocket_session_options_init(nullptr, sizeof(pocket_session_options)),
              POCKET_ERR_INVALID_ARGUMENT);

    pocket_generate_options go;
    ASSERT_EQ(pocket_generate_options_init(&go, sizeof go), POCKET_OK);
    EXPECT_EQ(go.struct_size, sizeof go);
    EXPECT_EQ(go.max_tokens, 256);
    pocket_model_options mo;
    ASSERT_EQ(pocket_model_options_init(&mo, sizeof mo), POCKET_OK);
    EXPECT_EQ(mo.interleave, 1);
}

}  // namespace
}  // namespace pocket
