#include "modpub/gomod/goversion.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace modpub::gomod {
namespace {

TEST(CompareGoVersions, OrdersLikeTheGoCommand) {
  // Each version sorts strictly before the next (cmd/go/internal/gover).
  const std::vector<std::string> ascending = {"1.19",    "1.19.1",  "1.20",   "1.20.1", "1.21",
                                              "1.21rc1", "1.21rc2", "1.21.0", "1.21.1", "1.24beta1",
                                              "1.24rc1", "1.24.0",  "1.26",   "1.26.0", "1.26.8",
                                              "1.26.9",  "1.27",    "2.0"};
  for (std::size_t i = 0; i + 1 < ascending.size(); ++i) {
    EXPECT_LT(CompareGoVersions(ascending[i], ascending[i + 1]), 0)
        << ascending[i] << " < " << ascending[i + 1];
    EXPECT_GT(CompareGoVersions(ascending[i + 1], ascending[i]), 0);
  }
  EXPECT_EQ(CompareGoVersions("1.20", "1.20.0"), 0);  // before 1.21 a missing patch is .0
  EXPECT_NE(CompareGoVersions("1.21", "1.21.0"), 0);
  EXPECT_EQ(CompareGoVersions("1.26.8", "1.26.8"), 0);
}

TEST(CompareGoVersions, MalformedSortsFirst) {
  for (const char* bad :
       {"", "x", "1.", "1.x", "01.2", "1.02", "1.2.", "v1.21", "1.21-pre", "1.2.3.4"}) {
    EXPECT_FALSE(IsValidGoVersion(bad)) << bad;
    EXPECT_LT(CompareGoVersions(bad, "1.0"), 0) << bad;
    EXPECT_EQ(CompareGoVersions(bad, "junk"), 0) << bad;
  }
  EXPECT_TRUE(IsValidGoVersion("1"));
  EXPECT_TRUE(IsValidGoVersion("1.21rc1"));
  EXPECT_TRUE(IsValidGoVersion("1.21rc"));  // gover: a kind without a number
}

TEST(LanguageAtLeast, ComparesMajorAndMinorOnly) {
  EXPECT_TRUE(LanguageAtLeast("1.24", 24));
  EXPECT_TRUE(LanguageAtLeast("1.24rc1", 24));
  EXPECT_TRUE(LanguageAtLeast("1.24.0", 24));
  EXPECT_TRUE(LanguageAtLeast("2.0", 24));
  EXPECT_FALSE(LanguageAtLeast("1.23.9", 24));
  EXPECT_FALSE(LanguageAtLeast("", 24));
  EXPECT_FALSE(LanguageAtLeast("1.x", 24));
}

TEST(SupportedGo, RangeIsOrdered) {
  EXPECT_LT(CompareGoVersions(kOldestGo, kNewestGo), 0);
  EXPECT_TRUE(IsValidGoVersion(kNewestGo));
}

}  // namespace
}  // namespace modpub::gomod
