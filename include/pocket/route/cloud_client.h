// The one way pocket sends a request off the machine: an OpenAI-compatible chat completion to a
// cloud endpoint, through libcurl. Every request is recorded in the egress audit log (and made
// durable) before its first byte is sent, and its outcome after it ends, whatever the ending.
//
// Transport decisions, and why:
// - Redirects are not followed: a redirect would send the body to a destination the audit log
//   does not name.
// - Only http and https are allowed.
// - The user's proxy settings (http_proxy, https_proxy, no_proxy, as curl reads them) are
//   honoured: sending through the proxy the user configured is what they expect of any client.
//   Loopback (127.0.0.1, localhost, ::1) never goes through a proxy, so a local endpoint (and the
//   tests) behaves the same whatever the environment says.
// - The idle timeout is measured by pocket, not curl's low-speed limit (which has one-second
//   granularity): no byte received (or sent) for that long ends the transfer with "timeout".
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pocket/route/audit_log.h"

namespace pocket::route {

struct CloudEndpoint {
    std::string base_url;  // as OpenAI clients take it: "https://api.example.com/v1"; a URL with
                           // no path gets "/v1"
    std::string model;     // the model name sent to the endpoint (replaces the request's; empty:
                           // the request's is kept)
    std::string api_key;   // sent as "Authorization: Bearer ..."; empty: none
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds idle_timeout{60000};  // no byte for this long -> timeout
};

// What the audit log records about why the request leaves.
struct EgressInfo {
    std::string route_reason;
    std::map<std::string, size_t> redactions;
    std::string request_id;
};

struct CloudResult {
    bool ok = false;  // transport succeeded, HTTP 2xx, and (streaming) the stream ended with
                      // [DONE] or a finish_reason
    long http_status = 0;
    std::string body;   // non-streaming: the response body; on HTTP errors: the error body
    std::string error;  // why not ok: "connect failed: ...", "timeout", "HTTP 500", "stream cut",
                        // "cancelled"
    size_t bytes_received = 0;
    bool any_data = false;    // streaming: at least one event was delivered (falling back to the
                              // local model then needs care: the client has seen part of an answer)
    uint64_t audit_seq = 0;   // the egress line's sequence number in the audit log
    std::string audit_error;  // the outcome line could not be written (the request was sent)
};

// "{base}/chat/completions" for an OpenAI-style base URL: trailing slashes dropped, "/v1" added
// when the URL has no path. Throws pocket::Error for a URL that is not http(s)://host...
std::string chat_completions_url(std::string_view base_url);

class CloudClient {
  public:
    // audit is required (non-null): nothing leaves unaudited. Throws pocket::Error otherwise, or
    // when the base URL is not an http(s) URL.
    CloudClient(CloudEndpoint endpoint, std::shared_ptr<AuditLog> audit);

    // POST {base_url}/chat/completions with `body` (its "model" set to endpoint.model; the exact
    // serialized bytes are audited, then sent). body["stream"]==true: each SSE "data:" payload
    // (JSON text, and the final "[DONE]") goes to on_event as it arrives; on_event returning
    // false cancels the transfer. Records the outcome line in the audit log in every case.
    // Transport and HTTP failures come back in CloudResult; throws pocket::Error only when the
    // audit entry cannot be written (then nothing was sent). An exception thrown by on_event
    // ends the transfer (outcome "cancelled: ...") and is rethrown. Thread-safe: concurrent calls
    // use their own connections.
    // `should_stop` (optional) is polled every 50 ms while the transfer runs, also while the
    // endpoint is silent: true cancels ("cancelled"), e.g. when the server's own client has gone.
    CloudResult chat(const nlohmann::json& body, const EgressInfo& info,
                     const std::function<bool(std::string_view data)>& on_event = {},
                     const std::function<bool()>& should_stop = {});

    const CloudEndpoint& endpoint() const { return endpoint_; }
    const std::string& url() const { return url_; }
    AuditLog& audit() const { return *audit_; }

  private:
    CloudEndpoint endpoint_;
    std::shared_ptr<AuditLog> audit_;
    std::string url_;
};

// Incremental parser of a text/event-stream body (the SSE format): feed it bytes as they arrive,
// split anywhere; it calls on_data with each event's data (multi-line data joined with "\n").
// LF, CRLF and CR line ends; comment lines (": keep-alive") and fields other than data ignored.
class SseParser {
  public:
    // Returns false as soon as on_data does (the rest of the bytes are not parsed).
    bool feed(std::string_view bytes, const std::function<bool(std::string_view data)>& on_data);
    // The end of the stream: an event whose blank line never came is delivered (lenient; some
    // servers end "data: [DONE]\n" without the blank line).
    bool finish(const std::function<bool(std::string_view data)>& on_data);

  private:
    bool line(std::string_view text, const std::function<bool(std::string_view)>& on_data);
    bool dispatch(const std::function<bool(std::string_view)>& on_data);

    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;  // the previous byte was CR: an LF right after it ends nothing more
};

}  // namespace pocket::route
