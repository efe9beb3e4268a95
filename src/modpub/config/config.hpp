// The modpub configuration file (TOML, read with toml++), shared by modpubd, the git hooks
// (modpub-hook) and the CLI (`modpub jobs --config`).
//
// Every key is described once, in the key table (keys.hpp, keys.cpp): its name, type,
// range or accepted values, rule, and help text. Loading, the unknown-key check,
// EffectiveToml and ExampleToml are all derived from it; the defaults are the member
// initializers below. File layout (examples/modpub.toml is the commented reference):
//
//   log_level = "info"                       # trace|debug|info|warn|error|critical|off
//   storage   = ["file:///srv/goproxy"]      # storage URLs (storage/open.hpp), >= 1
//   storage_deadline_ms = 30000              # each storage operation's overall budget
//   spool_dir = "/var/lib/modpub/spool"      # durable job spool (jobs/spool.hpp)
//   state_dir = "/var/lib/modpub/state"      # daemon state (owner locks, caches, mirrors)
//   socket    = "/run/modpub/modpubd.sock"   # Unix datagram socket the hooks poke
//
//   [daemon]
//   workers          = 2                     # 1..64 concurrent publishes
//   http_listen      = "127.0.0.1:8780"      # host:port of /healthz, /metrics, /hooks/*
//                                            #   and [proxy]; "" = off
//   scan_interval_ms = 2000                  # periodic spool scan besides the socket wake-up
//   reconcile_interval_ms = 600000           # tags vs storage, queue what is missing; 0 = off
//   keep_done_jobs_days = 30                 # delete finished jobs older than this; 0 = keep
//
//   [retry]
//   initial_backoff_ms = 1000                # first retry delay; doubles per attempt,
//   max_backoff_ms     = 300000              #   capped here, with +-20% jitter
//   max_attempts       = 8                   # attempts before a job goes to failed/
//
//   [webhook]                                # POST /hooks/github, /hooks/gitlab, /hooks/gitea
//   max_body_bytes   = 5242880               # larger bodies: 413, not read
//   threads          = 32                    # HTTP handler threads (slow clients hold none)
//   read_timeout_ms  = 5000                  # request line + headers: total deadline
//   body_deadline_ms = 10000                 # a body: total deadline, else 408
//   max_connections  = 10000                 # one more: 503, Connection: close
//   dedupe_entries   = 100000                # delivery ids remembered (state_dir)
//   fetch_timeout_ms = 300000                # git fetch of a mirrored tag
//
//   [proxy]                                  # GOPROXY endpoint on http_listen
//   from   = "file:///srv/goproxy"           # local storage served; default storage[0]
//   prefix = ""                              # "" or "/path" (no trailing slash)
//   auth   = "/etc/modpub/auth.toml"         # http/auth.hpp file; absent = no auth
//
//   [sumdb]                                  # checksum database
//   name       = "sum.corp.example"          # the database's name (= the key's name)
//   signer_key = "/etc/modpub/sumdb.key"     # `modpub keygen` signer key file
//   dir        = "/var/lib/modpub/state/sumdb"  # the log; default <state_dir>/sumdb
//   # Every version the daemon publishes is then signed (@v/<v>.sig) and appended to the
//   # log; with http_listen the log is served at /sumdb/<name>/ (below the proxy prefix).
//
//   [[repository]]                           # one table per repository
//   path             = "/srv/git/lib.git"    # the bare repository
//   import_path      = "corp.example/lib"    # import path of the repository root
//   allowed_prefixes = ["corp.example/lib"]  # module paths the repo may publish;
//                                            #   default: [import_path]
//   immutable_tags   = false                 # refuse moving/deleting ANY semver tag
//   # A hosted repository, published from webhook deliveries (webhook/service.hpp) after
//   # the tag is fetched into a bare mirror (mirror/mirror.hpp):
//   remote_url       = "https://git.example/corp/lib.git"
//   webhook_secret   = "..."                 # checks each delivery's signature/token
//   provider         = "github"              # github | gitlab | gitea (Gitea and
//                                            #   Forgejo): only that route's deliveries;
//                                            #   generic (= absent): all three
//   remote_token_file = "/etc/modpub/lib.token"  # HTTPS token for fetching (never logged)
//   remote_ssh_key    = "/etc/modpub/lib.key"    # SSH key for fetching
//   # With remote_url set, `path` may be left out: the bare mirror is then
//   # <state_dir>/mirrors/<import_path with "/" as "_">.git (mirror/mirror.hpp).
//
// Rules (all checked by LoadConfig, each error naming "<file>:<line>:<column>: <key>: ...";
// a required top-level key that is missing has no position: "<file>: <key>: ..."):
//  * unknown keys and wrong types are errors (a typo must not silently change behaviour);
//  * every path (spool_dir, state_dir, socket, repository.path, proxy.auth, sumdb.*,
//    the remote_* files) must be absolute; socket at most 107 bytes;
//  * storage URLs must be well-formed (storage::CheckUrl: syntax only, so that checking a
//    file needs neither credentials nor the network); import paths and prefixes must be
//    valid module paths; two repositories may not name the same path (or mirror);
//  * [proxy] needs daemon.http_listen and a local storage URL (file://, athens-disk://);
//    [sumdb] needs `name` (a valid note name) and `signer_key`. The key and auth FILES
//    are not read here (the hooks load this file too, and must not need the private
//    key): modpubd reads them at start and at --check-config;
//  * defaults: log_level "info", workers 2, http_listen "127.0.0.1:8780",
//    scan_interval_ms 2000, retry 1000/300000/8; storage, spool_dir, state_dir and socket
//    are required.
// Nothing is created on disk by loading.
//
// The example rule: examples/modpub.toml must equal ExampleToml() byte for byte, load
// as it is, and load with every commented-out key and table put back in
// (tests/unit/config_table_test.cpp; with MODPUB_WRITE_EXAMPLE=1 set, that test rewrites
// the file from the table first). To change the example, change the key table.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::config {

struct RepoConfig {
  std::string path;         // absolute path of the bare repository, as written
  std::string import_path;  // import path of the repository root
  // Module path prefixes this repository may publish, matched element-wise: prefix
  // "corp.example/lib" allows "corp.example/lib" and "corp.example/lib/v2", not
  // "corp.example/library". Never empty after loading (defaults to {import_path}).
  std::vector<std::string> allowed_prefixes;
  bool immutable_tags = false;  // refuse moving or deleting any semver tag
  // A hosted repository published from webhook deliveries; all empty when absent.
  std::string remote_url;         // fetched into `path` (mirror/mirror.hpp)
  std::string webhook_secret;     // checks each delivery (webhook/service.hpp)
  std::string provider;           // "", "generic", "github", "gitlab" or "gitea"
  std::string remote_token_file;  // credentials for fetching remote_url
  std::string remote_ssh_key;
  int line = 0;  // line of the [[repository]] table in the file, for messages

  // True when `module_path` is one of allowed_prefixes or below one (element-wise).
  bool AllowsModule(std::string_view module_path) const;
  bool operator==(const RepoConfig&) const = default;
};

struct RetryPolicy {
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{300000};
  int max_attempts = 8;  // total publish attempts of a job before it fails (>= 1)
};

struct Config {
  std::string source;  // the file it was loaded from
  std::string log_level = "info";
  std::vector<std::string> storage;  // storage URLs, in order
  // Each storage operation's overall budget (storage/deadline.hpp); keep in step with
  // storage::kDefaultDeadline.
  std::chrono::milliseconds storage_deadline{30000};
  std::string spool_dir;
  // The cluster job queue (jobs/redis_queue.hpp): "redis://…"; "" = the spool is the queue.
  std::string queue;
  std::chrono::milliseconds queue_claim_idle{60000};  // take over jobs idle this long
  std::string state_dir;
  std::string socket_path;
  int workers = 2;
  std::string http_listen = "127.0.0.1:8780";  // host:port, or "" for no HTTP server
  std::chrono::milliseconds scan_interval{2000};
  std::chrono::milliseconds reconcile_interval{600000};  // 0: never (not even at start)
  int keep_done_jobs_days = 30;                          // spool done/ retention; 0: forever
  RetryPolicy retry;
  std::vector<RepoConfig> repositories;
  // The webhook endpoints and the fetches into mirrors ([webhook] table).
  struct Webhook {
    std::int64_t max_body_bytes = 5 * 1024 * 1024;
    int threads = 32;
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds body_deadline{10000};
    std::int64_t max_connections = 10000;
    std::int64_t dedupe_entries = 100000;
    std::chrono::milliseconds fetch_timeout{300000};
  } webhook;
  // The GOPROXY endpoint on the daemon's HTTP listener ([proxy] table).
  struct Proxy {
    bool enabled = false;   // the table is present
    std::string from;       // storage URL served; defaults to storage[0]
    std::string prefix;     // "" or "/path"
    std::string auth_file;  // absolute path, or "" for no auth
    int line = 0;           // line of the table, for messages
  } proxy;
  // The checksum database ([sumdb] table): sign + log every published version.
  // sum.golang.org's verifier key (cmd/go's knownGOSUMDB) and URL.
  static constexpr std::string_view kSumGolangOrg =
      "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 "
      "https://sum.golang.org";
  struct Sumdb {
    bool enabled = false;    // the table is present
    std::string name;        // must equal the signer key's name
    std::string signer_key;  // absolute path of the signer key file
    std::string dir;         // the log's state directory; defaults to <state_dir>/sumdb
    std::string storage;     // or a bucket all nodes share (s3://…); "" = the directory
    // Public modules' records come verified from this database ("<key> <url>"; "" = none).
    std::string upstream = std::string(kSumGolangOrg);
    std::string upstream_proxy;         // http://host:port, or ""
    std::vector<std::string> private_;  // never asked upstream (with the repositories')
    int line = 0;
  } sumdb;

  // The repository entry for the bare repository at `repo_path` (as a hook sees it: often
  // "." or a path through symlinks), comparing canonical paths (realpath); falls back to
  // lexical comparison of absolute paths for entries whose path does not exist. nullptr
  // when the repository is not configured.
  const RepoConfig* FindRepo(const std::string& repo_path) const;
};

// Reads and validates the file. Errors name the file, line and key, one problem per line
// (all problems found, not only the first).
Result<Config> LoadConfig(const std::string& path);

// Same, from text; `source_name` is used in messages (and as Config::source).
Result<Config> ParseConfig(std::string_view text, const std::string& source_name);

// "host:port" split; false when malformed (port 1..65535; "[::1]:80" accepted).
bool SplitHostPort(const std::string& listen, std::string* host, int* port);

// A running daemon's configuration as SIGHUP may replace it while workers and webhook
// handlers read it (modpubd replaces the [[repository]] tables; every other setting takes
// a restart). A reader takes one snapshot per unit of work (a job, a delivery, a pass) and
// keeps it, so a RepoConfig it found stays valid while it works; Set never blocks a reader
// for longer than a pointer copy.
class LiveConfig {
 public:
  explicit LiveConfig(Config cfg) : cfg_(std::make_shared<const Config>(std::move(cfg))) {}
  std::shared_ptr<const Config> Get() const {
    std::lock_guard lock(mu_);
    return cfg_;
  }
  void Set(Config cfg) {
    auto next = std::make_shared<const Config>(std::move(cfg));
    std::lock_guard lock(mu_);
    cfg_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Config> cfg_;
};

// The commented reference configuration (examples/modpub.toml): every key of the table,
// in order, each after its help text and rules as comments, with its default value (or
// an example value where there is no fixed default). Optional tables ([proxy], [sumdb])
// and optional repository keys are commented out.
std::string ExampleToml();

// `cfg` as TOML, every key with the value in effect (defaults and derived defaults
// filled in), for `modpubd --check-config` to show what it will run with. Optional
// tables appear only when present; empty strings whose default is empty are left out;
// secrets (webhook_secret) are never printed, only that they are set. Loading the output
// gives the same configuration, but for the secrets, `source` and the line numbers.
std::string EffectiveToml(const Config& cfg);

}  // namespace modpub::config
