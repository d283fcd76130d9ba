// Command-line options shared by the commands that generate (run, chat): sampling settings and the
// model-loading flags, registered the same way everywhere so they mean the same thing.
#pragma once

#include "pocket/generate/sampling.h"

namespace CLI {
class App;
}

namespace pocket::cli {

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
// --presence-penalty, --seed.
void add_sampling_options(CLI::App& app, SamplingParams& s);

}  // namespace pocket::cli
