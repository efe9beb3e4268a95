// The GOPROXY protocol and the Go checksum database protocol served over HTTP, from a
// storage backend (storage/backend.hpp, files on local disk) and a sumdb log
// (sumdb/log.hpp), mounted on an http::Router (modpubd, `modpub serve`; http/server.hpp).
//
// Routes, below `prefix` (e.g. "" or "/goproxy"):
//   GET /<escaped module>/@v/list              complete versions, one per line
//   GET /<escaped module>/@v/<escaped v>.info|.mod|.zip|.sig
//   GET /<escaped module>/@latest              .info of the highest release (else pre-release)
//   GET /sumdb/<name>/supported                200 when the checksum database <name> is served
//   GET /sumdb/<name>/latest                   signed tree head (note)
//   GET /sumdb/<name>/lookup/<escaped module>@<escaped v>   "<id>\n<record>\n" + signed head
//   GET /sumdb/<name>/tile/8/<L>/<N>[.p/<W>]  hash tiles; /tile/8/data/<N>[.p/<W>] records
// The checksum database is reachable both as GOSUMDB="<key> <url>/sumdb/<name>" and through
// the proxy (go asks <proxy>/sumdb/<name>/supported first).
//
// URL handling: the request path is percent-decoded once (http::Server does it; go sends
// "!" as "%21"), then "!"-unescaped (module::UnescapePath/UnescapeVersion, which also
// validate). A path or version that does not unescape to a valid module path / version is
// answered 400 before any file name is formed, so no request reaches a file outside the
// storage root ("..", absolute paths, NUL, upper case letters are all invalid). Valid but
// unknown modules and versions are 404 (go then treats them as "not found"); 410 is not
// used (it means "gone" upstream).
//
// Small files (.info, .mod, .sig up to 64 KiB) are answered from a bounded in-memory cache
// after the first request; every answer from it checks the file's identity with stat(2)
// and the backend is asked again at least once a second (http/file_cache.hpp), so a
// changed, damaged or removed file is noticed at the next request.
//
// Caching: .info/.mod/.zip/.sig and tiles are immutable once they exist: ETag (size and
// mtime of the file, or a hash of the tile) and "Cache-Control: max-age=..., immutable"
// (private when auth is on); If-None-Match answers 304. list, @latest, /latest and lookups
// change: "Cache-Control: no-cache" with an ETag. Zips are streamed from the file in
// chunks, never loaded whole.
//
// Auth (http/auth.hpp), when given, applies to every route: module routes and lookups
// check the principal's prefixes (403 outside them); tiles and /latest need any principal.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "modpub/http/auth.hpp"
#include "modpub/http/router.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/upstream.hpp"

namespace modpub::http {

struct ProxyConfig {
  std::string prefix;                          // "" or "/path" (no trailing slash)
  std::shared_ptr<storage::Backend> backend;   // required
  std::shared_ptr<sumdb::Log> log;             // optional checksum database ...
  std::shared_ptr<const sign::Signer> signer;  // ... signed with this key (its name is the
                                               // database's name); both or neither
  std::shared_ptr<Auth> auth;                  // optional
  // Optional: a lookup of a module version the log lacks is asked of this other checksum
  // database (sumdb/upstream.hpp), and its verified record appended to the log, unless
  // the module path is private: equal to or below one of `private_prefixes` (element-wise).
  // A private path is never sent upstream; its unknown versions are 404.
  std::shared_ptr<sumdb::Upstream> upstream;
  std::vector<std::string> private_prefixes;
};

// Why a checksum database with an upstream needs private prefixes (OpenProxy refuses it
// without any; modpubd --check-config names the setting).
inline constexpr char kNoPrivatePrefix[] =
    "is on, but no private module path prefix is known (no [[repository]], no [sumdb] "
    "private / --private): a lookup of an unpublished private version would be sent "
    "upstream. Name the private prefixes, or set upstream = \"\" (no --sumdb-upstream)";

// True when `path` is one of `prefixes` or below one, element-wise and ignoring ASCII
// case ("corp.example/x" and "Corp.Example/x" are below "corp.example", "corp.example2"
// is not).
bool IsPrivatePath(std::string_view path, const std::vector<std::string>& prefixes);

// What `modpub serve` and modpubd are configured with, as text.
struct ProxySettings {
  std::string from;       // storage URL (storage::OpenBackend)
  std::string prefix;     // "" or "/path"
  std::string sumdb_log;  // checksum database: state directory or s3:// URL ("" = none) ...
  std::string sumdb_key;  // ... and the file of its signer key (modpub keygen)
  std::string auth_file;  // http/auth.hpp file ("" = no auth)
  // Another checksum database for public modules: "<verifier key> <url>" ("" = none),
  // reached through `upstream_proxy` (http://host:port) when set; what it last proved is
  // kept in `upstream_state` (a file; "" = memory only).
  std::string upstream;
  std::string upstream_proxy;
  std::string upstream_state;
  std::vector<std::string> private_prefixes;
};
// Opens everything a ProxyConfig needs: the backend, the log (checked now: a damaged log
// fails here, not per request; bound to the key, Log::BindVerifier), the signer, the auth
// rules. Errors name the file or URL at fault.
Result<ProxyConfig> OpenProxy(const ProxySettings& settings);

// Registers GET handlers for prefix + "/..." on `server` (register other routes of the
// server first: the router uses the first matching pattern). The handlers keep `config`'s
// objects alive. Throws std::invalid_argument for an unusable config (programming error).
void MountProxy(Router& server, ProxyConfig config);

// A pre-routing handler (router.hpp): kHandled when it answered the request, kUnhandled to
// let the route table have it.
using PreRouting = Router::PreRouting;

// As MountProxy, and returns a pre-routing handler that answers GOPROXY and checksum
// database requests (GET/HEAD below prefix with "/@v/", "/@latest" or "sumdb/") before the
// route table is searched (no regular expression per request: measurably faster for the
// small files); other paths go on to the route table. The caller installs it
// (Router::SetPreRouting), possibly inside its own.
PreRouting MountProxyPreRouting(Router& server, ProxyConfig config);

// MountProxyPreRouting, installed as the server's pre-routing handler (`modpub serve`).
void MountProxyFirst(Router& server, ProxyConfig config);

}  // namespace modpub::http
