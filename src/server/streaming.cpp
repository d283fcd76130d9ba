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
                if (!write(on_event(i, *event))) return false;
                wrote = true;
                continue;
            }
            ended[i] = true;
            --remaining;
            if (!write(on_end(i))) return false;
            wrote = true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (wrote) {
            quiet_since = now;
        } else if (now - quiet_since >= kKeepalive) {
            if (!write(keepalive)) return false;
            quiet_since = now;
        }
    }
    return true;
}

}  // namespace pocket::server
