// Package jwt: bearer tokens issued by an identity provider (Keycloak, GitLab, Okta, Azure
// AD, Dex) as signed JWTs (RFC 7519, JWS compact form of RFC 7515), verified against the
// provider's public keys (a JWKS, RFC 7517). No HTTP here: the caller fetches the JWKS and
// hands its bytes to KeySet::Parse, then calls Verify per request.
//
// What is accepted, and nothing else:
//  * algorithms RS256 (RSA >= 2048 bits, PKCS#1 v1.5, SHA-256), ES256 (P-256, SHA-256,
//    signature raw r||s of 64 bytes as RFC 7515 says, never DER) and EdDSA (Ed25519).
//    "none", every HS* (a shared secret), PS*, ES384... are refused as unsupported_alg.
//  * a key is chosen by the header's `kid` only, and verifies only the one algorithm of
//    its type: an RSA key never checks an HS256 token "signed with the public key as
//    secret" (algorithm confusion). Header parameters that name keys (jku, jwk, x5u, x5c)
//    are ignored: keys come only from the KeySet. A `crit` header is refused (no extension
//    is understood), so is a JWE (five parts).
//  * base64url strictly: no padding, no other characters, no stray bits.
//  * header and payload are JSON objects without duplicate member names (at any depth;
//    RFC 7515 allows refusing them, and refusing closes "which duplicate wins" games) and
//    nested at most 32 deep.
//  * claims: `iss` a string equal to Policy::issuer; `aud` a string or an array of strings
//    holding one of Policy::audiences; `exp` a number (NumericDate), required; `nbf` and
//    `iat` numbers when present; `sub` a string, required (it names the principal).
// Limits: the token's size is checked against Policy::max_token_bytes before anything is
// decoded; RSA keys larger than 8192 bits are refused (each verification would cost too
// much). A KeySet is immutable once built and Verify may run on it from many threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "modpub/base/result.hpp"

namespace modpub::jwt {

enum class Alg { kRS256, kES256, kEdDSA };
std::string_view AlgName(Alg alg);                      // "RS256", "ES256", "EdDSA"
std::optional<Alg> AlgFromName(std::string_view name);  // nullopt for any other name

using Clock = std::chrono::system_clock;

// The verification keys of one issuer, by kid.
class KeySet {
 public:
  // A key of the JWKS that is not used, and why (a JWKS often also holds encryption keys).
  struct Skipped {
    std::string kid;        // "" when the key has none
    std::size_t index = 0;  // position in "keys"
    std::string reason;
  };

  // Parses a JWKS {"keys":[...]}. A key is used when it has a non-empty string `kid`, a
  // `use` of "sig" or none, `key_ops` containing "verify" or none, and is RSA (n, e;
  // 2048..8192 bits; `alg` RS256 or none), EC (crv P-256, x, y of 32 bytes, a point on the
  // curve; `alg` ES256 or none) or OKP (crv Ed25519, x of 32 bytes; `alg` EdDSA or none).
  // Other keys are skipped with a reason (skipped()); so is a kid seen before. An error
  // when the text is no JWKS or no key is usable (the message lists the reasons). The
  // caller bounds the text's size (as it fetches it).
  static Result<KeySet> Parse(std::string_view jwks_json);

  // After fetching a rotated JWKS: every key of `newer`, plus the keys of `older` whose kid
  // `newer` lacks, kept until `now + keep_for` (a key already kept keeps its earlier
  // deadline, so a key never lives longer by being merged again). Keys whose deadline has
  // passed at `now` are dropped; Verify treats a key past its deadline as unknown. A kid
  // in both takes newer's key. newer's skipped() list is the result's.
  static KeySet Merge(const KeySet& older, const KeySet& newer, Clock::time_point now,
                      std::chrono::seconds keep_for);

  std::vector<std::string> kids() const;  // in JWKS order, kept keys last
  std::size_t size() const { return keys_.size(); }
  const std::vector<Skipped>& skipped() const { return skipped_; }

  struct Key;  // defined in jwt.cpp: the EVP_PKEY, its Alg, its deadline after Merge
  const Key* Find(std::string_view kid) const;  // nullptr when no key has this kid

 private:
  std::vector<std::shared_ptr<const Key>> keys_;
  std::vector<Skipped> skipped_;
};

// What a token must satisfy besides its signature. Plain data; Check() says what is wrong.
struct Policy {
  std::string issuer;                   // exact match of `iss`; required
  std::vector<std::string> audiences;   // `aud` must contain one of them; required
  std::chrono::seconds clock_skew{60};  // allowed on both sides of exp and nbf
  std::size_t max_token_bytes = 8 * 1024;
  std::vector<Alg> algorithms{Alg::kRS256, Alg::kES256, Alg::kEdDSA};  // non-empty

  // An error naming the field when issuer or audiences is empty, algorithms is empty,
  // clock_skew is negative or max_token_bytes is 0. Check it when loading configuration;
  // Verify refuses every token under a policy that fails it (reason kBadPolicy).
  Status Check() const;
};

enum class Reason {
  kMalformed,       // not a JWS of three base64url parts holding JSON objects; a bad claim type
  kTooLarge,        // longer than Policy::max_token_bytes
  kUnsupportedAlg,  // alg none, HS*, anything but RS256/ES256/EdDSA or not in the policy
  kAlgKeyMismatch,  // the kid's key is of another algorithm than the header's alg
  kUnknownKid,      // no kid, or no key with it (or its grace period after rotation ended)
  kBadSignature,    // the signature does not verify (or has the wrong length)
  kExpired,         // now >= exp + skew
  kNotYetValid,     // now + skew < nbf
  kWrongIssuer,     // iss is not the policy's issuer
  kWrongAudience,   // aud holds none of the policy's audiences
  kMissingClaim,    // exp, iss, aud or sub absent
  kBadPolicy,       // Policy::Check failed
};
std::string_view ReasonName(Reason r);  // "malformed", "too_large", ... (snake case, for logs)

struct Verified {
  nlohmann::json claims;  // the payload, a JSON object
  std::string kid;
  Alg alg = Alg::kRS256;
  std::string subject;  // the `sub` claim
};

// Result<Verified> with a machine-readable reason on failure. message() is for people:
// it names the claim or header member and the rule, never the token itself.
class [[nodiscard]] VerifyResult {
 public:
  VerifyResult(Verified v) : verified_(std::move(v)) {}  // NOLINT: implicit
  VerifyResult(Reason reason, std::string message)
      : reason_(reason), message_(std::move(message)) {}

  bool ok() const { return verified_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Verified& value() const;  // throws std::logic_error when !ok()
  const Verified* operator->() const { return &value(); }
  const Verified& operator*() const { return value(); }
  Reason reason() const;               // throws std::logic_error when ok()
  const std::string& message() const;  // throws std::logic_error when ok()

 private:
  std::optional<Verified> verified_;
  Reason reason_ = Reason::kMalformed;
  std::string message_;
};

// Verifies `token` (the compact form, without "Bearer ") at time `now`. Checks, in order:
// size, shape and base64url, header (alg, crit, kid), key, signature, payload JSON, claim
// types, iss, aud, exp, nbf, sub. The payload is parsed only once the signature verified.
VerifyResult Verify(std::string_view token, const KeySet& keys, const Policy& policy,
                    Clock::time_point now);

// The strings at `dotted_path` in `claims` ("groups", "realm_access.roles",
// "resource_access.modpub.roles"): a string gives one element, an array of strings its
// elements; a missing member or null gives an empty list; anything else (a number, an
// object, an array with a non-string, a non-object on the way) is an error naming the path
// and the type. At each object the whole rest of the path is first tried as one member
// name, so claims named with dots ("https://example.com/groups") are reachable too.
Result<std::vector<std::string>> StringsAt(const nlohmann::json& claims,
                                           std::string_view dotted_path);

}  // namespace modpub::jwt
