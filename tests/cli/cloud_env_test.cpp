// The environment settings of hybrid routing are the command's, not the library's: the API key
// comes from the variable --cloud-key-env names, and the egress audit log defaults to
// $XDG_STATE_HOME/pocket/egress-audit.jsonl. Only loopback is used (port 9, where nothing
// listens, so the cloud fails at once and the local model answers).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "support/test_support.h"

namespace pocket {
namespace {

const std::string kDeadCloud = "http://127.0.0.1:9/v1";

using test::ScopedEnv;

TEST(CliCloudEnv, TheApiKeyComesFromTheNamedVariable) {
    test::ScratchDir dir;
    const ScopedEnv unset("POCKET_TEST_UNSET_CLOUD_KEY", std::nullopt);
    const auto r = test::run_pocket({"run", "-m", test::stories_model(), "-p", "Once", "-n", "4",
                                     "--temp", "0", "--cloud", kDeadCloud, "--cloud-model", "x",
                                     "--cloud-key-env", "POCKET_TEST_UNSET_CLOUD_KEY",
                                     "--audit-log", (dir / "audit.jsonl").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("POCKET_TEST_UNSET_CLOUD_KEY (the cloud API key) is not set"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "audit.jsonl"));  // nothing was sent
}

TEST(CliCloudEnv, TheAuditLogDefaultsUnderXdgStateHome) {
    test::ScratchDir dir;
    const ScopedEnv state("XDG_STATE_HOME", dir.path().string());
    const auto r =
        test::run_pocket({"run", "-m", test::stories_model(), "-p", "Once", "-n", "4", "--temp",
                          "0", "--cloud", kDeadCloud, "--cloud-model", "x", "--route", "cloud"});
    EXPECT_EQ(r.exit_code, 0) << r.err;  // the dead cloud is answered locally
    const auto log = dir / "pocket" / "egress-audit.jsonl";
    ASSERT_TRUE(std::filesystem::exists(log)) << r.err;
    EXPECT_NE(test::read_file_bytes(log).find("connect"), std::string::npos);
}

}  // namespace
}  // namespace pocket
