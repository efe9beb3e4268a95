// Fuzzes JWT verification (jwt/jwt.hpp): every bearer token a client sends reaches Verify,
// and a JWKS comes from the identity provider over the network. The input is
// "<line>\n<jwks>": the line is tried as a token, and as the payload of a token this target
// signs with RFC 8037's example Ed25519 key (kid "k1"); the rest is parsed as a JWKS and
// the line verified against it too.
// Invariants: an accepted token names kid k1 and EdDSA, and its claims are the payload's
// JSON with a string sub; a token this target signed is never refused for its signature,
// kid or alg; verifying twice gives the same answer; a parsed JWKS has at least one key,
// unique kids, and reports every other key as skipped.
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <set>

#include "fuzz_support.hpp"
#include "modpub/dirhash/dirhash.hpp"
#include "modpub/jwt/jwt.hpp"

using namespace modpub;
using jwt::Reason;

namespace {

// RFC 8037, appendix A.1.
constexpr unsigned char kSeed[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
constexpr char kJwks[] = R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",)"
                         R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";
const jwt::Clock::time_point kNow{std::chrono::seconds(1'700'000'000)};

std::string B64Url(std::string_view bytes) {
  std::string s = dirhash::Base64(bytes);
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  s.erase(std::remove(s.begin(), s.end(), '='), s.end());
  return s;
}

const jwt::KeySet& Keys() {
  static const jwt::KeySet keys = [] {
    auto k = jwt::KeySet::Parse(kJwks);
    if (!k) fuzz::Broken(__FILE__, __LINE__, "the RFC 8037 key parses", k.message());
    return *k;
  }();
  return keys;
}

const jwt::Policy& Pol() {
  static const jwt::Policy p = [] {
    jwt::Policy q;
    q.issuer = "https://idp.example";
    q.audiences = {"modpub"};
    return q;
  }();
  return p;
}

std::string SignedToken(std::string_view payload) {
  static EVP_PKEY* key =
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, kSeed, sizeof kSeed);
  const std::string input = B64Url(R"({"alg":"EdDSA","kid":"k1"})") + "." + B64Url(payload);
  unsigned char sig[64];
  std::size_t len = sizeof sig;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    fuzz::Broken(__FILE__, __LINE__, "Ed25519 signing works", input);
  return input + "." + B64Url(std::string_view(reinterpret_cast<char*>(sig), len));
}

void CheckVerdict(std::string_view token, const jwt::KeySet& keys) {
  const auto r = jwt::Verify(token, keys, Pol(), kNow);
  const auto again = jwt::Verify(token, keys, Pol(), kNow);
  FUZZ_CHECK(r.ok() == again.ok(), std::string(token));
  if (!r.ok()) {
    FUZZ_CHECK(r.reason() == again.reason() && !r.message().empty(), r.message());
    return;
  }
  FUZZ_CHECK(r->claims.is_object() && r->claims.at("sub") == r->subject, std::string(token));
  FUZZ_CHECK(r->claims.at("iss") == Pol().issuer, std::string(token));
}

void CheckKeySet(std::string_view jwks, std::string_view token) {
  auto keys = jwt::KeySet::Parse(jwks);
  if (!keys) return;
  const auto kids = keys->kids();
  FUZZ_CHECK(!kids.empty(), std::string(jwks));
  FUZZ_CHECK(std::set<std::string>(kids.begin(), kids.end()).size() == kids.size(),
             std::string(jwks));
  const auto doc = nlohmann::json::parse(jwks);
  FUZZ_CHECK(doc.at("keys").size() == kids.size() + keys->skipped().size(), std::string(jwks));
  CheckVerdict(token, *keys);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const auto nl = in.find('\n');
  const std::string_view line = in.substr(0, nl);
  CheckVerdict(line, Keys());

  const std::string signed_token = SignedToken(line);
  CheckVerdict(signed_token, Keys());
  const auto r = jwt::Verify(signed_token, Keys(), Pol(), kNow);
  if (!r.ok()) {
    const Reason why = r.reason();
    FUZZ_CHECK(why != Reason::kBadSignature && why != Reason::kUnknownKid &&
                   why != Reason::kUnsupportedAlg && why != Reason::kAlgKeyMismatch,
               r.message());
  } else {
    FUZZ_CHECK(r->kid == "k1" && r->alg == jwt::Alg::kEdDSA, std::string(line));
    FUZZ_CHECK(r->claims == nlohmann::json::parse(line), std::string(line));
  }
  if (nl != std::string_view::npos) CheckKeySet(in.substr(nl + 1), line);
  return 0;
}
