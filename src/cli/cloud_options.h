// The hybrid-routing flags shared by `pocket serve`, `pocket run` and `pocket chat` (--cloud,
// --cloud-model, --router, --pii, ...), registered the same way everywhere so they mean the same
// thing, and turned into route::HybridOptions.
#pragma once

#include <optional>
#include <string>

#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/generate/sampling.h"
#include "pocket/route/hybrid.h"

namespace CLI {
class App;
}

namespace pocket::cli {

struct CloudCliOptions {
    std::string url;
    std::string model;
    std::string key_env;
    std::string router;
    double cloud_share = 0.2;
    std::string pii = "redact";
    std::string private_terms;
    std::string fallback = "local";
    std::string audit_log;
    std::string langid;
    double timeout_s = 60;
    std::string route = "auto";  // run and chat only
};

// `with_route`: also --route auto|local|cloud (the server takes it per request instead).
void add_cloud_options(CLI::App& app, CloudCliOptions& o, bool with_route);

// The routing the flags ask for; nullopt without --cloud. Throws pocket::Error for a flag that
// needs --cloud without it, a missing --cloud-model, an unset key variable, an unreadable
// --private-terms file.
std::optional<route::HybridOptions> hybrid_options(const CloudCliOptions& o);

// A line on stderr: "pocket: route cloud (router score 0.71 >= 0.62; redacted EMAIL 1)".
void report_route(const route::RouteDecision& decision);

}  // namespace pocket::cli
