// jwt: tokens signed here with OpenSSL (RSA 2048, EC P-256, Ed25519), verified against a
// JWKS built from the keys' public parts.
#include "modpub/jwt/jwt.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "support/jose.hpp"

namespace modpub::jwt {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using namespace ::modpub::testing::jose;  // NOLINT: test-side signing helpers

// --- fixture: one key of each type, a JWKS of them, a policy ---------------------------------

const Clock::time_point kNow = Clock::time_point(seconds(1'700'000'000));
constexpr long kT = 1'700'000'000;

struct Keys {
  Pkey rsa = Generate("RSA", nullptr, 2048);
  Pkey ec = Generate("EC", "P-256");
  Pkey ed = Generate("ED25519");
  Pkey other_ed = Generate("ED25519");
};

const Keys& K() {
  static const Keys keys;
  return keys;
}

std::string Jwks() {
  return json{{"keys", {Jwk(K().rsa, "r1"), Jwk(K().ec, "e1"), Jwk(K().ed, "o1")}}}.dump();
}

KeySet Set() {
  auto s = KeySet::Parse(Jwks());
  if (!s) throw std::runtime_error(s.message());
  return *s;
}

Policy Pol() {
  Policy p;
  p.issuer = "https://idp.example/realms/corp";
  p.audiences = {"modpub"};
  return p;
}

json Claims() {
  return {{"iss", "https://idp.example/realms/corp"},
          {"aud", "modpub"},
          {"sub", "alice"},
          {"iat", kT - 10},
          {"exp", kT + 300},
          {"groups", {"dev", "ops"}}};
}

std::string Token(const char* alg, const char* kid, const json& claims, const Pkey& k) {
  return Jws({{"alg", alg}, {"kid", kid}, {"typ", "JWT"}}, claims.dump(), k);
}

VerifyResult Check(const std::string& token) { return Verify(token, Set(), Pol(), kNow); }

#define EXPECT_REFUSED(result, why)                                      \
  do {                                                                   \
    const auto& r_ = (result);                                           \
    ASSERT_FALSE(r_.ok()) << "accepted";                                 \
    EXPECT_EQ(ReasonName(r_.reason()), ReasonName(why)) << r_.message(); \
  } while (0)

// --- valid tokens -----------------------------------------------------------------------------

TEST(Jwt, VerifiesRs256Es256EdDsa) {
  const std::pair<const char*, const char*> cases[] = {
      {"RS256", "r1"}, {"ES256", "e1"}, {"EdDSA", "o1"}};
  const Pkey* keys[] = {&K().rsa, &K().ec, &K().ed};
  for (int i = 0; i < 3; ++i) {
    auto r = Check(Token(cases[i].first, cases[i].second, Claims(), *keys[i]));
    ASSERT_TRUE(r.ok()) << cases[i].first << ": " << r.message();
    EXPECT_EQ(r->kid, cases[i].second);
    EXPECT_EQ(AlgName(r->alg), cases[i].first);
    EXPECT_EQ(r->subject, "alice");
    EXPECT_EQ(r->claims["groups"][1], "ops");
  }
}

TEST(Jwt, AudienceArrayHoldingOneOfThePolicys) {
  json c = Claims();
  c["aud"] = {"account", "modpub"};
  EXPECT_TRUE(Check(Token("EdDSA", "o1", c, K().ed)).ok());
}

// --- time -------------------------------------------------------------------------------------

TEST(Jwt, ExpiryAndNotBeforeWithSkew) {
  json c = Claims();
  c["exp"] = kT - 61;  // beyond the 60 s skew
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", c, K().ed)), Reason::kExpired);
  c["exp"] = kT - 59;  // expired, but inside the skew
  EXPECT_TRUE(Check(Token("EdDSA", "o1", c, K().ed)).ok());
  c["exp"] = kT + 300;
  c["nbf"] = kT + 61;
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", c, K().ed)), Reason::kNotYetValid);
  c["nbf"] = kT + 59;  // not yet valid, but inside the skew
  EXPECT_TRUE(Check(Token("EdDSA", "o1", c, K().ed)).ok());
  Policy strict = Pol();
  strict.clock_skew = seconds(0);
  c["nbf"] = kT + 1;
  EXPECT_REFUSED(Verify(Token("EdDSA", "o1", c, K().ed), Set(), strict, kNow),
                 Reason::kNotYetValid);
}

TEST(Jwt, ExpIsRequiredAndTimesMustBeNumbers) {
  json c = Claims();
  c.erase("exp");
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", c, K().ed)), Reason::kMissingClaim);
  c["exp"] = std::to_string(kT + 300);
  auto r = Check(Token("EdDSA", "o1", c, K().ed));
  EXPECT_REFUSED(r, Reason::kMalformed);
  EXPECT_THAT(r.message(), HasSubstr("exp"));
  c = Claims();
  c["nbf"] = true;
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", c, K().ed)), Reason::kMalformed);
}

// --- issuer, audience, subject ------------------------------------------------------------------

TEST(Jwt, WrongIssuerAudienceMissingSubject) {
  json c = Claims();
  c["iss"] = "https://idp.example/realms/other";
  EXPECT_REFUSED(Check(Token("ES256", "e1", c, K().ec)), Reason::kWrongIssuer);
  c = Claims();
  c["aud"] = "another-client";
  EXPECT_REFUSED(Check(Token("ES256", "e1", c, K().ec)), Reason::kWrongAudience);
  c["aud"] = {"account", "another-client"};
  EXPECT_REFUSED(Check(Token("ES256", "e1", c, K().ec)), Reason::kWrongAudience);
  c.erase("aud");
  EXPECT_REFUSED(Check(Token("ES256", "e1", c, K().ec)), Reason::kMissingClaim);
  c = Claims();
  c.erase("sub");
  EXPECT_REFUSED(Check(Token("ES256", "e1", c, K().ec)), Reason::kMissingClaim);
}

// --- algorithms and keys ----------------------------------------------------------------------

TEST(Jwt, UnknownKid) {
  EXPECT_REFUSED(Check(Token("EdDSA", "nope", Claims(), K().ed)), Reason::kUnknownKid);
  EXPECT_REFUSED(Check(Jws({{"alg", "EdDSA"}}, Claims().dump(), K().ed)), Reason::kUnknownKid);
}

TEST(Jwt, AlgNoneIsRefused) {
  const std::string unsigned_token =
      B64Url(json{{"alg", "none"}, {"kid", "r1"}}.dump()) + "." + B64Url(Claims().dump()) + ".";
  EXPECT_REFUSED(Check(unsigned_token), Reason::kUnsupportedAlg);
  EXPECT_REFUSED(Check(unsigned_token + "c2ln"), Reason::kUnsupportedAlg);
}

TEST(Jwt, Hs256WithThePublicKeyAsSecretIsRefused) {
  // Algorithm confusion: an attacker signs with HMAC, keyed with the RSA key's public PEM.
  const std::string token = Hs256({{"alg", "HS256"}, {"kid", "r1"}}, Claims(), PublicPem(K().rsa));
  EXPECT_REFUSED(Check(token), Reason::kUnsupportedAlg);
}

TEST(Jwt, AlgNames) {
  for (Alg a : {Alg::kRS256, Alg::kES256, Alg::kEdDSA}) EXPECT_EQ(AlgFromName(AlgName(a)), a);
  for (const char* other : {"none", "HS256", "PS256", "ES384", "rs256", ""})
    EXPECT_EQ(AlgFromName(other), std::nullopt) << other;
}

TEST(Jwt, AlgNotAllowedByThePolicy) {
  Policy p = Pol();
  p.algorithms = {Alg::kEdDSA};
  EXPECT_REFUSED(Verify(Token("RS256", "r1", Claims(), K().rsa), Set(), p, kNow),
                 Reason::kUnsupportedAlg);
}

TEST(Jwt, AlgKeyMismatch) {
  // An RS256 token naming the EC key.
  EXPECT_REFUSED(Check(Token("RS256", "e1", Claims(), K().rsa)), Reason::kAlgKeyMismatch);
}

TEST(Jwt, AnotherKeyWithTheSameKidIsABadSignature) {
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", Claims(), K().other_ed)), Reason::kBadSignature);
  // A changed payload under a good signature.
  std::string t = Token("RS256", "r1", Claims(), K().rsa);
  json c = Claims();
  c["sub"] = "mallory";
  const auto d1 = t.find('.'), d2 = t.rfind('.');
  t = t.substr(0, d1 + 1) + B64Url(c.dump()) + t.substr(d2);
  EXPECT_REFUSED(Check(t), Reason::kBadSignature);
}

TEST(Jwt, Es256SignatureMustBeRawRS) {
  const std::string der =
      Jws({{"alg", "ES256"}, {"kid", "e1"}}, Claims().dump(), K().ec, /*der=*/true);
  auto r = Check(der);
  EXPECT_REFUSED(r, Reason::kBadSignature);
  EXPECT_THAT(r.message(), HasSubstr("not 64"));
  // The same signature converted to r||s verifies.
  const std::string raw = der.substr(0, der.rfind('.') + 1) +
                          B64Url(DerToRaw(*DecodeB64Url(der.substr(der.rfind('.') + 1))));
  EXPECT_TRUE(Check(raw).ok());
}

// --- malformed input ----------------------------------------------------------------------------

TEST(Jwt, MalformedTokens) {
  const std::string good = Token("EdDSA", "o1", Claims(), K().ed);
  EXPECT_REFUSED(Check(good.substr(0, good.rfind('.'))), Reason::kMalformed);  // two parts
  EXPECT_REFUSED(Check(good.substr(0, good.size() / 2)), Reason::kMalformed);
  EXPECT_FALSE(Check(good.substr(0, good.size() - 4)).ok());  // a shorter signature
  EXPECT_REFUSED(Check(good + ".x.y"), Reason::kMalformed);   // JWE shape
  EXPECT_REFUSED(Check(""), Reason::kMalformed);
  std::string bad64 = good;
  bad64[3] = '+';  // standard base64, not base64url
  EXPECT_REFUSED(Check(bad64), Reason::kMalformed);
  EXPECT_REFUSED(Check(good + "="), Reason::kMalformed);  // padding
  EXPECT_REFUSED(Check(std::string(1 << 20, 'a')), Reason::kTooLarge);
}

TEST(Jwt, HeaderAndPayloadMustBeJsonObjects) {
  const std::string sig = ".c2ln";
  EXPECT_REFUSED(Check(B64Url("not json") + "." + B64Url("{}") + sig), Reason::kMalformed);
  EXPECT_REFUSED(Check(B64Url("[\"EdDSA\"]") + "." + B64Url("{}") + sig), Reason::kMalformed);
  EXPECT_REFUSED(
      Check(B64Url(R"({"alg":"none","alg":"EdDSA","kid":"o1"})") + "." + B64Url("{}") + sig),
      Reason::kMalformed);  // duplicate member
  EXPECT_REFUSED(
      Check(B64Url(R"({"alg":"EdDSA","kid":"o1","crit":["exp"]})") + "." + B64Url("{}") + sig),
      Reason::kMalformed);
  json deep = Claims();
  deep["x"] = json::parse(std::string(40, '[') + std::string(40, ']'));
  EXPECT_REFUSED(Check(Token("EdDSA", "o1", deep, K().ed)), Reason::kMalformed);
  // A validly signed payload that is no object, or no JSON.
  EXPECT_REFUSED(Check(Jws({{"alg", "EdDSA"}, {"kid", "o1"}}, "[1,2]", K().ed)),
                 Reason::kMalformed);
  EXPECT_REFUSED(Check(Jws({{"alg", "EdDSA"}, {"kid", "o1"}}, "sub=alice", K().ed)),
                 Reason::kMalformed);
  EXPECT_REFUSED(
      Check(Jws({{"alg", "EdDSA"}, {"kid", "o1"}}, R"({"sub":"a","sub":"alice"})", K().ed)),
      Reason::kMalformed);
}

TEST(Jwt, InvalidPolicyRefusesEverything) {
  Policy p = Pol();
  p.audiences.clear();
  EXPECT_FALSE(p.Check().ok());
  EXPECT_REFUSED(Verify(Token("EdDSA", "o1", Claims(), K().ed), Set(), p, kNow),
                 Reason::kBadPolicy);
  EXPECT_TRUE(Pol().Check().ok());
}

// --- JWKS ---------------------------------------------------------------------------------------

TEST(JwtKeySet, SkipsEncryptionAndSymmetricKeysWithReasons) {
  json enc = Jwk(K().rsa, "enc1");
  enc["use"] = "enc";
  json keys = {{"keys",
                {enc,
                 {{"kty", "oct"}, {"kid", "h1"}, {"k", "c2VjcmV0"}},
                 Jwk(K().ed, "o1"),
                 {{"kty", "OKP"}, {"crv", "X25519"}, {"kid", "x1"}, {"x", B64Url("0123")}}}}};
  auto s = KeySet::Parse(keys.dump());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_THAT(s->kids(), ElementsAre("o1"));
  ASSERT_EQ(s->skipped().size(), 3u);
  EXPECT_EQ(s->skipped()[0].kid, "enc1");
  EXPECT_THAT(s->skipped()[0].reason, HasSubstr("use \"enc\""));
  EXPECT_THAT(s->skipped()[1].reason, HasSubstr("oct"));
  EXPECT_THAT(s->skipped()[2].reason, HasSubstr("X25519"));
}

TEST(JwtKeySet, NoUsableKeyIsAnError) {
  json enc = Jwk(K().rsa, "enc1");
  enc["use"] = "enc";
  auto s = KeySet::Parse(json{{"keys", {enc, {{"kty", "oct"}, {"kid", "h1"}}}}}.dump());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("no usable signing key"));
  EXPECT_THAT(s.message(), HasSubstr("enc1"));
  EXPECT_FALSE(KeySet::Parse(R"({"keys":[]})").ok());
  EXPECT_FALSE(KeySet::Parse("[]").ok());
  EXPECT_FALSE(KeySet::Parse("{").ok());
}

TEST(JwtKeySet, KeyRules) {
  const Pkey rsa1024 = Generate("RSA", nullptr, 1024);
  json nokid = Jwk(K().ed, "");
  nokid.erase("kid");
  json wrong_alg = Jwk(K().ec, "e2");
  wrong_alg["alg"] = "RS256";
  json off_curve = Jwk(K().ec, "e3");
  off_curve["y"] = off_curve["x"];
  json keys = {{"keys",
                {Jwk(rsa1024, "small"), nokid, wrong_alg, off_curve, Jwk(K().rsa, "r1"),
                 Jwk(K().ed, "r1")}}};
  auto s = KeySet::Parse(keys.dump());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_THAT(s->kids(), ElementsAre("r1"));
  ASSERT_EQ(s->skipped().size(), 5u);
  EXPECT_THAT(s->skipped()[0].reason, HasSubstr("1024 bits"));
  EXPECT_THAT(s->skipped()[1].reason, HasSubstr("no kid"));
  EXPECT_THAT(s->skipped()[2].reason, HasSubstr("alg \"RS256\""));
  EXPECT_THAT(s->skipped()[3].reason, HasSubstr("not a valid public key"));
  EXPECT_THAT(s->skipped()[4].reason, HasSubstr("repeats a kid"));
  // "alg" present and right is fine; "sig" use too.
  json ok = Jwk(K().ec, "e1");
  ok["alg"] = "ES256";
  ok["use"] = "sig";
  EXPECT_TRUE(KeySet::Parse(json{{"keys", {ok}}}.dump()).ok());
}

TEST(JwtKeySet, MergeKeepsRotatedOutKeysForAWhile) {
  auto older = Set();
  auto newer = KeySet::Parse(json{{"keys", {Jwk(K().ec, "e1")}}}.dump());
  ASSERT_TRUE(newer.ok());
  const KeySet merged = KeySet::Merge(older, *newer, kNow, seconds(600));
  EXPECT_THAT(merged.kids(), ElementsAre("e1", "r1", "o1"));
  json c = Claims();
  c["exp"] = kT + 3600;
  const std::string t = Token("EdDSA", "o1", c, K().ed);
  EXPECT_TRUE(Verify(t, merged, Pol(), kNow + seconds(599)).ok());
  EXPECT_REFUSED(Verify(t, merged, Pol(), kNow + seconds(600)), Reason::kUnknownKid);
  // Merging again later does not extend the deadline; past it the key is dropped.
  const KeySet again = KeySet::Merge(merged, *newer, kNow + seconds(300), seconds(600));
  EXPECT_REFUSED(Verify(t, again, Pol(), kNow + seconds(601)), Reason::kUnknownKid);
  EXPECT_THAT(KeySet::Merge(again, *newer, kNow + seconds(600), seconds(600)).kids(),
              ElementsAre("e1"));
}

// --- StringsAt ----------------------------------------------------------------------------------

TEST(JwtStringsAt, EachType) {
  const json c = json::parse(R"({
    "groups": ["dev", "ops"], "role": "admin", "n": 3, "mixed": ["a", 1], "obj": {"a": 1},
    "none": null,
    "realm_access": {"roles": ["offline_access", "publisher"]},
    "resource_access": {"modpub": {"roles": ["reader"]}},
    "https://example.com/groups": ["auth0-group"]
  })");
  EXPECT_THAT(*StringsAt(c, "groups"), ElementsAre("dev", "ops"));
  EXPECT_THAT(*StringsAt(c, "role"), ElementsAre("admin"));
  EXPECT_THAT(*StringsAt(c, "realm_access.roles"), ElementsAre("offline_access", "publisher"));
  EXPECT_THAT(*StringsAt(c, "resource_access.modpub.roles"), ElementsAre("reader"));
  EXPECT_THAT(*StringsAt(c, "https://example.com/groups"), ElementsAre("auth0-group"));
  EXPECT_TRUE(StringsAt(c, "missing")->empty());
  EXPECT_TRUE(StringsAt(c, "resource_access.other.roles")->empty());
  EXPECT_TRUE(StringsAt(c, "none")->empty());
  for (const char* bad : {"n", "mixed", "obj", "role.x"}) {
    auto r = StringsAt(c, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.message(), HasSubstr(bad));
  }
  EXPECT_THAT(StringsAt(c, "n").message(), HasSubstr("number"));
  EXPECT_THAT(StringsAt(c, "obj").message(), HasSubstr("object"));
}

}  // namespace
}  // namespace modpub::jwt
