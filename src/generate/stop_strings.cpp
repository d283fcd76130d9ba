#include "generate/stop_strings.h"

#include <algorithm>
#include <utility>

namespace pocket {

StopStrings::StopStrings(std::vector<std::string> stops) {
    for (auto& s : stops) {
        if (!s.empty()) stops_.push_back(std::move(s));
    }
}

const std::string& StopStrings::matched_string() const {
    static const std::string kNone;
    return matched_ >= 0 ? stops_[static_cast<size_t>(matched_)] : kNone;
}

std::string StopStrings::feed(std::string_view text) {
    if (matched()) return {};
    pending_.append(text);
    if (stops_.empty()) return std::exchange(pending_, {});

    // The earliest complete match wins (on equal starts, the one listed first).
    size_t best = std::string::npos;
    for (size_t i = 0; i < stops_.size(); ++i) {
        const size_t at = pending_.find(stops_[i]);
        if (at < best) {
            best = at;
            matched_ = static_cast<int>(i);
        }
    }
    if (best != std::string::npos) {
        std::string out = pending_.substr(0, best);
        pending_.clear();
        return out;
    }
    // Hold back the longest tail that is a proper prefix of some stop string.
    size_t keep = 0;
    for (const std::string& s : stops_) {
        const size_t longest = std::min(s.size() - 1, pending_.size());
        for (size_t n = longest; n > keep; --n) {
            if (std::string_view(pending_).substr(pending_.size() - n) ==
                std::string_view(s).substr(0, n)) {
                keep = n;
                break;
            }
        }
    }
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return out;
}

std::string StopStrings::flush() {
    if (matched()) return {};
    return std::exchange(pending_, {});
}

}  // namespace pocket
