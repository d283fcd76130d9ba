#include "server/cloud_routes.h"

#include <memory>
#include <vector>

#include "pocket/core/error.h"
#include "server/api_error.h"
#include "server/chat_completion.h"
#include "server/generation.h"

namespace pocket::server {
namespace {

using route::RouteDecision;
using route::RouteTarget;

route::RouteRequest requested_route(const json& body) {
    const json* ext = object(body, "pocket");
    if (!ext) return route::RouteRequest::automatic;
    const auto wish = string(*ext, "route", "pocket");
    if (!wish) return route::RouteRequest::automatic;
    try {
        return route::parse_route_request(*wish);
    } catch (const Error& e) {
        throw bad_request(e.what(), "pocket.route");
    }
}

bool uses_rag(const json& body) {
    const json* ext = object(body, "pocket");
    return ext && ext->contains("rag") && !(*ext)["rag"].is_null();
}

ApiError cloud_failed(const std::string& why) {
    return ApiError(502, "cloud_failed", cat("the cloud endpoint failed: ", why), std::nullopt,
                    "cloud_failed");
}

// The decision after a cloud failure: served locally, and why.
RouteDecision fell_back(RouteDecision decision, const std::string& error) {
    decision.target = RouteTarget::local;
    decision.fallback = true;
    decision.cloud_error = error;
    request_record().route = "local";
    return decision;
}

// The endpoint's token counts, when it reports them, for the access log.
void record_usage(const json& event) {
    const auto usage = event.find("usage");
    if (usage == event.end() || !usage->is_object()) return;
    for (const auto& [field, slot] :
         {std::pair{"prompt_tokens", &RequestRecord::prompt_tokens},
          std::pair{"completion_tokens", &RequestRecord::completion_tokens}}) {
        const auto n = usage->find(field);
        if (n != usage->end() && n->is_number_integer()) request_record().*slot = n->get<int64_t>();
    }
}

void set_route_field(json& event, const json& route) {
    if (!event.contains("pocket") || !event["pocket"].is_object()) event["pocket"] = json::object();
    event["pocket"]["route"] = route;
}

// A cloud answer streamed to the client as it arrives, each chunk re-hydrated; the first carries
// pocket.route. Runs inside the response's content provider.
struct CloudStream {
    ServerContext& ctx;
    json body;      // the client's request (for a local fallback)
    json outbound;  // what is sent
    route::EgressInfo info;
    std::shared_ptr<route::Redaction> redaction;
    RouteDecision decision;

    bool write(httplib::DataSink& sink, const std::string& bytes) {
        return sink.write(bytes.data(), bytes.size());
    }

    bool run(httplib::DataSink& sink) {
        route::HybridRouter& hybrid = *ctx.hybrid;
        route::ChunkRehydrator rehydrator(*redaction);
        bool sent = false, gone = false, first = true;
        std::string shown;  // choice 0's text as the client has it
        std::string last_id, last_model;
        int64_t last_created = 0;
        const auto on_event = [&](std::string_view data) {
            if (data == "[DONE]") return true;  // written at the end, after anything held back
            json event = json::parse(data, nullptr, false);
            std::string bytes;
            if (event.is_object()) {
                record_usage(event);
                rehydrator.push(event);
                if (first) set_route_field(event, decision.to_json());
                first = false;
                last_id = event.value("id", last_id);
                last_model = event.value("model", last_model);
                if (event.contains("created") && event["created"].is_number_integer())
                    last_created = event["created"].get<int64_t>();
                if (const auto choices = event.find("choices");
                    choices != event.end() && choices->is_array())
                    for (const json& c : *choices)
                        if (c.value("index", 0) == 0 && c.contains("delta") &&
                            c["delta"].is_object() && c["delta"].contains("content") &&
                            c["delta"]["content"].is_string())
                            shown += c["delta"]["content"].get<std::string>();
                bytes = sse(event);
            } else {
                bytes = "data: " + std::string(data) + "\n\n";  // not JSON: not ours to judge
            }
            if (!write(sink, bytes)) {
                gone = true;
                return false;
            }
            sent = true;
            return true;
        };
        const route::CloudResult r =
            hybrid.client().chat(outbound, info, on_event, [&] { return !sink.is_writable(); });
        if (gone) return false;
        // Text still held back (a stream that ended without a finish_reason).
        for (const auto& [choice, rest] : rehydrator.finish()) {
            json event = {{"id", last_id},
                          {"object", "chat.completion.chunk"},
                          {"created", last_created},
                          {"model", last_model},
                          {"choices", json::array({{{"index", choice},
                                                    {"delta", {{"content", rest}}},
                                                    {"finish_reason", nullptr}}})}};
            if (choice == 0) shown += rest;
            if (!write(sink, sse(event))) return false;
            sent = true;
        }
        if (r.ok) {
            if (!write(sink, "data: [DONE]\n\n")) return false;
            sink.done();
            return true;
        }
        const bool several =
            body.contains("n") && body["n"].is_number_integer() && body["n"].get<int64_t>() > 1;
        const std::string why = route::cloud_failure_text(r);
        if (hybrid.options().on_cloud_failure == route::CloudFailurePolicy::fail || several) {
            json error = openai_error_body(cloud_failed(why));
            set_route_field(error, decision.to_json());
            if (!write(sink, sse(error) + "data: [DONE]\n\n")) return false;
            sink.done();
            return true;
        }
        return stream_chat_locally(ctx, body, fell_back(decision, why).to_json(), shown, !sent,
                                   sink);
    }
};

}  // namespace

void routed_chat(ServerContext& ctx, const json& body, httplib::Response& res) {
    route::HybridRouter& hybrid = *ctx.hybrid;
    const json& messages = required(array(body, "messages"), "messages");
    const route::RouteRequest wish = requested_route(body);
    RouteDecision decision;
    if (uses_rag(body)) {
        decision.reason = "local RAG (pocket.rag)";
    } else if (ctx.guard && ctx.options.guard->policy.check_prompts &&
               safety::check_prompt(*ctx.guard, ctx.options.guard->policy, last_user_text(messages))
                       .action == safety::GuardAction::block) {
        // A blocked prompt goes nowhere: the local path answers with the refusal.
        decision.reason = "the guard blocked the prompt";
    } else {
        const std::vector<std::string> texts = message_texts(messages);
        decision = hybrid.decide(last_user_text(messages), texts, wish);
    }
    request_record().route = std::string(route::route_target_name(decision.target));
    if (decision.target == RouteTarget::local) {
        answer_chat_locally(ctx, body, decision.to_json(), res);
        return;
    }

    const std::string id = make_id("chatcmpl-");
    auto redaction = std::make_shared<route::Redaction>(hybrid.start_redaction());
    json outbound = hybrid.outbound_body(body, *redaction);
    route::EgressInfo info = route::egress_info(decision, id);
    info.redactions = redaction->counts();
    request_record().model = hybrid.options().cloud.model;
    const bool stream = boolean(body, "stream").value_or(false);
    if (stream) {
        // Headers leave before the answer: a fallback in the stream says so in pocket.route.
        res.set_header("x-pocket-route", "cloud");
        auto state = std::make_shared<CloudStream>(
            CloudStream{ctx, body, std::move(outbound), std::move(info), redaction, decision});
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [state](size_t, httplib::DataSink& sink) { return state->run(sink); });
        return;
    }

    route::CloudResult r = hybrid.client().chat(outbound, info);
    json answer = r.ok ? json::parse(r.body, nullptr, false) : json();
    if (r.ok && answer.is_object()) {
        record_usage(answer);
        route::rehydrate_completion(answer, *redaction);
        set_route_field(answer, decision.to_json());
        res.set_header("x-pocket-route", "cloud");
        send_json(res, answer);
        return;
    }
    const std::string error =
        r.ok ? "the answer is not a JSON object" : route::cloud_failure_text(r);
    if (hybrid.options().on_cloud_failure == route::CloudFailurePolicy::fail) {
        res.set_header("x-pocket-route", "cloud");
        throw cloud_failed(error);
    }
    answer_chat_locally(ctx, body, fell_back(decision, error).to_json(), res);
}

}  // namespace pocket::server
