#include "server/access_log.h"

#include <cmath>
#include <ctime>

#include <nlohmann/json.hpp>

namespace pocket::server {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
    // Floor division, so instants before 1970 still get a non-negative millisecond part.
    std::int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);  // gmtime() shares one buffer across threads
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, static_cast<int>(frac));
    return out;
}

std::string format_access_line(const AccessRecord& r, bool log_prompts) {
    nlohmann::ordered_json j;  // ordered: the fixed key order makes lines easy to scan by eye
    j["time"] = iso8601_utc(r.time);
    j["remote_addr"] = r.remote_addr;
    j["method"] = r.method;
    j["path"] = r.path;
    j["status"] = r.status;
    j["duration_ms"] = std::round(r.duration_ms * 1000) / 1000;  // microseconds are plenty
    if (!r.model.empty()) j["model"] = r.model;
    if (r.prompt_tokens) j["prompt_tokens"] = *r.prompt_tokens;
    if (r.completion_tokens) j["completion_tokens"] = *r.completion_tokens;
    if (!r.route.empty()) j["route"] = r.route;
    if (r.guard.is_array() && !r.guard.empty()) j["guard"] = r.guard;
    if (log_prompts && !r.prompt.empty()) j["prompt"] = r.prompt;
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void AccessLog::write(const AccessRecord& r) {
    std::string line = format_access_line(r, log_prompts_);
    line += '\n';
    std::lock_guard lock(mutex_);
    out_.write(line.data(), static_cast<std::streamsize>(line.size()));
    out_.flush();
}

}  // namespace pocket::server
