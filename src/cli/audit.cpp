// `pocket audit verify LOG`: checks an egress audit log's hash chain and its head (exit 0 "OK: N
// entries, chain intact", or 65 with the first bad line and why). `pocket audit show LOG
// [--json]`: requests, bytes sent and failures per UTC day and destination; the chain is verified
// too, and a log that does not verify is still summarised, with a warning and exit code 65.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "pocket/route/audit_log.h"

namespace pocket::cli {
namespace {

struct AuditCliOptions {
    std::string log;
    bool json = false;
};

int run_verify(const AuditCliOptions& o) {
    const auto v = route::verify_audit_log(o.log);
    if (v.ok) {
        std::printf("OK: %zu entries, chain intact\n", v.entries);
        return kExitOk;
    }
    std::fprintf(stderr, "pocket audit verify: %s: FAILED: %s\n", o.log.c_str(), v.error.c_str());
    if (v.first_bad_line > 0) {
        std::fprintf(stderr, "first bad line: %zu (%zu lines before it verify)\n", v.first_bad_line,
                     v.entries);
    }
    return kExitInvalidFile;
}

int run_show(const AuditCliOptions& o) {
    const auto v = route::verify_audit_log(o.log);
    const auto rows = route::summarize_audit_log(o.log);
    if (o.json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& r : rows) {
            out.push_back({{"day", r.day},
                           {"destination", r.destination},
                           {"requests", r.requests},
                           {"bytes_sent", r.bytes_sent},
                           {"failures", r.failures},
                           {"no_outcome", r.no_outcome},
                           {"bytes_received", r.bytes_received}});
        }
        std::printf("%s\n",
                    out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else if (rows.empty()) {
        std::printf("no outbound requests recorded\n");
    } else {
        size_t dest_width = std::string_view("destination").size();
        for (const auto& r : rows) dest_width = std::max(dest_width, r.destination.size());
        const int w = static_cast<int>(dest_width);
        std::printf("%-10s  %-*s  %8s  %12s  %8s  %10s  %14s\n", "day", w, "destination",
                    "requests", "bytes sent", "failures", "no outcome", "bytes received");
        route::AuditSummaryRow total;
        for (const auto& r : rows) {
            std::printf("%-10s  %-*s  %8zu  %12zu  %8zu  %10zu  %14zu\n", r.day.c_str(), w,
                        r.destination.c_str(), r.requests, r.bytes_sent, r.failures, r.no_outcome,
                        r.bytes_received);
            total.requests += r.requests;
            total.bytes_sent += r.bytes_sent;
            total.failures += r.failures;
            total.no_outcome += r.no_outcome;
            total.bytes_received += r.bytes_received;
        }
        if (rows.size() > 1) {
            std::printf("%-10s  %-*s  %8zu  %12zu  %8zu  %10zu  %14zu\n", "total", w, "",
                        total.requests, total.bytes_sent, total.failures, total.no_outcome,
                        total.bytes_received);
        }
    }
    if (!v.ok) {
        std::fprintf(stderr,
                     "pocket audit show: WARNING: %s does not verify (%s); the numbers above "
                     "may not be complete or true\n",
                     o.log.c_str(), v.error.c_str());
        return kExitInvalidFile;
    }
    return kExitOk;
}

}  // namespace

Runner register_audit(CLI::App& app) {
    auto o = std::make_shared<AuditCliOptions>();
    app.require_subcommand(1);
    CLI::App* verify = app.add_subcommand(
        "verify",
        "Check the log's hash chain and head: exit 0 when intact, 65 with the first bad line");
    verify->add_option("log", o->log, "The egress audit log (JSONL)")->required();
    CLI::App* show =
        app.add_subcommand("show", "Requests, bytes sent and failures per UTC day and destination");
    show->add_option("log", o->log, "The egress audit log (JSONL)")->required();
    show->add_flag("--json", o->json, "Print the rows as a JSON array");
    return [o, verify] { return verify->parsed() ? run_verify(*o) : run_show(*o); };
}

}  // namespace pocket::cli
