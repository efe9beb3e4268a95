// base/text.hpp: the message helpers every layer shares.
#include "modpub/base/text.hpp"

#include <gtest/gtest.h>

namespace modpub {
namespace {

TEST(Plural, TheNounFollowsTheNumber) {
  EXPECT_EQ(Plural(0, "job", "jobs"), "0 jobs");
  EXPECT_EQ(Plural(1, "job", "jobs"), "1 job");
  EXPECT_EQ(Plural(2, "repository", "repositories"), "2 repositories");
}

TEST(PercentDecode, LenientForPathsStrictForParameters) {
  EXPECT_EQ(PercentDecode("/corp.example/a%2Fb%41+c", false), "/corp.example/a/bA+c");
  EXPECT_EQ(PercentDecode("%2f%2F", true), "//");
  // A malformed escape: kept in a path, refused in a parameter.
  for (const char* bad : {"%", "50%", "%4", "%zz", "%4g"}) {
    EXPECT_EQ(PercentDecode(bad, false), bad);
    EXPECT_FALSE(PercentDecode(bad, true).has_value()) << bad;
  }
  EXPECT_EQ(PercentDecode("%00", true), std::string(1, '\0'));  // callers refuse NUL
}

}  // namespace
}  // namespace modpub
