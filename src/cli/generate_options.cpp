#include "cli/generate_options.h"

#include <CLI/CLI.hpp>

namespace pocket::cli {

void add_sampling_options(CLI::App& app, SamplingParams& s) {
    app.add_option("--temp", s.temperature, "Temperature; 0 = greedy")->capture_default_str();
    app.add_option("--top-k", s.top_k, "Keep the k most likely tokens (0 = off)")
        ->capture_default_str();
    app.add_option("--top-p", s.top_p, "Nucleus sampling threshold (1 = off)")
        ->capture_default_str();
    app.add_option("--min-p", s.min_p, "Drop tokens below min-p x the top probability (0 = off)")
        ->capture_default_str();
    app.add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1 = off)")
        ->capture_default_str();
    app.add_option("--repeat-last-n", s.repeat_last_n,
                   "Tokens the penalties look back over (-1 = all)")
        ->capture_default_str();
    app.add_option("--frequency-penalty", s.frequency_penalty, "Frequency penalty")
        ->capture_default_str();
    app.add_option("--presence-penalty", s.presence_penalty, "Presence penalty")
        ->capture_default_str();
    app.add_option("-s,--seed", s.seed, "Random seed (default: random; printed in the summary)");
}

}  // namespace pocket::cli
