// Placeholder until the command is built (issue 11).
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "pocket/core/error.h"

namespace pocket::cli {

Runner register_ask(CLI::App& app) {
    return []() -> int { throw Error("not built yet"); };
}

}  // namespace pocket::cli
