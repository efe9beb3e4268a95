// Bearer tokens issued by an identity provider ([oidc] in the auth file, http/auth.hpp):
// JWTs verified with jwt::Verify against the provider's public keys, which come from
//   * `jwks_file`: read when the verifier is made and at every auth reload;
//   * `jwks_uri`, or the `jwks_uri` of `<issuer>/.well-known/openid-configuration`:
//     fetched over HTTPS (certificates verified against `ca_file`, else the system's CAs)
//     when made, and again when a token names a key id the set lacks (a rotation), at
//     most once per `kMinRefresh` (counted from the first such fetch: the one at start
//     does not count). Keys that vanish from a fetched set stay usable for
//     `kKeepRetired` (tokens they signed are still in flight), then are dropped.
// A provider that cannot be reached when the verifier is made is not fatal: the daemon
// starts, says so, and the first token retries the fetch (rate-limited as above); tokens
// are refused until keys are known.
//
// Verify: a bearer value that is not three dot-separated parts (the first two non-empty)
// is not a JWT (nullopt: the opaque [[token]]s are tried). A JWT is checked by jwt::Verify (alg
// from the key only, RS256/ES256/EdDSA as the settings allow; iss, aud, exp, nbf with the settings'
// skew); its roles come from the `roles_claim` (a dotted path; a claim of the wrong type refuses
// the token). The identity's name is the token's `sub`. Messages never hold the token.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/jwt/jwt.hpp"

namespace modpub::http {

class JwtVerifier final : public BearerVerifier {
 public:
  // GET of a URL: the body on 200, an error naming the URL otherwise.
  using Fetch = std::function<Result<std::string>(const std::string& url)>;
  using Now = std::function<jwt::Clock::time_point()>;
  static constexpr std::chrono::seconds kMinRefresh{60};
  static constexpr std::chrono::seconds kKeepRetired{3600};
  static constexpr std::size_t kMaxDocumentBytes = 1 << 20;

  // Fails for settings jwt::Policy refuses and for an unreadable or unusable jwks_file;
  // an unreachable jwks_uri is only logged (see above).
  // `fetch` defaults to HttpsFetch(settings.ca_file).
  static Result<std::shared_ptr<JwtVerifier>> Create(const OidcSettings& settings,
                                                     Fetch fetch = nullptr,
                                                     Now now = jwt::Clock::now);
  std::optional<Result<Identity>> Verify(std::string_view token) override;
  // Gets the key set now, as Create would (file, or fetch with discovery), and says how
  // many keys it holds, or why none could be had: for `modpub doctor`.
  static Result<std::size_t> Probe(const OidcSettings& settings, Fetch fetch = nullptr);

  // The GET used by default: cpp-httplib over HTTPS (http only to loopback), 10 s
  // timeouts, bodies above kMaxDocumentBytes refused, the server's certificate verified
  // against `ca_file` (PEM) or, when empty, the system's CAs.
  static Fetch HttpsFetch(std::string ca_file = {});
  std::size_t fetches() const;  // how many times the key set was fetched (tests, logs)

 private:
  JwtVerifier(OidcSettings s, jwt::Policy p, Fetch f, Now n)
      : settings_(std::move(s)), policy_(std::move(p)), fetch_(std::move(f)), now_(std::move(n)) {}
  Status Refresh();  // mu_ held
  Status Load();     // mu_ held: from jwks_file, else Refresh
  Result<std::string> JwksUri();
  OidcSettings settings_;
  jwt::Policy policy_;
  Fetch fetch_;
  Now now_;
  mutable std::mutex mu_;
  std::shared_ptr<const jwt::KeySet> keys_;
  std::optional<jwt::Clock::time_point> last_fetch_;
  std::size_t fetches_ = 0;
};

// Builds the verifier of `auth`'s [oidc] table and plugs it in (none when the table is
// absent). Called after Auth::Load and after every successful Auth::Reload.
Status AttachJwtVerifier(Auth& auth);

}  // namespace modpub::http
