#include "server/cloud_routes.h"

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "pocket/core/error.h"
#include "server/api_error.h"
#include "server/chat_completion.h"
#include "server/generation.h"
#include "server/request_guard.h"

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

void set_pocket_field(json& event, const char* field, const json& value) {
    if (!event.contains("pocket") || !event["pocket"].is_object()) event["pocket"] = json::object();
    event["pocket"][field] = value;
}

void set_route_field(json& event, const json& route) {
    set_pocket_field(event, "route", route);
}

size_t choice_index(const json& choice) {
    const auto idx = choice.find("index");
    return idx != choice.end() && idx->is_number_unsigned() ? idx->get<size_t>() : 0;
}

// --guard on a cloud answer: each choice's text, re-hydrated (what the client would read), goes
// through its own sentence-level check as a local answer does; the first blocked sentence ends
// the choice with finish_reason content_filter, and nothing more of it is passed on.
class CloudAnswerGuard {
  public:
    CloudAnswerGuard(std::shared_ptr<RequestGuard> guard, std::string prompt, size_t choices)
        : guard_(std::move(guard)), prompt_(std::move(prompt)), choices_(choices) {}

    // Filters one stream event's choices in place.
    void filter(json& event) {
        if (!guard_->checks_answers()) return;
        const auto choices = event.find("choices");
        if (choices == event.end() || !choices->is_array() || choices->empty()) return;
        json kept = json::array();
        for (json& c : *choices) {
            if (!c.is_object()) continue;
            const size_t index = choice_index(c);
            if (ended_.contains(index)) continue;  // cut: nothing more of it
            AnswerGuard& answer = answer_of(index);
            const bool ends = c.contains("finish_reason") && !c["finish_reason"].is_null();
            if (!c.contains("delta") || !c["delta"].is_object()) c["delta"] = json::object();
            json& delta = c["delta"];
            const bool has_text = delta.contains("content") && delta["content"].is_string();
            std::string text = has_text ? answer.push(delta["content"].get<std::string>()) : "";
            if (ends && !answer.blocked()) text += answer.finish();
            if (has_text || !text.empty()) delta["content"] = std::move(text);
            if (answer.blocked()) {
                delta.erase("tool_calls");
                c["finish_reason"] = "content_filter";
            }
            if (ends || answer.blocked()) end(index);
            kept.push_back(std::move(c));
        }
        *choices = std::move(kept);
        if (!guard_->reported().empty() && has_finish(event))
            set_pocket_field(event, "guard", guard_->reported());
    }

    // Text the re-hydrator still held when the stream ended without a finish_reason: checked
    // like the rest, the choice's end (content_filter, or nothing) in the returned choice.
    std::optional<json> rest(size_t index, const std::string& text) {
        if (ended_.contains(index)) return std::nullopt;
        AnswerGuard& answer = answer_of(index);
        std::string shown = answer.push(text);
        if (!answer.blocked()) shown += answer.finish();
        json choice = {
            {"index", index}, {"delta", {{"content", shown}}}, {"finish_reason", nullptr}};
        if (answer.blocked()) choice["finish_reason"] = "content_filter";
        end(index);
        return choice;
    }

    // Records the answers that never ended (a stream cut short).
    void finish() {
        for (auto& [index, answer] : answers_)
            if (!ended_.contains(index)) guard_->record_answer(answer);
        ended_.clear();
        answers_.clear();
    }

    // Every choice was cut: nothing more to read.
    bool all_cut() const { return cut_ >= choices_; }
    const json& reported() const { return guard_->reported(); }

  private:
    AnswerGuard& answer_of(size_t index) {
        auto it = answers_.find(index);
        if (it == answers_.end()) it = answers_.emplace(index, guard_->answer(prompt_)).first;
        return it->second;
    }
    void end(size_t index) {
        AnswerGuard& answer = answer_of(index);
        guard_->record_answer(answer);
        if (answer.blocked()) ++cut_;
        ended_.insert(index);
    }
    static bool has_finish(const json& event) {
        for (const json& c : event["choices"])
            if (c.contains("finish_reason") && !c["finish_reason"].is_null()) return true;
        return false;
    }

    std::shared_ptr<RequestGuard> guard_;
    std::string prompt_;
    size_t choices_;
    size_t cut_ = 0;
    std::map<size_t, AnswerGuard> answers_;
    std::set<size_t> ended_;
};

// A cloud answer streamed to the client as it arrives, each chunk re-hydrated; the first carries
// pocket.route. Runs inside the response's content provider.
struct CloudStream {
    ServerContext& ctx;
    json body;      // the client's request (for a local fallback)
    json outbound;  // what is sent
    route::EgressInfo info;
    std::shared_ptr<route::Redaction> redaction;
    RouteDecision decision;
    CloudAnswerGuard guard;

    bool write(httplib::DataSink& sink, const std::string& bytes) {
        return sink.write(bytes.data(), bytes.size());
    }

    bool run(httplib::DataSink& sink) {
        route::HybridRouter& hybrid = *ctx.hybrid;
        route::ChunkRehydrator rehydrator(*redaction);
        bool sent = false, gone = false, first = true, cut = false;
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
                const bool had_choices = event.contains("choices") && event["choices"].is_array() &&
                                         !event["choices"].empty();
                guard.filter(event);
                if (had_choices && event["choices"].empty()) return true;  // a cut choice's rest
                if (first) {
                    set_route_field(event, decision.to_json());
                    if (!guard.reported().empty())
                        set_pocket_field(event, "guard", guard.reported());
                }
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
            // Every choice was cut by the guard: the rest of the answer is not read.
            cut = guard.all_cut();
            return !cut;
        };
        const route::CloudResult r =
            hybrid.client().chat(outbound, info, on_event, [&] { return !sink.is_writable(); });
        if (gone) return false;
        // Text still held back (a stream that ended without a finish_reason).
        for (const auto& [choice, rest] :
             cut ? std::map<size_t, std::string>() : rehydrator.finish()) {
            std::optional<json> checked = guard.rest(choice, rest);
            if (!checked) continue;
            json event = {{"id", last_id},
                          {"object", "chat.completion.chunk"},
                          {"created", last_created},
                          {"model", last_model},
                          {"choices", json::array({*checked})}};
            if (!(*checked)["finish_reason"].is_null() && !guard.reported().empty())
                set_pocket_field(event, "guard", guard.reported());
            if (choice == 0) shown += (*checked)["delta"]["content"].get<std::string>();
            if (!write(sink, sse(event))) return false;
            sent = true;
        }
        guard.finish();
        if (r.ok || cut) {
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

// --guard on a whole cloud answer: each choice's text is read sentence by sentence, as a stream
// would show it, and a blocked one ends at its first blocked sentence with content_filter.
void guard_completion(RequestGuard& guard, const std::string& prompt, json& answer) {
    if (!guard.checks_answers()) return;
    const auto choices = answer.find("choices");
    if (choices == answer.end() || !choices->is_array()) return;
    for (json& c : *choices) {
        if (!c.is_object() || !c.contains("message") || !c["message"].is_object()) continue;
        json& message = c["message"];
        if (!message.contains("content") || !message["content"].is_string()) continue;
        const RequestGuard::Checked checked =
            guard.check_answer(prompt, message["content"].get<std::string>());
        message["content"] = checked.text;
        if (checked.blocked) {
            message.erase("tool_calls");
            c["finish_reason"] = "content_filter";
        }
    }
}

}  // namespace

void routed_chat(ServerContext& ctx, const json& body, httplib::Response& res) {
    route::HybridRouter& hybrid = *ctx.hybrid;
    const json& messages = required(array(body, "messages"), "messages");
    const route::RouteRequest wish = requested_route(body);
    RouteDecision decision;
    auto guard = std::make_shared<RequestGuard>(ctx);
    const std::string prompt = last_user_text(messages);
    // The prompt check, made before routing; recorded below only when the cloud answers (the
    // local path checks and records it itself).
    std::optional<safety::GuardDecision> checked;
    if (guard->active() && !uses_rag(body))
        checked = safety::check_prompt(*ctx.guard, ctx.options.guard->policy, prompt);
    if (uses_rag(body)) {
        decision.reason = "local RAG (pocket.rag)";
    } else if (checked && checked->action == safety::GuardAction::block) {
        // A blocked prompt goes nowhere: the local path answers with the refusal.
        decision.reason = "the guard blocked the prompt";
    } else {
        const std::vector<std::string> texts = message_texts(messages);
        decision = hybrid.decide(prompt, texts, wish);
    }
    request_record().route = std::string(route::route_target_name(decision.target));
    if (decision.target == RouteTarget::local) {
        answer_chat_locally(ctx, body, decision.to_json(), res);
        return;
    }
    // The prompt decision goes into the log once the cloud is to answer (a local fallback
    // records its own).
    const auto record_prompt = [&] {
        if (checked && ctx.options.guard->policy.check_prompts) guard->record(*checked, prompt);
    };
    const int64_t n_choices =
        body.contains("n") && body["n"].is_number_integer() ? body["n"].get<int64_t>() : 1;

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
        record_prompt();
        auto state = std::make_shared<CloudStream>(CloudStream{
            ctx, body, std::move(outbound), std::move(info), redaction, decision,
            CloudAnswerGuard(guard, prompt, static_cast<size_t>(std::max<int64_t>(n_choices, 1)))});
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
        record_prompt();
        guard_completion(*guard, prompt, answer);
        set_route_field(answer, decision.to_json());
        if (!guard->reported().empty()) set_pocket_field(answer, "guard", guard->reported());
        res.set_header("x-pocket-route", "cloud");
        send_json(res, answer);
        return;
    }
    const std::string error =
        r.ok ? "the answer is not a JSON object" : route::cloud_failure_text(r);
    if (hybrid.options().on_cloud_failure == route::CloudFailurePolicy::fail) {
        res.set_header("x-pocket-route", "cloud");
        record_prompt();
        throw cloud_failed(error);
    }
    answer_chat_locally(ctx, body, fell_back(decision, error).to_json(), res);
}

}  // namespace pocket::server
