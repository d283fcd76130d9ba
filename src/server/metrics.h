// The server's Prometheus metrics, rendered for GET /metrics in the text exposition format
// (version 0.0.4). A mutex guards everything: updates happen a few times per request (and per
// generated token at most), far below where contention would show.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pocket::server {

// Upper bounds of the latency histograms, in seconds: 1 ms to 60 s, roughly 1-2.5-5 per decade.
const std::vector<double>& latency_buckets();

class Metrics {
  public:
    // Distinct {endpoint, status} pairs kept before new ones are counted as endpoint="other", so
    // a client probing random paths cannot grow the registry without bound. Pass route patterns
    // ("/v1/chat/completions"), not raw paths, as endpoints.
    static constexpr std::size_t kMaxRequestSeries = 256;

    void count_request(std::string_view endpoint, int status);
    void add_prompt_tokens(std::uint64_t n);
    void add_generated_tokens(std::uint64_t n);
    void add_prompt_tokens_cached(std::uint64_t n);  // prompt tokens reused from the KV cache

    void set_queue_depth(std::int64_t n);
    void set_slots_busy(std::int64_t n);
    void set_slots_total(std::int64_t n);
    void set_models_loaded(std::int64_t n);

    void observe_time_to_first_token(double seconds);
    void observe_time_per_output_token(double seconds);
    void observe_request_duration(double seconds);

    std::string render() const;

  private:
    struct Histogram {
        std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(latency_buckets().size());
        std::uint64_t count = 0;  // also the +Inf bucket
        double sum = 0;
        void observe(double seconds);
    };

    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, std::uint64_t> requests_;
    std::uint64_t prompt_tokens_ = 0;
    std::uint64_t generated_tokens_ = 0;
    std::uint64_t prompt_tokens_cached_ = 0;
    std::int64_t queue_depth_ = 0;
    std::int64_t slots_busy_ = 0;
    std::int64_t slots_total_ = 0;
    std::int64_t models_loaded_ = 0;
    Histogram ttft_;
    Histogram tpot_;
    Histogram request_duration_;
};

// A label value escaped for the exposition format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace pocket::server
