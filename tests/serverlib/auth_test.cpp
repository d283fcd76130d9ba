#include "server/auth.h"

#include <string>

#include <gtest/gtest.h>

namespace pocket::server {
namespace {

TEST(Auth, AcceptsBearerWithTheKeyInAnySchemeCase) {
    EXPECT_TRUE(bearer_matches("Bearer sk-123", "sk-123"));
    EXPECT_TRUE(bearer_matches("bearer sk-123", "sk-123"));
    EXPECT_TRUE(bearer_matches("BEARER sk-123", "sk-123"));
    EXPECT_TRUE(bearer_matches("Bearer    sk-123", "sk-123"));
    EXPECT_TRUE(bearer_matches("  Bearer\tsk-123 \t", "sk-123"));
}

TEST(Auth, RejectsEverythingElse) {
    EXPECT_FALSE(bearer_matches("", "sk-123"));
    EXPECT_FALSE(bearer_matches("sk-123", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer ", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearersk-123", "sk-123"));
    EXPECT_FALSE(bearer_matches("Basic sk-123", "sk-123"));
    EXPECT_FALSE(bearer_matches("Token sk-123", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer sk-124", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer SK-123", "sk-123"));  // the key itself is case-sensitive
    EXPECT_FALSE(bearer_matches("Bearer sk-12", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer sk-1234", "sk-123"));
    EXPECT_FALSE(bearer_matches("Bearer sk-123 extra", "sk-123"));
    EXPECT_FALSE(bearer_matches(std::string("Bearer sk-123\0x", 15), "sk-123"));
}

TEST(Auth, EmptyKeyNeverMatches) {
    EXPECT_FALSE(bearer_matches("Bearer ", ""));
    EXPECT_FALSE(bearer_matches("Bearer x", ""));
    EXPECT_FALSE(bearer_matches("", ""));
}

TEST(Auth, ConstantTimeEqualIsEquality) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    const std::string long_key(10000, 'k');
    EXPECT_TRUE(constant_time_equal(long_key, std::string(10000, 'k')));
    EXPECT_FALSE(constant_time_equal(long_key, long_key + "k"));
}

}  // namespace
}  // namespace pocket::server
