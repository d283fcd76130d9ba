// The egress audit log: the chain verifies as written, and every kind of tampering (a byte edited
// anywhere, a line deleted from the middle or the end, lines reordered, garbage) fails verify
// with the line; concurrent appenders (threads, two objects on one file) keep it whole; the
// summary's numbers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/core/error.h"
#include "pocket/core/sha256.h"
#include "pocket/route/audit_log.h"
#include "support/test_support.h"

namespace pocket::route {
namespace {

using test::ScratchDir;

std::vector<std::string> read_lines(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
}

// In place, no truncation (ext4 flushes a truncated-and-rewritten file on close: slow in a loop).
void put_byte(const std::filesystem::path& path, size_t offset, char c) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(c);
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

EgressEntry entry(std::string_view body,
                  std::string dest = "https://api.example.com/v1/chat/completions") {
    EgressEntry e;
    e.destination = std::move(dest);
    e.body = body;
    e.route_reason = "override: cloud";
    e.request_id = "req-1";
    return e;
}

// A log of 3 egress lines and 2 outcomes: 5 lines.
std::filesystem::path five_line_log(const ScratchDir& dir) {
    const auto path = dir / "audit.jsonl";
    AuditLog log(path);
    const auto a = log.record_egress(entry("{\"a\":1}"));
    log.record_outcome(a, "ok", 200, 10);
    const auto b = log.record_egress(entry("{\"b\":2}"));
    log.record_outcome(b, "timeout", 0, 0);
    log.record_egress(entry("{\"c\":3}"));
    return path;
}

TEST(AuditLog, WritesTheDocumentedLinesAndVerifies) {
    ScratchDir dir;
    const auto path = dir / "sub" / "audit.jsonl";  // the folder is created
    AuditLog log(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    EgressEntry e = entry("hello body");
    e.redactions = {{"EMAIL", 2}, {"PHONE", 1}};
    e.route_reason = "router score 0.81 >= 0.62";
    const uint64_t seq = log.record_egress(e);
    EXPECT_EQ(seq, 1u);
    log.record_outcome(seq, "ok", 200, 1234);

    const auto lines = read_lines(path);
    ASSERT_EQ(lines.size(), 2u);
    const auto first = nlohmann::json::parse(lines[0]);
    EXPECT_EQ(first["type"], "egress");
    EXPECT_EQ(first["seq"], 1);
    EXPECT_EQ(first["bytes"], 10);
    // sha256("hello body"), computed independently (sha256sum).
    EXPECT_EQ(first["sha256"],  // printf 'hello body' | sha256sum
              "6d9876f6d571676eb86f735ba9476da91ec5d0c52a69f6434c93f5c9e680210e");
    EXPECT_EQ(first["prev"], std::string(64, '0'));
    EXPECT_EQ(first["redactions"], (nlohmann::json{{"EMAIL", 2}, {"PHONE", 1}}));
    EXPECT_EQ(first["route_reason"], "router score 0.81 >= 0.62");
    EXPECT_EQ(first["request_id"], "req-1");
    EXPECT_EQ(first["destination"], "https://api.example.com/v1/chat/completions");
    const std::string time = first["time"];
    ASSERT_EQ(time.size(), 24u) << time;  // 2026-12-04T05:01:02.345Z
    EXPECT_EQ(time[10], 'T');
    EXPECT_EQ(time[19], '.');
    EXPECT_EQ(time.back(), 'Z');
    EXPECT_EQ(lines[0].find("hello body"), std::string::npos);  // the body is never stored

    const auto second = nlohmann::json::parse(lines[1]);
    EXPECT_EQ(second["type"], "outcome");
    EXPECT_EQ(second["seq"], 2);
    EXPECT_EQ(second["egress_seq"], 1);
    EXPECT_EQ(second["outcome"], "ok");
    EXPECT_EQ(second["http_status"], 200);
    EXPECT_EQ(second["bytes_received"], 1234);
    EXPECT_EQ(second["prev"], first["hash"]);
    // The hash sits last on the line, so its input is the line's exact bytes before it.
    EXPECT_TRUE(lines[1].ends_with(",\"hash\":\"" + second["hash"].get<std::string>() + "\"}"));

    const auto v = verify_audit_log(path);
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.entries, 2u);
    EXPECT_EQ(nlohmann::json::parse(test::read_file_bytes(log.head_path()))["seq"], 2);
}

TEST(AuditLog, BodyHashIsTheSha256OfTheBody) {
    ScratchDir dir;
    AuditLog log(dir / "a.jsonl");
    log.record_egress(entry("abc"));
    const auto line = nlohmann::json::parse(read_lines(dir / "a.jsonl").at(0));
    // FIPS 180-2 test vector for "abc".
    EXPECT_EQ(line["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(line["bytes"], 3);
}

TEST(AuditLog, EmptyLogVerifies) {
    ScratchDir dir;
    AuditLog log(dir / "a.jsonl");
    const auto v = verify_audit_log(dir / "a.jsonl");
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.entries, 0u);
}

TEST(AuditLog, MissingFileThrows) {
    ScratchDir dir;
    EXPECT_THROW(verify_audit_log(dir / "none.jsonl"), Error);
    EXPECT_THROW(summarize_audit_log(dir / "none.jsonl"), Error);
}

TEST(AuditLog, EveryOneByteEditFailsVerify) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    const std::string original = test::read_file_bytes(path);
    ASSERT_TRUE(verify_audit_log(path).ok);
    size_t line = 1;
    for (size_t i = 0; i < original.size(); ++i) {
        if (original[i] == '\n') {
            ++line;
            continue;  // an edited newline is covered by the garbage cases
        }
        // A digit stays a digit and a letter a letter, so the line still parses where it can.
        const char c = original[i];
        const char edited = (c >= '0' && c <= '8') ? char(c + 1)
                            : c == '9'             ? '0'
                            : c == 'z'             ? 'a'
                            : c == 'a'             ? 'b'
                                                   : char(c ^ 1);
        put_byte(path, i, edited);
        const auto v = verify_audit_log(path);
        EXPECT_FALSE(v.ok) << "byte " << i << " ('" << c << "') edited, verify passed";
        // The edited line itself, or (for its hash) the next one, whose prev no longer matches;
        // the last line's hash is checked against the head.
        EXPECT_TRUE(v.first_bad_line == line || v.first_bad_line == line + 1 ||
                    (line == 5 && v.first_bad_line == 0))
            << "byte " << i << " on line " << line << ": " << v.error;
        put_byte(path, i, c);
    }
    write_bytes(path, original);
    EXPECT_TRUE(verify_audit_log(path).ok);
}

TEST(AuditLog, DeletedMiddleLineFailsVerify) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    auto lines = read_lines(path);
    lines.erase(lines.begin() + 2);
    write_lines(path, lines);
    const auto v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_line, 3u) << v.error;
}

TEST(AuditLog, DeletedFirstLineFailsVerify) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    auto lines = read_lines(path);
    lines.erase(lines.begin());
    write_lines(path, lines);
    const auto v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_line, 1u) << v.error;
}

TEST(AuditLog, DeletedLastLinesFailVerifyThroughTheHead) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    const auto lines = read_lines(path);
    for (size_t keep : {4u, 3u, 0u}) {
        write_lines(path, std::vector<std::string>(lines.begin(), lines.begin() + keep));
        const auto v = verify_audit_log(path);
        EXPECT_FALSE(v.ok) << "kept " << keep;
        EXPECT_NE(v.error.find("cut from the end"), std::string::npos) << v.error;
    }
    // And an appender refuses to give the truncated log a fresh tail (which would hide the cut):
    // one opened before the cut, and one opened after it (refused at once).
    write_lines(path, lines);
    AuditLog log(path);
    write_lines(path, std::vector<std::string>(lines.begin(), lines.begin() + 4));
    EXPECT_THROW(log.record_egress(entry("x")), Error);
    EXPECT_THROW(AuditLog{path}, Error);
    EXPECT_EQ(read_lines(path).size(), 4u);
    // A new log beside a stale head (the old log deleted) is refused too.
    std::filesystem::remove(path);
    EXPECT_THROW(AuditLog{path}, Error);
}

TEST(AuditLog, MissingHeadFailsVerifyAndAppend) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    AuditLog log(path);
    std::filesystem::remove(audit_head_path(path));
    const auto v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_NE(v.error.find("head file is missing"), std::string::npos) << v.error;
    EXPECT_THROW(log.record_egress(entry("x")), Error);
    EXPECT_THROW(AuditLog{path}, Error);
}

TEST(AuditLog, HeadOneLineBehindIsAnInterruptedAppendAndAccepted) {
    // A crash after the line's fsync and before the head's rename leaves the head one line behind.
    ScratchDir dir;
    const auto path = dir / "a.jsonl";
    AuditLog log(path);
    log.record_egress(entry("1"));
    const std::string head_after_one = test::read_file_bytes(log.head_path());
    log.record_egress(entry("2"));
    write_bytes(log.head_path(), head_after_one);
    EXPECT_TRUE(verify_audit_log(path).ok) << verify_audit_log(path).error;
    EXPECT_EQ(log.record_egress(entry("3")), 3u);  // the next append catches the head up
    EXPECT_TRUE(verify_audit_log(path).ok);
    // Two lines behind is not what a crash leaves.
    write_bytes(log.head_path(), head_after_one);
    EXPECT_FALSE(verify_audit_log(path).ok);
}

TEST(AuditLog, ReorderedLinesFailVerify) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    auto lines = read_lines(path);
    std::swap(lines[1], lines[2]);
    write_lines(path, lines);
    const auto v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_line, 2u) << v.error;
}

TEST(AuditLog, GarbageFailsVerifyWithTheLineNeverACrash) {
    ScratchDir dir;
    const auto path = five_line_log(dir);
    const auto lines = read_lines(path);
    const std::vector<std::string> garbage = {
        "",
        "not json at all",
        "{}",
        "[1,2,3]",
        std::string("\0\0\xff\xfe", 4),
        "{\"seq\":3,\"hash\":\"" + std::string(64, 'a') + "\"}",
        "{\"hash\":\"" + std::string(64, 'a') + "\"}",
        ",\"hash\":\"" + std::string(64, 'a') + "\"}",
        lines[2].substr(0, lines[2].size() / 2),
        lines[2] + lines[2],
        "{\"seq\":18446744073709551615,\"prev\":\"x\",\"hash\":\"" + std::string(64, 'g') + "\"}",
    };
    for (const auto& g : garbage) {
        auto edited = lines;
        edited[2] = g;
        write_lines(path, edited);
        const auto v = verify_audit_log(path);
        EXPECT_FALSE(v.ok) << g;
        EXPECT_EQ(v.first_bad_line, 3u) << g << ": " << v.error;
        EXPECT_NO_THROW(summarize_audit_log(path));
    }
    // A last line without its newline: an interrupted write.
    std::string bytes = test::read_file_bytes(path);
    write_lines(path, lines);
    AuditLog log(path);
    bytes = test::read_file_bytes(path);
    bytes.pop_back();
    write_bytes(path, bytes);
    auto v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_line, 5u) << v.error;
    EXPECT_THROW(log.record_egress(entry("x")), Error);  // nothing is sent past a damaged log
    EXPECT_THROW(AuditLog{path}, Error);
    // A garbled head.
    write_lines(path, lines);
    write_bytes(audit_head_path(path), "garbage");
    v = verify_audit_log(path);
    EXPECT_FALSE(v.ok);
    EXPECT_FALSE(v.error.empty());
}

TEST(AuditLog, ConcurrentThreadsAndTwoObjectsKeepTheChain) {
    ScratchDir dir;
    const auto path = dir / "a.jsonl";
    auto log_a = std::make_shared<AuditLog>(path);
    auto log_b = std::make_shared<AuditLog>(path);  // a second appender, as another process
    constexpr int kThreads = 4, kEach = 10;
    std::vector<std::thread> threads;
    std::vector<std::vector<uint64_t>> seqs(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            AuditLog& log = t % 2 ? *log_a : *log_b;
            for (int i = 0; i < kEach; ++i) {
                const std::string body = "thread " + std::to_string(t) + " #" + std::to_string(i);
                const auto seq = log.record_egress(entry(body));
                log.record_outcome(seq, "ok", 200, 1);
                seqs[t].push_back(seq);
            }
        });
    }
    for (auto& th : threads) th.join();
    const auto v = verify_audit_log(path);
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.entries, size_t(kThreads * kEach * 2));
    std::set<uint64_t> all;
    for (const auto& s : seqs) all.insert(s.begin(), s.end());
    EXPECT_EQ(all.size(), size_t(kThreads * kEach));  // every append got its own seq
}

TEST(AuditLog, ConcurrentProcessesKeepTheChain) {
    ScratchDir dir;
    const auto path = dir / "a.jsonl";
    AuditLog(path).record_egress(entry("parent"));
    constexpr int kChildren = 3, kEach = 10;
    std::vector<pid_t> children;
    for (int c = 0; c < kChildren; ++c) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int code = 0;
            try {
                AuditLog log(path);
                for (int i = 0; i < kEach; ++i) log.record_egress(entry("child"));
            } catch (...) {
                code = 1;
            }
            ::_exit(code);
        }
        children.push_back(pid);
    }
    for (const pid_t pid : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const auto v = verify_audit_log(path);
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.entries, size_t(1 + kChildren * kEach));
}

TEST(AuditLog, SummaryCountsPerDayAndDestination) {
    ScratchDir dir;
    const auto path = dir / "a.jsonl";
    {
        AuditLog log(path);
        const std::string a = "https://a.example/v1/chat/completions";
        const std::string b = "http://127.0.0.1:9/v1/chat/completions";
        log.record_outcome(log.record_egress(entry(std::string(100, 'x'), a)), "ok", 200, 50);
        log.record_outcome(log.record_egress(entry(std::string(30, 'x'), a)), "HTTP 500", 500, 7);
        log.record_egress(entry(std::string(5, 'x'), a));  // no outcome
        log.record_outcome(log.record_egress(entry(std::string(11, 'x'), b)),
                           "connect failed: refused", 0, 0);
    }
    // Every row's day is today's UTC date (SummaryGroupsByTheRecordedDay splits days).
    const auto rows = summarize_audit_log(path);
    ASSERT_EQ(rows.size(), 2u);
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char today[16];
    std::strftime(today, sizeof today, "%Y-%m-%d", &tm);
    // Sorted by day, then destination: "http://..." before "https://...".
    EXPECT_EQ(rows[0].destination, "http://127.0.0.1:9/v1/chat/completions");
    EXPECT_EQ(rows[0].day, today);
    EXPECT_EQ(rows[0].requests, 1u);
    EXPECT_EQ(rows[0].bytes_sent, 11u);
    EXPECT_EQ(rows[0].failures, 1u);
    EXPECT_EQ(rows[0].no_outcome, 0u);
    EXPECT_EQ(rows[1].destination, "https://a.example/v1/chat/completions");
    EXPECT_EQ(rows[1].requests, 3u);
    EXPECT_EQ(rows[1].bytes_sent, 135u);
    EXPECT_EQ(rows[1].failures, 1u);
    EXPECT_EQ(rows[1].no_outcome, 1u);
    EXPECT_EQ(rows[1].bytes_received, 57u);
}

TEST(AuditLog, SummaryGroupsByTheRecordedDay) {
    // Lines for two days, chained by hand (sha256 of prev + content, as the format documents),
    // so the day split is checked against lines the code under test did not write.
    ScratchDir dir;
    const auto path = dir / "a.jsonl";
    std::string prev(64, '0');
    std::vector<std::string> lines;
    auto add = [&](uint64_t seq, const std::string& time, size_t bytes) {
        const std::string content =
            "{\"bytes\":" + std::to_string(bytes) +
            ",\"destination\":\"https://x/v1/chat/completions\",\"prev\":\"" + prev +
            "\",\"redactions\":{},\"request_id\":\"r\",\"route_reason\":\"t\",\"seq\":" +
            std::to_string(seq) + ",\"sha256\":\"" + std::string(64, 'a') + "\",\"time\":\"" +
            time + "\",\"type\":\"egress\"}";
        const std::string hash = pocket::sha256_hex(prev + content);
        lines.push_back(content.substr(0, content.size() - 1) + ",\"hash\":\"" + hash + "\"}");
        prev = hash;
    };
    add(1, "2026-01-01T23:59:59.999Z", 10);
    add(2, "2026-01-02T00:00:00.000Z", 20);
    add(3, "2026-01-02T10:00:00.000Z", 30);
    write_lines(path, lines);
    write_bytes(audit_head_path(path), "{\"hash\":\"" + prev + "\",\"seq\":3}\n");
    const auto v = verify_audit_log(path);
    EXPECT_TRUE(v.ok) << v.error;  // the documented format, reproduced independently
    const auto rows = summarize_audit_log(path);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].day, "2026-01-01");
    EXPECT_EQ(rows[0].bytes_sent, 10u);
    EXPECT_EQ(rows[1].day, "2026-01-02");
    EXPECT_EQ(rows[1].requests, 2u);
    EXPECT_EQ(rows[1].bytes_sent, 50u);
    EXPECT_EQ(rows[1].no_outcome, 2u);
}

}  // namespace
}  // namespace pocket::route
