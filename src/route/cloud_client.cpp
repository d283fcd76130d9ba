// The audited OpenAI-compatible cloud client (cloud_client.h): libcurl's easy interface, one
// handle per request, SSE parsed incrementally in the write callback.
#include "pocket/route/cloud_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "pocket/core/error.h"

namespace pocket::route {
namespace {

using Clock = std::chrono::steady_clock;

// A response body larger than this is refused (no chat completion comes near it); it bounds what
// a misbehaving endpoint can make pocket hold in memory.
constexpr size_t kMaxBody = 64u << 20;

void global_init() {
    static std::once_flag once;
    static CURLcode code = CURLE_OK;
    std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (code != CURLE_OK) fail("libcurl initialisation failed: ", curl_easy_strerror(code));
}

struct EasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void append_header(Slist& list, const std::string& header) {
    curl_slist* next = curl_slist_append(list.get(), header.c_str());
    if (!next) fail("cloud client: out of memory building the request headers");
    (void)list.release();
    list.reset(next);
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
}

// The URL without "user:password@", for the audit log (which must never hold a secret).
std::string without_userinfo(const std::string& url) {
    const size_t host = url.find("://") + 3;
    const size_t end = url.find('/', host);
    const size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
    if (at == std::string::npos || at < host) return url;
    return url.substr(0, host) + url.substr(at + 1);
}

// The user's no_proxy, plus loopback: a local endpoint is never reached through a proxy.
std::string no_proxy_list() {
    std::string list = "127.0.0.1,localhost,::1";
    for (const char* name : {"no_proxy", "NO_PROXY"}) {
        if (const char* v = std::getenv(name); v && *v) {
            if (std::string_view(v) == "*") return "*";
            list += ',';
            list += v;
            break;
        }
    }
    return list;
}

bool is_connect_failure(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:  // only the connect timeout is set on the handle
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return true;
        default:
            return false;
    }
}

// Whether an SSE data payload is a chunk that finishes a choice ("finish_reason": "stop", ...).
bool finishes(std::string_view data) {
    if (data.find("\"finish_reason\"") == std::string_view::npos) return false;
    const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array()) return false;
    for (const auto& choice : j["choices"]) {
        if (choice.is_object() && choice.contains("finish_reason") &&
            choice["finish_reason"].is_string()) {
            return true;
        }
    }
    return false;
}

// The state one transfer's callbacks share. Nothing may throw out of a libcurl callback: every
// callback catches, stores the exception and ends the transfer.
struct Transfer {
    CURL* curl = nullptr;
    bool streaming = false;
    const std::function<bool(std::string_view)>* on_event = nullptr;
    const std::function<bool()>* should_stop = nullptr;
    CloudResult* result = nullptr;
    SseParser sse;
    std::chrono::milliseconds idle{};
    Clock::time_point last_activity = Clock::now();
    curl_off_t last_down = 0, last_up = 0;
    bool decided = false;    // whether the response's status and type have been looked at
    bool events = false;     // the body is parsed as SSE (streaming, 2xx, text/event-stream)
    bool timed_out = false;  // pocket's idle timeout ended it
    bool cancelled = false;  // on_event returned false
    bool finished = false;   // [DONE] or a finish_reason was seen
    bool too_large = false;
    std::string not_sse;        // the Content-Type of a 2xx non-SSE answer to a streaming request
    std::exception_ptr thrown;  // from on_event (or an allocation in a callback)

    bool deliver(std::string_view data) {
        result->any_data = true;
        if (data == "[DONE]" || finishes(data)) finished = true;
        if (*on_event && !(*on_event)(data)) {
            cancelled = true;
            return false;
        }
        return true;
    }

    size_t write(const char* bytes, size_t n) {
        last_activity = Clock::now();
        result->bytes_received += n;
        if (!decided) {
            decided = true;
            long status = 0;
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            result->http_status = status;
            if (streaming && status >= 200 && status < 300) {
                const char* type = nullptr;
                curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
                events = type && starts_with_nocase(type, "text/event-stream");
                if (!events) not_sse = type ? type : "none";
            }
        }
        if (events) {
            const bool go_on = sse.feed(std::string_view(bytes, n),
                                        [this](std::string_view d) { return deliver(d); });
            return go_on ? n : 0;
        }
        if (result->body.size() + n > kMaxBody) {
            too_large = true;
            return 0;
        }
        result->body.append(bytes, n);
        return n;
    }
};

size_t write_callback(char* ptr, size_t size, size_t nmemb, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    try {
        return t->write(ptr, size * nmemb);
    } catch (...) {
        t->thrown = std::current_exception();
        return 0;  // anything but size*nmemb ends the transfer (CURLE_WRITE_ERROR)
    }
}

// Called by libcurl while the transfer runs: bytes moving in either direction (the request body
// going up counts) restart the idle clock; perform() checks it.
int progress_callback(void* userdata, curl_off_t, curl_off_t down, curl_off_t, curl_off_t up) {
    auto* t = static_cast<Transfer*>(userdata);
    const auto now = Clock::now();
    if (down != t->last_down || up != t->last_up) {
        t->last_down = down;
        t->last_up = up;
        t->last_activity = now;
        return 0;
    }
    if (now - t->last_activity >= t->idle) {
        t->timed_out = true;
        return 1;
    }
    return 0;
}

// Drives the transfer through a multi handle, so that pocket's own clock checks the idle
// timeout at least every 50 ms: curl_easy_perform wakes the progress function only about once a
// second while nothing moves (a 300 ms timeout fired after 1.2 s).
CURLcode perform(CURL* easy, Transfer& t) {
    struct MultiDeleter {
        void operator()(CURLM* m) const { curl_multi_cleanup(m); }
    };
    const std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
    if (!multi) return CURLE_OUT_OF_MEMORY;
    if (curl_multi_add_handle(multi.get(), easy) != CURLM_OK) return CURLE_FAILED_INIT;
    CURLcode result = CURLE_OK;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            break;
        }
        bool done = false;
        int left = 0;
        while (const CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
            if (msg->msg == CURLMSG_DONE) {
                result = msg->data.result;
                done = true;
            }
        }
        if (done || running == 0) break;
        if (*t.should_stop) {
            bool stop = false;
            try {
                stop = (*t.should_stop)();
            } catch (...) {
                t.thrown = std::current_exception();  // recorded, then rethrown by chat()
                stop = true;
            }
            if (stop) {
                t.cancelled = true;
                result = CURLE_ABORTED_BY_CALLBACK;
                break;
            }
        }
        const auto quiet = Clock::now() - t.last_activity;
        if (quiet >= t.idle) {
            t.timed_out = true;
            result = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(t.idle - quiet);
        curl_multi_poll(multi.get(), nullptr, 0,
                        static_cast<int>(std::clamp<int64_t>(wait.count() + 1, 1, 50)), nullptr);
    }
    curl_multi_remove_handle(multi.get(), easy);
    return result;
}

std::string exception_text(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace

std::string chat_completions_url(std::string_view base_url) {
    std::string url(base_url);
    while (!url.empty() && (url.back() == ' ' || url.back() == '\t')) url.pop_back();
    if (!starts_with_nocase(url, "http://") && !starts_with_nocase(url, "https://")) {
        fail("cloud endpoint '", url, "': not an http:// or https:// URL");
    }
    const size_t host = url.find("://") + 3;
    if (host >= url.size() || url[host] == '/') fail("cloud endpoint '", url, "': no host");
    while (url.ends_with('/')) url.pop_back();
    if (url.find('/', host) == std::string::npos) url += "/v1";
    return url + "/chat/completions";
}

CloudClient::CloudClient(CloudEndpoint endpoint, std::shared_ptr<AuditLog> audit)
    : endpoint_(std::move(endpoint)), audit_(std::move(audit)) {
    if (!audit_) fail("cloud client: an audit log is required (nothing leaves unaudited)");
    url_ = chat_completions_url(endpoint_.base_url);
    global_init();
}

CloudResult CloudClient::chat(const nlohmann::json& body, const EgressInfo& info,
                              const std::function<bool(std::string_view data)>& on_event,
                              const std::function<bool()>& should_stop) {
    nlohmann::json outbound = body;
    if (!endpoint_.model.empty()) outbound["model"] = endpoint_.model;
    const bool streaming = outbound.is_object() && outbound.contains("stream") &&
                           outbound["stream"].is_boolean() && outbound["stream"].get<bool>();
    // These bytes are hashed into the audit log and then sent, unchanged.
    const std::string payload =
        outbound.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

    // Everything that can fail before sending fails before the audit entry is written.
    Easy curl(curl_easy_init());
    if (!curl) fail("cloud client: curl_easy_init failed");
    Slist headers;
    append_header(headers, "Content-Type: application/json");
    append_header(headers, streaming ? "Accept: text/event-stream" : "Accept: application/json");
    append_header(headers, "Expect:");  // no 100-continue round trip for large bodies
    if (!endpoint_.api_key.empty())
        append_header(headers, "Authorization: Bearer " + endpoint_.api_key);
    const std::string no_proxy = no_proxy_list();

    CloudResult result;
    Transfer t;
    t.curl = curl.get();
    t.streaming = streaming;
    t.on_event = &on_event;
    t.should_stop = &should_stop;
    t.result = &result;
    t.idle = endpoint_.idle_timeout;
    char errbuf[CURL_ERROR_SIZE] = {};

    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would send the body elsewhere
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);        // threads: no SIGALRM for timeouts
    curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pocket/0.1.0");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, endpoint_.connect_timeout.count())));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_callback);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_callback);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    result.audit_seq = audit_->record_egress(
        {without_userinfo(url_), payload, info.route_reason, info.redactions, info.request_id});

    t.last_activity = Clock::now();
    const CURLcode code = perform(c, t);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    result.http_status = status;
    const bool http_ok = status >= 200 && status < 300;
    const std::string curl_text = errbuf[0] ? errbuf : curl_easy_strerror(code);

    // The stream's last event may lack its blank line; a clean end delivers it.
    if (code == CURLE_OK && t.events && !t.cancelled && !t.thrown) {
        try {
            t.sse.finish([&t](std::string_view d) { return t.deliver(d); });
        } catch (...) {
            t.thrown = std::current_exception();
        }
    }

    std::string outcome;
    if (t.thrown) {
        result.error = "cancelled: " + exception_text(t.thrown);
    } else if (t.cancelled) {
        result.error = "cancelled";
    } else if (t.timed_out) {
        result.error = "timeout";
        outcome = cat("timeout after ", result.bytes_received, " bytes");
    } else if (t.too_large) {
        result.error = cat("response larger than ", kMaxBody, " bytes");
    } else if (code != CURLE_OK && status == 0 && is_connect_failure(code)) {
        result.error = "connect failed: " + curl_text;
    } else if (status != 0 && !http_ok) {
        result.error = cat("HTTP ", status);
    } else if (streaming && !t.not_sse.empty()) {
        result.error = cat("not an event stream (Content-Type: ", t.not_sse, ")");
    } else if (streaming && http_ok && !t.finished) {
        result.error = "stream cut";
        outcome = cat("stream cut after ", result.bytes_received, " bytes",
                      code != CURLE_OK ? ": " + curl_text : std::string());
    } else if (code != CURLE_OK) {
        result.error = status == 0 ? "no response: " + curl_text : "response cut: " + curl_text;
    } else {
        result.ok = true;
    }
    if (outcome.empty()) outcome = result.ok ? "ok" : result.error;

    try {
        audit_->record_outcome(result.audit_seq, outcome, status, result.bytes_received);
    } catch (const std::exception& e) {
        result.audit_error = e.what();
    }
    if (t.thrown) std::rethrow_exception(t.thrown);
    return result;
}

bool SseParser::feed(std::string_view bytes,
                     const std::function<bool(std::string_view data)>& on_data) {
    while (!bytes.empty()) {
        if (after_cr_) {
            after_cr_ = false;
            if (bytes.front() == '\n') {  // the LF of a CRLF split across two chunks
                bytes.remove_prefix(1);
                continue;
            }
        }
        const size_t end = bytes.find_first_of("\r\n");
        if (end == std::string_view::npos) {
            line_.append(bytes);
            return true;
        }
        line_.append(bytes.substr(0, end));
        if (bytes[end] == '\r') {
            if (end + 1 < bytes.size()) {
                bytes.remove_prefix(bytes[end + 1] == '\n' ? end + 2 : end + 1);
            } else {
                after_cr_ = true;
                bytes.remove_prefix(end + 1);
            }
        } else {
            bytes.remove_prefix(end + 1);
        }
        const std::string text = std::move(line_);
        line_.clear();
        if (!line(text, on_data)) return false;
    }
    return true;
}

bool SseParser::finish(const std::function<bool(std::string_view data)>& on_data) {
    if (!line_.empty()) {
        const std::string text = std::move(line_);
        line_.clear();
        if (!line(text, on_data)) return false;
    }
    return dispatch(on_data);
}

bool SseParser::line(std::string_view text, const std::function<bool(std::string_view)>& on_data) {
    if (text.empty()) return dispatch(on_data);
    if (text.front() == ':') return true;  // a comment (": keep-alive")
    const size_t colon = text.find(':');
    const std::string_view field = text.substr(0, colon);
    if (field != "data") return true;  // event, id, retry: nothing OpenAI streams need
    std::string_view value = colon == std::string_view::npos ? "" : text.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
    data_.append(value);
    data_ += '\n';
    has_data_ = true;
    return true;
}

bool SseParser::dispatch(const std::function<bool(std::string_view)>& on_data) {
    if (!has_data_) return true;
    has_data_ = false;
    std::string data = std::move(data_);
    data_.clear();
    data.pop_back();  // the newline after the last data line
    return on_data(data);
}

}  // namespace pocket::route
