// http::JwtVerifier: identity-provider tokens checked against keys from a file or fetched
// (a fake fetch stands for the provider's HTTPS endpoints, with a fake clock), and wired
// into Auth's role rules.
#include "modpub/http/jwt_verifier.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "support/jose.hpp"
#include "support/temp_repo.hpp"

namespace modpub::http {
namespace {

using namespace ::modpub::testing::jose;  // NOLINT: test-side signing helpers
using std::chrono::seconds;

constexpr long kT = 1'700'000'000;
constexpr const char* kIssuer = "https://sso.example/realms/corp";

struct Provider {
  Pkey k1 = Generate("EC", "P-256");
  Pkey k2 = Generate("ED25519");
  std::map<std::string, std::string> pages;  // url -> body; absent: unreachable
  int gets = 0;
  jwt::Clock::time_point now = jwt::Clock::time_point(seconds(kT));
  JwtVerifier::Fetch fetch() {
    return [this](const std::string& url) -> Result<std::string> {
      ++gets;
      auto it = pages.find(url);
      if (it == pages.end()) return Fail("GET " + url + ": connection refused");
      return it->second;
    };
  }
  JwtVerifier::Now clock() {
    return [this] { return now; };
  }
  void Publish(std::vector<json> keys) {
    pages[std::string(kIssuer) + "/.well-known/openid-configuration"] =
        json{{"issuer", kIssuer}, {"jwks_uri", std::string(kIssuer) + "/certs"}}.dump();
    pages[std::string(kIssuer) + "/certs"] = json{{"keys", keys}}.dump();
  }
};

json Claims(long exp = kT + 300) {
  return {{"iss", kIssuer}, {"aud", "modpub"},       {"sub", "alice"},
          {"exp", exp},     {"groups", {"readers"}}, {"realm_access", {{"roles", {"ops"}}}}};
}

std::string Token(const char* alg, const char* kid, const json& claims, const Pkey& k) {
  return Jws({{"alg", alg}, {"kid", kid}}, claims.dump(), k);
}

OidcSettings Settings() {
  OidcSettings s;
  s.issuer = kIssuer;
  s.audiences = {"modpub"};
  s.algorithms = {"RS256", "ES256", "EdDSA"};
  return s;
}

TEST(JwtVerifier, KeysFromDiscoveryAndRolesFromTheClaim) {
  Provider p;
  p.Publish({Jwk(p.k1, "k1")});
  auto v = JwtVerifier::Create(Settings(), p.fetch(), p.clock());
  ASSERT_TRUE(v.ok()) << v.message();
  auto id = (*v)->Verify(Token("ES256", "k1", Claims(), p.k1));
  ASSERT_TRUE(id.has_value());
  ASSERT_TRUE(id->ok()) << id->message();
  EXPECT_EQ((*id)->name, "alice");
  EXPECT_EQ((*id)->roles, std::vector<std::string>{"readers"});
  EXPECT_FALSE((*v)->Verify("opaque-token-without-dots").has_value());  // [[token]]s decide
  EXPECT_FALSE((*v)->Verify("a.b").has_value());

  OidcSettings dotted = Settings();
  dotted.roles_claim = "realm_access.roles";
  auto v2 = JwtVerifier::Create(dotted, p.fetch(), p.clock());
  auto id2 = (*v2)->Verify(Token("ES256", "k1", Claims(), p.k1));
  ASSERT_TRUE(id2 && id2->ok());
  EXPECT_EQ((*id2)->roles, std::vector<std::string>{"ops"});

  OidcSettings wrong = Settings();
  wrong.roles_claim = "exp";  // a number: refused, not an identity without roles
  auto v3 = JwtVerifier::Create(wrong, p.fetch(), p.clock());
  auto id3 = (*v3)->Verify(Token("ES256", "k1", Claims(), p.k1));
  ASSERT_TRUE(id3 && !id3->ok());
  EXPECT_NE(id3->message().find("roles claim"), std::string::npos) << id3->message();
}

TEST(JwtVerifier, ARotatedKeyIsFetchedOnceAMinuteAtMost) {
  Provider p;
  p.Publish({Jwk(p.k1, "k1")});
  auto v = JwtVerifier::Create(Settings(), p.fetch(), p.clock());
  ASSERT_TRUE(v.ok());
  const std::size_t at_start = (*v)->fetches();
  EXPECT_EQ(at_start, 1u);

  // The provider rotates to k2 just after the start: the first token naming it makes one
  // fetch, and passes.
  p.Publish({Jwk(p.k2, "k2")});
  p.now += seconds(1);
  auto id = (*v)->Verify(Token("EdDSA", "k2", Claims(kT + 600), p.k2));
  ASSERT_TRUE(id && id->ok()) << (id ? id->message() : "nullopt");
  EXPECT_EQ((*v)->fetches(), at_start + 1);
  // k1 vanished from the set but is kept for tokens still in flight.
  EXPECT_TRUE((*v)->Verify(Token("ES256", "k1", Claims(kT + 600), p.k1))->ok());

  // Unknown key ids within the minute cost no fetch: a flood of made-up kids is cheap.
  for (int i = 0; i < 20; ++i) {
    auto bad = (*v)->Verify(Token("EdDSA", "nope", Claims(kT + 600), p.k2));
    ASSERT_TRUE(bad && !bad->ok());
    EXPECT_EQ(bad->message().rfind("unknown_kid", 0), 0u) << bad->message();
  }
  EXPECT_EQ((*v)->fetches(), at_start + 1);
  p.now += seconds(61);
  (void)(*v)->Verify(Token("EdDSA", "nope", Claims(kT + 600), p.k2));
  EXPECT_EQ((*v)->fetches(), at_start + 2);

  // An hour and more after the rotation, the retired key is gone.
  p.now += JwtVerifier::kKeepRetired;
  p.now += seconds(61);
  (void)(*v)->Verify(Token("EdDSA", "nope", Claims(kT + 9000), p.k2));
  auto old = (*v)->Verify(Token("ES256", "k1", Claims(kT + 9000), p.k1));
  ASSERT_TRUE(old && !old->ok());
}

TEST(JwtVerifier, AProviderDownAtStartIsAskedAgainLater) {
  Provider p;  // publishes nothing yet
  auto v = JwtVerifier::Create(Settings(), p.fetch(), p.clock());
  ASSERT_TRUE(v.ok()) << v.message();
  auto id = (*v)->Verify(Token("ES256", "k1", Claims(), p.k1));
  ASSERT_TRUE(id && !id->ok());
  EXPECT_NE(id->message().find("no keys"), std::string::npos) << id->message();
  EXPECT_EQ((*v)->fetches(), 2u);  // the start, and the first token at once
  p.Publish({Jwk(p.k1, "k1")});
  EXPECT_FALSE((*v)->Verify(Token("ES256", "k1", Claims(), p.k1))->ok());  // within the minute
  EXPECT_EQ((*v)->fetches(), 2u);
  p.now += seconds(61);
  EXPECT_TRUE((*v)->Verify(Token("ES256", "k1", Claims(), p.k1))->ok());
}

// What `modpub doctor` asks: can the keys be had now, and how many are there?
TEST(JwtVerifier, ProbeSaysHowManyKeysOrWhyNone) {
  Provider p;
  auto down = JwtVerifier::Probe(Settings(), p.fetch());
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.message().find("openid-configuration: connection refused"), std::string::npos)
      << down.message();
  p.Publish({Jwk(p.k1, "k1"), Jwk(p.k2, "k2")});
  auto two = JwtVerifier::Probe(Settings(), p.fetch());
  ASSERT_TRUE(two.ok()) << two.message();
  EXPECT_EQ(*two, 2u);
  p.pages[std::string(kIssuer) + "/certs"] = "{\"keys\": 7}";
  EXPECT_FALSE(JwtVerifier::Probe(Settings(), p.fetch()).ok());
  OidcSettings from_file = Settings();
  from_file.jwks_file = "/nonexistent/jwks.json";
  auto missing = JwtVerifier::Probe(from_file, p.fetch());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/nonexistent/jwks.json"), std::string::npos);
}

TEST(JwtVerifier, KeysFromAFileAndBadSettings) {
  modpub::testing::TempDir dir;
  Provider p;
  const auto file = dir.path() / "jwks.json";
  std::ofstream(file) << json{{"keys", {Jwk(p.k1, "k1")}}}.dump();
  OidcSettings s = Settings();
  s.jwks_file = file.string();
  auto v = JwtVerifier::Create(s, p.fetch(), p.clock());
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_TRUE((*v)->Verify(Token("ES256", "k1", Claims(), p.k1))->ok());
  EXPECT_EQ(p.gets, 0);  // never the network

  s.jwks_file = (dir.path() / "missing.json").string();
  EXPECT_FALSE(JwtVerifier::Create(s, p.fetch(), p.clock()).ok());
  OidcSettings hs = Settings();
  hs.algorithms = {"HS256"};
  auto refused = JwtVerifier::Create(hs, p.fetch(), p.clock());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("HS256"), std::string::npos) << refused.message();
}

// The whole chain as a request meets it: Auth's rules, the verifier from [oidc].
TEST(JwtVerifier, AuthGrantsByTheTokensRoles) {
  modpub::testing::TempDir dir;
  Provider p;
  const auto jwks = dir.path() / "jwks.json";
  std::ofstream(jwks) << json{{"keys", {Jwk(p.k1, "k1")}}}.dump();
  const std::string toml =
      std::string("[[role]]\nname = \"readers\"\nallow = [\"corp.example/a\"]\n") +
      "[oidc]\nissuer = \"" + kIssuer + "\"\naudience = \"modpub\"\n" + "jwks_file = \"" +
      jwks.string() + "\"\n";
  auto auth = Auth::FromToml(toml, "test.toml");
  ASSERT_TRUE(auth.ok()) << auth.message();
  ASSERT_TRUE(AttachJwtVerifier(**auth).ok());
  const jwt::Clock::time_point now = jwt::Clock::now();
  const long t = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  const std::string good = "Bearer " + Token("ES256", "k1", Claims(t + 300), p.k1);
  EXPECT_EQ((*auth)->Check(good, std::string("corp.example/a/v2")).verdict, Auth::Verdict::kAllow);
  EXPECT_EQ((*auth)->Check(good, std::string("corp.example/b")).verdict, Auth::Verdict::kForbidden);
  const std::string expired = "Bearer " + Token("ES256", "k1", Claims(t - 120), p.k1);
  auto d = (*auth)->Check(expired, std::string("corp.example/a"));
  EXPECT_EQ(d.verdict, Auth::Verdict::kUnauthenticated);
  EXPECT_NE(d.reason.find("expired"), std::string::npos) << d.reason;
}

}  // namespace
}  // namespace modpub::http
