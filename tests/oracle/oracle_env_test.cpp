// The x/mod flavour of this run of the differential tests (oracle.hpp, $MODPUB_XMOD): every
// test is skipped, with the reason, when that flavour cannot be built on this machine (no
// go new enough for the current x/mod, or no Debian x/mod 0.7.0), and the x/mod version the
// oracle really holds is checked and printed, so the test output records what was compared.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "oracle.hpp"

namespace modpub {
namespace {

class FlavorEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!oracle::Unavailable().empty()) {
      GTEST_SKIP() << "x/mod " << oracle::Flavor() << ": " << oracle::Unavailable();
    }
  }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new FlavorEnvironment);

// The golang.org/x/mod version tests/oracle/go.mod pins.
std::string PinnedXMod() {
  std::ifstream in(std::string(MODPUB_ORACLE_DIR) + "/go.mod");
  std::stringstream text;
  text << in.rdbuf();
  std::smatch m;
  const std::string s = text.str();
  if (!std::regex_search(s, m, std::regex(R"(golang\.org/x/mod (v\S+))"))) return "";
  return m[1];
}

TEST(XModFlavor, OracleHoldsTheExpectedXMod) {
  const std::string version = oracle::RunOracle({{"xmod.version"}}).at(0);
  std::printf("x/mod flavour %s: golang.org/x/mod %s, built by %s\n", oracle::Flavor().c_str(),
              version == "GOPATH" ? "0.7.0 (Debian, GOPATH mode)" : version.c_str(),
              oracle::BuildGo().c_str());
  if (oracle::Flavor() == "current") {
    EXPECT_EQ(version, PinnedXMod()) << "the current flavour must hold go.mod's x/mod";
  } else {
    EXPECT_EQ(version, "GOPATH") << "the 0.7.0 flavour is built in GOPATH mode";
  }
}

}  // namespace
}  // namespace modpub
