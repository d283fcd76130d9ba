#include "server/api_error.h"

#include <utility>

namespace pocket::server {

ApiError::ApiError(int status, std::string type, std::string message,
                   std::optional<std::string> param, std::optional<std::string> code)
    : status_(status),
      type_(std::move(type)),
      message_(std::move(message)),
      param_(std::move(param)),
      code_(std::move(code)) {}

namespace {

nlohmann::json or_null(const std::optional<std::string>& s) {
    return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json openai_error_body(const ApiError& e) {
    // OpenAI always sends all four keys, with null for what does not apply; some clients index
    // them without checking, so they are never omitted.
    return {{"error",
             {{"message", e.message()},
              {"type", e.type()},
              {"param", or_null(e.param())},
              {"code", or_null(e.code())}}}};
}

nlohmann::json ollama_error_body(const ApiError& e) {
    return {{"error", e.message()}};
}

ApiError bad_request(std::string message, std::optional<std::string> param,
                     std::optional<std::string> code) {
    return ApiError(400, "invalid_request_error", std::move(message), std::move(param),
                    std::move(code));
}

ApiError unauthorized(std::string message) {
    return ApiError(401, "authentication_error", std::move(message), std::nullopt,
                    "invalid_api_key");
}

ApiError forbidden(std::string message) {
    return ApiError(403, "permission_error", std::move(message));
}

ApiError not_found(std::string message) {
    return ApiError(404, "not_found_error", std::move(message));
}

ApiError not_found_model(std::string_view name) {
    return ApiError(404, "not_found_error", "The model `" + std::string(name) + "` does not exist.",
                    "model", "model_not_found");
}

ApiError method_not_allowed(std::string_view method, std::string_view path) {
    return ApiError(
        405, "invalid_request_error",
        "Method " + std::string(method) + " is not allowed for " + std::string(path) + ".");
}

ApiError payload_too_large(std::size_t limit_bytes) {
    return ApiError(
        413, "invalid_request_error",
        "Request body is larger than the limit of " + std::to_string(limit_bytes) + " bytes.",
        std::nullopt, "payload_too_large");
}

ApiError context_length_exceeded(std::int64_t n_prompt, std::int64_t n_ctx) {
    // OpenAI's wording, so clients that pattern-match it (to trim history and retry) still work.
    return ApiError(400, "invalid_request_error",
                    "This model's maximum context length is " + std::to_string(n_ctx) +
                        " tokens. However, your messages resulted in " + std::to_string(n_prompt) +
                        " tokens. Please reduce the length of the messages.",
                    "messages", "context_length_exceeded");
}

ApiError rate_limited(int retry_after_s) {
    return ApiError(429, "rate_limit_error", "Too many requests; retry later.", std::nullopt,
                    "rate_limit_exceeded")
        .with_retry_after(retry_after_s);
}

ApiError overloaded(int retry_after_s) {
    return ApiError(503, "server_error",
                    "The server is overloaded: every slot is busy and the queue is full. Retry "
                    "after " +
                        std::to_string(retry_after_s) + " s.",
                    std::nullopt, "overloaded")
        .with_retry_after(retry_after_s);
}

ApiError internal_error(std::string message) {
    return ApiError(500, "server_error", std::move(message));
}

ApiError not_implemented(std::string message, std::optional<std::string> param) {
    return ApiError(501, "not_supported_error", std::move(message), std::move(param));
}

}  // namespace pocket::server
