#include "server/metrics.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pocket::server {
namespace {

// A strict reader of the text exposition format: every sample line must be
// name{label="value",...} number, with escapes undone, so the test checks what a scraper sees.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value;
};

struct Exposition {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;  // from # TYPE
    std::map<std::string, std::string> helps;  // from # HELP
};

// [a-zA-Z_:][a-zA-Z0-9_:]*, the metric and label name syntax.
bool valid_name(const std::string& s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
    }
    return true;
}

Exposition parse(const std::string& text) {
    Exposition e;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("# TYPE ", 0) == 0 || line.rfind("# HELP ", 0) == 0) {
            const std::string rest = line.substr(7);
            const auto sp = rest.find(' ');
            EXPECT_NE(sp, std::string::npos) << line;
            auto& m = line[2] == 'T' ? e.types : e.helps;
            EXPECT_FALSE(m.count(rest.substr(0, sp))) << "repeated: " << line;
            m[rest.substr(0, sp)] = rest.substr(sp + 1);
            continue;
        }
        EXPECT_NE(line[0], '#') << line;
        Sample s;
        size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
        s.name = line.substr(0, i);
        EXPECT_TRUE(valid_name(s.name)) << line;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (line.at(i) != '}') {
                const size_t eq = line.find('=', i);
                const std::string key = line.substr(i, eq - i);
                EXPECT_TRUE(valid_name(key)) << line;
                i = eq + 1;
                EXPECT_EQ(line.at(i), '"') << line;
                ++i;
                std::string value;
                while (line.at(i) != '"') {
                    if (line[i] == '\\') {
                        const char c = line.at(++i);
                        EXPECT_TRUE(c == '\\' || c == '"' || c == 'n') << line;
                        value += c == 'n' ? '\n' : c;
                    } else {
                        value += line[i];
                    }
                    ++i;
                }
                ++i;
                s.labels[key] = value;
                if (line.at(i) == ',') ++i;
            }
            ++i;
        }
        EXPECT_EQ(line.at(i), ' ') << line;
        const std::string number = line.substr(i + 1);
        char* end = nullptr;
        s.value = std::strtod(number.c_str(), &end);
        EXPECT_EQ(*end, '\0') << line;
        e.samples.push_back(std::move(s));
    }
    return e;
}

const Sample* find(const Exposition& e, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
    for (const auto& s : e.samples) {
        if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
}

double value(const Exposition& e, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
    const Sample* s = find(e, name, labels);
    EXPECT_NE(s, nullptr) << name;
    return s ? s->value : std::nan("");
}

TEST(Metrics, EveryMetricHasHelpAndType) {
    const Exposition e = parse(Metrics().render());
    const std::map<std::string, std::string> expected = {
        {"pocket_requests_total", "counter"},
        {"pocket_prompt_tokens_total", "counter"},
        {"pocket_generated_tokens_total", "counter"},
        {"pocket_prompt_tokens_cached_total", "counter"},
        {"pocket_queue_depth", "gauge"},
        {"pocket_slots_busy", "gauge"},
        {"pocket_slots_total", "gauge"},
        {"pocket_models_loaded", "gauge"},
        {"pocket_time_to_first_token_seconds", "histogram"},
        {"pocket_time_per_output_token_seconds", "histogram"},
        {"pocket_request_duration_seconds", "histogram"},
    };
    EXPECT_EQ(e.types, expected);
    for (const auto& [name, type] : expected) EXPECT_TRUE(e.helps.count(name)) << name;
    // Every sample belongs to a declared family.
    for (const auto& s : e.samples) {
        std::string family = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string sfx = suffix;
            if (!expected.count(family) && family.size() > sfx.size() &&
                family.compare(family.size() - sfx.size(), sfx.size(), sfx) == 0) {
                family.resize(family.size() - sfx.size());
            }
        }
        EXPECT_TRUE(expected.count(family)) << s.name;
    }
}

TEST(Metrics, CountersAndGaugesReadBack) {
    Metrics m;
    m.count_request("/v1/chat/completions", 200);
    m.count_request("/v1/chat/completions", 200);
    m.count_request("/v1/chat/completions", 400);
    m.count_request("/api/generate", 200);
    m.add_prompt_tokens(100);
    m.add_prompt_tokens(23);
    m.add_generated_tokens(7);
    m.add_prompt_tokens_cached(64);
    m.set_queue_depth(3);
    m.set_slots_busy(2);
    m.set_slots_total(4);
    m.set_models_loaded(1);
    m.set_queue_depth(5);  // a gauge holds its last value
    const Exposition e = parse(m.render());
    EXPECT_EQ(value(e, "pocket_requests_total",
                    {{"endpoint", "/v1/chat/completions"}, {"status", "200"}}),
              2);
    EXPECT_EQ(value(e, "pocket_requests_total",
                    {{"endpoint", "/v1/chat/completions"}, {"status", "400"}}),
              1);
    EXPECT_EQ(value(e, "pocket_requests_total", {{"endpoint", "/api/generate"}, {"status", "200"}}),
              1);
    EXPECT_EQ(value(e, "pocket_prompt_tokens_total"), 123);
    EXPECT_EQ(value(e, "pocket_generated_tokens_total"), 7);
    EXPECT_EQ(value(e, "pocket_prompt_tokens_cached_total"), 64);
    EXPECT_EQ(value(e, "pocket_queue_depth"), 5);
    EXPECT_EQ(value(e, "pocket_slots_busy"), 2);
    EXPECT_EQ(value(e, "pocket_slots_total"), 4);
    EXPECT_EQ(value(e, "pocket_models_loaded"), 1);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndMatchCountAndSum) {
    Metrics m;
    const std::vector<double> observations = {0.0005, 0.001, 0.0011, 0.02, 0.3, 0.3,
                                              2,      59.9,  60,     61,   1000};
    double sum = 0;
    for (double s : observations) {
        m.observe_time_to_first_token(s);
        sum += s;
    }
    m.observe_time_to_first_token(std::nan(""));  // ignored
    const Exposition e = parse(m.render());
    const std::string h = "pocket_time_to_first_token_seconds";

    // Collect buckets in order of appearance and check each against a direct count.
    std::vector<std::pair<double, double>> buckets;
    for (const auto& s : e.samples) {
        if (s.name == h + "_bucket")
            buckets.emplace_back(std::strtod(s.labels.at("le").c_str(), nullptr), s.value);
    }
    ASSERT_EQ(buckets.size(), latency_buckets().size() + 1);
    EXPECT_EQ(buckets.front().first, 0.001);
    EXPECT_EQ(buckets[buckets.size() - 2].first, 60);
    EXPECT_TRUE(std::isinf(buckets.back().first));
    for (size_t i = 0; i < buckets.size(); ++i) {
        if (i > 0) {
            EXPECT_GT(buckets[i].first, buckets[i - 1].first);
            EXPECT_GE(buckets[i].second, buckets[i - 1].second);
        }
        double expected = 0;
        for (double s : observations) expected += s <= buckets[i].first;
        EXPECT_EQ(buckets[i].second, expected) << "le=" << buckets[i].first;
    }
    EXPECT_EQ(value(e, h + "_count"), observations.size());
    EXPECT_DOUBLE_EQ(value(e, h + "_sum"), sum);
    // The other histograms are untouched.
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_count"), 0);
    EXPECT_EQ(value(e, "pocket_time_per_output_token_seconds_bucket", {{"le", "+Inf"}}), 0);
}

TEST(Metrics, SeparateHistogramsStaySeparate) {
    Metrics m;
    m.observe_time_per_output_token(0.02);
    m.observe_request_duration(3);
    m.observe_request_duration(4);
    const Exposition e = parse(m.render());
    EXPECT_EQ(value(e, "pocket_time_per_output_token_seconds_count"), 1);
    EXPECT_EQ(value(e, "pocket_time_per_output_token_seconds_bucket", {{"le", "0.025"}}), 1);
    EXPECT_EQ(value(e, "pocket_time_per_output_token_seconds_bucket", {{"le", "0.01"}}), 0);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_count"), 2);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_sum"), 7);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_bucket", {{"le", "2.5"}}), 0);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_bucket", {{"le", "5"}}), 2);
    EXPECT_EQ(value(e, "pocket_time_to_first_token_seconds_count"), 0);
}

TEST(Metrics, LabelValuesAreEscaped) {
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    Metrics m;
    const std::string nasty = "/x\"y\\z\nw";
    m.count_request(nasty, 404);
    const std::string text = m.render();
    const Exposition e = parse(text);
    EXPECT_EQ(value(e, "pocket_requests_total", {{"endpoint", nasty}, {"status", "404"}}), 1);
}

TEST(Metrics, RequestSeriesAreBounded) {
    Metrics m;
    for (size_t i = 0; i < Metrics::kMaxRequestSeries + 50; ++i) {
        m.count_request("/probe/" + std::to_string(i), 404);
    }
    m.count_request("/probe/0", 404);  // an existing series keeps counting
    const Exposition e = parse(m.render());
    size_t series = 0;
    for (const auto& s : e.samples) series += s.name == "pocket_requests_total";
    EXPECT_EQ(series, Metrics::kMaxRequestSeries + 1);
    EXPECT_EQ(value(e, "pocket_requests_total", {{"endpoint", "other"}, {"status", "404"}}), 50);
    EXPECT_EQ(value(e, "pocket_requests_total", {{"endpoint", "/probe/0"}, {"status", "404"}}), 2);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
    Metrics m;
    constexpr int kThreads = 8, kPerThread = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&m] {
            for (int i = 0; i < kPerThread; ++i) {
                m.count_request("/v1/completions", 200);
                m.add_generated_tokens(2);
                m.observe_request_duration(0.5);
                if (i % 1000 == 0) (void)m.render();
            }
        });
    }
    for (auto& th : threads) th.join();
    const Exposition e = parse(m.render());
    EXPECT_EQ(
        value(e, "pocket_requests_total", {{"endpoint", "/v1/completions"}, {"status", "200"}}),
        kThreads * kPerThread);
    EXPECT_EQ(value(e, "pocket_generated_tokens_total"), 2.0 * kThreads * kPerThread);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_bucket", {{"le", "0.5"}}),
              kThreads * kPerThread);
    EXPECT_EQ(value(e, "pocket_request_duration_seconds_sum"), 0.5 * kThreads * kPerThread);
}

}  // namespace
}  // namespace pocket::server
