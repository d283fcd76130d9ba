#include "server/metrics.h"

#include <charconv>
#include <cmath>

namespace pocket::server {

const std::vector<double>& latency_buckets() {
    static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5,   1,      2.5,   5,    10,    30,   60};
    return buckets;
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

// Shortest text that reads back as the same double; Prometheus' own spellings for the rest.
std::string format_double(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

template <class T>
void scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            T value) {
    header(out, name, type, help);
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

void Metrics::Histogram::observe(double seconds) {
    if (std::isnan(seconds)) return;  // would poison _sum forever
    const auto& bounds = latency_buckets();
    // Each observation lands in the first bucket that holds it; render() accumulates, so the
    // exposed buckets are cumulative as Prometheus requires.
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (seconds <= bounds[i]) {
            ++counts[i];
            break;
        }
    }
    ++count;
    sum += seconds;
}

void Metrics::count_request(std::string_view endpoint, int status) {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(std::string(endpoint), status);
    auto it = requests_.find(key);
    if (it == requests_.end() && requests_.size() >= kMaxRequestSeries) {
        key.first = "other";
        it = requests_.find(key);
    }
    if (it == requests_.end()) it = requests_.emplace(std::move(key), 0).first;
    ++it->second;
}

void Metrics::add_prompt_tokens(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += n;
}
void Metrics::add_generated_tokens(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    generated_tokens_ += n;
}
void Metrics::add_prompt_tokens_cached(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    prompt_tokens_cached_ += n;
}
void Metrics::set_queue_depth(std::int64_t n) {
    std::lock_guard lock(mutex_);
    queue_depth_ = n;
}
void Metrics::set_slots_busy(std::int64_t n) {
    std::lock_guard lock(mutex_);
    slots_busy_ = n;
}
void Metrics::set_slots_total(std::int64_t n) {
    std::lock_guard lock(mutex_);
    slots_total_ = n;
}
void Metrics::set_models_loaded(std::int64_t n) {
    std::lock_guard lock(mutex_);
    models_loaded_ = n;
}
void Metrics::observe_time_to_first_token(double seconds) {
    std::lock_guard lock(mutex_);
    ttft_.observe(seconds);
}
void Metrics::observe_time_per_output_token(double seconds) {
    std::lock_guard lock(mutex_);
    tpot_.observe(seconds);
}
void Metrics::observe_request_duration(double seconds) {
    std::lock_guard lock(mutex_);
    request_duration_.observe(seconds);
}

namespace {

void histogram(std::string& out, std::string_view name, std::string_view help,
               const std::vector<std::uint64_t>& counts, std::uint64_t count, double sum) {
    header(out, name, "histogram", help);
    const auto& bounds = latency_buckets();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += counts[i];
        out.append(name).append("_bucket{le=\"").append(format_double(bounds[i])).append("\"} ");
        out.append(std::to_string(cumulative)).append("\n");
    }
    out.append(name).append("_bucket{le=\"+Inf\"} ").append(std::to_string(count)).append("\n");
    out.append(name).append("_sum ").append(format_double(sum)).append("\n");
    out.append(name).append("_count ").append(std::to_string(count)).append("\n");
}

}  // namespace

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    header(out, "pocket_requests_total", "counter",
           "HTTP requests answered, by endpoint and status.");
    for (const auto& [key, n] : requests_) {
        out.append("pocket_requests_total{endpoint=\"").append(escape_label_value(key.first));
        out.append("\",status=\"").append(std::to_string(key.second)).append("\"} ");
        out.append(std::to_string(n)).append("\n");
    }
    scalar(out, "pocket_prompt_tokens_total", "counter", "Prompt tokens processed.",
           prompt_tokens_);
    scalar(out, "pocket_generated_tokens_total", "counter", "Tokens generated.", generated_tokens_);
    scalar(out, "pocket_prompt_tokens_cached_total", "counter",
           "Prompt tokens reused from the KV cache instead of evaluated.", prompt_tokens_cached_);
    scalar(out, "pocket_queue_depth", "gauge", "Requests waiting for a slot.", queue_depth_);
    scalar(out, "pocket_slots_busy", "gauge", "Slots generating now.", slots_busy_);
    scalar(out, "pocket_slots_total", "gauge", "Slots available for generation.", slots_total_);
    scalar(out, "pocket_models_loaded", "gauge", "Models loaded in memory.", models_loaded_);
    histogram(out, "pocket_time_to_first_token_seconds",
              "Time from a request's arrival to its first generated token.", ttft_.counts,
              ttft_.count, ttft_.sum);
    histogram(out, "pocket_time_per_output_token_seconds",
              "Mean time per generated token after the first, one observation per request.",
              tpot_.counts, tpot_.count, tpot_.sum);
    histogram(out, "pocket_request_duration_seconds", "Time from a request's arrival to its end.",
              request_duration_.counts, request_duration_.count, request_duration_.sum);
    return out;
}

}  // namespace pocket::server
