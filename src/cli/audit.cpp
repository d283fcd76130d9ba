// `pocket audit`: placeholder until the command lands.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace pocket::cli {

Runner register_audit(CLI::App& app) {
    return [] { return int(kExitError); };
}

}  // namespace pocket::cli
