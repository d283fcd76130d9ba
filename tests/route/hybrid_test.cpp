// HybridRouter: the decision order (overrides, PII policy, router score against the calibrated
// threshold), what leaves (outbound_body), and re-hydration of answers, whole and streamed at
// every split point; ask_cloud end to end against a loopback server.
#include "pocket/route/hybrid.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "pocket/core/error.h"
#include "pocket/route/router.h"
#include "support/test_support.h"

namespace pocket::route {
namespace {

using json = nlohmann::json;
using test::ScratchDir;
using test::shared_path;

std::filesystem::path small_router_file() {
    static ScratchDir dir;
    static const std::filesystem::path path = [] {
        const auto mmlu = [](const std::string& s) {
            return shared_path("data/routing/routellm/mmlu/mmlu_" + s + ".csv");
        };
        const auto examples =
            read_routing_examples({mmlu("abstract_algebra"), mmlu("anatomy")},
                                  "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview");
        RouterTrainOptions o;
        o.embedder = shared_path("models/embed/potion-base-4M-int8");
        const auto p = dir / "router.gguf";
        Router::train(examples, o).save(p);
        return p;
    }();
    return path;
}

struct Env {
    ScratchDir dir;
    HybridOptions options(PiiPolicy pii = PiiPolicy::redact, double share = 0.5) {
        HybridOptions o;
        o.cloud.base_url = "http://127.0.0.1:9/v1";  // never contacted by these tests
        o.cloud.model = "big";
        o.router = small_router_file();
        o.cloud_share = share;
        o.pii = pii;
        o.private_terms = {"Project Falcon"};
        o.audit_log = dir / "audit.jsonl";
        return o;
    }
};

const std::vector<std::string> kPrompts = {
    "What is 2 + 2?",
    "Let G be a group of order 15. Prove that G is cyclic, and determine the number of its "
    "automorphisms.",
    "Name the bone of the upper arm.",
    "Which of the following statements about the brachial plexus is correct? (A) it arises "
    "from C5-T1 (B) it passes anterior to the clavicle (C) all of the above (D) none",
    "hello",
    "Find the degree of the field extension Q(sqrt(2), sqrt(3)) over Q.",
};

// The local sampling settings as the OpenAI fields a cloud request carries: clamped into OpenAI's
// ranges, the seed only when fixed, max_tokens only when bounded, stop only when given.
TEST(Hybrid, SamplingSettingsBecomeOpenAiFields) {
    SamplingParams s;
    s.temperature = -1.0f;
    s.top_p = 1.5f;
    s.presence_penalty = 0.25f;
    s.frequency_penalty = 0.5f;
    nlohmann::json f = openai_sampling_fields(s, 0);
    EXPECT_EQ(f["temperature"], 0.0f);
    EXPECT_EQ(f["top_p"], 1.0f);
    EXPECT_EQ(f["presence_penalty"], 0.25f);
    EXPECT_EQ(f["frequency_penalty"], 0.5f);
    EXPECT_FALSE(f.contains("seed"));
    EXPECT_FALSE(f.contains("max_tokens"));
    EXPECT_FALSE(f.contains("stop"));
    EXPECT_FALSE(f.contains("top_k"));
    s.seed = 7;
    s.temperature = 0.7f;
    const std::vector<std::string> stop = {"\n\n", "END"};
    f = openai_sampling_fields(s, 128, stop);
    EXPECT_EQ(f["seed"], 7u);
    EXPECT_EQ(f["temperature"], 0.7f);
    EXPECT_EQ(f["max_tokens"], 128);
    EXPECT_EQ(f["stop"], nlohmann::json::array({"\n\n", "END"}));
}

TEST(Hybrid, ParsesPolicies) {
    EXPECT_EQ(parse_pii_policy("local"), PiiPolicy::local);
    EXPECT_EQ(parse_pii_policy("redact"), PiiPolicy::redact);
    EXPECT_EQ(parse_pii_policy("off"), PiiPolicy::off);
    EXPECT_THROW(parse_pii_policy("none"), Error);
    EXPECT_EQ(parse_cloud_failure_policy("fail"), CloudFailurePolicy::fail);
    EXPECT_THROW(parse_cloud_failure_policy(""), Error);
    EXPECT_EQ(parse_route_request("auto"), RouteRequest::automatic);
    EXPECT_EQ(parse_route_request("cloud"), RouteRequest::cloud);
    EXPECT_THROW(parse_route_request("Cloud"), Error);
}

TEST(Hybrid, NeedsAnEndpointAndAModel) {
    Env s;
    auto o = s.options();
    o.cloud.model.clear();
    EXPECT_THROW(HybridRouter h(o), Error);
    o = s.options();
    o.cloud.base_url.clear();
    EXPECT_THROW(HybridRouter h(o), Error);
    o = s.options();
    o.router = s.dir / "missing.gguf";
    EXPECT_THROW(HybridRouter h(o), Error);
}

TEST(Hybrid, AutomaticDecisionFollowsTheRouterScoreAndThreshold) {
    Env s;
    HybridRouter hybrid(s.options(PiiPolicy::redact, 0.5));
    const Router router = Router::load(small_router_file());
    const double threshold = router.threshold_for_share(0.5);
    size_t cloud = 0;
    for (const std::string& p : kPrompts) {
        const std::string texts[] = {p};
        const RouteDecision d = hybrid.decide(p, texts);
        ASSERT_TRUE(d.score && d.threshold);
        EXPECT_DOUBLE_EQ(*d.score, router.score(p));
        // Before the calibrator's warm-up the trained threshold for the share applies.
        EXPECT_DOUBLE_EQ(*d.threshold, threshold);
        EXPECT_EQ(d.target == RouteTarget::cloud, *d.score >= threshold) << p;
        EXPECT_NE(d.reason.find("router score"), std::string::npos);
        cloud += d.target == RouteTarget::cloud;
    }
    // The prompts are varied enough that a share-0.5 router sends some but not all out.
    EXPECT_GT(cloud, 0u);
    EXPECT_LT(cloud, kPrompts.size());
}

TEST(Hybrid, WithoutARouterFileTheBuiltInRouterScores) {
    Env s;
    auto o = s.options();
    o.router.clear();
    HybridRouter hybrid(o);
    const Router builtin = Router::builtin();
    for (const std::string& p : kPrompts) {
        const std::string texts[] = {p};
        const RouteDecision d = hybrid.decide(p, texts);
        ASSERT_TRUE(d.score);
        EXPECT_DOUBLE_EQ(*d.score, builtin.score(p));
        EXPECT_DOUBLE_EQ(*d.threshold, builtin.threshold_for_share(0.5));
    }
}

TEST(Hybrid, ExtremeSharesRouteEverythingOneWay) {
    Env s;
    HybridRouter none(s.options(PiiPolicy::redact, 0.0));
    HybridRouter all(s.options(PiiPolicy::redact, 1.0));
    // Past the warm-up (100 decisions) the threshold is the traffic's own quantile.
    for (int i = 0; i < 120; ++i) {
        const std::string& p = kPrompts[static_cast<size_t>(i) % kPrompts.size()];
        const std::string texts[] = {p};
        const RouteDecision a = none.decide(p, texts);
        const RouteDecision b = all.decide(p, texts);
        if (i >= 100) {
            EXPECT_EQ(a.target, RouteTarget::local);
            EXPECT_EQ(b.target, RouteTarget::cloud);
        }
    }
}

TEST(Hybrid, CalibrationCarriesAcrossRuns) {
    Env s;
    auto o = s.options(PiiPolicy::redact, 0.5);
    o.calibration = s.dir / "state" / "calibration.json";
    const Router router = Router::load(small_router_file());
    ShareCalibrator expected(router.threshold_for_share(0.5), 0.5, 1000, 20);
    {
        HybridRouter first(o);
        for (int i = 0; i < 30; ++i) {
            const std::string& p = kPrompts[static_cast<size_t>(i) % kPrompts.size()];
            const std::string texts[] = {p};
            first.decide(p, texts);
            expected.observe(router.score(p));
        }
        // Overrides are not the router's traffic: they do not move the calibration.
        const std::string texts[] = {kPrompts[0]};
        first.decide(kPrompts[0], texts, RouteRequest::cloud);
    }
    ASSERT_TRUE(std::filesystem::exists(o.calibration));
    const std::string saved = test::read_file_bytes(o.calibration);
    EXPECT_EQ(saved.find("2 + 2"), std::string::npos);  // scores only, never text
    HybridRouter second(o);
    EXPECT_DOUBLE_EQ(second.threshold(), expected.threshold());
    EXPECT_NE(second.threshold(), router.threshold_for_share(0.5));
    // Another share (or router) starts afresh from the trained threshold.
    o.cloud_share = 0.3;
    HybridRouter other(o);
    EXPECT_DOUBLE_EQ(other.threshold(), router.threshold_for_share(0.3));
    // A damaged file costs only the warm-up.
    std::ofstream(o.calibration) << "{not json";
    o.cloud_share = 0.5;
    HybridRouter damaged(o);
    EXPECT_DOUBLE_EQ(damaged.threshold(), router.threshold_for_share(0.5));
}

TEST(Hybrid, OverridesAndPiiPolicy) {
    Env s;
    const std::string pii = "Mail jane.doe@example.com about Project Falcon.";
    const std::string texts[] = {pii};
    {
        HybridRouter h(s.options(PiiPolicy::local));
        RouteDecision d = h.decide(pii, texts, RouteRequest::local);
        EXPECT_EQ(d.target, RouteTarget::local);
        EXPECT_EQ(d.reason, "override: local");
        EXPECT_FALSE(d.score);
        // PII under --pii local beats a cloud override.
        d = h.decide(pii, texts, RouteRequest::cloud);
        EXPECT_EQ(d.target, RouteTarget::local);
        EXPECT_EQ(d.pii.at("EMAIL"), 1u);
        EXPECT_EQ(d.pii.at("PRIVATE"), 1u);
        EXPECT_NE(d.reason.find("PII"), std::string::npos);
        // Without PII the override holds.
        const std::string clean[] = {"What is the capital of France?"};
        d = h.decide(clean[0], clean, RouteRequest::cloud);
        EXPECT_EQ(d.target, RouteTarget::cloud);
        EXPECT_EQ(d.reason, "override: cloud");
        EXPECT_TRUE(d.pii.empty());
    }
    {
        HybridRouter h(s.options(PiiPolicy::redact));
        const RouteDecision d = h.decide(pii, texts, RouteRequest::cloud);
        EXPECT_EQ(d.target, RouteTarget::cloud);
        EXPECT_EQ(d.pii.size(), 2u);
        const json j = d.to_json();
        EXPECT_EQ(j["target"], "cloud");
        EXPECT_EQ(j["pii"]["EMAIL"], 1);
        EXPECT_NE(d.summary().find("redacted EMAIL 1"), std::string::npos);
    }
    {
        HybridRouter h(s.options(PiiPolicy::off));
        EXPECT_TRUE(h.decide(pii, texts, RouteRequest::cloud).pii.empty());
    }
}

TEST(Hybrid, OutboundBodyRedactsEveryMessageTextAndDropsPocketFields) {
    Env s;
    HybridRouter h(s.options());
    const json request = json::parse(R"({
      "model": "local", "pocket": {"route": "cloud"}, "temperature": 0.2,
      "messages": [
        {"role": "system", "content": "You help Project Falcon."},
        {"role": "user", "content": [
          {"type": "text", "text": "Card 4111 1111 1111 1111, mail a@b.example"},
          {"type": "image_url", "image_url": {"url": "https://x.example/i.png"}}]},
        {"role": "assistant", "content": null, "tool_calls": [
          {"id": "c1", "type": "function",
           "function": {"name": "send", "arguments": "{\"to\":\"a@b.example\"}"}}]}]})");
    Redaction r = h.start_redaction();
    const json out = h.outbound_body(request, r);
    EXPECT_FALSE(out.contains("pocket"));
    EXPECT_EQ(out["temperature"], 0.2);
    const std::string dumped = out.dump();
    EXPECT_EQ(dumped.find("a@b.example"), std::string::npos) << dumped;
    EXPECT_EQ(dumped.find("4111"), std::string::npos) << dumped;
    EXPECT_EQ(dumped.find("Falcon"), std::string::npos) << dumped;
    EXPECT_EQ(out["messages"][0]["content"], "You help [PRIVATE_1].");
    EXPECT_EQ(out["messages"][1]["content"][0]["text"], "Card [CARD_1], mail [EMAIL_1]");
    EXPECT_EQ(out["messages"][1]["content"][1], request["messages"][1]["content"][1]);
    // The same address gets the same placeholder in every message.
    EXPECT_EQ(out["messages"][2]["tool_calls"][0]["function"]["arguments"],
              R"({"to":"[EMAIL_1]"})");
    EXPECT_EQ(r.counts().at("EMAIL"), 1u);

    HybridRouter off(s.options(PiiPolicy::off));
    Redaction none = off.start_redaction();
    const json plain = off.outbound_body(request, none);
    EXPECT_EQ(plain["messages"], request["messages"]);
    EXPECT_TRUE(none.empty());
}

TEST(Hybrid, RehydratesACompletion) {
    Env s;
    HybridRouter h(s.options());
    Redaction r = h.start_redaction();
    const std::string sent = r.redact("Write to jane.doe@example.com");
    ASSERT_EQ(sent, "Write to [EMAIL_1]");
    json completion = {
        {"choices",
         {{{"index", 0},
           {"message",
            {{"role", "assistant"},
             {"content", "Sure, [EMAIL_1] it is."},
             {"tool_calls",
              {{{"function", {{"name", "mail"}, {"arguments", R"({"to":"[EMAIL_1]"})"}}}}}}}}}}}};
    rehydrate_completion(completion, r);
    EXPECT_EQ(completion["choices"][0]["message"]["content"], "Sure, jane.doe@example.com it is.");
    EXPECT_EQ(completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
              R"({"to":"jane.doe@example.com"})");
}

json content_chunk(const std::string& text, bool last) {
    return {{"choices",
             {{{"index", 0},
               {"delta", {{"content", text}}},
               {"finish_reason", last ? json("stop") : json(nullptr)}}}}};
}

TEST(Hybrid, ChunkRehydratorHandlesEverySplit) {
    Env s;
    HybridRouter h(s.options());
    Redaction r = h.start_redaction();
    r.redact("jane.doe@example.com and +1 415 555 0100");
    const std::string answer = "Mail [EMAIL_1] or call [PHONE_1] now.";
    const std::string expected = "Mail jane.doe@example.com or call +1 415 555 0100 now.";
    ASSERT_EQ(r.rehydrate(answer), expected);
    for (size_t a = 0; a <= answer.size(); ++a) {
        for (size_t b = a; b <= answer.size(); b += 3) {
            ChunkRehydrator rh(r);
            std::string seen;
            const std::string parts[] = {answer.substr(0, a), answer.substr(a, b - a),
                                         answer.substr(b)};
            for (size_t i = 0; i < 3; ++i) {
                json c = content_chunk(parts[i], i == 2);
                rh.push(c);
                seen += c["choices"][0]["delta"]["content"].get<std::string>();
                // No half placeholder ever reaches the client.
                EXPECT_EQ(seen.find("[EMA"), std::string::npos);
            }
            EXPECT_EQ(seen, expected) << a << " " << b;
            EXPECT_TRUE(rh.finish().empty());
        }
    }
    // A stream that stops without a finish_reason: finish() releases what is held.
    ChunkRehydrator rh(r);
    json c = content_chunk("Mail [EMA", false);
    rh.push(c);
    EXPECT_EQ(c["choices"][0]["delta"]["content"], "Mail ");
    const auto rest = rh.finish();
    ASSERT_EQ(rest.count(0), 1u);
    EXPECT_EQ(rest.at(0), "[EMA");
}

// ask_cloud against a loopback server that streams its answer with the placeholder split
// across events: the server sees only placeholders, the caller only the original values.
TEST(Hybrid, AskCloudRedactsOutAndRehydratesBack) {
    Env s;
    httplib::Server server;
    std::string received;
    server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
        received = req.body;
        std::string body;
        for (const char* piece : {"Dear [EM", "AIL_1], your card [CARD", "_1] is ok."}) {
            body += "data: " + content_chunk(piece, false).dump() + "\n\n";
        }
        body += "data: " + content_chunk("", true).dump() + "\n\ndata: [DONE]\n\n";
        res.set_content(body, "text/event-stream");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port, 0);
    std::thread thread([&] { server.listen_after_bind(); });
    auto o = s.options();
    o.cloud.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    HybridRouter h(o);
    const std::string prompt = "I am jane.doe@example.com, card 4111 1111 1111 1111. Status?";
    const std::string texts[] = {prompt};
    const RouteDecision d = h.decide(prompt, texts, RouteRequest::cloud);
    std::string streamed;
    const CloudAnswer answer = h.ask_cloud(json::array({{{"role", "user"}, {"content", prompt}}}),
                                           {{"max_tokens", 16}}, d, "t-1", [&](std::string_view t) {
                                               streamed += t;
                                               return true;
                                           });
    server.stop();
    thread.join();
    ASSERT_TRUE(answer.ok) << answer.error;
    EXPECT_EQ(answer.text, "Dear jane.doe@example.com, your card 4111 1111 1111 1111 is ok.");
    EXPECT_EQ(streamed, answer.text);
    EXPECT_EQ(received.find("jane.doe"), std::string::npos) << received;
    EXPECT_EQ(received.find("4111"), std::string::npos) << received;
    const json sent = json::parse(received);
    EXPECT_EQ(sent["model"], "big");
    EXPECT_EQ(sent["max_tokens"], 16);
    EXPECT_EQ(sent["stream"], true);
    // The audit log holds one egress line with the redaction counts and the route reason, and
    // its outcome.
    std::ifstream log(o.audit_log);
    std::string line;
    std::vector<json> lines;
    while (std::getline(log, line)) lines.push_back(json::parse(line));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["type"], "egress");
    EXPECT_EQ(lines[0]["bytes"], received.size());
    EXPECT_EQ(lines[0]["route_reason"], "override: cloud");
    EXPECT_EQ(lines[1]["type"], "outcome");
    EXPECT_EQ(lines[1]["outcome"], "ok");
    EXPECT_TRUE(verify_audit_log(o.audit_log).ok);
}

TEST(Hybrid, AskCloudReportsAFailureWithoutThrowing) {
    Env s;
    auto o = s.options();
    o.cloud.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
    o.cloud.connect_timeout = std::chrono::milliseconds(2000);
    HybridRouter h(o);
    const std::string p = "hello";
    const std::string texts[] = {p};
    const CloudAnswer a =
        h.ask_cloud(json::array({{{"role", "user"}, {"content", p}}}), json::object(),
                    h.decide(p, texts, RouteRequest::cloud), "t-2", {});
    EXPECT_FALSE(a.ok);
    EXPECT_NE(a.error.find("connect"), std::string::npos) << a.error;
    EXPECT_TRUE(a.text.empty());
    EXPECT_TRUE(verify_audit_log(o.audit_log).ok);
}

}  // namespace
}  // namespace pocket::route
