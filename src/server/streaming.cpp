#include "server/streaming.h"

namespace pocket::server {
namespace {

using namespace std::chrono_literals;
constexpr auto kPoll = 50ms;     // how often streams are checked when several run
constexpr auto kKeepalive = 5s;  // quiet time before a keep-alive write

}  // namespace

bool StreamPump::write(const std::string& bytes) {
    if (bytes.empty()) return true;
    if (!sink_.write(bytes.data(), bytes.size())) {
        cancel_all();
        return false;
    }
    return true;
}

void StreamPump::cancel_all() {
    for (const auto& s : streams_) s->cancel();
}

bool StreamPump::abandon(const std::vector<bool>& ended, const OnEnd& on_end) {
    // write() cancelled them; each stops at the scheduler's next step. on_end then records what
    // it generated (metrics, access log) like a finished one; its bytes have nowhere to go.
    for (size_t i = 0; i < streams_.size(); ++i) {
        if (ended[i]) continue;
        try {
            streams_[i]->wait();
            on_end(i);
        } catch (const std::exception&) {
        }
    }
    return false;
}

bool StreamPump::run(const OnEvent& on_event, const OnEnd& on_end, const std::string& keepalive) {
    std::vector<bool> ended(streams_.size(), false);
    size_t remaining = streams_.size();
    auto quiet_since = std::chrono::steady_clock::now();
    const auto wait = streams_.size() == 1 ? std::chrono::milliseconds(1000) : kPoll;
    while (remaining > 0) {
        bool wrote = false;
        for (size_t i = 0; i < streams_.size(); ++i) {
            if (ended[i]) continue;
            std::optional<serve::StreamEvent> event = streams_[i]->next_for(wait);
            if (event) {
                if (event->text.empty() && event->tokens == 0 && event->logprobs.empty()) continue;
                if (!write(on_event(i, *event))) return abandon(ended, on_end);
                wrote = true;
                continue;
            }
            ended[i] = true;
            --remaining;
            if (!write(on_end(i))) return abandon(ended, on_end);
            wrote = true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (wrote) {
            quiet_since = now;
        } else if (now - quiet_since >= kKeepalive) {
            if (!write(keepalive)) return abandon(ended, on_end);
            quiet_since = now;
        }
    }
    return true;
}

}  // namespace pocket::server
