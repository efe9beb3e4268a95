// See doctor.hpp. The checksum database, the proxy's auth file, the clock, and the helpers
// of internal.hpp.
#include <grp.h>
#include <httplib.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "modpub/doctor/doctor.hpp"
#include "modpub/doctor/internal.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/http/jwt_verifier.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/s3_url.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace fs = std::filesystem;
using std::chrono::system_clock;

namespace modpub::doctor {

std::string At(const config::Config& cfg, int line) {
  return cfg.source + (line > 0 ? ":" + std::to_string(line) : "");
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string UserName(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return pw ? pw->pw_name : "uid " + std::to_string(uid);
}

std::string GroupName(gid_t gid) {
  const group* gr = ::getgrgid(gid);
  return gr ? gr->gr_name : "gid " + std::to_string(gid);
}

std::optional<uid_t> DaemonUid(const config::Config& cfg) {
  struct stat st {};
  if (::lstat(cfg.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return st.st_uid;
  if (::stat(cfg.state_dir.c_str(), &st) == 0) return st.st_uid;
  return std::nullopt;
}

namespace {

Result<HttpAnswer> Get(httplib::Client& client, const std::string& path,
                       std::chrono::milliseconds timeout) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  client.set_connection_timeout(static_cast<time_t>(us / 1000000), us % 1000000);
  client.set_read_timeout(static_cast<time_t>(us / 1000000), us % 1000000);
  client.set_write_timeout(static_cast<time_t>(us / 1000000), us % 1000000);
  auto res = client.Get(path);
  if (!res) {
    return Fail("no answer (" +
                (res.error() == httplib::Error::Connection ? std::string("connection refused")
                                                           : httplib::to_string(res.error())) +
                ")");
  }
  return HttpAnswer{res->status, res->body, res->get_header_value("Date")};
}

// The signer key file's first line, trailing white space removed (as modpubd reads it).
Result<std::string> ReadKeyLine(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return Fail("cannot read it: " + std::string(std::strerror(errno ? errno : EIO)));
  }
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

Finding CheckKeyFile(const config::Config& cfg) {
  const std::string& file = cfg.sumdb.signer_key;
  const std::string what = "signer key file " + file;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return Bad(Level::kFail, what, "does not exist",
               "modpub keygen --name " + cfg.sumdb.name +
                   " --out <dir>, then move <dir>/signer.key to " + file + " (mode 0600)");
  }
  if (st.st_mode & 077) {
    return Bad(Level::kFail, what,
               "mode " + ModeString(st.st_mode) + ": other users can read the private key",
               "chmod 600 " + file + " (and make a new key if it may have leaked)");
  }
  if (auto daemon = DaemonUid(cfg); daemon && *daemon != st.st_uid) {
    return Bad(Level::kWarn, what,
               "owned by " + UserName(st.st_uid) + ", but modpubd runs as " + UserName(*daemon) +
                   ", which cannot read a mode " + ModeString(st.st_mode) + " file it does not own",
               "chown " + UserName(*daemon) + " " + file);
  }
  return Good(what);
}

// The key itself; `*signer` set when it is usable.
Finding CheckKey(const config::Config& cfg, std::optional<sign::Signer>* signer) {
  const std::string what = "signer key of " + cfg.sumdb.name;
  auto line = ReadKeyLine(cfg.sumdb.signer_key);
  if (!line) {
    return Bad(Level::kFail, what, cfg.sumdb.signer_key + ": " + line.message(),
               "run modpub doctor as root or as the daemon's user");
  }
  auto parsed = sign::Signer::Parse(*line);
  if (!parsed) {
    return Bad(
        Level::kFail, what,
        cfg.sumdb.signer_key + " is not a signer key (PRIVATE+KEY+<name>+...): " + parsed.message(),
        "point sumdb.signer_key at the signer.key that modpub keygen wrote");
  }
  if (parsed->name() != cfg.sumdb.name) {
    return Bad(Level::kFail, what,
               cfg.sumdb.signer_key + " is the key of \"" + parsed->name() +
                   "\", not of sumdb.name \"" + cfg.sumdb.name + "\" (go looks keys up by name)",
               "use the key made for " + cfg.sumdb.name + ", or set sumdb.name = \"" +
                   parsed->name() + "\" at " + At(cfg, cfg.sumdb.line));
  }
  signer->emplace(std::move(*parsed));
  return Good(what);
}

// The stored tiles of `log` give the hash of its latest tree.
Status TilesMatch(sumdb::Log& log, const sumdb::TreeHead& head) {
  if (head.n == 0) return Ok();
  auto fetch = [&log](const sumdb::Tile& t) -> Result<std::string> {
    auto data = log.ReadTile(t);
    if (!data) return data.error();
    if (!*data) return Fail(sumdb::TilePath(t) + " is missing");
    return std::move(**data);
  };
  auto hash = sumdb::TreeHash(head.n, sumdb::TileHashReader(head.n, fetch));
  if (!hash) return hash.error();
  if (*hash != head.hash) {
    return Fail("its tiles hash to " + sumdb::HashBase64(*hash) + ", not to the tree head's " +
                sumdb::HashBase64(head.hash));
  }
  return Ok();
}

// The verifier key the log is bound to is `vkey` (sumdb/log.hpp, BindVerifier). A local
// log keeps it in <dir>/verifier, read here (BindVerifier would write it when missing);
// a bucket's BindVerifier only reads.
Status BoundTo(const config::Config& cfg, sumdb::Log& log, const std::string& vkey) {
  if (!cfg.sumdb.storage.empty()) return log.BindVerifier(vkey);
  std::ifstream in(fs::path(cfg.sumdb.dir) / "verifier");
  std::string bound;
  if (!in || !std::getline(in, bound)) return Ok();  // bound by modpubd's first start
  if (bound != vkey) {
    return Fail("the log is bound to the key " + bound + ", not to " + vkey +
                ": go clients that know the first key reject the other");
  }
  return Ok();
}

Finding CheckLog(const config::Config& cfg, const std::optional<sign::Signer>& signer) {
  const bool bucket = !cfg.sumdb.storage.empty();
  const std::string where = bucket ? cfg.sumdb.storage : cfg.sumdb.dir;
  const std::string what = "checksum database log " + where;
  std::error_code ec;
  if (!bucket && !fs::exists(where, ec)) return Good(what + " (empty: made by the first publish)");
  const std::string restore = "restore the log from a backup (never edit its files)";
  auto log = storage::OpenSumdbLog(where, nullptr, cfg.storage_deadline);
  if (!log) return Bad(Level::kFail, what, log.message(), restore);
  auto head = log->Latest();
  if (!head) return Bad(Level::kFail, what, head.message(), restore);
  if (auto st = TilesMatch(*log, *head); !st) {
    return Bad(Level::kFail, what, "damaged: " + st.message(), restore);
  }
  if (!signer) {
    return Bad(Level::kSkipped, what + " key binding", "the signer key is not usable (see above)",
               "");
  }
  if (auto st = BoundTo(cfg, *log, signer->VerifierKey()); !st) {
    return Bad(Level::kFail, what, st.message(),
               "set sumdb.signer_key back to the key the log was made with");
  }
  return Good(what + " (" + std::to_string(head->n) + " records, tiles match the tree)");
}

// The tree head modpubd serves is signed by this key.
Finding CheckServedHead(const config::Config& cfg, const std::optional<sign::Signer>& signer,
                        std::chrono::milliseconds timeout) {
  const std::string path =
      (cfg.proxy.enabled ? cfg.proxy.prefix : "") + "/sumdb/" + cfg.sumdb.name + "/latest";
  const std::string what = "tree head served at http://" + cfg.http_listen + path;
  if (cfg.http_listen.empty()) return Skipped(what, "daemon.http_listen is \"\"");
  if (!signer) return Skipped(what, "the signer key is not usable (see above)");
  auto got = HttpGet(cfg.http_listen, path, timeout);
  if (!got) return Skipped(what, "modpubd does not answer (see above)");
  if (got->status == 401 || got->status == 403) return Skipped(what, "needs authentication");
  if (got->status != 200) {
    return Bad(Level::kFail, what, "HTTP " + std::to_string(got->status),
               "journalctl -u modpubd says what is wrong");
  }
  auto verifier = sign::Verifier::Parse(signer->VerifierKey());
  auto text =
      verifier ? sign::OpenNote(got->body, *verifier) : Result<std::string>(verifier.error());
  if (!text) {
    return Bad(Level::kFail, what, "not signed by " + cfg.sumdb.signer_key + ": " + text.message(),
               "systemctl restart modpubd (it still signs with the key it started with)");
  }
  return Good(what);
}

// The newest time modpub recorded on this machine: the log's last commit, the newest
// finished job. Empty when nothing was written yet.
std::optional<std::pair<system_clock::time_point, std::string>> NewestWrite(
    const config::Config& cfg) {
  std::optional<std::pair<system_clock::time_point, std::string>> newest;
  auto consider = [&newest](const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return;
    auto t = system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) +
                                      std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    if (!newest || t > newest->first) newest.emplace(t, p.string());
  };
  if (cfg.sumdb.enabled && cfg.sumdb.storage.empty()) consider(fs::path(cfg.sumdb.dir) / "tree");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(cfg.spool_dir) / "done", ec)) {
    if (e.path().extension() == ".job") consider(e.path());
  }
  return newest;
}

std::string FormatUtc(system_clock::time_point t) {
  std::time_t secs = system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Finding CheckClockVsWrites(const config::Config& cfg) {
  const std::string what = "clock";
  auto newest = NewestWrite(cfg);
  if (!newest) return Good(what + " (nothing written yet to compare with)");
  const auto now = system_clock::now();
  if (now + std::chrono::seconds(2) < newest->first) {
    return Bad(Level::kFail, what,
               "the system clock says " + FormatUtc(now) + ", before " + newest->second +
                   " was written (" + FormatUtc(newest->first) + ")",
               "set the clock right (timedatectl set-ntp true) before modpub records more times");
  }
  return Good(what + " (after the newest time modpub wrote, " + FormatUtc(newest->first) + ")");
}

Finding CheckS3Clock(const std::string& url, std::chrono::milliseconds timeout,
                     std::chrono::seconds skew) {
  auto where = storage::ParseS3Url(url);
  const std::string what = "clock vs. S3 " + (where ? where->endpoint : url);
  if (!where) return Skipped(what, where.message());
  auto got = HttpGetUrl(where->endpoint, "/", timeout);
  if (!got) return Skipped(what, got.message());
  std::tm tm{};
  const char* end = ::strptime(got->date.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (got->date.empty() || !end) return Skipped(what, "the server sent no Date header");
  const auto server = system_clock::from_time_t(::timegm(&tm));
  const auto diff = std::chrono::duration_cast<std::chrono::seconds>(system_clock::now() - server);
  if (std::chrono::abs(diff) > skew) {
    return Bad(Level::kFail, what,
               "this clock is " + std::to_string(diff.count()) + " s off the server's (" +
                   got->date + "); S3 refuses signed requests beyond 15 minutes",
               "set the clock right (timedatectl set-ntp true)");
  }
  return Good(what);
}

// The keys tokens are verified with can be had from here, as modpubd would get them.
Finding CheckIdentityProvider(const http::OidcSettings& oidc) {
  const std::string what = "identity provider " + oidc.issuer;
  auto keys = http::JwtVerifier::Probe(oidc);
  if (!keys) {
    return Bad(Level::kFail, what, "no keys: " + keys.message(),
               oidc.jwks_file.empty()
                   ? "check [oidc] issuer/jwks_uri, the provider's certificate (ca_file) and "
                     "that this host may reach it; until then every token is refused"
                   : "fix jwks_file (a JSON Web Key Set), then systemctl reload modpubd");
  }
  if (*keys == 0) {
    return Bad(Level::kFail, what, "its key set holds no usable key (RSA, EC P-256, Ed25519)",
               "check the provider's signing keys; every token is refused until one is there");
  }
  return Good(what + ": " + std::to_string(*keys) + (*keys == 1 ? " key" : " keys"));
}

}  // namespace

Result<HttpAnswer> HttpGet(const std::string& listen, const std::string& path,
                           std::chrono::milliseconds timeout) {
  std::string host;
  int port = 0;
  if (!config::SplitHostPort(listen, &host, &port)) return Fail(listen + ": not host:port");
  httplib::Client client(host, port);
  return Get(client, path, timeout);
}

Result<HttpAnswer> HttpGetUrl(const std::string& origin, const std::string& path,
                              std::chrono::milliseconds timeout) {
  httplib::Client client(origin);
  if (!client.is_valid()) return Fail(origin + ": not an http(s) URL");
  return Get(client, path, timeout);
}

Findings CheckSumdb(const config::Config& cfg, std::chrono::milliseconds timeout) {
  if (!cfg.sumdb.enabled) return {};
  Findings out{CheckKeyFile(cfg)};
  std::optional<sign::Signer> signer;
  out.push_back(CheckKey(cfg, &signer));
  out.push_back(CheckLog(cfg, signer));
  out.push_back(CheckServedHead(cfg, signer, timeout));
  return out;
}

Findings CheckProxyAuth(const config::Config& cfg) {
  if (!cfg.proxy.enabled || cfg.proxy.auth_file.empty()) return {};
  const std::string what = "proxy auth file " + cfg.proxy.auth_file;
  auto auth = http::Auth::Load(cfg.proxy.auth_file);
  if (!auth) {
    return {Bad(Level::kFail, what, auth.message(),
                "fix the file (see http/auth.hpp's format), then systemctl reload modpubd")};
  }
  Findings out{Good(what)};
  if (auto oidc = (*auth)->oidc()) out.push_back(CheckIdentityProvider(*oidc));
  return out;
}

Findings CheckClock(const config::Config& cfg, std::chrono::milliseconds timeout,
                    std::chrono::seconds skew) {
  Findings out{CheckClockVsWrites(cfg)};
  std::vector<std::string> buckets;
  for (const auto& url : cfg.storage) {
    if (url.starts_with("s3://")) buckets.push_back(url);
  }
  if (cfg.sumdb.enabled && cfg.sumdb.storage.starts_with("s3://"))
    buckets.push_back(cfg.sumdb.storage);
  std::set<std::string> endpoints;
  for (const auto& url : buckets) {
    auto where = storage::ParseS3Url(url);
    if (where && !endpoints.insert(where->endpoint).second) continue;  // one check each
    out.push_back(CheckS3Clock(url, timeout, skew));
  }
  return out;
}

}  // namespace modpub::doctor
