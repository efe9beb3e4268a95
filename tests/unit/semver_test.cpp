// Unit tests for modpub::semver. The case table follows the shape of x/mod's own
// semver tests (inputs in increasing precedence, with their canonical forms); the
// differential test in tests/oracle compares with x/mod on generated inputs.

#include "modpub/semver/semver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace modpub::semver {
namespace {

struct Case {
  const char* in;
  const char* canonical;  // "" = invalid
};

// Invalid versions first, then valid ones in strictly increasing precedence except where
// neighbours have the same canonical form (which must compare equal).
const Case kCases[] = {
    {"bad", ""},
    {"", ""},
    {"1.2.3", ""},
    {"V1.2.3", ""},
    {"v", ""},
    {"v1.", ""},
    {"v1.2.", ""},
    {"v1..2", ""},
    {"v01", ""},
    {"v1.02", ""},
    {"v1.2.03", ""},
    {"v1.2.3.4", ""},
    {"v1-pre", ""},
    {"v1+meta", ""},
    {"v1.2-pre", ""},
    {"v1.2+meta", ""},
    {"v1.2.3-", ""},
    {"v1.2.3+", ""},
    {"v1.2.3-pre.", ""},
    {"v1.2.3-.pre", ""},
    {"v1.2.3-pre..1", ""},
    {"v1.2.3-01", ""},
    {"v1.2.3-pre.01", ""},
    {"v1.2.3-pre_1", ""},
    {"v1.2.3+meta..x", ""},
    {"v1.2.3+meta+x", ""},
    {"v1.2.3-é", ""},
    {"v1.2.3 ", ""},
    {"v0", "v0.0.0"},
    {"v0.0.0", "v0.0.0"},
    {"v0.0.1-0.20060102150405-hash", "v0.0.1-0.20060102150405-hash"},
    {"v0.0.1", "v0.0.1"},
    {"v0.9.9", "v0.9.9"},
    {"v1.0.0-alpha", "v1.0.0-alpha"},
    {"v1.0.0-alpha.1", "v1.0.0-alpha.1"},
    {"v1.0.0-alpha.beta", "v1.0.0-alpha.beta"},
    {"v1.0.0-beta", "v1.0.0-beta"},
    {"v1.0.0-beta.2", "v1.0.0-beta.2"},
    {"v1.0.0-beta.11", "v1.0.0-beta.11"},
    {"v1.0.0-rc.1", "v1.0.0-rc.1"},
    {"v1", "v1.0.0"},
    {"v1.0", "v1.0.0"},
    {"v1.0.0", "v1.0.0"},
    {"v1.0.0+build.007", "v1.0.0"},
    {"v1.2", "v1.2.0"},
    {"v1.2.0", "v1.2.0"},
    {"v1.2.3-0", "v1.2.3-0"},
    {"v1.2.3-9", "v1.2.3-9"},
    {"v1.2.3-456", "v1.2.3-456"},
    {"v1.2.3-456.789", "v1.2.3-456.789"},
    {"v1.2.3-456-789", "v1.2.3-456-789"},
    {"v1.2.3-456a", "v1.2.3-456a"},
    {"v1.2.3-A", "v1.2.3-A"},
    {"v1.2.3-pre", "v1.2.3-pre"},
    {"v1.2.3-pre+meta", "v1.2.3-pre"},
    {"v1.2.3-pre.1", "v1.2.3-pre.1"},
    {"v1.2.3-zzz", "v1.2.3-zzz"},
    {"v1.2.3", "v1.2.3"},
    {"v1.2.3+meta", "v1.2.3"},
    {"v1.2.3+meta-pre", "v1.2.3"},
    {"v1.2.3+meta-pre.sha.256a", "v1.2.3"},
    {"v1.2.3+incompatible", "v1.2.3"},
    {"v1.2.10", "v1.2.10"},
    {"v1.10.0", "v1.10.0"},
    {"v2.0.0+incompatible", "v2.0.0"},
    {"v10", "v10.0.0"},
    {"v99999999999999999999.0.0", "v99999999999999999999.0.0"},
};

bool Valid(const Case& c) { return *c.canonical != '\0'; }

TEST(SemverTest, IsValidAndCanonical) {
  for (const Case& c : kCases) {
    EXPECT_EQ(IsValid(c.in), Valid(c)) << c.in;
    EXPECT_EQ(Canonical(c.in), c.canonical) << c.in;
  }
}

TEST(SemverTest, Parts) {
  EXPECT_EQ(Major("v2.1.0"), "v2");
  EXPECT_EQ(Major("v2"), "v2");
  EXPECT_EQ(Major("v0.1.0-pre+b"), "v0");
  EXPECT_EQ(Major("v02.1.0"), "");
  EXPECT_EQ(MajorMinor("v2.1.0"), "v2.1");
  EXPECT_EQ(MajorMinor("v2"), "v2.0");
  EXPECT_EQ(MajorMinor("v2.3"), "v2.3");
  EXPECT_EQ(MajorMinor("v2.3.4-pre+meta"), "v2.3");
  EXPECT_EQ(MajorMinor("bad"), "");
  EXPECT_EQ(Prerelease("v2.1.0-pre+meta"), "-pre");
  EXPECT_EQ(Prerelease("v2.1.0-a.b-c.1"), "-a.b-c.1");
  EXPECT_EQ(Prerelease("v2.1.0+meta-pre"), "");
  EXPECT_EQ(Prerelease("v2.1-pre"), "");
  EXPECT_EQ(Build("v2.1.0+meta"), "+meta");
  EXPECT_EQ(Build("v2.1.0-pre+meta.01"), "+meta.01");
  EXPECT_EQ(Build("v2.1.0+incompatible"), "+incompatible");
  EXPECT_EQ(Build("v2.1+meta"), "");
  EXPECT_EQ(Build("v2.1.0"), "");
}

TEST(SemverTest, CompareFollowsTableOrder) {
  const size_t n = std::size(kCases);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const Case& a = kCases[i];
      const Case& b = kCases[j];
      int want = std::string(a.canonical) == b.canonical ? 0 : (i < j ? -1 : 1);
      EXPECT_EQ(Compare(a.in, b.in), want) << a.in << " vs " << b.in;
    }
  }
}

TEST(SemverTest, ComparePrereleaseRules) {
  // Numeric identifiers compare numerically and sort below alphanumeric ones.
  EXPECT_LT(Compare("v1.0.0-2", "v1.0.0-10"), 0);
  EXPECT_LT(Compare("v1.0.0-99", "v1.0.0-a"), 0);
  EXPECT_LT(Compare("v1.0.0-10", "v1.0.0-1a"), 0);    // "1a" is not numeric
  EXPECT_LT(Compare("v1.0.0-B", "v1.0.0-a"), 0);      // ASCII order
  EXPECT_LT(Compare("v1.0.0-a", "v1.0.0-a.0"), 0);    // longer wins on a common prefix
  EXPECT_EQ(Compare("v1.0.0-a-b", "v1.0.0-a.b"), 1);  // "a-b" > "a", whatever follows
  EXPECT_EQ(Compare("v1.0.0+a", "v1.0.0+b"), 0);      // build suffixes are ignored
  EXPECT_EQ(Compare("bad", "worse"), 0);
  EXPECT_EQ(Compare("bad", "v0.0.0"), -1);
  EXPECT_EQ(Compare("v0.0.0", ""), 1);
}

TEST(SemverTest, MaxCanonicalizes) {
  EXPECT_EQ(Max("v1.2", "v1.1.9"), "v1.2.0");
  EXPECT_EQ(Max("v1.1.9", "v1.2"), "v1.2.0");
  EXPECT_EQ(Max("v1.0.0+a", "v1.0.0+b"), "v1.0.0");
  EXPECT_EQ(Max("bad", "v1"), "v1.0.0");
  EXPECT_EQ(Max("v1", "bad"), "v1.0.0");
  EXPECT_EQ(Max("bad", "worse"), "");
  for (const Case& a : kCases) {
    for (const Case& b : kCases) {
      std::string want = Compare(a.in, b.in) > 0 ? a.canonical : b.canonical;
      EXPECT_EQ(Max(a.in, b.in), want) << a.in << " vs " << b.in;
    }
  }
}

TEST(SemverTest, SortOrdersByPrecedenceThenString) {
  std::vector<std::string> versions;
  for (const Case& c : kCases) versions.push_back(c.in);
  std::mt19937 rng(42);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(versions.begin(), versions.end(), rng);
    Sort(versions);
    for (size_t i = 1; i < versions.size(); ++i) {
      int c = Compare(versions[i - 1], versions[i]);
      EXPECT_TRUE(c < 0 || (c == 0 && versions[i - 1] <= versions[i]))
          << versions[i - 1] << " before " << versions[i];
    }
  }
  std::vector<std::string> small = {"v1.0.0+b", "x", "v1.0.0", "v0.9", "v1.0.0+a", "a"};
  Sort(small);
  EXPECT_EQ(small, (std::vector<std::string>{"a", "x", "v0.9", "v1.0.0", "v1.0.0+a", "v1.0.0+b"}));
}

}  // namespace
}  // namespace modpub::semver
