#include "server/access_log.h"

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pocket::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point at_ms(std::int64_t ms) {
    return system_clock::time_point(milliseconds(ms));
}

TEST(AccessLog, Iso8601Utc) {
    EXPECT_EQ(iso8601_utc(at_ms(0)), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(iso8601_utc(at_ms(1714566896789)), "2024-05-01T12:34:56.789Z");
    EXPECT_EQ(iso8601_utc(at_ms(-1)), "1969-12-31T23:59:59.999Z");
}

AccessRecord sample() {
    AccessRecord r;
    r.time = at_ms(1714566896789);
    r.remote_addr = "127.0.0.1";
    r.method = "POST";
    r.path = "/v1/chat/completions";
    r.status = 200;
    r.duration_ms = 12.3456789;
    r.model = "tiny";
    r.prompt_tokens = 10;
    r.completion_tokens = 5;
    r.prompt = "secret \"prompt\"\nline two";
    return r;
}

TEST(AccessLog, LineHoldsTheFieldsAndNoPromptByDefault) {
    const std::string line = format_access_line(sample(), false);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["time"], "2024-05-01T12:34:56.789Z");
    EXPECT_EQ(j["remote_addr"], "127.0.0.1");
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["path"], "/v1/chat/completions");
    EXPECT_EQ(j["status"], 200);
    EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 12.346);
    EXPECT_EQ(j["model"], "tiny");
    EXPECT_EQ(j["prompt_tokens"], 10);
    EXPECT_EQ(j["completion_tokens"], 5);
    EXPECT_FALSE(j.contains("prompt"));
    EXPECT_EQ(line.find("secret"), std::string::npos);
}

TEST(AccessLog, PromptOnlyWhenEnabled) {
    const auto j = nlohmann::json::parse(format_access_line(sample(), true));
    EXPECT_EQ(j["prompt"], "secret \"prompt\"\nline two");
}

TEST(AccessLog, UnsetOptionalFieldsAreOmitted) {
    AccessRecord r;
    r.method = "GET";
    r.path = "/health";
    r.status = 200;
    const auto j = nlohmann::json::parse(format_access_line(r, true));
    EXPECT_FALSE(j.contains("model"));
    EXPECT_FALSE(j.contains("prompt_tokens"));
    EXPECT_FALSE(j.contains("completion_tokens"));
    EXPECT_FALSE(j.contains("prompt"));
}

TEST(AccessLog, InvalidUtf8BecomesReplacementCharacter) {
    AccessRecord r = sample();
    r.path = "/v1/\xff\xfe";
    r.prompt = "bad \xc0\xaf";
    const std::string line = format_access_line(r, true);
    const auto j = nlohmann::json::parse(line);  // would throw on invalid UTF-8
    EXPECT_EQ(j["path"], "/v1/\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(AccessLog, ConcurrentWritesNeverInterleave) {
    std::ostringstream out;
    AccessLog log(out, true);
    constexpr int kThreads = 8, kPerThread = 300;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&log, t] {
            AccessRecord r = sample();
            r.status = 200 + t;
            r.prompt = std::string(4096, static_cast<char>('a' + t));
            for (int i = 0; i < kPerThread; ++i) {
                r.completion_tokens = i;
                log.write(r);
            }
        });
    }
    for (auto& th : threads) th.join();

    std::istringstream in(out.str());
    std::string line;
    std::vector<int> per_thread(kThreads);
    int lines = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        const int t = j["status"].get<int>() - 200;
        ASSERT_GE(t, 0);
        ASSERT_LT(t, kThreads);
        EXPECT_EQ(j["prompt"], std::string(4096, static_cast<char>('a' + t)));
        ++per_thread[t];
        ++lines;
    }
    EXPECT_EQ(lines, kThreads * kPerThread);
    for (int n : per_thread) EXPECT_EQ(n, kPerThread);
}

}  // namespace
}  // namespace pocket::server
