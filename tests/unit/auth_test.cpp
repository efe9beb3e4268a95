// http::Auth: hashed credentials, per-module-prefix rules, 401 vs 403.
#include "modpub/http/auth.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "modpub/dirhash/dirhash.hpp"

namespace modpub::http {
namespace {

using ::testing::HasSubstr;

std::string Basic(const std::string& user, const std::string& pw) {
  return "Basic " + dirhash::Base64(user + ":" + pw);
}

std::shared_ptr<Auth> Make() {
  auto alice = HashPassword("alice-pw");
  EXPECT_TRUE(alice.ok());
  EXPECT_EQ(alice->rfind("$y$", 0), 0u);
  auto auth = Auth::FromToml(R"(
realm = "corp"
[[user]]
name = "alice"
password = ")" + *alice + R"("
allow = ["corp.example/lib/", "corp.example/Widgets"]
[[token]]
name = "ci"
sha256 = ")" + HashToken("secret-token") +
                                 R"("
allow = ["*"]
)",
                             "test.toml");
  EXPECT_TRUE(auth.ok()) << auth.message();
  return *auth;
}

TEST(Auth, PrefixRules) {
  EXPECT_TRUE(Auth::Covers("corp.example/lib", "corp.example/lib"));
  EXPECT_TRUE(Auth::Covers("corp.example/lib", "corp.example/lib/v2"));
  EXPECT_FALSE(Auth::Covers("corp.example/lib", "corp.example/library"));
  EXPECT_TRUE(Auth::Covers("*", "anything.example/x"));
  EXPECT_FALSE(Auth::Covers("", "corp.example/lib"));
}

TEST(Auth, BasicAndBearer) {
  auto auth = Make();
  EXPECT_EQ(auth->realm(), "corp");
  using V = Auth::Verdict;
  EXPECT_EQ(auth->Check("", std::string("corp.example/lib")).verdict, V::kUnauthenticated);
  EXPECT_EQ(auth->Check(Basic("alice", "nope"), std::string("corp.example/lib")).verdict,
            V::kUnauthenticated);
  EXPECT_EQ(auth->Check(Basic("eve", "alice-pw"), std::string("corp.example/lib")).verdict,
            V::kUnauthenticated);
  EXPECT_EQ(auth->Check(Basic("alice", "alice-pw"), std::string("corp.example/lib/v2")).verdict,
            V::kAllow);
  // Twice: the second check comes from the cache and must agree.
  EXPECT_EQ(auth->Check(Basic("alice", "alice-pw"), std::string("corp.example/lib")).verdict,
            V::kAllow);
  auto forbidden = auth->Check(Basic("alice", "alice-pw"), std::string("corp.example/team"));
  EXPECT_EQ(forbidden.verdict, V::kForbidden);
  EXPECT_THAT(forbidden.reason, HasSubstr("alice may not read corp.example/team"));
  EXPECT_EQ(auth->Check(Basic("alice", "alice-pw"), std::nullopt).verdict, V::kAllow);
  EXPECT_EQ(auth->Check("Bearer secret-token", std::string("x.example/y")).verdict, V::kAllow);
  EXPECT_EQ(auth->Check("bearer secret-token", std::string("x.example/y")).verdict, V::kAllow);
  EXPECT_EQ(auth->Check("Bearer other", std::string("x.example/y")).verdict, V::kUnauthenticated);
  EXPECT_EQ(auth->Check("Basic !!!", std::string("x.example/y")).verdict, V::kUnauthenticated);
  EXPECT_EQ(auth->Check("Digest x", std::string("x.example/y")).verdict, V::kUnauthenticated);
}

TEST(Auth, RefusesWeakOrMissingHashes) {
  // Traditional DES crypt: legacy.
  auto weak = Auth::FromToml(
      "[[user]]\nname = \"a\"\npassword = \"abJnggxhB/yWI\"\nallow = [\"*\"]\n", "weak.toml");
  ASSERT_FALSE(weak.ok());
  EXPECT_THAT(weak.message(), HasSubstr("user a"));
  EXPECT_FALSE(Auth::FromToml("[[user]]\nname = \"a\"\npassword = \"plain\"\nallow = [\"*\"]\n",
                              "plain.toml")
                   .ok());
  EXPECT_FALSE(Auth::FromToml("realm = \"x\"\n", "empty.toml").ok());
  auto no_allow = Auth::FromToml("[[token]]\nname = \"t\"\nsha256 = \"" + HashToken("x") + "\"\n",
                                 "noallow.toml");
  ASSERT_FALSE(no_allow.ok());
  EXPECT_THAT(no_allow.message(), HasSubstr("allow"));
}

}  // namespace
}  // namespace modpub::http
