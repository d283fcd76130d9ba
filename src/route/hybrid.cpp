#include "pocket/route/hybrid.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pocket/core/error.h"
#include "pocket/route/langid.h"
#include "pocket/route/router.h"

namespace pocket::route {

namespace fs = std::filesystem;
using json = nlohmann::json;

PiiPolicy parse_pii_policy(std::string_view text) {
    if (text == "local") return PiiPolicy::local;
    if (text == "redact") return PiiPolicy::redact;
    if (text == "off") return PiiPolicy::off;
    fail("PII policy must be local, redact or off, not '", text, "'");
}

CloudFailurePolicy parse_cloud_failure_policy(std::string_view text) {
    if (text == "local") return CloudFailurePolicy::local;
    if (text == "fail") return CloudFailurePolicy::fail;
    fail("cloud failure policy must be local or fail, not '", text, "'");
}

RouteRequest parse_route_request(std::string_view text) {
    if (text == "auto") return RouteRequest::automatic;
    if (text == "local") return RouteRequest::local;
    if (text == "cloud") return RouteRequest::cloud;
    fail("route must be auto, local or cloud, not '", text, "'");
}

std::string_view route_target_name(RouteTarget target) {
    return target == RouteTarget::cloud ? "cloud" : "local";
}

namespace {

// Scores and thresholds to 4 decimals: enough to compare, short in logs.
double rounded(double x) {
    return std::round(x * 1e4) / 1e4;
}

std::string fixed(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", x);
    return buf;
}

}  // namespace

json RouteDecision::to_json() const {
    json out = {{"target", route_target_name(target)}, {"reason", reason}};
    if (score) out["score"] = rounded(*score);
    if (threshold) out["threshold"] = rounded(*threshold);
    if (!pii.empty()) out["pii"] = pii;
    if (!language.empty()) out["language"] = language;
    if (fallback) out["fallback"] = true;
    if (!cloud_error.empty()) out["cloud_error"] = cloud_error;
    return out;
}

std::string RouteDecision::summary() const {
    std::ostringstream out;
    out << route_target_name(target) << " (" << reason;
    if (!pii.empty()) {
        out << (target == RouteTarget::cloud ? "; redacted" : "; PII");
        for (const auto& [kind, n] : pii) out << ' ' << kind << ' ' << n;
    }
    if (fallback) out << "; the cloud failed: " << cloud_error;
    out << ')';
    return out.str();
}

namespace {

void create_parent(const fs::path& path) {
    if (!path.has_parent_path()) return;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) fail("cannot create the folder ", path.parent_path(), ": ", ec.message());
}

constexpr size_t kSaveEvery = 50;  // automatic decisions between saves of the calibration

}  // namespace

namespace {

std::unique_ptr<Router> load_router(const fs::path& path) {
    if (path.empty()) return std::make_unique<Router>(Router::builtin());
    return std::make_unique<Router>(Router::load(path));
}

std::shared_ptr<AuditLog> open_audit_log(fs::path path) {
    // Every request that leaves is recorded first, so there is no routing without a log.
    if (path.empty())
        fail("hybrid routing needs an egress audit log path (HybridOptions::audit_log)");
    create_parent(path);
    return std::make_shared<AuditLog>(std::move(path));
}

// The remembered scores when the file is for this router and share; nothing otherwise (a missing,
// damaged or foreign file only costs the warm-up again).
std::vector<double> read_calibration(const fs::path& path, const std::string& router_id,
                                     double share) {
    std::ifstream in(path);
    if (!in) return {};
    const json j = json::parse(in, nullptr, false);
    if (!j.is_object() || j.value("router", "") != router_id ||
        j.value("cloud_share", -1.0) != share || !j.contains("scores") || !j["scores"].is_array())
        return {};
    std::vector<double> scores;
    for (const json& s : j["scores"])
        if (s.is_number() && std::isfinite(s.get<double>())) scores.push_back(s.get<double>());
    return scores;
}

}  // namespace

HybridRouter::HybridRouter(HybridOptions options)
    : options_(std::move(options)),
      router_(load_router(options_.router)),
      redactor_(RedactorOptions{options_.private_terms}) {
    if (options_.cloud.base_url.empty()) fail("hybrid routing needs the cloud endpoint's URL");
    if (options_.cloud.model.empty()) fail("hybrid routing needs the cloud model's name");
    if (!(options_.cloud_share >= 0 && options_.cloud_share <= 1))
        fail("the cloud share must be between 0 and 1, not ", options_.cloud_share);
    calibrator_ = std::make_unique<ShareCalibrator>(
        router_->threshold_for_share(options_.cloud_share), options_.cloud_share);
    router_id_ = options_.router.empty() ? "builtin" : fs::absolute(options_.router).string();
    if (!options_.calibration.empty())
        for (const double s :
             read_calibration(options_.calibration, router_id_, options_.cloud_share))
            calibrator_->observe(s);
    if (!options_.language_model.empty())
        langid_ =
            std::make_unique<LanguageIdentifier>(LanguageIdentifier::load(options_.language_model));
    client_ = std::make_unique<CloudClient>(options_.cloud, open_audit_log(options_.audit_log));
}

HybridRouter::~HybridRouter() {
    try {
        save_calibration();
    } catch (const std::exception&) {
        // Losing the remembered scores only costs the warm-up next time.
    }
}

void HybridRouter::save_calibration() const {
    if (options_.calibration.empty()) return;
    const std::vector<double> scores = calibrator_->recent();
    if (scores.empty()) return;
    std::lock_guard lock(save_mutex_);
    create_parent(options_.calibration);
    const json j = {
        {"router", router_id_}, {"cloud_share", options_.cloud_share}, {"scores", scores}};
    fs::path tmp = options_.calibration;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << j.dump() << '\n';
        if (!out) fail("cannot write ", tmp);
    }
    std::error_code ec;
    fs::rename(tmp, options_.calibration, ec);  // whole or not at all
    if (ec) fail("cannot replace ", options_.calibration, ": ", ec.message());
}

double HybridRouter::threshold() const {
    return calibrator_->threshold();
}

RouteDecision HybridRouter::decide(std::string_view prompt, std::span<const std::string> outbound,
                                   RouteRequest request) {
    RouteDecision d;
    if (request == RouteRequest::local) {
        d.reason = "override: local";
        return d;
    }
    if (options_.pii != PiiPolicy::off) {
        for (const std::string& text : outbound)
            for (const PiiSpan& span : redactor_.find(text))
                ++d.pii[std::string(pii_kind_name(span.kind))];
    }
    if (!d.pii.empty() && options_.pii == PiiPolicy::local) {
        d.reason = "the prompt holds PII (--pii local)";
        return d;
    }
    if (request == RouteRequest::cloud) {
        d.target = RouteTarget::cloud;
        d.reason = "override: cloud";
        return d;
    }
    RouterSignals signals;
    if (langid_) {
        const auto guesses = langid_->predict(prompt, 1);
        if (!guesses.empty()) {
            d.language = guesses.front().language;
            signals.language = d.language;
        }
    }
    d.score = router_->score(prompt, signals);
    d.threshold = calibrator_->threshold();
    const bool cloud = calibrator_->route_to_cloud(*d.score);
    if (++decisions_ % kSaveEvery == 0) {
        try {
            save_calibration();
        } catch (const std::exception&) {
            // As in the destructor: routing goes on.
        }
    }
    d.target = cloud ? RouteTarget::cloud : RouteTarget::local;
    d.reason = cat("router score ", fixed(*d.score), cloud ? " >= " : " < ", fixed(*d.threshold));
    return d;
}

Redaction HybridRouter::start_redaction() const {
    return Redaction(redactor_);
}

namespace {

void redact_string(json& value, Redaction& redaction) {
    if (value.is_string()) value = redaction.redact(value.get_ref<const std::string&>());
}

}  // namespace

json HybridRouter::outbound_body(const json& request, Redaction& redaction) const {
    json body = request;
    body.erase("pocket");
    if (options_.pii != PiiPolicy::redact) return body;
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) return body;
    for (json& message : *messages) {
        if (!message.is_object()) continue;
        if (const auto content = message.find("content"); content != message.end()) {
            if (content->is_string()) {
                redact_string(*content, redaction);
            } else if (content->is_array()) {
                for (json& part : *content)
                    if (part.is_object() && part.value("type", "") == "text" &&
                        part.contains("text"))
                        redact_string(part["text"], redaction);
            }
        }
        if (const auto calls = message.find("tool_calls");
            calls != message.end() && calls->is_array()) {
            for (json& call : *calls)
                if (call.is_object() && call.contains("function") && call["function"].is_object() &&
                    call["function"].contains("arguments"))
                    redact_string(call["function"]["arguments"], redaction);
        }
    }
    return body;
}

std::string cloud_failure_text(const CloudResult& result) {
    if (result.ok) return {};
    if (result.http_status < 400 || result.body.empty()) return result.error;
    const json body = json::parse(result.body, nullptr, false);
    std::string message;
    if (body.is_object() && body.contains("error")) {
        const json& e = body["error"];
        if (e.is_object() && e.contains("message") && e["message"].is_string())
            message = e["message"].get<std::string>();
        else if (e.is_string())
            message = e.get<std::string>();
    }
    if (message.size() > 300) message = message.substr(0, 300) + "...";
    return message.empty() ? result.error : result.error + ": " + message;
}

EgressInfo egress_info(const RouteDecision& decision, const std::string& request_id) {
    EgressInfo info;
    info.route_reason = decision.reason;
    info.request_id = request_id;
    return info;
}

CloudAnswer HybridRouter::ask_cloud(const json& messages, const json& extra,
                                    const RouteDecision& decision, const std::string& request_id,
                                    const std::function<bool(std::string_view)>& on_text,
                                    const std::function<bool()>& should_stop) {
    json request = extra.is_object() ? extra : json::object();
    request["messages"] = messages;
    request["stream"] = true;
    Redaction redaction = start_redaction();
    const json body = outbound_body(request, redaction);
    EgressInfo info = egress_info(decision, request_id);
    info.redactions = redaction.counts();
    ChunkRehydrator rehydrator(redaction);
    CloudAnswer answer;
    bool stopped = false;
    const auto emit = [&](const std::string& text) {
        if (text.empty() || stopped) return;
        answer.text += text;
        if (on_text && !on_text(text)) stopped = true;
    };
    answer.result = client_->chat(
        body, info,
        [&](std::string_view data) {
            if (data == "[DONE]") return true;
            json chunk = json::parse(data, nullptr, false);
            if (chunk.is_discarded() || !chunk.is_object()) return true;  // not ours to judge
            rehydrator.push(chunk);
            if (const auto choices = chunk.find("choices");
                choices != chunk.end() && choices->is_array()) {
                for (const json& choice : *choices) {
                    if (choice.value("index", 0) != 0) continue;
                    const auto delta = choice.find("delta");
                    if (delta == choice.end() || !delta->is_object()) continue;
                    if (const auto c = delta->find("content"); c != delta->end() && c->is_string())
                        emit(c->get<std::string>());
                }
            }
            return !stopped;
        },
        should_stop);
    for (const auto& [choice, rest] : rehydrator.finish())
        if (choice == 0) emit(rest);
    answer.ok = answer.result.ok || (stopped && answer.result.error == "cancelled");
    answer.error = cloud_failure_text(answer.result);
    return answer;
}

template <class Json>
void rehydrate_completion(Json& completion, const Redaction& redaction) {
    if (redaction.empty()) return;
    const auto choices = completion.find("choices");
    if (choices == completion.end() || !choices->is_array()) return;
    for (Json& choice : *choices) {
        if (!choice.is_object()) continue;
        const auto message = choice.find("message");
        if (message == choice.end() || !message->is_object()) continue;
        if (const auto c = message->find("content"); c != message->end() && c->is_string())
            *c = redaction.rehydrate(c->template get_ref<const std::string&>());
        if (const auto calls = message->find("tool_calls");
            calls != message->end() && calls->is_array()) {
            for (Json& call : *calls) {
                if (!call.is_object() || !call.contains("function")) continue;
                Json& fn = call["function"];
                if (fn.is_object() && fn.contains("arguments") && fn["arguments"].is_string())
                    fn["arguments"] =
                        redaction.rehydrate(fn["arguments"].template get<std::string>());
            }
        }
    }
}

Redaction::Stream& ChunkRehydrator::content_stream(size_t choice) {
    return content_.try_emplace(choice, redaction_.stream()).first->second;
}

template <class Json>
void ChunkRehydrator::push(Json& chunk) {
    const auto choices = chunk.find("choices");
    if (choices == chunk.end() || !choices->is_array()) return;
    for (Json& choice : *choices) {
        if (!choice.is_object()) continue;
        const auto idx = choice.find("index");
        const size_t index =
            idx != choice.end() && idx->is_number_unsigned() ? idx->template get<size_t>() : 0;
        const bool ends = choice.contains("finish_reason") && !choice["finish_reason"].is_null();
        const auto delta = choice.find("delta");
        if (delta == choice.end() || !delta->is_object()) continue;
        Redaction::Stream& stream = content_stream(index);
        const auto c = delta->find("content");
        const bool has_text = c != delta->end() && c->is_string();
        std::string text = has_text ? stream.push(c->template get_ref<const std::string&>()) : "";
        if (ends) text += stream.finish();
        if (has_text || !text.empty()) (*delta)["content"] = std::move(text);
        if (const auto calls = delta->find("tool_calls");
            calls != delta->end() && calls->is_array()) {
            for (Json& call : *calls) {
                if (!call.is_object() || !call.contains("function")) continue;
                Json& fn = call["function"];
                if (!fn.is_object() || !fn.contains("arguments") || !fn["arguments"].is_string())
                    continue;
                const size_t call_index = call.value("index", size_t{0});
                auto& s =
                    arguments_.try_emplace({index, call_index}, redaction_.stream()).first->second;
                fn["arguments"] = s.push(fn["arguments"].template get<std::string>());
            }
        }
        if (ends) {
            // Arguments still held for this choice go out with its last chunk, as a final
            // argument delta of each call.
            for (auto it = arguments_.lower_bound({index, 0});
                 it != arguments_.end() && it->first.first == index; it = arguments_.erase(it)) {
                std::string rest = it->second.finish();
                if (rest.empty()) continue;
                (*delta)["tool_calls"].push_back(
                    {{"index", it->first.second}, {"function", {{"arguments", rest}}}});
            }
        }
    }
}

template void rehydrate_completion(json&, const Redaction&);
template void rehydrate_completion(nlohmann::ordered_json&, const Redaction&);
template void ChunkRehydrator::push(json&);
template void ChunkRehydrator::push(nlohmann::ordered_json&);

std::map<size_t, std::string> ChunkRehydrator::finish() {
    std::map<size_t, std::string> out;
    for (auto& [choice, stream] : content_) {
        std::string rest = stream.finish();
        if (!rest.empty()) out[choice] = std::move(rest);
    }
    for (auto& [key, stream] : arguments_) stream.finish();
    return out;
}

}  // namespace pocket::route
