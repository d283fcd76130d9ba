// PLACEHOLDER: replaced by the real `pocket eval` (issue 10 work in progress).
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace pocket::cli {

Runner register_eval(CLI::App& app) {
    (void)app;
    return [] { return static_cast<int>(kExitError); };
}

}  // namespace pocket::cli
