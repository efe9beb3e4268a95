#include "modpub/http/proxy.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/http/file_cache.hpp"
#include "modpub/http/jwt_verifier.hpp"
#include "modpub/http/proxy_path.hpp"
#include "modpub/http/upstream_fetch.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace modpub::http {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 256 * 1024;
constexpr std::size_t kSmallFile = 64 * 1024;  // served from memory, not streamed
constexpr char kText[] = "text/plain; charset=utf-8";

struct State {
  ProxyConfig c;
  std::string immutable_cache;  // Cache-Control for content that never changes
  std::mutex mu;                // guards the signed head cache
  sumdb::TreeHead signed_for{-1, {}};
  std::string signed_note;
  SmallFileCache files;  // answers by request path (http/file_cache.hpp)
};

void Reply(Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body + "\n", kText);
}

// Sets the ETag; true (and 304) when the client already has this version.
bool NotModified(const Request& req, Response& res, const std::string& etag) {
  res.set_header("ETag", etag);
  if (!req.has_header("If-None-Match")) return false;
  const std::string v = req.get_header_value("If-None-Match");
  if (v == "*" || v.find(etag) != std::string::npos) {
    res.status = 304;
    return true;
  }
  return false;
}

std::string ContentETag(std::string_view body) {
  return "\"" + dirhash::Hex(dirhash::Sha256::Of(body)).substr(0, 32) + "\"";
}

void ServeBytes(const Request& req, Response& res, std::string body, const char* type,
                const std::string& cache) {
  res.set_header("Cache-Control", cache);
  if (NotModified(req, res, ContentETag(body))) return;
  res.status = 200;
  res.set_content(std::move(body), type);
}

// Where a small file's answer may be remembered (ServeFile); empty key: nowhere.
struct CacheSlot {
  SmallFileCache* cache = nullptr;
  std::string_view key;                       // the request path below the prefix
  std::string_view owner;                     // the module path (Authorize on a cache hit)
  SmallFileCache::Clock::time_point checked;  // taken before the backend was asked
};

// A file's contents as the answer's body: sendfile(2) on plain TCP, else read in chunks
// on the worker pool. `fd` stays open while the answer is being sent.
void SetFileBody(Response& res, std::shared_ptr<const fsio::UniqueFd> fd, std::size_t size,
                 const char* type) {
  res.status = 200;
  res.set_content_provider(
      size, type, [fd](std::size_t offset, std::size_t length, DataSink& sink) {
        std::vector<char> buf(std::min(length, kChunk));
        ssize_t n;
        do {
          n = ::pread(fd->get(), buf.data(), buf.size(), static_cast<off_t>(offset));
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return false;  // the connection is closed: the length would be wrong
        return sink.write(buf.data(), static_cast<std::size_t>(n));
      });
  res.file_fd = fd->get();
  res.file_owner = std::move(fd);
}

// Remembers the answer for `slot`: a small file's contents, a larger file's descriptor.
void Remember(const CacheSlot& slot, const fs::path& path, const struct stat& st,
              const std::string& etag, const char* type, std::string body,
              std::shared_ptr<const fsio::UniqueFd> fd) {
  auto entry = std::make_shared<SmallFileCache::Entry>();
  entry->path = path.string();
  entry->stamp = StampOf(st);
  entry->body = std::move(body);
  entry->file = std::move(fd);
  entry->etag = etag;
  entry->owner = slot.owner;
  entry->type = type;
  entry->checked = slot.checked;
  slot.cache->Put(std::string(slot.key), std::move(entry));
}

// Reads a whole small file; false on a read error.
bool ReadSmall(int fd, std::size_t size, std::string& body) {
  body.assign(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, body.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Serves a stored file: small ones from memory, larger ones streamed; a regular file is
// remembered in `slot`'s cache when one is given.
void ServeFile(const Request& req, Response& res, const fs::path& path, const char* type,
               const std::string& cache, const CacheSlot& slot = {}) {
  auto fd = std::make_shared<fsio::UniqueFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!*fd || ::fstat(fd->get(), &st) != 0) {
    if (errno == ENOENT) return Reply(res, 404, "not found");
    spdlog::error("cannot serve {}: {}", path.string(), std::strerror(errno));
    return Reply(res, 500, "cannot read the stored file");
  }
  char etag[64];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  const auto size = static_cast<std::size_t>(st.st_size);
  const bool regular = S_ISREG(st.st_mode);
  const bool small = size <= kSmallFile;
  const bool remember =
      slot.cache && regular && (!small || size <= slot.cache->limits().max_file_bytes);
  // A 304 needs no body, unless the small body is to be remembered for later requests.
  if (!(remember && small)) {
    res.set_header("Cache-Control", cache);
    if (remember) Remember(slot, path, st, etag, type, {}, fd);
    if (NotModified(req, res, etag)) return;
  }
  if (!small) {
    SetFileBody(res, std::move(fd), size, type);
    if (!regular) res.file_fd = -1;  // sendfile(2) needs a regular file: read in chunks
    return;
  }
  std::string body;
  if (!ReadSmall(fd->get(), size, body)) return Reply(res, 500, "cannot read the stored file");
  if (remember) {
    Remember(slot, path, st, etag, type, body, nullptr);
    res.set_header("Cache-Control", cache);
    if (NotModified(req, res, etag)) return;
  }
  res.status = 200;
  res.set_content(std::move(body), type);
}

bool Authorize(State& s, const Request& req, Response& res,
               const std::optional<std::string>& module_path) {
  if (!s.c.auth) return true;
  auto d = s.c.auth->Check(req, module_path);  // logs a denial
  switch (d.verdict) {
    case Auth::Verdict::kAllow:
      return true;
    case Auth::Verdict::kUnauthenticated:
      s.c.auth->Challenge(req, res);
      Reply(res, 401, "401 Unauthorized: " + d.reason);
      return false;
    case Auth::Verdict::kForbidden:
      Reply(res, 403, "403 Forbidden: " + d.reason);
      return false;
  }
  return false;
}

// Complete versions of a module, in semver order.
Result<std::vector<std::string>> CompleteVersions(State& s, const std::string& path) {
  auto versions = s.c.backend->ListVersions(path);
  if (!versions) return versions.error();
  std::vector<std::string> out;
  for (const auto& v : *versions) {
    if (v.state == storage::VersionState::kComplete) out.push_back(v.version);
  }
  return out;
}

void ServePart(State& s, const Request& req, Response& res, std::string_view rel,
               const std::string& path, const std::string& version, storage::VersionPart part) {
  const auto asked = SmallFileCache::Clock::now();
  auto file = s.c.backend->LocalFile(path, version, part);
  if (!file) {
    // Not a version modpub could store (e.g. a branch name go asks about): not found.
    if (!storage::ValidateModuleVersion(path, version)) {
      return Reply(res, 404, "not found: " + path + "@" + version + " is not a stored version");
    }
    spdlog::error("cannot serve {}@{}: {}", path, version, file.message());
    return Reply(res, 500, "storage error");
  }
  if (!*file) return Reply(res, 404, "not found: " + path + "@" + version);
  const char* type = part == storage::VersionPart::kInfo  ? "application/json"
                     : part == storage::VersionPart::kZip ? "application/zip"
                                                          : kText;
  // Small parts are remembered by their contents, zips as an open descriptor.
  ServeFile(req, res, **file, type, s.immutable_cache, CacheSlot{&s.files, rel, path, asked});
}

// Answers from the small-file cache (http/file_cache.hpp); false: not cached, go on.
// Only a request that was answered from a stored file before is in the cache, so the
// checks that came before (path and version syntax) passed for this very path; auth is
// asked again, as it depends on the request's credentials.
bool ServeCached(State& s, const Request& req, Response& res, std::string_view rel) {
  auto e = s.files.Find(rel);
  if (!e) return false;
  if (s.c.auth && !Authorize(s, req, res, e->owner)) return true;
  res.set_header("Cache-Control", s.immutable_cache);
  if (NotModified(req, res, e->etag)) return true;
  if (e->file) {
    SetFileBody(res, e->file, static_cast<std::size_t>(e->stamp.size), e->type);
    return true;
  }
  res.status = 200;
  res.set_content(e->body, e->type);
  return true;
}

void HandleModule(State& s, const Request& req, Response& res, std::string_view rel,
                  const ProxyRequest& r) {
  const std::string& path = r.module_path;
  if (!Authorize(s, req, res, path)) return;
  if (r.kind == ProxyRequest::Kind::kPart) {
    return ServePart(s, req, res, rel, path, r.version, r.part);
  }
  if (r.kind == ProxyRequest::Kind::kNotFound) return Reply(res, 404, r.not_found);

  auto versions = CompleteVersions(s, path);
  if (!versions) {
    spdlog::error("cannot list {}: {}", path, versions.message());
    return Reply(res, 500, "storage error");
  }
  if (versions->empty()) return Reply(res, 404, "not found: no versions of " + path);
  if (r.kind == ProxyRequest::Kind::kList) {
    std::string body;
    for (const auto& v : *versions) body += v + "\n";
    return ServeBytes(req, res, std::move(body), kText, "no-cache");
  }
  std::string best;
  for (const auto& v : *versions) {
    if (semver::Prerelease(v).empty()) best = v;  // ascending: the last release wins
  }
  if (best.empty()) best = versions->back();
  auto f = s.c.backend->LocalFile(path, best, storage::VersionPart::kInfo);
  if (!f || !*f) return Reply(res, 404, "not found");
  res.set_header("Cache-Control", "no-cache");
  return ServeFile(req, res, **f, "application/json", "no-cache");
}

// The signed note of the log's current tree, cached while the tree does not change.
Result<std::string> SignedHead(State& s) {
  auto head = s.c.log->Latest();
  if (!head) return head.error();
  std::lock_guard g(s.mu);
  if (s.signed_for.n != head->n || s.signed_for.hash != head->hash) {
    auto note = sign::SignNote(sumdb::FormatTree(head->n, head->hash), *s.c.signer);
    if (!note) return note.error();
    s.signed_note = std::move(*note);
    s.signed_for = *head;
  }
  return s.signed_note;
}

// A public module version the log lacks: its record from upstream, verified, appended to
// the log (so every later answer is ours, signed by our key). False when it answered.
bool AskUpstream(State& s, Response& res, const ProxyRequest& r, std::optional<std::int64_t>* id) {
  const std::string mv = r.module_path + "@" + r.version;
  sumdb::UpstreamFailure why{};
  auto record = s.c.upstream->Lookup(r.module_path, r.version, &why);
  if (!record) {
    spdlog::error("checksum database: {} not logged: upstream: {}", mv, record.message());
    Reply(res, 502, "checksum database: upstream: " + record.message());
    return false;
  }
  if (!*record) return true;  // upstream has none either: 404
  auto appended = s.c.log->Append({**record});
  if (!appended) {
    spdlog::error("checksum database: {} from upstream not logged: {}", mv, appended.message());
    Reply(res, 500, "checksum database: " + appended.message());
    return false;
  }
  spdlog::info("{} verified upstream and logged as record {}", mv, (*appended)[0].id);
  *id = (*appended)[0].id;
  return true;
}

void HandleSumdb(State& s, const Request& req, Response& res, const ProxyRequest& r) {
  switch (r.kind) {
    case ProxyRequest::Kind::kSumdbSupported:
      if (!Authorize(s, req, res, std::nullopt)) return;
      res.status = 200;
      return;
    case ProxyRequest::Kind::kSumdbLatest: {
      if (!Authorize(s, req, res, std::nullopt)) return;
      auto note = SignedHead(s);
      if (!note) {
        spdlog::error("checksum database: {}", note.message());
        return Reply(res, 500, "checksum database error");
      }
      return ServeBytes(req, res, std::move(*note), kText, "no-cache");
    }
    case ProxyRequest::Kind::kSumdbLookup: {
      if (!Authorize(s, req, res, r.module_path)) return;
      auto id = s.c.log->Lookup(r.module_path, r.version);
      if (!id) {
        spdlog::error("checksum database: {}", id.message());
        return Reply(res, 500, "checksum database error");
      }
      if (!*id && s.c.upstream && !IsPrivatePath(r.module_path, s.c.private_prefixes)) {
        if (!AskUpstream(s, res, r, &*id)) return;
      }
      if (!*id) return Reply(res, 404, "not found: " + r.module_path + "@" + r.version);
      auto text = s.c.log->ReadRecord(**id);
      if (!text) return Reply(res, 500, "checksum database error");
      auto record = sumdb::FormatRecord(**id, *text);
      auto note = SignedHead(s);
      if (!record || !note) return Reply(res, 500, "checksum database error");
      return ServeBytes(req, res, *record + *note, kText, "no-cache");
    }
    case ProxyRequest::Kind::kSumdbTile: {
      if (!Authorize(s, req, res, std::nullopt)) return;
      auto data = s.c.log->ReadTile(r.tile);
      if (!data) {
        spdlog::error("checksum database: {}", data.message());
        return Reply(res, 500, "checksum database error");
      }
      if (!*data) return Reply(res, 404, "not found: " + sumdb::TilePath(r.tile));
      return ServeBytes(req, res, std::move(**data),
                        r.tile.l == -1 ? kText : "application/octet-stream", s.immutable_cache);
    }
    default:
      return Reply(res, 404, r.not_found);
  }
}

// Every request the cache did not answer: parsed first (http/proxy_path.hpp; malformed
// paths and versions are 400 before anything else), then answered by its route.
void HandleRequest(State& s, const Request& req, Response& res, std::string_view rel) {
  auto r = ParseProxyPath(rel, s.c.log ? std::string_view(s.c.signer->name()) : "");
  if (!r) return Reply(res, 400, r.message());
  if (rel.starts_with("sumdb/")) return HandleSumdb(s, req, res, *r);
  if (r->kind == ProxyRequest::Kind::kNotFound && r->module_path.empty()) {
    return Reply(res, 404, r->not_found);
  }
  HandleModule(s, req, res, rel, *r);
}

std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::strchr(".^$|()[]{}*+?\\", c)) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

bool IsPrivatePath(std::string_view path, const std::vector<std::string>& prefixes) {
  // ASCII case is ignored: "Corp.Example/x" is another module, but asking upstream for it
  // would still tell upstream the private name.
  auto lower = [](unsigned char c) { return static_cast<char>(std::tolower(c)); };
  for (const std::string& p : prefixes) {
    if (path.size() < p.size() || (path.size() > p.size() && path[p.size()] != '/')) continue;
    if (std::equal(p.begin(), p.end(), path.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); })) {
      return true;
    }
  }
  return false;
}

Result<ProxyConfig> OpenProxy(const ProxySettings& o) {
  ProxyConfig config;
  config.prefix = o.prefix;
  if (!config.prefix.empty() && (config.prefix[0] != '/' || config.prefix.back() == '/')) {
    return Fail("prefix " + o.prefix + ": must be empty or /path without a trailing slash");
  }
  auto backend = storage::OpenBackend(o.from);
  if (!backend) return backend.error();
  config.backend = std::move(*backend);
  if (o.sumdb_log.empty() != o.sumdb_key.empty()) {
    return Fail(
        "a checksum database needs both its log (directory or s3:// URL) and its signer key");
  }
  if (!o.sumdb_log.empty()) {
    std::ifstream in(o.sumdb_key);
    std::string key;
    if (!in || !std::getline(in, key)) return Fail(o.sumdb_key + ": cannot read the signer key");
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
    auto signer = sign::Signer::Parse(key);
    if (!signer) {
      return Fail(o.sumdb_key + ": not a signer key (PRIVATE+KEY+<name>+...): " + signer.message());
    }
    auto shared = std::make_shared<const sign::Signer>(std::move(*signer));
    std::error_code ec;
    auto log = storage::OpenSumdbLog(
        o.sumdb_log.starts_with("s3://") ? o.sumdb_log : fs::absolute(o.sumdb_log, ec).string(),
        shared);
    if (!log) return log.error();
    if (auto head = log->Latest(); !head) return head.error();
    if (auto st = log->BindVerifier(shared->VerifierKey()); !st) return st.error();
    config.signer = std::move(shared);
    if (!o.upstream.empty()) {
      if (o.private_prefixes.empty()) {
        return Fail("upstream checksum database " + o.upstream + " " + kNoPrivatePrefix);
      }
      auto up = OpenUpstream(o.upstream, o.upstream_proxy, o.upstream_state);
      if (!up) return up.error();
      config.upstream = std::move(*up);
      config.private_prefixes = o.private_prefixes;
    }
    config.log = std::make_shared<sumdb::Log>(std::move(*log));
  }
  if (!o.auth_file.empty()) {
    auto auth = Auth::Load(o.auth_file);
    if (!auth) return auth.error();
    if (auto st = AttachJwtVerifier(**auth); !st) return Fail(o.auth_file + ": " + st.message());
    config.auth = std::move(*auth);
  }
  return config;
}

namespace {

using Handler = Router::Handler;

// The handler of every GET below the prefix; throws for an unusable config.
std::shared_ptr<State> MakeState(ProxyConfig config) {
  if (!config.backend) throw std::invalid_argument("MountProxy: no storage backend");
  if (!config.log != !config.signer) {
    throw std::invalid_argument("MountProxy: a checksum database needs both a log and a signer");
  }
  if (!config.prefix.empty() && (config.prefix[0] != '/' || config.prefix.back() == '/')) {
    throw std::invalid_argument("MountProxy: prefix must be empty or /path");
  }
  auto state = std::make_shared<State>();
  state->immutable_cache =
      std::string(config.auth ? "private" : "public") + ", max-age=31536000, immutable";
  state->c = std::move(config);
  return state;
}

Handler MakeHandler(std::shared_ptr<State> state) {
  const std::size_t skip = state->c.prefix.size() + 1;
  return [state, skip](const Request& req, Response& res) {
    std::string_view rel = std::string_view(req.path).substr(skip);
    if (ServeCached(*state, req, res, rel)) return;
    HandleRequest(*state, req, res, rel);
  };
}

// The server's quick handler: a file already in the cache, answered on the I/O thread (a
// lookup and a stat, no read; a zip goes out with sendfile from the descriptor kept). Not with
// auth: checking a password is crypt work.
Router::PreRouting MakeQuick(std::shared_ptr<State> state) {
  if (state->c.auth) return nullptr;
  const std::string under = state->c.prefix + "/";
  return [state, under](const Request& req, Response& res) {
    if ((req.method != "GET" && req.method != "HEAD") || !req.path.starts_with(under)) {
      return Router::Routed::kUnhandled;
    }
    const std::string_view rel = std::string_view(req.path).substr(under.size());
    return ServeCached(*state, req, res, rel) ? Router::Routed::kHandled
                                              : Router::Routed::kUnhandled;
  };
}

}  // namespace

void MountProxy(Router& server, ProxyConfig config) {
  const std::string prefix = config.prefix;
  server.Get(RegexEscape(prefix) + "/.*", MakeHandler(MakeState(std::move(config))));
}

PreRouting MountProxyPreRouting(Router& server, ProxyConfig config) {
  const std::string under = config.prefix + "/";
  auto state = MakeState(std::move(config));
  Handler handler = MakeHandler(state);
  server.Get(RegexEscape(under) + ".*", handler);
  server.SetQuick(MakeQuick(state));
  return [under, handler](const Request& req, Response& res) {
    // Only what the route above matches (std::regex's "." is no line terminator) AND has
    // the shape of a GOPROXY or checksum database request; anything else goes on to the
    // route table -- the server's own routes (a daemon's /healthz, /metrics) or, through
    // the route above, the same handler, so the answers are the same either way.
    if ((req.method != "GET" && req.method != "HEAD") || !req.path.starts_with(under) ||
        req.path.find_first_of("\r\n") != std::string::npos) {
      return Router::Routed::kUnhandled;
    }
    const std::string_view rel = std::string_view(req.path).substr(under.size());
    if (rel.find("/@v/") == std::string_view::npos && !rel.ends_with("/@latest") &&
        !rel.starts_with("sumdb/")) {
      return Router::Routed::kUnhandled;
    }
    handler(req, res);
    return Router::Routed::kHandled;
  };
}

void MountProxyFirst(Router& server, ProxyConfig config) {
  server.SetPreRouting(MountProxyPreRouting(server, std::move(config)));
}

}  // namespace modpub::http
