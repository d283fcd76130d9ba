// The cloud client against an in-process HTTP server on 127.0.0.1 (cpp-httplib): plain and
// streamed answers, events split across network chunks, HTTP errors, a stream cut mid-way, an
// unreachable port, a silent server (idle timeout), cancellation; and that every request is in
// the audit log, with the hash of the exact bytes the server received, before the server sees it.
// Also the SSE parser on its own, split at every byte.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/core/sha256.h"
#include "pocket/route/cloud_client.h"
#include "support/test_support.h"

namespace pocket::route {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<json> log_lines(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<json> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(json::parse(line));
    return lines;
}

// An OpenAI-shaped test server on 127.0.0.1, a free port, in its own thread. Every handler first
// checks the audit log: its last egress line must already hold the SHA-256 of the body received.
class TestServer {
  public:
    explicit TestServer(std::filesystem::path audit) : audit_(std::move(audit)) {
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("bind failed");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~TestServer() {
        server_.stop();
        thread_.join();
    }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    httplib::Server& server() { return server_; }

    // Called first by every handler.
    void saw(const httplib::Request& req) {
        const std::lock_guard guard(mutex_);
        bodies.push_back(req.body);
        paths.push_back(req.path);
        authorization.push_back(req.get_header_value("Authorization"));
        bool found = false;
        for (const auto& line : log_lines(audit_)) {
            if (line["type"] == "egress" && line["sha256"] == sha256_hex(req.body) &&
                line["bytes"] == req.body.size()) {
                found = true;
            }
        }
        audited_before.push_back(found);
    }

    std::mutex mutex_;
    std::vector<std::string> bodies, paths, authorization;
    std::vector<bool> audited_before;

  private:
    std::filesystem::path audit_;
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

struct Fixture {
    test::ScratchDir dir;
    std::filesystem::path log_path = dir / "audit.jsonl";
    std::shared_ptr<AuditLog> audit = std::make_shared<AuditLog>(log_path);
    TestServer server{log_path};

    CloudClient client(std::chrono::milliseconds idle = 5000ms) {
        CloudEndpoint e;
        e.base_url = server.base_url();
        e.model = "cloud-model";
        e.api_key = "sk-test";
        e.idle_timeout = idle;
        return CloudClient(e, audit);
    }
};

const json kRequest = {{"model", "local-model"},
                       {"messages", {{{"role", "user"}, {"content", "Hello"}}}}};

json streaming_request() {
    json r = kRequest;
    r["stream"] = true;
    return r;
}

EgressInfo info() {
    return {"override: cloud", {{"EMAIL", 1}}, "req-42"};
}

const char* const kCompletion =
    R"({"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}]})";

// A server that accepted the request and says nothing until `release` is set (at most 5 s).
void answer_when_released(Fixture& f, const std::atomic<bool>& release) {
    f.server.server().Post("/v1/chat/completions",
                           [&f, &release](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               for (int i = 0; i < 500 && !release; ++i) {
                                   std::this_thread::sleep_for(10ms);
                               }
                               res.set_content(kCompletion, "application/json");
                           });
}

std::string chunk(const std::string& text, bool finish = false) {
    json c = {{"object", "chat.completion.chunk"},
              {"choices",
               {{{"index", 0},
                 {"delta", {{"content", text}}},
                 {"finish_reason", finish ? json("stop") : json(nullptr)}}}}};
    return c.dump();
}

TEST(CloudClient, NonStreamingAnswerIsAuditedBeforeTheServerSeesIt) {
    Fixture f;
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               res.set_content(kCompletion, "application/json");
                           });
    auto client = f.client();
    const auto r = client.chat(kRequest, info());
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.http_status, 200);
    EXPECT_EQ(r.body, kCompletion);
    EXPECT_EQ(r.bytes_received, std::string(kCompletion).size());

    ASSERT_EQ(f.server.bodies.size(), 1u);
    EXPECT_TRUE(f.server.audited_before[0]);
    EXPECT_EQ(f.server.paths[0], "/v1/chat/completions");
    EXPECT_EQ(f.server.authorization[0], "Bearer sk-test");
    const json sent = json::parse(f.server.bodies[0]);
    EXPECT_EQ(sent["model"], "cloud-model");  // the endpoint's model replaces the request's
    EXPECT_EQ(sent["messages"], kRequest["messages"]);

    const auto lines = log_lines(f.log_path);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["type"], "egress");
    EXPECT_EQ(lines[0]["sha256"], sha256_hex(f.server.bodies[0]));
    EXPECT_EQ(lines[0]["bytes"], f.server.bodies[0].size());
    EXPECT_EQ(lines[0]["destination"], f.server.base_url() + "/chat/completions");
    EXPECT_EQ(lines[0]["route_reason"], "override: cloud");
    EXPECT_EQ(lines[0]["request_id"], "req-42");
    EXPECT_EQ(lines[0]["redactions"], (json{{"EMAIL", 1}}));
    EXPECT_EQ(lines[0]["seq"], r.audit_seq);
    EXPECT_EQ(lines[1]["type"], "outcome");
    EXPECT_EQ(lines[1]["egress_seq"], r.audit_seq);
    EXPECT_EQ(lines[1]["outcome"], "ok");
    EXPECT_EQ(lines[1]["http_status"], 200);
    EXPECT_EQ(lines[1]["bytes_received"], r.bytes_received);
    EXPECT_TRUE(verify_audit_log(f.log_path).ok);
}

TEST(CloudClient, StreamingEventsSplitAcrossChunks) {
    Fixture f;
    // Three events and [DONE], written in pieces that cut events (and a CRLF) anywhere, with a
    // keep-alive comment and a two-line data field.
    const std::string stream =
        "data: " + chunk("Hel") + "\r\n\r\n: keep-alive\n\ndata: " + chunk("lo") +
        "\n\ndata: {\"multi\":\ndata: 1}\n\n" + "data: " + chunk("", true) + "\n\ndata: [DONE]\n\n";
    f.server.server().Post(
        "/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
            f.server.saw(req);
            res.set_chunked_content_provider(
                "text/event-stream", [stream](size_t, httplib::DataSink& sink) {
                    for (size_t i = 0; i < stream.size(); i += 7) {
                        sink.write(stream.data() + i, std::min<size_t>(7, stream.size() - i));
                        std::this_thread::sleep_for(1ms);
                    }
                    sink.done();
                    return true;
                });
        });
    auto client = f.client();
    std::vector<std::string> events;
    const auto r = client.chat(streaming_request(), info(), [&](std::string_view d) {
        events.emplace_back(d);
        return true;
    });
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.any_data);
    EXPECT_EQ(r.bytes_received, stream.size());
    ASSERT_EQ(events.size(), 5u);
    EXPECT_EQ(events[0], chunk("Hel"));
    EXPECT_EQ(events[1], chunk("lo"));
    EXPECT_EQ(events[2], "{\"multi\":\n1}");
    EXPECT_EQ(events[3], chunk("", true));
    EXPECT_EQ(events[4], "[DONE]");
    ASSERT_EQ(f.server.bodies.size(), 1u);
    EXPECT_TRUE(f.server.audited_before[0]);
    EXPECT_EQ(json::parse(f.server.bodies[0])["stream"], true);
    EXPECT_EQ(log_lines(f.log_path).back()["outcome"], "ok");
}

TEST(CloudClient, Http500IsNotOkAndKeepsTheBody) {
    Fixture f;
    const std::string error = R"({"error":{"message":"overloaded","type":"server_error"}})";
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               res.status = 500;
                               res.set_content(error, "application/json");
                           });
    auto client = f.client();
    bool called = false;
    for (const json& request : {kRequest, streaming_request()}) {
        const auto r =
            client.chat(request, info(), [&](std::string_view) { return called = true; });
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.http_status, 500);
        EXPECT_EQ(r.error, "HTTP 500");
        EXPECT_EQ(r.body, error);
        EXPECT_FALSE(r.any_data);
        EXPECT_EQ(log_lines(f.log_path).back()["outcome"], "HTTP 500");
        EXPECT_EQ(log_lines(f.log_path).back()["http_status"], 500);
    }
    EXPECT_FALSE(called);  // an error body is not an event stream
}

TEST(CloudClient, ServerClosingMidStreamIsAStreamCut) {
    Fixture f;
    f.server.server().Post("/v1/chat/completions", [&](const httplib::Request& req,
                                                       httplib::Response& res) {
        f.server.saw(req);
        res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
            const std::string e = "data: " + chunk("par") + "\n\n";
            sink.write(e.data(), e.size());
            std::this_thread::sleep_for(20ms);
            return false;  // httplib drops the connection
        });
    });
    auto client = f.client();
    std::vector<std::string> events;
    const auto r = client.chat(streaming_request(), info(), [&](std::string_view d) {
        events.emplace_back(d);
        return true;
    });
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "stream cut");
    EXPECT_TRUE(r.any_data);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0], chunk("par"));
    const std::string outcome = log_lines(f.log_path).back()["outcome"];
    EXPECT_TRUE(
        outcome.starts_with("stream cut after " + std::to_string(r.bytes_received) + " bytes"))
        << outcome;
    EXPECT_TRUE(verify_audit_log(f.log_path).ok);
}

TEST(CloudClient, UnreachablePortFailsToConnectQuickly) {
    test::ScratchDir dir;
    auto audit = std::make_shared<AuditLog>(dir / "audit.jsonl");
    // A port that was free a moment ago: bound, then closed, so nothing listens on it.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ::close(fd);
    CloudEndpoint e;
    e.base_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    CloudClient client(e, audit);
    EXPECT_EQ(client.url(), e.base_url + "/v1/chat/completions");
    const auto start = Clock::now();
    const auto r = client.chat(kRequest, info());
    const auto took = Clock::now() - start;
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.error.starts_with("connect failed: ")) << r.error;
    EXPECT_EQ(r.http_status, 0);
    EXPECT_LT(took, 2s);
    // The attempt is in the log all the same: egress, then the failure.
    const auto lines = log_lines(dir / "audit.jsonl");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["type"], "egress");
    EXPECT_EQ(lines[1]["outcome"], r.error);
}

TEST(CloudClient, SilentServerHitsTheIdleTimeout) {
    std::atomic<bool> release{false};  // outlives the server, whose handler reads it
    Fixture f;
    answer_when_released(f, release);
    auto client = f.client(300ms);
    const auto start = Clock::now();
    const auto r = client.chat(kRequest, info());
    const auto took = Clock::now() - start;
    release = true;
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "timeout");
    EXPECT_GE(took, 300ms);
    // Checked every 50 ms; the margin is for a loaded (or sanitized) test machine.
    EXPECT_LT(took, 1000ms) << std::chrono::duration<double>(took).count();
    std::printf("idle timeout 300 ms fired after %.0f ms\n",
                std::chrono::duration<double, std::milli>(took).count());
    EXPECT_TRUE(std::string(log_lines(f.log_path).back()["outcome"]).starts_with("timeout"));
}

TEST(CloudClient, OnEventReturningFalseCancels) {
    std::atomic<bool> stop{false};  // outlives the server, whose handler reads it
    Fixture f;
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               res.set_chunked_content_provider(
                                   "text/event-stream", [&stop](size_t, httplib::DataSink& sink) {
                                       // An endless stream, one event every 5 ms, until the client
                                       // goes away.
                                       for (int i = 0; i < 1000 && !stop; ++i) {
                                           const std::string e = "data: " + chunk("tok") + "\n\n";
                                           if (!sink.write(e.data(), e.size())) return false;
                                           std::this_thread::sleep_for(5ms);
                                       }
                                       return false;
                                   });
                           });
    auto client = f.client();
    int seen = 0;
    const auto start = Clock::now();
    const auto r =
        client.chat(streaming_request(), info(), [&](std::string_view) { return ++seen < 3; });
    stop = true;
    EXPECT_LT(Clock::now() - start, 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "cancelled");
    EXPECT_EQ(seen, 3);
    EXPECT_TRUE(r.any_data);
    EXPECT_EQ(log_lines(f.log_path).back()["outcome"], "cancelled");
}

TEST(CloudClient, ShouldStopCancelsWhileTheServerIsSilent) {
    std::atomic<bool> release{false};  // outlives the server, whose handler reads it
    Fixture f;
    answer_when_released(f, release);
    auto client = f.client(10000ms);
    const auto start = Clock::now();
    const auto r = client.chat(kRequest, info(), {}, [&] { return Clock::now() - start > 200ms; });
    const auto took = Clock::now() - start;
    release = true;
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "cancelled");
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 1000ms);
    EXPECT_EQ(log_lines(f.log_path).back()["outcome"], "cancelled");
}

TEST(CloudClient, ExceptionInOnEventIsRecordedAndRethrown) {
    Fixture f;
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               const std::string s = "data: " + chunk("x") + "\n\ndata: [DONE]\n\n";
                               res.set_content(s, "text/event-stream");
                           });
    auto client = f.client();
    EXPECT_THROW(client.chat(streaming_request(), info(),
                             [](std::string_view) -> bool { throw std::runtime_error("boom"); }),
                 std::runtime_error);
    EXPECT_EQ(log_lines(f.log_path).back()["outcome"], "cancelled: boom");
}

TEST(CloudClient, StreamWithoutDoneOrFinishIsCut) {
    Fixture f;
    f.server.server().Post(
        "/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
            f.server.saw(req);
            res.set_content("data: " + chunk("half") + "\n\n", "text/event-stream");
        });
    auto client = f.client();
    const auto r = client.chat(streaming_request(), info(), [](std::string_view) { return true; });
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "stream cut");
    EXPECT_TRUE(r.any_data);
}

TEST(CloudClient, RedirectsAreNotFollowed) {
    Fixture f;
    int elsewhere = 0;
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               res.set_redirect("/elsewhere", 307);
                           });
    f.server.server().Post("/elsewhere", [&](const httplib::Request&, httplib::Response& res) {
        ++elsewhere;
        res.set_content(kCompletion, "application/json");
    });
    auto client = f.client();
    const auto r = client.chat(kRequest, info());
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.http_status, 307);
    EXPECT_EQ(elsewhere, 0);
}

TEST(CloudClient, ProxyFromTheEnvironmentIsNotUsedForLoopback) {
    Fixture f;
    f.server.server().Post("/v1/chat/completions",
                           [&](const httplib::Request& req, httplib::Response& res) {
                               f.server.saw(req);
                               res.set_content(kCompletion, "application/json");
                           });
    // A proxy that does not exist: used, it would fail the request.
    ::setenv("http_proxy", "http://127.0.0.1:1", 1);
    ::setenv("no_proxy", "example.org", 1);
    auto client = f.client();
    const auto r = client.chat(kRequest, info());
    ::unsetenv("http_proxy");
    ::unsetenv("no_proxy");
    EXPECT_TRUE(r.ok) << r.error;
}

TEST(CloudClient, RequiresAnAuditLogAndAnHttpUrl) {
    CloudEndpoint e;
    e.base_url = "https://api.example.com";
    EXPECT_THROW(CloudClient(e, nullptr), Error);
    test::ScratchDir dir;
    auto audit = std::make_shared<AuditLog>(dir / "a.jsonl");
    e.base_url = "ftp://api.example.com";
    EXPECT_THROW(CloudClient(e, audit), Error);
    e.base_url = "file:///etc/passwd";
    EXPECT_THROW(CloudClient(e, audit), Error);
}

TEST(CloudClient, ChatCompletionsUrl) {
    EXPECT_EQ(chat_completions_url("https://api.openai.com/v1"),
              "https://api.openai.com/v1/chat/completions");
    EXPECT_EQ(chat_completions_url("https://api.openai.com/v1/"),
              "https://api.openai.com/v1/chat/completions");
    EXPECT_EQ(chat_completions_url("https://api.example.com"),
              "https://api.example.com/v1/chat/completions");
    EXPECT_EQ(chat_completions_url("http://127.0.0.1:8080/"),
              "http://127.0.0.1:8080/v1/chat/completions");
    EXPECT_EQ(chat_completions_url("https://openrouter.ai/api/v1"),
              "https://openrouter.ai/api/v1/chat/completions");
    EXPECT_THROW(chat_completions_url("api.example.com"), Error);
    EXPECT_THROW(chat_completions_url("https://"), Error);
}

// The SSE parser, fed a stream split at every byte position (and byte by byte).
TEST(SseParser, SplitsAnywhereWithAnyLineEnds) {
    const std::string stream =
        ": comment\r\ndata: one\r\n\r\nevent: x\ndata:two\ndata:  three\n\nid: 7\rdata: four\r\r"
        "data\n\ndata: [DONE]\n\n";
    const std::vector<std::string> expected = {"one", "two\n three", "four", "", "[DONE]"};
    auto parse = [](const std::vector<std::string_view>& pieces) {
        SseParser p;
        std::vector<std::string> out;
        const auto sink = [&](std::string_view d) {
            out.emplace_back(d);
            return true;
        };
        for (auto piece : pieces) EXPECT_TRUE(p.feed(piece, sink));
        EXPECT_TRUE(p.finish(sink));
        return out;
    };
    EXPECT_EQ(parse({stream}), expected);
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        const std::string_view s(stream);
        EXPECT_EQ(parse({s.substr(0, cut), s.substr(cut)}), expected) << "cut at " << cut;
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i)
        bytes.push_back(std::string_view(stream).substr(i, 1));
    EXPECT_EQ(parse(bytes), expected);
}

TEST(SseParser, LastEventWithoutBlankLineAndStopping) {
    SseParser p;
    std::vector<std::string> out;
    auto sink = [&](std::string_view d) {
        out.emplace_back(d);
        return out.size() < 2;
    };
    EXPECT_TRUE(p.feed("data: a\n\ndata: [DONE]", sink));
    EXPECT_EQ(out, std::vector<std::string>{"a"});
    EXPECT_FALSE(p.finish(sink));  // the second event is delivered, and the sink said stop
    EXPECT_EQ(out, (std::vector<std::string>{"a", "[DONE]"}));
    SseParser q;
    std::vector<std::string> got;
    EXPECT_FALSE(q.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n", [&](std::string_view d) {
        got.emplace_back(d);
        return false;
    }));
    EXPECT_EQ(got, std::vector<std::string>{"1"});
}

}  // namespace
}  // namespace pocket::route
