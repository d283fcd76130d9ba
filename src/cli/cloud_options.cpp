#include "cli/cloud_options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "pocket/core/error.h"

namespace pocket::cli {

void add_cloud_options(CLI::App& app, CloudCliOptions& o, bool with_route) {
    const char* group = "Hybrid routing (nothing leaves the machine without --cloud)";
    app.add_option("--cloud", o.url,
                   "OpenAI-compatible endpoint for hard requests (base URL, e.g. "
                   "https://host/v1)")
        ->group(group);
    app.add_option("--cloud-model", o.model, "Model name to ask the endpoint for")->group(group);
    app.add_option("--cloud-key-env", o.key_env,
                   "Environment variable that holds the endpoint's API key")
        ->group(group);
    app.add_option("--router", o.router,
                   "Router file from `pocket router train` (default: the built-in router)")
        ->group(group);
    app.add_option("--cloud-share", o.cloud_share,
                   "Target share of requests the router sends to the cloud")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str()
        ->group(group);
    app.add_option("--pii", o.pii,
                   "Prompts holding PII: local (stay here), redact (placeholders out, answer "
                   "re-hydrated here), off")
        ->check(CLI::IsMember({"local", "redact", "off"}))
        ->capture_default_str()
        ->group(group);
    app.add_option("--private-terms", o.private_terms,
                   "File of terms (one per line: names, projects, customers) to redact")
        ->group(group);
    app.add_option("--cloud-fallback", o.fallback,
                   "When the cloud fails: local (the local model answers) or fail")
        ->check(CLI::IsMember({"local", "fail"}))
        ->capture_default_str()
        ->group(group);
    app.add_option("--audit-log", o.audit_log,
                   "Egress audit log (default: $XDG_STATE_HOME/pocket/egress-audit.jsonl)")
        ->group(group);
    app.add_option("--langid", o.langid,
                   "fastText language model (lid.176.ftz) for the router's language signal")
        ->group(group);
    app.add_option("--cloud-timeout", o.timeout_s,
                   "Seconds without a byte from the cloud before it counts as failed")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str()
        ->group(group);
    if (with_route)
        app.add_option("--route", o.route, "Where to answer: auto (the router), local or cloud")
            ->check(CLI::IsMember({"auto", "local", "cloud"}))
            ->capture_default_str()
            ->group(group);
}

namespace {

// The API key from the environment variable the user named (--cloud-key-env): never a flag
// value, so it stays out of shell history and `ps`. An empty name gives "".
std::string api_key_from_env(const std::string& variable) {
    if (variable.empty()) return "";
    const char* value = std::getenv(variable.c_str());
    if (!value || !*value)
        fail("the environment variable ", variable, " (the cloud API key) is not set");
    return value;
}

// $XDG_STATE_HOME/pocket/egress-audit.jsonl, or ~/.local/state/pocket/egress-audit.jsonl.
std::filesystem::path default_audit_log_path() {
    std::filesystem::path state;
    if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
        state = std::filesystem::path(xdg) / "pocket";
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        state = std::filesystem::path(home) / ".local" / "state" / "pocket";
    } else {
        fail("neither XDG_STATE_HOME nor HOME is set: give the egress audit log with --audit-log");
    }
    return state / "egress-audit.jsonl";
}

}  // namespace

std::optional<route::HybridOptions> hybrid_options(const CloudCliOptions& o) {
    if (o.url.empty()) {
        if (!o.model.empty() || !o.router.empty() || !o.key_env.empty() ||
            !o.private_terms.empty() || o.route == "cloud")
            fail("--cloud URL is needed for the routing flags given (nothing is sent without it)");
        return std::nullopt;
    }
    if (o.model.empty()) fail("--cloud needs --cloud-model NAME");
    route::HybridOptions h;
    h.cloud.base_url = o.url;
    h.cloud.model = o.model;
    h.cloud.api_key = api_key_from_env(o.key_env);
    h.cloud.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
    h.router = o.router;
    h.cloud_share = o.cloud_share;
    h.pii = route::parse_pii_policy(o.pii);
    if (!o.private_terms.empty())
        h.private_terms = route::Redactor::read_terms_file(o.private_terms);
    h.on_cloud_failure = route::parse_cloud_failure_policy(o.fallback);
    h.audit_log =
        o.audit_log.empty() ? default_audit_log_path() : std::filesystem::path(o.audit_log);
    h.language_model = o.langid;
    // The router's recent scores (numbers only) live beside the audit log, so one-prompt runs
    // calibrate the cloud share too.
    h.calibration = h.audit_log.parent_path() / "router-calibration.json";
    return h;
}

void report_route(const route::RouteDecision& decision) {
    std::fprintf(stderr, "pocket: route %s\n", decision.summary().c_str());
    std::fflush(stderr);
}

}  // namespace pocket::cli
