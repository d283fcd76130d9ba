// The S1-S14 helpers and the verdict's JSON form.
#include <gtest/gtest.h>

#include "pocket/core/error.h"
#include "pocket/safety/guard.h"

namespace pocket::safety {
namespace {

TEST(GuardCategories, CodesAndNamesRoundTrip) {
    for (int c = 1; c <= kCategoryCount; ++c) {
        EXPECT_EQ(parse_category_code(category_code(c)), c);
        EXPECT_FALSE(category_name(c).empty());
    }
    EXPECT_EQ(category_code(1), "S1");
    EXPECT_EQ(category_code(14), "S14");
    EXPECT_EQ(category_name(1), "Violent Crimes");
    EXPECT_EQ(category_name(9), "Indiscriminate Weapons");
    EXPECT_EQ(category_name(11), "Suicide & Self-Harm");
    EXPECT_EQ(category_name(14), "Code Interpreter Abuse");
    EXPECT_THROW(category_code(0), Error);
    EXPECT_THROW(category_code(15), Error);
    EXPECT_THROW(category_name(-1), Error);
}

TEST(GuardCategories, ParseAcceptsOnlyRealCodes) {
    EXPECT_EQ(parse_category_code("s7"), 7);
    EXPECT_EQ(parse_category_code("S10"), 10);
    for (const char* bad : {"", "S", "S0", "S15", "S01", "7", "X7", "S7 ", " S7", "S1a", "S100"})
        EXPECT_FALSE(parse_category_code(bad).has_value()) << bad;
}

TEST(GuardVerdictJson, HasTheDocumentedShape) {
    GuardVerdict v;
    EXPECT_EQ(v.to_json().dump(), R"({"categories":[],"safe":true,"score":0.0})");
    v.safe = false;
    v.score = 0.75;
    v.categories = {1, 10};
    v.flags = {"roleplay"};
    const auto j = v.to_json();
    EXPECT_EQ(j["safe"], false);
    EXPECT_DOUBLE_EQ(j["score"].get<double>(), 0.75);
    EXPECT_EQ(j["categories"], nlohmann::json::array({"S1", "S10"}));
    EXPECT_EQ(j["flags"], nlohmann::json::array({"roleplay"}));
}

}  // namespace
}  // namespace pocket::safety
