// The egress audit log (audit_log.h): appends under flock, fsync before returning, a hash chain
// over the lines' exact bytes and a `<log>.head` sidecar for the end of the chain.
#include "pocket/route/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/core/sha256.h"

namespace pocket::route {
namespace {

using nlohmann::json;

const std::string kZeroHash(64, '0');
// Every line ends with this, the 64 hex digits of its hash and `"}`.
constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr size_t kHashSuffix = kHashKey.size() + 64 + 2;

// A file descriptor closed on every path out.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

std::string errno_text() {
    return std::strerror(errno);
}

void fsync_dir(const std::filesystem::path& file) {
    auto dir = file.parent_path();
    if (dir.empty()) dir = ".";
    const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    // A folder that cannot be opened or synced (some filesystems refuse) costs only the durability
    // of the file's name, not of what was written into it; not worth failing a request over.
    if (fd.get() >= 0) ::fsync(fd.get());
}

void write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("audit log ", path.string(), ": write failed: ", errno_text());
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (const char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

std::string utc_now_iso() {
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

// One line of the log, checked on its own (not yet against its neighbours).
struct ParsedLine {
    json fields;       // the content, without hash
    std::string hash;  // as written
    uint64_t seq = 0;
    std::string prev;
};

// Checks a line's shape and its own hash; returns why not on failure.
std::optional<std::string> parse_line(std::string_view line, ParsedLine& out) {
    if (line.size() < kHashSuffix + 2 || line.substr(line.size() - 2) != "\"}" ||
        line.substr(line.size() - kHashSuffix, kHashKey.size()) != kHashKey) {
        return "not an audit line (it must end with ,\"hash\":\"<64 hex>\"})";
    }
    out.hash = std::string(line.substr(line.size() - 66, 64));
    if (!is_hex64(out.hash)) return "the hash is not 64 lower-case hex digits";
    std::string content(line.substr(0, line.size() - kHashSuffix));
    content += '}';
    out.fields = json::parse(content, nullptr, /*allow_exceptions=*/false);
    if (out.fields.is_discarded() || !out.fields.is_object()) return "not a JSON object";
    if (out.fields.contains("hash")) return "a second hash field";
    const auto seq = out.fields.find("seq");
    if (seq == out.fields.end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0) {
        return "no seq (a positive integer)";
    }
    out.seq = seq->get<uint64_t>();
    const auto prev = out.fields.find("prev");
    if (prev == out.fields.end() || !prev->is_string() || !is_hex64(prev->get<std::string>())) {
        return "no prev (64 hex digits)";
    }
    out.prev = prev->get<std::string>();
    const auto time = out.fields.find("time");
    if (time == out.fields.end() || !time->is_string() || time->get<std::string>().size() < 10) {
        return "no time";
    }
    const auto type = out.fields.find("type");
    if (type == out.fields.end() || !type->is_string()) return "no type";
    if (*type == "egress") {
        for (const char* key : {"destination", "sha256", "route_reason", "request_id"}) {
            if (!out.fields.contains(key) || !out.fields[key].is_string()) {
                return cat("egress line without ", key);
            }
        }
        if (!out.fields.contains("bytes") || !out.fields["bytes"].is_number_unsigned()) {
            return "egress line without bytes";
        }
        if (!out.fields.contains("redactions") || !out.fields["redactions"].is_object()) {
            return "egress line without redactions";
        }
    } else if (*type == "outcome") {
        if (!out.fields.contains("egress_seq") || !out.fields["egress_seq"].is_number_unsigned()) {
            return "outcome line without egress_seq";
        }
        if (!out.fields.contains("outcome") || !out.fields["outcome"].is_string()) {
            return "outcome line without outcome";
        }
    } else {
        return cat("unknown type ", type->dump());
    }
    if (sha256_hex(out.prev + content) != out.hash) {
        return "hash mismatch (the line was edited)";
    }
    return std::nullopt;
}

struct Head {
    uint64_t seq = 0;
    std::string hash = kZeroHash;
};

// The sidecar; nullopt when missing. Throws a message string (as Error) when present but garbled.
std::optional<Head> read_head(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (!std::filesystem::exists(path)) return std::nullopt;
        fail(path.string(), ": cannot be read");
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") ||
        !j["seq"].is_number_unsigned() || !j.contains("hash") || !j["hash"].is_string() ||
        !is_hex64(j["hash"].get<std::string>())) {
        fail(path.string(), ": not an audit head ({\"seq\":N,\"hash\":\"<64 hex>\"})");
    }
    return Head{j["seq"].get<uint64_t>(), j["hash"].get<std::string>()};
}

// Whether a log whose last two lines are (before, last) agrees with its head. A head one line
// behind is accepted: a crash between the line's fsync and the head's rename leaves exactly that.
// Returns why not.
std::optional<std::string> check_head(const std::optional<Head>& stored, const Head& last,
                                      const Head& before) {
    const Head head = stored.value_or(Head{});
    if (head.seq == last.seq) {
        if (head.hash == last.hash) return std::nullopt;
        return cat("the head records seq ", head.seq, " with another hash than the log's last line",
                   " (the last line was replaced)");
    }
    if (head.seq + 1 == last.seq && head.hash == before.hash) return std::nullopt;
    if (!stored) {
        return cat("the head file is missing but the log has ", last.seq,
                   " lines (it cannot tell whether lines were cut from the end)");
    }
    if (head.seq > last.seq) {
        return cat("the log ends at seq ", last.seq, " but its head records seq ", head.seq,
                   ": lines were cut from the end");
    }
    return cat("the head records seq ", head.seq, " but the log ends at seq ", last.seq,
               " (the head is stale or was replaced)");
}

// The last (up to) two complete lines of an open log: the chain's end. `text` of a line that is
// absent stays empty.
struct Tail {
    std::string last, before;
};

Tail read_tail(int fd, const std::filesystem::path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("audit log ", path.string(), ": stat failed: ", errno_text());
    const off_t size = st.st_size;
    Tail tail;
    if (size == 0) return tail;
    // Reads backwards in blocks until it holds three newlines (the end of the line before the
    // last two) or the start of the file.
    std::string buf;
    off_t pos = size;
    constexpr off_t kBlock = 8192;
    while (pos > 0) {
        const off_t n = std::min(kBlock, pos);
        pos -= n;
        std::string block(static_cast<size_t>(n), '\0');
        ssize_t got = 0;
        while (got < n) {
            const ssize_t r =
                ::pread(fd, block.data() + got, static_cast<size_t>(n - got), pos + got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) fail("audit log ", path.string(), ": read failed: ", errno_text());
            got += r;
        }
        buf.insert(0, block);
        if (std::count(buf.begin(), buf.end(), '\n') >= 3) break;
    }
    if (buf.back() != '\n') {
        fail("audit log ", path.string(),
             ": the last line is incomplete (an interrupted write?); run `pocket audit verify` "
             "and move the damaged log aside");
    }
    buf.pop_back();
    size_t cut = buf.rfind('\n');
    tail.last = buf.substr(cut == std::string::npos ? 0 : cut + 1);
    if (cut != std::string::npos) {
        buf.resize(cut);
        const size_t cut2 = buf.rfind('\n');
        tail.before = buf.substr(cut2 == std::string::npos ? 0 : cut2 + 1);
    }
    return tail;
}

// The log's last line, checked on its own and against the head; throws when they do not agree
// (a damaged last line, a cut tail, a replaced head): a log in that state must not grow.
Head chain_end(int fd, const std::filesystem::path& path) {
    const Tail tail = read_tail(fd, path);
    Head last, before;
    for (auto [text, head] : {std::pair{&tail.last, &last}, std::pair{&tail.before, &before}}) {
        if (text->empty()) continue;
        ParsedLine parsed;
        if (const auto why = parse_line(*text, parsed)) {
            fail("audit log ", path.string(), ": its last lines are damaged (", *why,
                 "); nothing is sent until it is moved aside. `pocket audit verify` says more");
        }
        *head = Head{parsed.seq, parsed.hash};
    }
    if (const auto why = check_head(read_head(audit_head_path(path)), last, before)) {
        fail("audit log ", path.string(), ": ", *why,
             "; nothing is sent until the log is moved aside");
    }
    return last;
}

}  // namespace

std::filesystem::path audit_head_path(const std::filesystem::path& log) {
    std::filesystem::path head = log;
    head += ".head";
    return head;
}

AuditLog::AuditLog(std::filesystem::path path) : path_(std::move(path)) {
    if (path_.empty()) fail("audit log: no path given");
    std::error_code ec;
    if (path_.has_parent_path()) {
        std::filesystem::create_directories(path_.parent_path(), ec);
        if (ec) {
            fail("audit log ", path_.string(), ": cannot create its folder: ", ec.message());
        }
    }
    // 0600: the log names where the user's prompts went and when.
    {
        const Fd created(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (created.get() >= 0) {
            fsync_dir(path_);
        } else if (errno != EEXIST) {
            fail("audit log ", path_.string(), ": cannot create: ", errno_text());
        }
    }
    // A log that cannot grow (unwritable, damaged, cut, a stale head beside a new log) is refused
    // now, when pocket starts, rather than at the first request that would leave.
    const Fd fd(::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    if (fd.get() < 0) {
        fail("audit log ", path_.string(), ": cannot open for appending: ", errno_text());
    }
    while (::flock(fd.get(), LOCK_SH) != 0) {
        if (errno != EINTR) fail("audit log ", path_.string(), ": cannot lock: ", errno_text());
    }
    chain_end(fd.get(), path_);
}

std::filesystem::path AuditLog::head_path() const {
    return audit_head_path(path_);
}

uint64_t AuditLog::record_egress(const EgressEntry& entry) {
    json fields = json::object();
    fields["type"] = "egress";
    fields["destination"] = entry.destination;
    fields["bytes"] = entry.body.size();
    fields["sha256"] = sha256_hex(entry.body);
    fields["route_reason"] = entry.route_reason;
    fields["request_id"] = entry.request_id;
    fields["redactions"] = json::object();
    for (const auto& [kind, count] : entry.redactions) fields["redactions"][kind] = count;
    return append(std::move(fields));
}

void AuditLog::record_outcome(uint64_t seq, std::string_view outcome, long http_status,
                              size_t bytes_received) {
    json fields = json::object();
    fields["type"] = "outcome";
    fields["egress_seq"] = seq;
    fields["outcome"] = std::string(outcome);
    fields["http_status"] = http_status;
    fields["bytes_received"] = bytes_received;
    append(std::move(fields));
}

uint64_t AuditLog::append(json fields) {
    const std::lock_guard guard(mutex_);
    // Opened per append, so a log moved aside (rotation) is followed by a fresh one at the path.
    const Fd fd(::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (fd.get() < 0) fail("audit log ", path_.string(), ": cannot open: ", errno_text());
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) fail("audit log ", path_.string(), ": cannot lock: ", errno_text());
    }
    // The lock goes with the descriptor when Fd closes it.

    const Head last = chain_end(fd.get(), path_);

    const uint64_t seq = last.seq + 1;
    fields["seq"] = seq;
    fields["time"] = utc_now_iso();
    fields["prev"] = last.hash;
    // Keys sorted (nlohmann::json's objects are ordered maps); invalid UTF-8 (a reason or id
    // taken from a request) becomes U+FFFD rather than an exception.
    std::string content = fields.dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string hash = sha256_hex(last.hash + content);
    content.pop_back();  // the closing brace: the hash goes last
    content += kHashKey;
    content += hash;
    content += "\"}\n";
    write_all(fd.get(), content, path_);
    if (::fsync(fd.get()) != 0)
        fail("audit log ", path_.string(), ": fsync failed: ", errno_text());

    // The head: written beside, synced, then renamed over the old one, so it is always whole.
    const auto head = head_path();
    auto tmp = head;
    tmp += ".tmp";
    {
        const Fd hfd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (hfd.get() < 0) fail("audit head ", tmp.string(), ": cannot create: ", errno_text());
        write_all(hfd.get(), json{{"seq", seq}, {"hash", hash}}.dump() + "\n", tmp);
        if (::fsync(hfd.get()) != 0)
            fail("audit head ", tmp.string(), ": fsync failed: ", errno_text());
    }
    if (::rename(tmp.c_str(), head.c_str()) != 0) {
        fail("audit head ", head.string(), ": rename failed: ", errno_text());
    }
    fsync_dir(head);
    return seq;
}

AuditVerification verify_audit_log(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("audit log ", path.string(), ": cannot be read");
    AuditVerification v;
    Head last, before;
    std::set<uint64_t> egress_seqs;
    std::string text;
    size_t line_no = 0;
    auto bad = [&](std::string why) {
        v.first_bad_line = line_no;
        v.error = cat("line ", line_no, ": ", why);
        return v;
    };
    while (std::getline(in, text)) {
        ++line_no;
        if (in.eof()) return bad("the last line has no newline (an interrupted write?)");
        ParsedLine p;
        if (const auto why = parse_line(text, p)) return bad(*why);
        if (p.seq != last.seq + 1) {
            return bad(cat("seq ", p.seq, " follows seq ", last.seq,
                           " (a line was deleted, inserted or reordered)"));
        }
        if (p.prev != last.hash) {
            return bad(cat("prev is not the hash of line ", line_no - 1,
                           " (a line was deleted, inserted, reordered or edited)"));
        }
        if (p.fields["type"] == "egress") {
            egress_seqs.insert(p.seq);
        } else if (!egress_seqs.count(p.fields["egress_seq"].get<uint64_t>())) {
            return bad(cat("outcome for egress seq ", p.fields["egress_seq"].get<uint64_t>(),
                           ", which is not an earlier egress line"));
        }
        before = last;
        last = Head{p.seq, p.hash};
        v.entries = line_no;
    }
    if (in.bad()) fail("audit log ", path.string(), ": read failed");
    line_no = 0;
    std::optional<Head> head;
    try {
        head = read_head(audit_head_path(path));
    } catch (const Error& e) {
        v.error = e.what();
        return v;
    }
    if (const auto why = check_head(head, last, before)) {
        v.error = cat(audit_head_path(path).string(), ": ", *why);
        return v;
    }
    v.ok = true;
    return v;
}

std::vector<AuditSummaryRow> summarize_audit_log(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("audit log ", path.string(), ": cannot be read");
    std::map<std::pair<std::string, std::string>, AuditSummaryRow> rows;
    struct Sent {
        AuditSummaryRow* row;
        bool outcome = false;
    };
    std::map<uint64_t, Sent> sent;  // egress seq -> its row
    std::string text;
    while (std::getline(in, text)) {
        ParsedLine p;
        // Summarises what parses, even a line whose hash is wrong: the verification says whether
        // the numbers can be trusted.
        if (parse_line(text, p) &&
            (p.fields.is_discarded() || !p.fields.is_object() || !p.fields.contains("type"))) {
            continue;
        }
        try {
            if (p.fields["type"] == "egress" && p.fields["bytes"].is_number_unsigned()) {
                const std::string day = p.fields["time"].get<std::string>().substr(0, 10);
                const std::string dest = p.fields["destination"].get<std::string>();
                auto& row = rows[{day, dest}];
                row.day = day;
                row.destination = dest;
                ++row.requests;
                row.bytes_sent += p.fields["bytes"].get<size_t>();
                sent[p.seq] = Sent{&row};
            } else if (p.fields["type"] == "outcome") {
                const auto it = sent.find(p.fields["egress_seq"].get<uint64_t>());
                if (it == sent.end() || it->second.outcome) continue;
                it->second.outcome = true;
                if (p.fields["outcome"] != "ok") ++it->second.row->failures;
                if (p.fields["bytes_received"].is_number_unsigned()) {
                    it->second.row->bytes_received += p.fields["bytes_received"].get<size_t>();
                }
            }
        } catch (const json::exception&) {
            continue;  // a field of the wrong type: the line is not counted
        }
    }
    for (const auto& [seq, s] : sent) {
        if (!s.outcome) ++s.row->no_outcome;
    }
    std::vector<AuditSummaryRow> out;
    out.reserve(rows.size());
    for (auto& [key, row] : rows) out.push_back(std::move(row));
    return out;
}

}  // namespace pocket::route
