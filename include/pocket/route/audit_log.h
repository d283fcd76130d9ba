// The egress audit log: one JSON line per request that leaves the machine, written and made
// durable BEFORE the request is sent, and one line per outcome. Lines are hash-chained, so
// editing, deleting or reordering any of them is detected by verify_audit_log (`pocket audit
// verify LOG`); the request bodies themselves are never stored, only their size and SHA-256.
//
// Line format (JSONL, one object per line, keys sorted, the hash last):
//   {"bytes":812,"destination":"https://api.example.com/v1/chat/completions","prev":"<64 hex>",
//    "redactions":{"EMAIL":1},"request_id":"chatcmpl-1","route_reason":"override: cloud",
//    "seq":7,"sha256":"<64 hex of the body>","time":"2026-12-04T05:01:02.345Z","type":"egress",
//    "hash":"<64 hex>"}
//   {"bytes_received":1534,"egress_seq":7,"http_status":200,"outcome":"ok","prev":"…",
//    "seq":8,"time":"…","type":"outcome","hash":"…"}
// `seq` counts lines from 1; `prev` is the previous line's `hash` (64 zeros for the first line);
// `hash` = SHA-256(prev + content), content being the line's exact bytes up to (not including)
// `,"hash":` followed by `}`. Every byte of a line is therefore covered: its content by its own
// hash, its hash by the next line's `prev`.
//
// The chain alone cannot see lines cut from the END of the log. A sidecar `<log>.head` holds the
// last line's seq and hash, rewritten (atomically, by rename) after every append; verify compares
// the log's last line with it, and record_egress refuses to extend a log whose last line does not
// match its head (a truncated log would otherwise get a fresh, valid-looking tail). The limit,
// honestly: someone who can write both files can cut the tail and rewrite the head to match, and
// someone who can write the log can rewrite the whole chain (it holds no secret). The log makes
// accidental loss and casual editing evident; it is not proof against its owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pocket::route {

// What the caller knows about one outbound request.
struct EgressEntry {
    std::string destination;   // full URL
    std::string_view body;     // the exact bytes about to be sent (hashed, counted; never stored)
    std::string route_reason;  // e.g. "router score 0.81 >= 0.62", "override: cloud"
    std::map<std::string, size_t> redactions;  // kind -> count, e.g. {"EMAIL":1}
    std::string request_id;                    // the server's/CLI's id for the request
};

class AuditLog {
  public:
    // Creates the file (and its parent folder) if missing, with 0600 permissions. Throws
    // pocket::Error when it cannot be created or opened for appending, or when it could not be
    // appended to (a damaged last line, an end that does not match `<log>.head`): a front end
    // learns at start-up, not at the first request that would leave.
    explicit AuditLog(std::filesystem::path path);

    // Appends one "egress" line and makes it durable (fsync) BEFORE returning; the caller sends
    // only after this returns. Returns the line's sequence number. Thread-safe, and safe across
    // processes appending to the same file (flock), continuing the chain from the file's last
    // line. Throws pocket::Error (and writes nothing) when the log's last line is damaged or does
    // not match `<log>.head`: nothing may leave unaudited, so the request must not be sent.
    uint64_t record_egress(const EgressEntry& entry);

    // Appends an "outcome" line for the egress line `seq`: "ok" with the HTTP status and the
    // bytes received, or the failure ("connect failed: ...", "timeout", "stream cut after N
    // bytes", "cancelled", "HTTP 500"). Durable before returning, like record_egress.
    void record_outcome(uint64_t seq, std::string_view outcome, long http_status,
                        size_t bytes_received);

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path head_path() const;

  private:
    uint64_t append(nlohmann::json fields);  // adds seq, time, prev and hash; returns seq

    std::filesystem::path path_;
    std::mutex mutex_;  // flock is per open file; the mutex orders this object's own threads
};

// `<log>.head`, the sidecar that records the log's last line.
std::filesystem::path audit_head_path(const std::filesystem::path& log);

struct AuditVerification {
    bool ok = false;
    size_t entries = 0;         // lines that verified (all of them when ok)
    size_t first_bad_line = 0;  // 1-based; 0 when ok, or when the problem is not one line's
                                // (a missing or mismatching head: lines cut from the end)
    std::string error;          // why not ok
};

// Checks every line (JSON, fields, seq, prev, hash) and the last line against `<log>.head`.
// Never throws for a bad log (garbage, truncation, a missing head all give ok=false); throws
// pocket::Error only when the file cannot be read at all.
AuditVerification verify_audit_log(const std::filesystem::path& path);

struct AuditSummaryRow {
    std::string day;          // UTC, "2026-12-04"
    std::string destination;  // the URL as recorded
    size_t requests = 0;      // egress lines
    size_t bytes_sent = 0;    // their bodies' bytes
    size_t failures = 0;      // requests whose outcome is not "ok"
    size_t no_outcome = 0;    // requests without an outcome line (in flight, or the process died)
    size_t bytes_received = 0;
};

// Bytes sent per UTC day and destination, sorted by day then destination. Summarises whatever
// lines parse, whether or not the chain verifies (the caller verifies and says so; `pocket audit
// show` prints a warning and exits 65 when it does not). Throws pocket::Error when the file
// cannot be read.
std::vector<AuditSummaryRow> summarize_audit_log(const std::filesystem::path& path);

}  // namespace pocket::route
