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

TEST(Auth, UnknownUserAndWrongPasswordGetOneAnswer) {
  auto auth = Make();
  const std::optional<std::string> lib("corp.example/lib");
  auto wrong = auth->Check(Basic("alice", "nope"), lib);
  auto unknown = auth->Check(Basic("mallory", "nope"), lib);
  EXPECT_EQ(wrong.verdict, Auth::Verdict::kUnauthenticated);
  EXPECT_EQ(unknown.verdict, wrong.verdict);
  EXPECT_EQ(unknown.reason, wrong.reason);  // the response body: no user name, no hint
  EXPECT_EQ(wrong.reason, "wrong user name or password");
}

TEST(Auth, CredentialsHoldingNulAreRefused) {
  auto auth = Make();
  const std::optional<std::string> lib("corp.example/lib");
  // crypt(3) stops at the NUL: without the check, "alice-pw\0junk" would pass as alice-pw.
  auto nul_pw = auth->Check(Basic("alice", std::string("alice-pw\0junk", 13)), lib);
  EXPECT_EQ(nul_pw.verdict, Auth::Verdict::kUnauthenticated);
  EXPECT_EQ(nul_pw.reason, "malformed Basic credentials");
  auto nul_user = auth->Check(Basic(std::string("alice\0x", 7), "alice-pw"), lib);
  EXPECT_EQ(nul_user.verdict, Auth::Verdict::kUnauthenticated);
  EXPECT_EQ(auth->Check(Basic("alice", "alice-pw"), lib).verdict, Auth::Verdict::kAllow);
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
