// Read and admin access control for the GOPROXY endpoint, the checksum database
// (http/proxy.hpp) and the daemon's pages.
//
// Who a request is, in the order tried:
//  1. Trusted proxy headers (LDAP/AD behind nginx `auth_request`, or any front end that
//     authenticates): only when [proxy_headers] is configured and the TCP peer is in its
//     `trusted` list; the user header names the principal and the groups header
//     (comma-separated) names its roles. From any other peer these headers are ignored
//     (and a warning is logged, at most once per address per minute). A request from a
//     trusted peer without the user header goes on to 2.
//  2. `Authorization: Bearer <token>`: first the bearer verifier, when one is plugged in
//     (SetBearerVerifier; the JWT verifier built from [oidc]): an identity with roles from
//     the token's claim, or a refusal (401 with the verifier's reason); a token the
//     verifier does not handle (not a JWT) is then looked up among the [[token]]s by the
//     lower-case hex SHA-256 of the token.
//  3. `Authorization: Basic`: a [[user]] and its password as a crypt(5) hash, bcrypt
//     ("$2b$") or yescrypt ("$y$") (also sha512crypt "$6$"), checked with libcrypt's
//     crypt_r; hashes libcrypt calls legacy or invalid (DES, MD5, ...) are refused when
//     loading. Successful checks are cached in memory by SHA-256 of the credentials.
//     A login that is no [[user]]'s name with a password that is a token (a JWT the
//     verifier handles, or a [[token]]) is that token, as in 2: go before 1.24 has no
//     GOAUTH, only .netrc, so `machine <host> login token password <token>` carries it.
// Credentials are never stored in clear, and never logged.
//
// What a principal may do: read the modules under its rights, where rights = its own
// `allow` ∪ the `allow` of each of its roles. A prefix "corp.example/team" covers that
// path and everything below it; "*" covers everything. It is an admin when it has
// `admin = true` or any of its roles has. Roles named by a [[user]] or [[token]] must be
// defined (else the file does not load, naming file:line); role names coming from a JWT
// claim or the groups header that no [[role]] defines are ignored (an identity provider
// knows groups modpub does not care about; logged at debug).
//
// Configuration file (TOML; every table optional, but something must be able to log in;
// an unknown key or table is a load error, so a typo cannot silently drop a rule):
//   realm = "modpub"                       # for WWW-Authenticate
//   [[role]]
//   name = "readers"
//   allow = ["corp.example/team-a"]        # optional when admin = true
//   admin = false                          # default false: may use the admin routes
//   [[user]]
//   name = "alice"                         # no ':'
//   password = "$y$j9T$..."                # `modpub auth-hash` prints one
//   allow = ["corp.example/shared"]        # `allow`, `roles` or both
//   roles = ["readers"]
//   admin = false
//   [[token]]
//   name = "ci"
//   sha256 = "<hex sha256 of the token>"   # 64 lower-case hex digits
//   allow = ["*"]                          # and/or roles = [...], admin = ...
//   [oidc]                                 # JSON Web Tokens from an identity provider
//   issuer = "https://sso.corp.example/realms/corp"   # the `iss` claim, exactly
//   audience = "modpub"                    # or a list: the `aud` claim must hold one
//   jwks_uri = "https://sso.corp.example/realms/corp/protocol/openid-connect/certs"
//   # jwks_file = "/etc/modpub/jwks.json"  # instead: keys from a file
//   # neither: discovery, <issuer>/.well-known/openid-configuration
//   roles_claim = "groups"                 # default: the claim listing role names
//   clock_skew_s = 60                      # default; 0..600
//   algorithms = ["RS256", "ES256"]        # default; asymmetric ones only
//   # ca_file = "/etc/modpub/sso-ca.pem"   # the provider's CA when not the system's
//   [proxy_headers]                        # absent: off
//   trusted = ["127.0.0.1", "::1", "10.0.0.0/8"]   # peer addresses or CIDR blocks
//   user = "X-Remote-User"                 # default
//   groups = "X-Remote-Groups"             # default
// `issuer` and `jwks_uri` must be https:// unless their host is loopback. A CIDR block
// must have no bits set beyond its prefix ("10.1.0.0/8" is refused: write "10.0.0.0/8").
// Or an htpasswd-style file (any name not ending in .toml) of "user:hash" lines: each user
// may read everything, none is an admin.
// Setups: examples/auth/keycloak.auth.toml (Keycloak), gitlab.auth.toml (GitLab CI's ID
// tokens), ldap.auth.toml (LDAP/AD through nginx, examples/nginx/modpubd-ldap.conf); the
// guide is docs/sso.md.
//
// Decisions: no or unparsable credentials (a NUL in them included), an unknown user or
// token, a wrong password (the same answer, in about the same time, as an unknown user), a
// refused JWT, a malformed proxy user header (a comma, a control character, or the header
// twice) -> 401 with the challenges of Challenge (Basic, and Bearer when tokens count); a
// known principal reading a module outside its rights, or a non-admin asking for an admin
// action -> 403. Each decision names the rule that decided. Every denied request and every
// admin decision is logged, one line: who (or "anonymous"), what, the rule.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/http/message.hpp"

namespace modpub::http {

// Who a verified bearer token says its holder is.
struct Identity {
  std::string name;
  std::vector<std::string> roles;  // as the token's claim lists them, known to us or not
};

// Verifies bearer tokens of some kind (the JWT verifier that [oidc] configures).
class BearerVerifier {
 public:
  virtual ~BearerVerifier() = default;
  // nullopt: not a token this verifier handles (e.g. not three dot-separated parts), so
  // the [[token]]s are tried; an error: a token of its kind that is refused, the message
  // saying why (for the log and the 401 body; it must not contain the token).
  virtual std::optional<Result<Identity>> Verify(std::string_view token) = 0;
};

// The [oidc] table, checked for shape only: what the wiring needs to build the verifier.
struct OidcSettings {
  std::string issuer;
  std::vector<std::string> audiences;  // at least one
  std::string jwks_uri;                // at most one of jwks_uri and jwks_file;
  std::string jwks_file;               // neither: discovery from the issuer
  std::string roles_claim = "groups";
  int clock_skew_s = 60;
  std::vector<std::string> algorithms = {"RS256", "ES256"};
  std::string ca_file;  // PEM CAs for the provider's certificate; empty: the system's
  bool discovery() const { return jwks_uri.empty() && jwks_file.empty(); }
};

// An address block, IPv4 or IPv6; an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches the
// IPv4 block.
struct Cidr {
  bool v6 = false;
  unsigned char addr[16] = {};
  int bits = 0;
  // "10.0.0.0/8", "127.0.0.1" (= /32), "fd00::/8", "::1" (= /128).
  static Result<Cidr> Parse(std::string_view text);
  bool Contains(std::string_view address) const;
};

class Auth {
 public:
  struct Principal {
    std::string name;
    std::string secret;  // crypt hash (user) or hex sha256 (token)
    std::vector<std::string> allow;
    std::vector<std::string> roles;  // each defined by a [[role]]
    bool admin = false;
  };
  struct Role {
    std::string name;
    std::vector<std::string> allow;
    bool admin = false;
  };
  struct ProxyHeaders {
    std::vector<Cidr> trusted;
    std::string user = "X-Remote-User";
    std::string groups = "X-Remote-Groups";
  };
  // Everything one file says; Reload swaps it whole.
  struct Rules {
    std::string realm = "modpub";
    std::vector<Principal> users;
    std::vector<Principal> tokens;
    std::map<std::string, Role, std::less<>> roles;
    std::optional<OidcSettings> oidc;
    std::optional<ProxyHeaders> proxy_headers;
  };

  static Result<std::shared_ptr<Auth>> Load(const std::filesystem::path& file);
  static Result<std::shared_ptr<Auth>> FromToml(std::string_view toml, const std::string& origin);

  enum class Verdict { kAllow, kUnauthenticated, kForbidden };
  struct Decision {
    Verdict verdict = Verdict::kUnauthenticated;
    std::string who;     // the principal, when authenticated ("" otherwise)
    std::string reason;  // for the response body: no secrets, no user-name hints
    std::string rule;    // for the log: which rule decided ("role readers allows x")
  };

  // May `req` (its Authorization header, its peer address, the proxy headers) read
  // `module_path`? nullopt for requests that name no module (checksum database tiles,
  // /latest, pages): any authenticated principal may. A denial is logged (audit) unless
  // `audit` is false (a page asking about many modules at once).
  Decision Check(const Request& req, const std::optional<std::string>& module_path,
                 bool audit = true);
  // The same from an Authorization header alone (no peer, no proxy headers, no log).
  Decision Check(std::string_view authorization, const std::optional<std::string>& module_path);
  // May `req` perform the admin `action` (e.g. "reload auth")? Always logged.
  Decision CheckAdmin(const Request& req, std::string_view action);

  std::string realm() const;
  // The WWW-Authenticate headers of a 401: `Basic realm="<realm>"` (go then uses .netrc),
  // and `Bearer realm="<realm>"` when tokens are accepted (an [oidc] verifier or
  // [[token]]s), with `error="invalid_token"` when `req` carried a bearer token (RFC 6750).
  void Challenge(const Request& req, Response& res) const;
  // The [oidc] table, when the file has one: for building the verifier.
  std::optional<OidcSettings> oidc() const;
  // Plugs in (or, with nullptr, removes) the verifier bearer tokens are shown first.
  void SetBearerVerifier(std::shared_ptr<BearerVerifier> verifier);

  // SIGHUP: re-reads the file Load read and, when it loads, takes its rules whole (a
  // request being checked finishes with the old ones); when it does not load, the rules in
  // effect stay and the error says why. The bearer verifier stays (the wiring rebuilds it
  // when [oidc] changed). Returns how many users and tokens are now in effect. Fails for
  // an Auth made by FromToml (no file).
  Result<std::size_t> Reload();

  // Does `prefix` (a rule) cover module `path`?
  static bool Covers(std::string_view prefix, std::string_view path);

  // A principal as authenticated, with its rights (defined in auth.cpp).
  struct Who;

  explicit Auth(Rules rules);
  Auth(std::string realm, std::vector<Principal> users, std::vector<Principal> tokens);
  ~Auth();

 private:
  struct Cache;
  static Result<std::shared_ptr<Auth>> LoadFile(const std::filesystem::path& file);
  std::shared_ptr<const Rules> rules() const;
  // Authenticates: a principal with its own rights and roles, or a 401 decision.
  Who Authenticate(const Rules& r, const Request& req);
  Who Basic(const Rules& r, std::string_view credentials);
  Who Bearer(const Rules& r, std::string_view token);
  // A bearer token's principal or refusal; nullopt when it is neither a token the verifier
  // handles nor a [[token]].
  std::optional<Who> Token(const Rules& r, std::string_view token);
  // nullopt: header authentication does not apply (off, untrusted peer, no user header).
  std::optional<Who> FromHeaders(const Rules& r, const Request& req);
  static Who FromPrincipal(const Principal& p, std::string kind);
  void WarnUntrusted(const std::string& peer);

  mutable std::shared_mutex mu_;  // guards rules_ and verifier_
  std::filesystem::path file_;    // what Load read
  std::shared_ptr<const Rules> rules_;
  std::shared_ptr<BearerVerifier> verifier_;
  std::unique_ptr<Cache> cache_;
};

// A new password hash (yescrypt, libcrypt's default strength) for `password`.
Result<std::string> HashPassword(std::string_view password);
// Lower-case hex SHA-256 of a bearer token, as stored in the configuration.
std::string HashToken(std::string_view token);

}  // namespace modpub::http
