#include "server/api_error.h"

#include <gtest/gtest.h>

namespace pocket::server {
namespace {

TEST(ApiError, OpenAiBodyHasAllFourKeysWithNulls) {
    const ApiError e(400, "invalid_request_error", "bad thing");
    const nlohmann::json expected = nlohmann::json::parse(
        R"({"error":{"message":"bad thing","type":"invalid_request_error","param":null,"code":null}})");
    EXPECT_EQ(openai_error_body(e), expected);
    EXPECT_STREQ(e.what(), "bad thing");
    EXPECT_EQ(e.status(), 400);
}

TEST(ApiError, OpenAiBodyCarriesParamAndCode) {
    const nlohmann::json body = openai_error_body(not_found_model("tiny"));
    EXPECT_EQ(body["error"]["param"], "model");
    EXPECT_EQ(body["error"]["code"], "model_not_found");
    EXPECT_EQ(body["error"]["type"], "not_found_error");
    EXPECT_NE(body["error"]["message"].get<std::string>().find("`tiny`"), std::string::npos);
    EXPECT_EQ(body.size(), 1u);
    EXPECT_EQ(body["error"].size(), 4u);
}

TEST(ApiError, OllamaBodyIsJustTheMessage) {
    EXPECT_EQ(ollama_error_body(bad_request("nope")), nlohmann::json::parse(R"({"error":"nope"})"));
}

TEST(ApiError, FactoriesSetStatusTypeAndCode) {
    const ApiError br = bad_request("x", "temperature");
    EXPECT_EQ(br.status(), 400);
    EXPECT_EQ(br.type(), "invalid_request_error");
    EXPECT_EQ(br.param(), "temperature");
    EXPECT_FALSE(br.code());

    const ApiError un = unauthorized();
    EXPECT_EQ(un.status(), 401);
    EXPECT_EQ(un.type(), "authentication_error");
    EXPECT_EQ(un.code(), "invalid_api_key");

    EXPECT_EQ(forbidden("f").status(), 403);
    EXPECT_EQ(not_found("/nope").status(), 404);
    EXPECT_EQ(method_not_allowed("PUT", "/v1/models").status(), 405);

    const ApiError big = payload_too_large(1024);
    EXPECT_EQ(big.status(), 413);
    EXPECT_NE(big.message().find("1024"), std::string::npos);

    const ApiError ctx = context_length_exceeded(5000, 4096);
    EXPECT_EQ(ctx.status(), 400);
    EXPECT_EQ(ctx.code(), "context_length_exceeded");
    EXPECT_EQ(ctx.param(), "messages");
    EXPECT_EQ(ctx.message(),
              "This model's maximum context length is 4096 tokens. However, your messages "
              "resulted in 5000 tokens. Please reduce the length of the messages.");

    const ApiError busy = overloaded(7);
    EXPECT_EQ(busy.status(), 503);
    EXPECT_EQ(busy.type(), "server_error");
    EXPECT_EQ(busy.retry_after_s(), 7);

    const ApiError rl = rate_limited(3);
    EXPECT_EQ(rl.status(), 429);
    EXPECT_EQ(rl.type(), "rate_limit_error");
    EXPECT_EQ(rl.retry_after_s(), 3);

    EXPECT_EQ(internal_error().status(), 500);
    EXPECT_EQ(internal_error().retry_after_s(), 0);
    EXPECT_EQ(not_implemented("n", "logit_bias").status(), 501);
}

TEST(ApiError, IsCatchableAsStdException) {
    try {
        throw not_found_model("m");
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("`m`"), std::string::npos);
        return;
    }
    FAIL();
}

}  // namespace
}  // namespace pocket::server
