// Wall time per phase of a tokenizer load (read, JSON, vocabulary, merges, ...), filled in when a
// caller asks for it; bench/tokenizer/load_bench.cpp reports it. Internal: not part of the API.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pocket/tokenizer/tokenizer.h"

namespace pocket::tokenizer {

class LoadPhases {
  public:
    using Clock = std::chrono::steady_clock;

    // Charges the time since the previous mark (or since construction or restart()) to `name`;
    // a name used twice accumulates.
    void mark(std::string_view name) {
        const Clock::time_point now = Clock::now();
        const double s = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        for (auto& [n, t] : phases_) {
            if (n == name) {
                t += s;
                return;
            }
        }
        phases_.emplace_back(std::string(name), s);
    }
    void restart() { last_ = Clock::now(); }
    const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }

  private:
    Clock::time_point last_ = Clock::now();
    std::vector<std::pair<std::string, double>> phases_;
};

// A no-op when `phases` is null, so loaders can mark unconditionally.
inline void mark_phase(LoadPhases* phases, std::string_view name) {
    if (phases != nullptr) phases->mark(name);
}

// parse_hf_tokenizer (pocket/tokenizer/hf_tokenizer.h) with its phases timed into `phases`.
std::unique_ptr<Tokenizer> parse_hf_tokenizer_timed(std::string_view tokenizer_json,
                                                    std::string_view config_json,
                                                    std::string_view origin, LoadPhases* phases);

}  // namespace pocket::tokenizer
