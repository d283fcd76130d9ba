// `pocket router`: placeholder until the command lands.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace pocket::cli {

Runner register_router(CLI::App& app) {
    return [] { return int(kExitError); };
}

}  // namespace pocket::cli
