// Errors the HTTP server returns to clients, and their JSON bodies in the OpenAI and Ollama
// shapes. Handlers throw ApiError; one catch site turns it into a response, so a status, an
// error type and a message always travel together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pocket::server {

class ApiError : public std::exception {
  public:
    // `type` is the OpenAI error type ("invalid_request_error", "authentication_error",
    // "not_found_error", "rate_limit_error", "server_error", ...); `param` names the offending
    // request field; `code` is the machine-readable code ("context_length_exceeded", ...).
    ApiError(int status, std::string type, std::string message,
             std::optional<std::string> param = std::nullopt,
             std::optional<std::string> code = std::nullopt);

    const char* what() const noexcept override { return message_.c_str(); }
    int status() const noexcept { return status_; }
    const std::string& type() const noexcept { return type_; }
    const std::string& message() const noexcept { return message_; }
    const std::optional<std::string>& param() const noexcept { return param_; }
    const std::optional<std::string>& code() const noexcept { return code_; }

    // Seconds for a Retry-After header (429/503); 0 means send none.
    int retry_after_s() const noexcept { return retry_after_s_; }
    ApiError& with_retry_after(int seconds) {
        retry_after_s_ = seconds;
        return *this;
    }

  private:
    int status_;
    std::string type_;
    std::string message_;
    std::optional<std::string> param_;
    std::optional<std::string> code_;
    int retry_after_s_ = 0;
};

// {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}
nlohmann::json openai_error_body(const ApiError& e);
// {"error": "message"}
nlohmann::json ollama_error_body(const ApiError& e);

// 400 invalid_request_error.
ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt,
                     std::optional<std::string> code = std::nullopt);
// 401 authentication_error, code "invalid_api_key".
ApiError unauthorized(std::string message =
                          "Invalid or missing API key. Send it as "
                          "'Authorization: Bearer <key>'.");
// 403 permission_error.
ApiError forbidden(std::string message);
// 404 not_found_error for an unknown route or resource.
ApiError not_found(std::string message);
// 404 not_found_error, param "model", code "model_not_found" (OpenAI's wording).
ApiError not_found_model(std::string_view name);
// 405 invalid_request_error.
ApiError method_not_allowed(std::string_view method, std::string_view path);
// 413 invalid_request_error, code "payload_too_large".
ApiError payload_too_large(std::size_t limit_bytes);
// 400 invalid_request_error, param "messages", code "context_length_exceeded".
ApiError context_length_exceeded(std::int64_t n_prompt, std::int64_t n_ctx);
// 429 rate_limit_error with Retry-After.
ApiError rate_limited(int retry_after_s);
// 503 server_error, code "overloaded", with Retry-After: every slot and the queue are full.
ApiError overloaded(int retry_after_s);
// 500 server_error.
ApiError internal_error(std::string message =
                            "The server had an error while processing your "
                            "request.");
// 501 not_supported_error: a valid request for something pocket does not do.
ApiError not_implemented(std::string message, std::optional<std::string> param = std::nullopt);

}  // namespace pocket::server
