// Hybrid routing: the local model for routine requests, an OpenAI-compatible cloud endpoint for
// the hard rest, with PII kept home. HybridRouter joins the parts the front ends (server, CLI, C
// API) share: the router and its share calibration, the language identifier, the redactor, the
// egress audit log and the cloud client. Each request is decided once (`decide`), and a cloud
// request's body is redacted (`outbound_body`) before the client audits and sends it; the answer
// is re-hydrated on the way back (`rehydrate_completion`, `ChunkRehydrator`, `ask_cloud`).
//
// Nothing here opens a connection unless a request is routed to the cloud, and no request is
// routed there unless the user configured an endpoint.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/generate/sampling.h"
#include "pocket/route/cloud_client.h"
#include "pocket/route/redactor.h"

namespace pocket::route {

class Router;
class ShareCalibrator;
class LanguageIdentifier;

// What to do with a prompt that holds PII: keep it on the local model, send it with the PII
// replaced by placeholders (re-hydrated in the answer), or send it as it is.
enum class PiiPolicy { local, redact, off };
// When the cloud fails (no connection, HTTP error, timeout, a cut stream): answer locally, or
// fail the request clearly.
enum class CloudFailurePolicy { local, fail };
// A request's own wish: let the router decide, or force a side.
enum class RouteRequest { automatic, local, cloud };
enum class RouteTarget { local, cloud };

// Parse the flag and request values ("local"/"redact"/"off", "local"/"fail",
// "auto"/"local"/"cloud"); anything else throws pocket::Error naming the choices.
PiiPolicy parse_pii_policy(std::string_view text);
CloudFailurePolicy parse_cloud_failure_policy(std::string_view text);
RouteRequest parse_route_request(std::string_view text);
std::string_view route_target_name(RouteTarget target);

struct RouteDecision {
    RouteTarget target = RouteTarget::local;
    std::string reason;                 // "router score 0.71 >= 0.62", "override: local", ...
    std::optional<double> score;        // the router's score, when it was asked
    std::optional<double> threshold;    // the threshold it was compared with
    std::map<std::string, size_t> pii;  // PII found in what would be sent: kind -> count
    std::string language;               // ISO 639-1 by the language identifier, when loaded
    bool fallback = false;              // the cloud failed and the local model answered
    std::string cloud_error;            // why the cloud failed

    // {"target", "reason", "score"?, "threshold"?, "pii"?, "language"?, "fallback"?,
    //  "cloud_error"?}: the `pocket.route` field of responses.
    nlohmann::json to_json() const;
    // One line for a terminal: "cloud (router score 0.71 >= 0.62; redacted EMAIL 1)".
    std::string summary() const;
};

struct HybridOptions {
    CloudEndpoint cloud;           // base_url and model are required
    std::filesystem::path router;  // `pocket router train` output; empty: the built-in router
    double cloud_share = 0.2;      // target share of automatically routed requests
    PiiPolicy pii = PiiPolicy::redact;
    std::vector<std::string> private_terms;  // redacted as [PRIVATE_n]
    CloudFailurePolicy on_cloud_failure = CloudFailurePolicy::local;
    std::filesystem::path audit_log;       // required (the `pocket` command's default:
                                           // $XDG_STATE_HOME/pocket/egress-audit.jsonl)
    std::filesystem::path language_model;  // fastText lid.176; empty: no language signal
    // Where the router's recent scores (numbers only, never text) are kept between runs, so the
    // threshold that realises cloud_share follows this user's traffic also across one-prompt
    // `pocket run`s; empty: kept in memory only.
    std::filesystem::path calibration;
};

// The last answer text produced by ask_cloud, re-hydrated, and how the call went.
struct CloudAnswer {
    bool ok = false;
    std::string text;   // what was shown (re-hydrated), also when the stream was cut
    std::string error;  // CloudResult::error when not ok
    CloudResult result;
};

class HybridRouter {
  public:
    // Loads the router, the language model and the private terms, and opens the audit log.
    // Throws pocket::Error (with the file) when one cannot be read, or when the endpoint lacks a
    // URL or model.
    explicit HybridRouter(HybridOptions options);
    ~HybridRouter();
    HybridRouter(const HybridRouter&) = delete;
    HybridRouter& operator=(const HybridRouter&) = delete;

    // Where a request goes. `prompt` is what the router scores (the last user message);
    // `outbound` is every text that would leave (all messages), checked for PII. Order: a local
    // override wins; then PII under --pii local keeps it home (even against a cloud override);
    // then a cloud override; then the router's score against the calibrated threshold (the
    // calibrator counts only these automatic decisions). Thread-safe.
    RouteDecision decide(std::string_view prompt, std::span<const std::string> outbound,
                         RouteRequest request = RouteRequest::automatic);

    // A fresh redaction for one request (placeholders numbered per request). Empty when the
    // policy is not `redact`, so re-hydration is then the identity.
    Redaction start_redaction() const;

    // The chat-completions body to send: the request without pocket's own extension field, with
    // every message text (string content, text parts, tool-call arguments) passed through
    // `redaction` under --pii redact. Other fields pass unchanged; the client sets the model.
    nlohmann::json outbound_body(const nlohmann::json& request, Redaction& redaction) const;

    // Sends a chat request for a terminal front end: streams the answer, re-hydrated, to
    // `on_text` as it arrives. `messages` are OpenAI chat messages; `extra` holds sampling fields
    // (max_tokens, temperature, ...). Never throws for a cloud failure: the result says it.
    CloudAnswer ask_cloud(const nlohmann::json& messages, const nlohmann::json& extra,
                          const RouteDecision& decision, const std::string& request_id,
                          const std::function<bool(std::string_view)>& on_text,
                          const std::function<bool()>& should_stop = {});

    CloudClient& client() { return *client_; }
    const HybridOptions& options() const { return options_; }
    const Redactor& redactor() const { return redactor_; }
    const Router& router() const { return *router_; }
    double threshold() const;  // the calibrated threshold now
    // Writes the recent scores to options().calibration (also done every 50 automatic decisions
    // and on destruction). Throws pocket::Error when the file cannot be written.
    void save_calibration() const;

  private:
    HybridOptions options_;
    std::unique_ptr<Router> router_;
    std::unique_ptr<ShareCalibrator> calibrator_;
    std::unique_ptr<LanguageIdentifier> langid_;
    Redactor redactor_;
    std::unique_ptr<CloudClient> client_;
    std::string router_id_;  // which router the remembered scores belong to
    std::atomic<size_t> decisions_{0};
    mutable std::mutex save_mutex_;
};

// Why a cloud call failed, for people: CloudResult::error plus the endpoint's own message when
// its error body has one ("HTTP 404: model 'x' not found").
std::string cloud_failure_text(const CloudResult& result);

// The redaction counts as an EgressInfo's map (kind -> count).
EgressInfo egress_info(const RouteDecision& decision, const std::string& request_id);

// Re-hydrates a non-streaming chat completion in place: every choice's message content and
// tool-call arguments. For nlohmann::json and nlohmann::ordered_json (which keeps the endpoint's
// key order).
template <class Json>
void rehydrate_completion(Json& completion, const Redaction& redaction);
extern template void rehydrate_completion(nlohmann::json&, const Redaction&);
extern template void rehydrate_completion(nlohmann::ordered_json&, const Redaction&);

// Re-hydrates a stream of chat-completion chunks: a placeholder split across chunks is held back
// until it is whole. `push` rewrites one chunk in place (the held text is released into the
// chunk that ends its choice); `finish` returns what is still held per choice, for a stream that
// ended without a finish_reason.
class ChunkRehydrator {
  public:
    explicit ChunkRehydrator(const Redaction& redaction) : redaction_(redaction) {}
    template <class Json>  // nlohmann::json or nlohmann::ordered_json
    void push(Json& chunk);
    std::map<size_t, std::string> finish();

  private:
    Redaction::Stream& content_stream(size_t choice);
    const Redaction& redaction_;
    std::map<size_t, Redaction::Stream> content_;
    std::map<std::pair<size_t, size_t>, Redaction::Stream> arguments_;
};
extern template void ChunkRehydrator::push(nlohmann::json&);
extern template void ChunkRehydrator::push(nlohmann::ordered_json&);

// The OpenAI chat-completion fields for local sampling settings, for ask_cloud's `extra`:
// temperature (clamped at 0), top_p (at most 1), presence/frequency penalties, seed (when fixed),
// max_tokens (when > 0) and stop (when any). Settings OpenAI has no field for (top_k, min_p,
// repeat penalty) are left out.
nlohmann::json openai_sampling_fields(const SamplingParams& sampling, int64_t max_tokens,
                                      std::span<const std::string> stop = {});

}  // namespace pocket::route
