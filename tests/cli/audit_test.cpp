// `pocket audit verify|show LOG` from the command line: exit codes, the messages, the table and
// --json.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pocket/route/audit_log.h"
#include "support/test_support.h"

namespace pocket::test {
namespace {

// Two requests to one destination (one failed), one to another.
std::filesystem::path sample_log(const ScratchDir& dir) {
    const auto path = dir / "egress.jsonl";
    route::AuditLog log(path);
    const std::string a = "https://api.example.com/v1/chat/completions";
    auto s = log.record_egress({a, std::string(120, 'x'), "override: cloud", {}, "r1"});
    log.record_outcome(s, "ok", 200, 400);
    s = log.record_egress({a, std::string(80, 'x'), "router score 0.9 >= 0.6", {}, "r2"});
    log.record_outcome(s, "timeout", 0, 0);
    s = log.record_egress({"http://127.0.0.1:9/v1/chat/completions", "12345", "t", {}, "r3"});
    log.record_outcome(s, "ok", 200, 9);
    return path;
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

void write_lines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
}

TEST(AuditCli, VerifyIntactLog) {
    ScratchDir dir;
    const auto log = sample_log(dir);
    const auto r = run_pocket({"audit", "verify", log.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "OK: 6 entries, chain intact\n");
}

TEST(AuditCli, VerifyEditedLogExits65WithTheLine) {
    ScratchDir dir;
    const auto log = sample_log(dir);
    auto lines = lines_of(log);
    const size_t at = lines[2].find("\"bytes\":80");
    ASSERT_NE(at, std::string::npos);
    lines[2].replace(at, 10, "\"bytes\":8");  // someone makes a request look smaller
    write_lines(log, lines);
    const auto r = run_pocket({"audit", "verify", log.string()});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("hash mismatch"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("OK"), std::string::npos);
}

TEST(AuditCli, VerifyTruncatedLogExits65) {
    ScratchDir dir;
    const auto log = sample_log(dir);
    auto lines = lines_of(log);
    lines.pop_back();
    write_lines(log, lines);
    const auto r = run_pocket({"audit", "verify", log.string()});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("cut from the end"), std::string::npos) << r.err;
}

TEST(AuditCli, VerifyGarbageExits65AndMissingFileFails) {
    ScratchDir dir;
    const auto log = dir / "junk.jsonl";
    write_lines(log, {"this is not an audit log"});
    auto r = run_pocket({"audit", "verify", log.string()});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
    r = run_pocket({"audit", "verify", (dir / "missing.jsonl").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot be read"), std::string::npos) << r.err;
    r = run_pocket({"audit"});
    EXPECT_EQ(r.exit_code, 64);
}

TEST(AuditCli, ShowTableAndJson) {
    ScratchDir dir;
    const auto log = sample_log(dir);
    auto r = run_pocket({"audit", "show", log.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto rows = nlohmann::json::parse(r.out);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["destination"], "http://127.0.0.1:9/v1/chat/completions");
    EXPECT_EQ(rows[0]["requests"], 1);
    EXPECT_EQ(rows[0]["bytes_sent"], 5);
    EXPECT_EQ(rows[0]["failures"], 0);
    EXPECT_EQ(rows[1]["destination"], "https://api.example.com/v1/chat/completions");
    EXPECT_EQ(rows[1]["requests"], 2);
    EXPECT_EQ(rows[1]["bytes_sent"], 200);
    EXPECT_EQ(rows[1]["failures"], 1);
    EXPECT_EQ(rows[1]["bytes_received"], 400);
    EXPECT_EQ(rows[0]["day"].get<std::string>().size(), 10u);

    r = run_pocket({"audit", "show", log.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("bytes sent"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("https://api.example.com/v1/chat/completions"), std::string::npos);
    EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
}

TEST(AuditCli, ShowWarnsWhenTheChainDoesNotVerify) {
    ScratchDir dir;
    const auto log = sample_log(dir);
    auto lines = lines_of(log);
    lines.erase(lines.begin() + 2);  // a request removed
    write_lines(log, lines);
    const auto r = run_pocket({"audit", "show", log.string(), "--json"});
    EXPECT_EQ(r.exit_code, 65);
    EXPECT_NE(r.err.find("does not verify"), std::string::npos) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 2u);  // summarised all the same
}

}  // namespace
}  // namespace pocket::test
