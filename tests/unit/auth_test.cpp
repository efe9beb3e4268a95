// http::Auth: hashed credentials, per-module-prefix rules, 401 vs 403.
#include "modpub/http/auth.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/http/proxy.hpp"
#include "modpub/http/server.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "support/temp_repo.hpp"

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

// ---- roles, admin, bearer verifier, proxy headers, audit ----

std::string Hash(const std::string& pw) {
  static std::map<std::string, std::string> memo;  // yescrypt is slow on purpose
  auto& h = memo[pw];
  if (h.empty()) h = *HashPassword(pw);
  return h;
}

// Roles and principals shared by the tests below. Line numbers matter to one test.
std::string RolesToml() {
  return R"(realm = "corp"
[[role]]
name = "readers"
allow = ["corp.example/team-a"]
[[role]]
name = "ops"
admin = true
[[user]]
name = "alice"
password = ")" +
         Hash("alice-pw") + R"("
allow = ["corp.example/shared"]
roles = ["readers"]
[[user]]
name = "olga"
password = ")" +
         Hash("olga-pw") + R"("
roles = ["ops"]
[[token]]
name = "ci"
sha256 = ")" +
         HashToken("secret-token") + R"("
allow = ["*"]
admin = true
[proxy_headers]
trusted = ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]
)";
}

std::shared_ptr<Auth> MakeRoles() {
  auto auth = Auth::FromToml(RolesToml(), "roles.toml");
  EXPECT_TRUE(auth.ok()) << auth.message();
  return *auth;
}

Request Req(const std::string& authorization, const std::string& peer = "192.0.2.7") {
  Request r;
  r.method = "GET";
  r.path = "/corp.example/x/@v/list";
  r.remote_addr = peer;
  if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
  return r;
}

const std::optional<std::string> kTeamA("corp.example/team-a/lib");
const std::optional<std::string> kShared("corp.example/shared");
const std::optional<std::string> kOther("corp.example/x");

TEST(AuthRoles, RightsAreOwnAllowPlusEveryRole) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  const auto alice = Basic("alice", "alice-pw");
  auto by_role = auth->Check(Req(alice), kTeamA);
  EXPECT_EQ(by_role.verdict, V::kAllow);
  EXPECT_EQ(by_role.who, "alice");
  EXPECT_EQ(by_role.rule, "role readers allows corp.example/team-a");
  auto own = auth->Check(Req(alice), kShared);
  EXPECT_EQ(own.verdict, V::kAllow);
  EXPECT_EQ(own.rule, "user alice allows corp.example/shared");
  auto other = auth->Check(Req(alice), kOther);
  EXPECT_EQ(other.verdict, V::kForbidden);
  EXPECT_EQ(other.reason, "alice may not read corp.example/x");
  EXPECT_EQ(other.rule, "no rule of user alice covers corp.example/x");
  // A role with admin only grants no reading.
  EXPECT_EQ(auth->Check(Req(Basic("olga", "olga-pw")), kTeamA).verdict, V::kForbidden);
  EXPECT_EQ(auth->Check(Req(Basic("olga", "olga-pw")), std::nullopt).verdict, V::kAllow);
}

TEST(AuthRoles, AdminFromRoleOrPrincipal) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  auto olga = auth->CheckAdmin(Req(Basic("olga", "olga-pw")), "reload auth");
  EXPECT_EQ(olga.verdict, V::kAllow);
  EXPECT_EQ(olga.rule, "role ops grants admin");
  auto ci = auth->CheckAdmin(Req("Bearer secret-token"), "reload auth");
  EXPECT_EQ(ci.verdict, V::kAllow);
  EXPECT_EQ(ci.rule, "token ci is an admin");
  auto alice = auth->CheckAdmin(Req(Basic("alice", "alice-pw")), "reload auth");
  EXPECT_EQ(alice.verdict, V::kForbidden);
  EXPECT_EQ(alice.reason, "alice may not reload auth");
  EXPECT_EQ(alice.rule, "no rule makes user alice an admin");
  EXPECT_EQ(auth->CheckAdmin(Req(""), "reload auth").verdict, V::kUnauthenticated);
  EXPECT_EQ(auth->CheckAdmin(Req(Basic("olga", "wrong")), "reload auth").verdict,
            V::kUnauthenticated);
}

TEST(AuthRoles, FileErrorsNameTheLine) {
  // The unknown role is on the [[user]] table starting at line 5.
  auto unknown = Auth::FromToml(
      "[[role]]\nname = \"readers\"\nallow = [\"a.example\"]\n\n[[user]]\nname = \"bob\"\n"
      "password = \"" +
          Hash("pw") + "\"\nroles = [\"raeders\"]\n",
      "typo.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.message(), HasSubstr("typo.toml:5"));
  EXPECT_THAT(unknown.message(), HasSubstr("role \"raeders\" is not defined"));
  auto token_role = Auth::FromToml(
      "[[token]]\nname = \"t\"\nsha256 = \"" + HashToken("x") + "\"\nroles = [\"nope\"]\n",
      "t.toml");
  ASSERT_FALSE(token_role.ok());
  EXPECT_THAT(token_role.message(), HasSubstr("t.toml:1: token t: role \"nope\""));
  auto typo_key = Auth::FromToml("[[roles]]\nname = \"r\"\n[[token]]\nname = \"t\"\nsha256 = \"" +
                                     HashToken("x") + "\"\nallow = [\"*\"]\n",
                                 "k.toml");
  ASSERT_FALSE(typo_key.ok());
  EXPECT_THAT(typo_key.message(), HasSubstr("unknown key `roles`"));
  auto empty_role =
      Auth::FromToml("[[role]]\nname = \"r\"\n[proxy_headers]\ntrusted = [\"::1\"]\n", "e.toml");
  ASSERT_FALSE(empty_role.ok());
  EXPECT_THAT(empty_role.message(), HasSubstr("e.toml:1: role r grants nothing"));
  auto comma_role = Auth::FromToml(
      "[[role]]\nname = \"a,b\"\nadmin = true\n[proxy_headers]\ntrusted = [\"::1\"]\n", "c.toml");
  EXPECT_FALSE(comma_role.ok());
}

// Handles "tokens" with two dots as JWTs do: "ok.<name>.<role>+<role>", "bad.<why>.x".
class FakeVerifier : public BearerVerifier {
 public:
  std::optional<Result<Identity>> Verify(std::string_view token) override {
    ++calls;
    std::vector<std::string> parts;
    std::istringstream in{std::string(token)};
    for (std::string p; std::getline(in, p, '.');) parts.push_back(p);
    if (parts.size() != 3) return std::nullopt;
    if (parts[0] == "bad") return Result<Identity>(Fail(parts[1]));
    Identity id{parts[1], {}};
    std::istringstream roles(parts[2]);
    for (std::string r; std::getline(roles, r, '+');) id.roles.push_back(r);
    return Result<Identity>(id);
  }
  int calls = 0;
};

TEST(AuthRoles, BearerVerifierIdentities) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  // Without a verifier a JWT-shaped token is just an unknown opaque token.
  EXPECT_EQ(auth->Check(Req("Bearer ok.bob.readers"), kTeamA).verdict, V::kUnauthenticated);
  auto fake = std::make_shared<FakeVerifier>();
  auth->SetBearerVerifier(fake);
  auto bob = auth->Check(Req("Bearer ok.bob.readers+/some/idp-group"), kTeamA);
  EXPECT_EQ(bob.verdict, V::kAllow);  // the unknown group is ignored, not an error
  EXPECT_EQ(bob.who, "bob");
  EXPECT_EQ(bob.rule, "role readers allows corp.example/team-a");
  auto outside = auth->Check(Req("Bearer ok.bob.readers"), kOther);
  EXPECT_EQ(outside.verdict, V::kForbidden);
  EXPECT_EQ(outside.rule, "no rule of identity bob covers corp.example/x");
  auto refused = auth->Check(Req("Bearer bad.token expired 3m ago.x"), kTeamA);
  EXPECT_EQ(refused.verdict, V::kUnauthenticated);
  EXPECT_EQ(refused.who, "");
  EXPECT_THAT(refused.reason, HasSubstr("token expired 3m ago"));
  EXPECT_EQ(auth->CheckAdmin(Req("Bearer ok.oscar.ops"), "reload auth").verdict, V::kAllow);
  EXPECT_EQ(auth->CheckAdmin(Req("Bearer ok.bob.readers"), "reload auth").verdict, V::kForbidden);
  EXPECT_EQ(auth->Check(Req("Bearer ok..readers"), kTeamA).verdict, V::kUnauthenticated);
  // Not a JWT: the verifier declines, the [[token]]s decide.
  const int before = fake->calls;
  EXPECT_EQ(auth->Check(Req("Bearer secret-token"), kOther).verdict, V::kAllow);
  EXPECT_EQ(auth->Check(Req("Bearer wrong-token"), kOther).verdict, V::kUnauthenticated);
  EXPECT_EQ(fake->calls, before + 2);
}

// go before 1.24 has no GOAUTH: its .netrc sends a token as the Basic password.
TEST(AuthRoles, ATokenAsTheBasicPasswordOfNoUser) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  auto fake = std::make_shared<FakeVerifier>();
  auth->SetBearerVerifier(fake);
  auto bob = auth->Check(Req(Basic("token", "ok.bob.readers")), kTeamA);
  EXPECT_EQ(bob.verdict, V::kAllow);
  EXPECT_EQ(bob.who, "bob");  // the token's name, not the login
  EXPECT_EQ(auth->Check(Req(Basic("anything", "ok.bob.readers")), kOther).verdict, V::kForbidden);
  auto refused = auth->Check(Req(Basic("token", "bad.signature does not verify.x")), kTeamA);
  EXPECT_EQ(refused.verdict, V::kUnauthenticated);
  EXPECT_THAT(refused.reason, HasSubstr("signature does not verify"));
  EXPECT_EQ(auth->Check(Req(Basic("ci", "secret-token")), kOther).verdict, V::kAllow);
  EXPECT_EQ(auth->Check(Req(Basic("ci", "wrong-token")), kOther).verdict, V::kUnauthenticated);
  // A [[user]]'s login is that user: its password decides, never a token.
  const int before = fake->calls;
  EXPECT_EQ(auth->Check(Req(Basic("alice", "ok.alice.ops")), kTeamA).verdict, V::kUnauthenticated);
  EXPECT_EQ(auth->Check(Req(Basic("alice", "secret-token")), kOther).verdict, V::kUnauthenticated);
  EXPECT_EQ(fake->calls, before);
}

std::vector<std::string> Challenges(const Auth& auth, const std::string& authorization) {
  Response res;
  auth.Challenge(Req(authorization), res);
  std::vector<std::string> out;
  for (const auto& [name, value] : res.headers) {
    if (HeaderNameEquals(name, "WWW-Authenticate")) out.push_back(value);
  }
  return out;
}

TEST(AuthRoles, ChallengesNameTheSchemesThatCount) {
  auto users_only = Auth::FromToml(
      "realm = \"a \\\"q\\\" b\"\n[[role]]\nname = \"r\"\nallow = [\"*\"]\n"
      "[proxy_headers]\ntrusted = [\"::1\"]\n",
      "c.toml");
  ASSERT_TRUE(users_only.ok()) << users_only.message();
  EXPECT_EQ(Challenges(**users_only, ""), std::vector<std::string>{R"(Basic realm="a \"q\" b")"});
  auto auth = Make();  // has a [[token]]
  EXPECT_EQ(Challenges(*auth, ""),
            (std::vector<std::string>{R"(Basic realm="corp")", R"(Bearer realm="corp")"}));
  EXPECT_EQ(Challenges(*auth, "Bearer x.y.z"),
            (std::vector<std::string>{R"(Basic realm="corp")",
                                      R"(Bearer realm="corp", error="invalid_token")"}));
}

Request FromProxy(const std::string& peer, const std::string& user, const std::string& groups) {
  Request r = Req("", peer);
  r.headers.emplace_back("x-remote-user", user);  // header names are case-insensitive
  if (!groups.empty()) r.headers.emplace_back("X-Remote-Groups", groups);
  return r;
}

TEST(AuthRoles, ProxyHeadersOnlyFromTrustedPeers) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  for (const char* peer : {"127.0.0.1", "10.0.0.0", "10.255.255.255", "::1", "::ffff:10.1.2.3",
                           "fd00::1", "fdff:ffff::1"}) {
    auto d = auth->Check(FromProxy(peer, "carol", "other, readers"), kTeamA);
    EXPECT_EQ(d.verdict, V::kAllow) << peer;
    EXPECT_EQ(d.who, "carol") << peer;
    EXPECT_EQ(d.rule, "role readers allows corp.example/team-a") << peer;
  }
  for (const char* peer : {"127.0.0.2", "11.0.0.0", "9.255.255.255", "::2", "::ffff:127.0.0.2",
                           "fe00::1", "fc00::1", "", "not-an-address"}) {
    auto d = auth->Check(FromProxy(peer, "carol", "readers"), kTeamA);
    EXPECT_EQ(d.verdict, V::kUnauthenticated) << peer;  // headers ignored: no credentials
    EXPECT_EQ(d.who, "") << peer;
  }
  // From an untrusted peer, the Authorization header still counts (not the headers).
  Request mixed = FromProxy("192.0.2.1", "olga", "ops");
  mixed.headers.emplace_back("Authorization", Basic("alice", "alice-pw"));
  EXPECT_EQ(auth->Check(mixed, kTeamA).who, "alice");
  EXPECT_EQ(auth->CheckAdmin(mixed, "reload auth").verdict, V::kForbidden);
  EXPECT_EQ(auth->CheckAdmin(FromProxy("127.0.0.1", "olga", "ops"), "reload auth").verdict,
            V::kAllow);
  // Trusted peer without the user header: ordinary credentials.
  EXPECT_EQ(auth->Check(Req(Basic("alice", "alice-pw"), "127.0.0.1"), kTeamA).who, "alice");
  // A user with no known role is authenticated, but may read nothing named.
  EXPECT_EQ(auth->Check(FromProxy("127.0.0.1", "dave", "staff"), kTeamA).verdict, V::kForbidden);
}

TEST(AuthRoles, ProxyHeaderInjectionIsRefused) {
  auto auth = MakeRoles();
  using V = Auth::Verdict;
  for (const char* user : {"alice,olga", "alice\r\nX-Remote-Groups: ops", "al\tice", "a\x7f"}) {
    auto d = auth->Check(FromProxy("127.0.0.1", user, "readers"), kTeamA);
    EXPECT_EQ(d.verdict, V::kUnauthenticated) << user;
    EXPECT_EQ(d.reason, "malformed proxy user header");
  }
  Request twice = FromProxy("127.0.0.1", "alice", "readers");
  twice.headers.emplace_back("X-Remote-User", "olga");
  EXPECT_EQ(auth->Check(twice, kTeamA).verdict, V::kUnauthenticated);
  // A line break in the groups cannot smuggle a role in: "readers\nops" is no role name.
  auto groups = auth->CheckAdmin(FromProxy("127.0.0.1", "eve", "readers\nops"), "reload auth");
  EXPECT_EQ(groups.verdict, V::kForbidden);
}

TEST(AuthRoles, AddressBlocks) {
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains("203.0.113.9"));
  EXPECT_FALSE(Cidr::Parse("0.0.0.0/0")->Contains("::1"));  // families do not mix
  EXPECT_TRUE(Cidr::Parse("::/0")->Contains("2001:db8::1"));
  EXPECT_TRUE(Cidr::Parse("10.0.0.128/25")->Contains("10.0.0.255"));
  EXPECT_FALSE(Cidr::Parse("10.0.0.128/25")->Contains("10.0.0.127"));
  EXPECT_TRUE(Cidr::Parse("fe80::/10")->Contains("fe80::1%eth0"));
  EXPECT_TRUE(Cidr::Parse("::ffff:192.0.2.1")->Contains("192.0.2.1"));
  for (const char* bad : {"10.0.0.0/33", "10.1.0.0/8", "300.0.0.1", "10.0.0.0/", "10.0.0.0/-1",
                          "10.0.0.0/8x", "fd00::/129", "fd00::1/8", "abc", "", "10.0.0.0/8/8",
                          "::ffff:10.0.0.0/104", "fe80::1%eth0"}) {
    EXPECT_FALSE(Cidr::Parse(bad).ok()) << bad;
  }
  auto file = Auth::FromToml(
      "[[token]]\nname = \"t\"\nsha256 = \"" + HashToken("x") +
          "\"\nallow = [\"*\"]\n\n[proxy_headers]\ntrusted = [\"127.0.0.1\", \"10.1.0.0/8\"]\n",
      "p.toml");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.message(), HasSubstr("p.toml:6: [proxy_headers]"));
  EXPECT_THAT(file.message(), HasSubstr("10.1.0.0/8"));
  EXPECT_FALSE(Auth::FromToml("[proxy_headers]\ntrusted = []\n", "p.toml").ok());
  EXPECT_FALSE(
      Auth::FromToml("[proxy_headers]\ntrusted = [\"::1\"]\nuser = \"Authorization\"\n", "p.toml")
          .ok());
  EXPECT_FALSE(
      Auth::FromToml("[proxy_headers]\ntrusted = [\"::1\"]\nuser = \"X-A: b\"\n", "p.toml").ok());
}

TEST(AuthRoles, OidcSettings) {
  auto auth = Auth::FromToml(R"([oidc]
issuer = "https://sso.corp.example/realms/corp"
audience = "modpub"
jwks_uri = "https://sso.corp.example/realms/corp/protocol/openid-connect/certs"
)",
                             "o.toml");
  ASSERT_TRUE(auth.ok()) << auth.message();
  auto o = (*auth)->oidc();
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->issuer, "https://sso.corp.example/realms/corp");
  EXPECT_EQ(o->audiences, std::vector<std::string>{"modpub"});
  EXPECT_EQ(o->roles_claim, "groups");
  EXPECT_EQ(o->clock_skew_s, 60);
  EXPECT_EQ(o->algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  EXPECT_FALSE(o->discovery());
  EXPECT_FALSE(MakeRoles()->oidc().has_value());

  auto local = Auth::FromToml(R"([oidc]
issuer = "http://127.0.0.1:8080/realms/test"
audience = ["modpub", "go"]
roles_claim = "roles"
clock_skew_s = 5
algorithms = ["EdDSA"]
)",
                              "o.toml");
  ASSERT_TRUE(local.ok()) << local.message();
  EXPECT_TRUE((*local)->oidc()->discovery());
  EXPECT_EQ((*local)->oidc()->audiences.size(), 2u);
  EXPECT_EQ((*local)->oidc()->clock_skew_s, 5);
  EXPECT_TRUE(
      Auth::FromToml("[oidc]\nissuer = \"http://[::1]/x\"\naudience = \"m\"\n", "o.toml").ok());

  const std::string base = "[oidc]\naudience = \"m\"\n";
  for (const std::string& bad :
       {base + "issuer = \"http://sso.corp.example\"\n",
        base + "issuer = \"http://127.0.0.1.evil.example/\"\n",
        base + "issuer = \"http://localhost@sso.corp.example/\"\n",
        base + "issuer = \"https://a\"\njwks_uri = \"http://sso.corp.example/certs\"\n",
        base + "issuer = \"https://a\"\njwks_uri = \"https://a/c\"\njwks_file = \"/k.json\"\n",
        base + "issuer = \"https://a\"\nalgorithms = [\"HS256\"]\n",
        base + "issuer = \"https://a\"\nalgorithms = [\"none\"]\n",
        base + "issuer = \"https://a\"\nclock_skew_s = 3601\n",
        base + "issuer = \"https://a\"\nroles = \"groups\"\n",
        base + "issuer = \"https://a\"\nca_file = \"/nonexistent/ca.pem\"\n",
        base + "issuer = \"https://a\"\njwks_file = \"/k.json\"\nca_file = \"/etc/hostname\"\n",
        std::string("[oidc]\nissuer = \"https://a\"\n"), base}) {
    EXPECT_FALSE(Auth::FromToml(bad, "o.toml").ok()) << bad;
  }
}

TEST(AuthRoles, KeycloakExampleLoads) {
  const auto file =
      std::filesystem::path(__FILE__).parent_path() / "../../examples/auth/keycloak.auth.toml";
  auto auth = Auth::Load(file);
  ASSERT_TRUE(auth.ok()) << auth.message();
  ASSERT_TRUE((*auth)->oidc().has_value());
  EXPECT_EQ((*auth)->oidc()->jwks_uri,
            "https://sso.corp.example/realms/corp/protocol/openid-connect/certs");
  auto fake = std::make_shared<FakeVerifier>();
  (*auth)->SetBearerVerifier(fake);
  EXPECT_EQ((*auth)->Check(Req("Bearer ok.kim.team-a-readers+offline_access"), kTeamA).verdict,
            Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->CheckAdmin(Req("Bearer ok.kim.modpub-admins"), "x").verdict,
            Auth::Verdict::kAllow);
}

TEST(AuthRoles, GitLabExampleLoads) {
  const auto file =
      std::filesystem::path(__FILE__).parent_path() / "../../examples/auth/gitlab.auth.toml";
  auto auth = Auth::Load(file);
  ASSERT_TRUE(auth.ok()) << auth.message();
  ASSERT_TRUE((*auth)->oidc().has_value());
  EXPECT_TRUE((*auth)->oidc()->discovery());
  EXPECT_EQ((*auth)->oidc()->roles_claim, "namespace_path");
  auto fake = std::make_shared<FakeVerifier>();
  (*auth)->SetBearerVerifier(fake);
  // A CI job's token: its namespace is the role ("corp/team-a"); no admin role exists.
  const auto job = Req("Bearer ok.project_path:corp/team-a/app.corp/team-a");
  EXPECT_EQ((*auth)->Check(job, kTeamA).verdict, Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->Check(job, kOther).verdict, Auth::Verdict::kForbidden);
  EXPECT_EQ((*auth)->CheckAdmin(job, "x").verdict, Auth::Verdict::kForbidden);
}

TEST(AuthRoles, LdapExampleLoads) {
  const auto file =
      std::filesystem::path(__FILE__).parent_path() / "../../examples/auth/ldap.auth.toml";
  auto auth = Auth::Load(file);
  ASSERT_TRUE(auth.ok()) << auth.message();
  const auto dev = FromProxy("127.0.0.1", "dave", "Domain Users, Team B Developers");
  EXPECT_EQ((*auth)->Check(dev, std::string("corp.example/team-b/api")).verdict,
            Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->Check(dev, kTeamA).verdict, Auth::Verdict::kForbidden);
  // The same headers from anywhere but nginx's address name nobody.
  EXPECT_EQ((*auth)->Check(FromProxy("10.0.0.9", "dave", "go-admins"), kTeamA).verdict,
            Auth::Verdict::kUnauthenticated);
}

// Through the proxy's routes on a real server: the peer address the server saw decides
// whether the proxy headers count.
TEST(AuthRoles, ProxyRoutesPassThePeerAddress) {
  modpub::testing::TempDir dir;
  auto tree = std::make_shared<storage::FsTree>("file://" + dir.path().string(), dir.path());
  for (const char* trusted : {"127.0.0.1", "10.0.0.0/8"}) {
    SCOPED_TRACE(trusted);
    auto auth =
        Auth::FromToml(std::string("[[role]]\nname = \"readers\"\nallow = [\"corp.example/a\"]\n"
                                   "[proxy_headers]\ntrusted = [\"") +
                           trusted + "\"]\n",
                       "p.toml");
    ASSERT_TRUE(auth.ok()) << auth.message();
    ProxyConfig c;
    c.backend = tree;
    c.auth = *auth;
    Server server;
    MountProxy(server.router(), c);
    ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
    httplib::Client client("127.0.0.1", server.port());
    const bool trusts_us = std::string(trusted) == "127.0.0.1";
    const httplib::Headers carol = {{"X-Remote-User", "carol"}, {"X-Remote-Groups", "readers"}};
    auto readers = client.Get("/corp.example/a/@v/list", carol);
    auto other = client.Get("/corp.example/b/@v/list", carol);
    ASSERT_TRUE(readers && other);
    if (trusts_us) {
      EXPECT_NE(readers->status, 401);  // authorized: whatever the (empty) tree answers
      EXPECT_NE(readers->status, 403);
      EXPECT_EQ(other->status, 403);
      EXPECT_THAT(other->body, HasSubstr("carol may not read corp.example/b"));
    } else {
      EXPECT_EQ(readers->status, 401);  // the headers are ignored: no credentials
      EXPECT_EQ(other->status, 401);
    }
    server.Stop();
  }
}

struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("auth_test_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() { std::filesystem::remove(path); }
  void Write(const std::string& text) const { std::ofstream(path) << text; }
};

TEST(AuthRoles, ReloadKeepsRulesOnABadFile) {
  TempFile f("reload.toml");
  f.Write(RolesToml());
  auto auth = Auth::Load(f.path);
  ASSERT_TRUE(auth.ok()) << auth.message();
  const auto alice = Basic("alice", "alice-pw");
  EXPECT_EQ((*auth)->Check(Req(alice), kTeamA).verdict, Auth::Verdict::kAllow);
  f.Write(RolesToml() + "[[token]]\nname = \"t\"\nsha256 = \"" + HashToken("y") +
          "\"\nroles = [\"writers\"]\n");
  auto bad = (*auth)->Reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("role \"writers\" is not defined"));
  EXPECT_EQ((*auth)->Check(Req(alice), kTeamA).verdict, Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->realm(), "corp");
  // A good file: the readers role no longer covers team-a.
  std::string moved = RolesToml();
  moved.replace(moved.find("corp.example/team-a"), 19, "corp.example/team-b");
  f.Write(moved);
  auto good = (*auth)->Reload();
  ASSERT_TRUE(good.ok()) << good.message();
  EXPECT_EQ(*good, 3u);
  EXPECT_EQ((*auth)->Check(Req(alice), kTeamA).verdict, Auth::Verdict::kForbidden);
}

TEST(AuthRoles, HtpasswdStillLoads) {
  TempFile f("users.htpasswd");
  f.Write("# comment\nalice:" + Hash("alice-pw") + "\n");
  auto auth = Auth::Load(f.path);
  ASSERT_TRUE(auth.ok()) << auth.message();
  EXPECT_EQ((*auth)->Check(Req(Basic("alice", "alice-pw")), kOther).verdict, Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->CheckAdmin(Req(Basic("alice", "alice-pw")), "x").verdict,
            Auth::Verdict::kForbidden);
}

TEST(AuthRoles, AuditLinesNameWhoWhatAndRuleButNoSecret) {
  auto auth = MakeRoles();
  std::ostringstream logged;
  auto old_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(logged)));
  auth->Check(Req(Basic("alice", "alice-pw")), kOther);
  auth->Check(Req(Basic("mallory", "hunter2")), kOther);
  auth->Check(Req("Bearer wrong-token"), kOther);
  auth->Check(Req(Basic("alice", "alice-pw")), kTeamA);         // allowed: no line
  auth->Check(Req(Basic("alice", "alice-pw")), kOther, false);  // not audited
  auth->CheckAdmin(Req("Bearer secret-token"), "reload auth");
  auth->Check(FromProxy("192.0.2.50", "x\ny", "ops"), kTeamA);
  auth->Check(FromProxy("192.0.2.50", "x", "ops"), kTeamA);  // warned once a minute
  spdlog::set_default_logger(old_logger);
  const std::string log = logged.str();
  EXPECT_THAT(log,
              HasSubstr("denied GET /corp.example/x/@v/list to alice from 192.0.2.7 (forbidden)"));
  EXPECT_THAT(log, HasSubstr("no rule of user alice covers corp.example/x"));
  EXPECT_THAT(log, HasSubstr("to anonymous from 192.0.2.7 (unauthenticated): wrong password or "
                             "unknown user \\x22mallory\\x22"));
  EXPECT_THAT(log, HasSubstr("no [[token]] has this token's hash"));
  EXPECT_THAT(log,
              HasSubstr("admin action \"reload auth\" allowed to ci from 192.0.2.7: token ci is an "
                        "admin"));
  EXPECT_THAT(log, HasSubstr("ignored proxy user/group headers from 192.0.2.50"));
  for (const char* secret : {"alice-pw", "hunter2", "wrong-token", "secret-token"}) {
    EXPECT_THAT(log, ::testing::Not(HasSubstr(secret)));
  }
  auto count = [&](const std::string& s) {
    std::size_t n = 0;
    for (auto at = log.find(s); at != std::string::npos; at = log.find(s, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("to alice from"), 1u);
  EXPECT_EQ(count("ignored proxy user/group headers"), 1u);
  // 3 denied + admin + the warning + two 401s (the untrusted headers are no credentials)
  EXPECT_EQ(count("\n"), 7u) << log;
}

}  // namespace
}  // namespace modpub::http
