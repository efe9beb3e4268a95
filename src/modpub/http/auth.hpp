// Read access control for the GOPROXY endpoint and the checksum database (http/proxy.hpp).
//
// Credentials are never stored in clear:
//  * Basic: a user's password as a crypt(5) hash, bcrypt ("$2b$") or yescrypt ("$y$")
//    (also sha512crypt "$6$"); checked with libcrypt's crypt_r; hashes libcrypt calls
//    legacy or invalid (crypt_checksalt: DES, MD5, ...) are refused when loading.
//  * Bearer: a token as the lower-case hex SHA-256 of the token.
// Each user or token has read rules: module path prefixes it may read ("corp.example/team"
// covers that path and everything below it; "*" everything).
//
// Configuration file (TOML):
//   realm = "modpub"                       # optional, for WWW-Authenticate
//   [[user]]
//   name = "alice"
//   password = "$y$j9T$..."                # `modpub auth-hash` prints one
//   allow = ["corp.example/team-a", "corp.example/shared"]
//   [[token]]
//   name = "ci"
//   sha256 = "<hex sha256 of the token>"
//   allow = ["*"]
// or an htpasswd-style file of "user:hash" lines (each user may read everything).
//
// Decisions: no or unparsable credentials (a NUL in them included), an unknown user or
// token, a wrong password (the same answer, in about the same time, as an unknown user) ->
// 401 with `WWW-Authenticate: Basic realm="<realm>"` (go then uses .netrc); a known
// principal reading a module outside its prefixes -> 403. Successful password checks are
// cached in memory by SHA-256 of the credentials (crypt is slow on purpose).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::http {

class Auth {
 public:
  struct Principal {
    std::string name;
    std::string secret;  // crypt hash (user) or hex sha256 (token)
    std::vector<std::string> allow;
  };

  static Result<std::shared_ptr<Auth>> Load(const std::filesystem::path& file);
  static Result<std::shared_ptr<Auth>> FromToml(std::string_view toml, const std::string& origin);

  enum class Verdict { kAllow, kUnauthenticated, kForbidden };
  struct Decision {
    Verdict verdict = Verdict::kUnauthenticated;
    std::string who;     // the principal, when authenticated
    std::string reason;  // for logs and the response body
  };
  // `authorization` is the request's Authorization header ("" if none); `module_path` the
  // module read, or nullopt for requests that name none (checksum database tiles,
  // /latest): any authenticated principal may read those.
  Decision Check(std::string_view authorization, const std::optional<std::string>& module_path);

  std::string realm() const;

  // SIGHUP: re-reads the file Load read and, when it loads, takes its users, tokens and
  // realm (a request being checked finishes with the old ones); when it does not load, the
  // rules in effect stay and the error says why. Returns how many users and tokens are
  // now in effect. Fails for an Auth made by FromToml (no file).
  Result<std::size_t> Reload();

  // Does `prefix` (a rule) cover module `path`?
  static bool Covers(std::string_view prefix, std::string_view path);

  Auth(std::string realm, std::vector<Principal> users, std::vector<Principal> tokens);
  ~Auth();

 private:
  static Result<std::shared_ptr<Auth>> LoadFile(const std::filesystem::path& file);
  struct Cache;
  mutable std::shared_mutex mu_;  // guards realm_, users_, tokens_ (Reload writes them)
  std::filesystem::path file_;    // what Load read
  std::string realm_;
  std::vector<Principal> users_;
  std::vector<Principal> tokens_;
  std::unique_ptr<Cache> cache_;
};

// A new password hash (yescrypt, libcrypt's default strength) for `password`.
Result<std::string> HashPassword(std::string_view password);
// Lower-case hex SHA-256 of a bearer token, as stored in the configuration.
std::string HashToken(std::string_view token);

}  // namespace modpub::http
