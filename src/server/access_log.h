// One JSON object per line per request (stderr in production), so logs can be read by people
// and by jq alike. Prompts are private: they are written only when the operator opted in.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace pocket::server {

struct AccessRecord {
    std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
    std::string remote_addr;
    std::string method;
    std::string path;
    int status = 0;
    double duration_ms = 0;
    std::string model;  // empty: not a model request
    std::optional<std::int64_t> prompt_tokens;
    std::optional<std::int64_t> completion_tokens;
    std::string prompt;            // written only with log_prompts
    std::string route;             // "local" or "cloud" when routing is on
    nlohmann::ordered_json guard;  // the guard's decisions, when any
};

// "2024-05-01T12:34:56.789Z"
std::string iso8601_utc(std::chrono::system_clock::time_point t);

// The record as one line of JSON, without the newline. Keys: time, remote_addr, method, path,
// status, duration_ms, and when set model, prompt_tokens, completion_tokens, prompt. Bytes that
// are not UTF-8 (a client's raw path) become U+FFFD rather than failing the log line.
std::string format_access_line(const AccessRecord& r, bool log_prompts);

class AccessLog {
  public:
    AccessLog(std::ostream& out, bool log_prompts) : out_(out), log_prompts_(log_prompts) {}

    // Thread-safe: the line is built first, then written and flushed under a lock, so lines from
    // concurrent requests never interleave.
    void write(const AccessRecord& r);

    bool log_prompts() const { return log_prompts_; }

  private:
    std::mutex mutex_;
    std::ostream& out_;
    bool log_prompts_;
};

}  // namespace pocket::server
