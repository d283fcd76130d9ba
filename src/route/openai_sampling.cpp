#include <algorithm>

#include "pocket/route/hybrid.h"

namespace pocket::route {

nlohmann::json openai_sampling_fields(const SamplingParams& sampling, int64_t max_tokens,
                                      std::span<const std::string> stop) {
    nlohmann::json out = {{"temperature", std::max(0.0f, sampling.temperature)},
                          {"top_p", std::min(1.0f, sampling.top_p)},
                          {"presence_penalty", sampling.presence_penalty},
                          {"frequency_penalty", sampling.frequency_penalty}};
    if (sampling.seed != SamplingParams::kRandomSeed) out["seed"] = sampling.seed;
    if (max_tokens > 0) out["max_tokens"] = max_tokens;
    if (!stop.empty()) out["stop"] = std::vector<std::string>(stop.begin(), stop.end());
    return out;
}

}  // namespace pocket::route
