// `modpub doctor`: checks everything an installation needs, from the configuration file
// to the clock, and says for each problem what to do.
//
// Each check is a function of its own returning Findings (one line each for the user):
// the thing checked, and for a problem what is wrong and what to do next. A check that
// cannot run because an earlier one failed (hooks of a repository that does not exist,
// everything after a configuration that does not load) is kSkipped, naming why.
//
// What is checked (Run, in this order):
//  * the configuration loads (config::LoadConfig; every problem listed);
//  * each [[repository]]: the path is a bare git repository with modpub's pre-receive and
//    post-receive hooks (receive/install.hpp's shims), executable, whose modpub-hook
//    exists and which pass the same --config; a webhook mirror (remote_url) instead: the
//    mirror directory, if fetched yet, is a bare repository, and webhook_secret is set;
//  * spool_dir and state_dir: directories this process may write; a spool that git users
//    write into (any repository with hooks) group-writable with the setgid bit, in the
//    group of the repositories (kWarn when that differs);
//  * socket: a socket a datagram reaches (jobs::Poke), i.e. modpubd runs;
//  * the daemon: GET /healthz on daemon.http_listen answers 200 within the timeout;
//  * each storage takes a probe object (Backend::Probe: created, read back, deleted);
//  * [sumdb]: the signer key file (mode 0600 or stricter; owned by the daemon's user,
//    else kWarn), the key (a signer key named sumdb.name), the log (opens, its stored
//    tiles hash to its latest tree, it is bound to this key), and the tree head the daemon
//    serves verifies with the key;
//  * [proxy] auth: the file loads (http::Auth); with [oidc], the identity provider's keys
//    can be had from this host (http::JwtVerifier::Probe: the file, or discovery and
//    fetch over HTTPS with the configured CA) and hold at least one usable key;
//  * the clock: not before the newest time modpub wrote (the log's last commit, the newest
//    finished job), and within 5 minutes of each S3 server's Date header.
// Nothing is changed, but for the storage probes, which leave nothing behind.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"

namespace modpub::doctor {

enum class Level { kOk, kWarn, kFail, kSkipped };
std::string_view LevelName(Level level);  // "ok", "warn", "fail", "skipped"

struct Finding {
  Level level = Level::kOk;
  std::string what;     // the thing checked, e.g. "spool_dir /var/lib/modpub/spool"
  std::string problem;  // not kOk: what is wrong (kSkipped: why the check did not run)
  std::string advice;   // kWarn, kFail: what to do next
};
using Findings = std::vector<Finding>;

struct Options {
  std::string config_path;
  // The template `modpub hook install` writes hooks from (hooks/shim.sh.inc): an installed
  // hook that is not this template's text was written by an earlier modpub.
  std::string shim_template;
  std::chrono::milliseconds http_timeout{2000};  // /healthz, the served tree head, S3 Date
  std::chrono::seconds clock_skew{300};          // most an S3 server's clock may differ
};

// Every check below, in order, with the skipping rules.
Findings Run(const Options& options);

struct Summary {
  int ok = 0, warnings = 0, failed = 0, skipped = 0;
  bool healthy() const { return failed == 0; }  // warnings do not fail the installation
};
Summary Summarize(const Findings& findings);

// --- the checks, each usable alone -------------------------------------------------------
Finding CheckConfig(const std::string& path, const Result<config::Config>& cfg);
// The repository, then its hooks (or, for a mirror, the mirror and its secret).
Findings CheckRepository(const config::Config& cfg, const config::RepoConfig& repo,
                         const std::string& shim_template);
Findings CheckDirectories(const config::Config& cfg);
Finding CheckSocket(const config::Config& cfg);
Finding CheckDaemon(const config::Config& cfg, std::chrono::milliseconds timeout);
Finding CheckStorage(const config::Config& cfg, const std::string& url);
// [sumdb]; nothing when it is not configured.
Findings CheckSumdb(const config::Config& cfg, std::chrono::milliseconds timeout);
// [proxy] auth; nothing when it is not configured.
Findings CheckProxyAuth(const config::Config& cfg);
Findings CheckClock(const config::Config& cfg, std::chrono::milliseconds timeout,
                    std::chrono::seconds skew);

}  // namespace modpub::doctor
