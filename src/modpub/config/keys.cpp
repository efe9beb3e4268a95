// The key table, the rules of single values, and the rules that span keys (one
// `finish` per table). The help texts are what examples/modpub.toml says about each key.
#include "modpub/config/keys.hpp"

#include <filesystem>

#include "modpub/config/checker.hpp"
#include "modpub/module/module.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/open.hpp"

namespace modpub::config::internal {
namespace {

// ---- rules of one value ("" = fine) ----

std::string CheckAbsolute(const std::string& v) {
  // TOML strings may hold "\u0000"; no file name can, and the system would cut the path
  // there, so a later, unrelated error would be all the user saw.
  if (v.find('\0') != std::string::npos) {
    return "the path holds a NUL character (\\u0000), which no file name can contain";
  }
  if (!v.empty() && v[0] == '/') return "";
  return "\"" + v + "\" must be an absolute path";
}

std::string CheckListen(const std::string& v) {
  std::string host;
  int port = 0;
  if (v.empty() || SplitHostPort(v, &host, &port)) return "";
  // host:port in form, with a port no listener can have: say so rather than "not host:port".
  const auto colon = v.rfind(':');
  const std::string digits = colon == std::string::npos ? "" : v.substr(colon + 1);
  if (!digits.empty() && digits.size() <= 5 &&
      digits.find_first_not_of("0123456789") == std::string::npos) {
    return "\"" + v + "\": port " + digits +
           " cannot be listened on: give a port from 1 to 65535 (e.g. \"127.0.0.1:8780\")";
  }
  return "\"" + v + "\" is not host:port (e.g. \"127.0.0.1:8780\"; \"\" disables HTTP)";
}

// Syntax only: loading must not need credentials or the network (--check-config, hooks).
std::string CheckStorageUrl(const std::string& v) {
  Status st = storage::CheckUrl(v);
  return st ? "" : st.message();
}

// Syntax only, as for storage: jobs::ParseRedisQueueUrl checks the rest when modpubd starts.
std::string CheckQueueUrl(const std::string& v) {
  if (v.empty() || v.starts_with("redis://")) return "";
  return "\"" + v + "\": the queue must be a redis:// URL (or empty for the spool)";
}

// The GOPROXY endpoint serves any storage: local files directly, an S3 bucket's objects
// through a local download cache (storage/s3.hpp, "Serving").
std::string CheckServedUrl(const std::string& v) { return v.empty() ? "" : CheckStorageUrl(v); }

// The proxy's routes must not hide the daemon's own.
std::string CheckPrefix(const std::string& v) {
  if (v.empty() ||
      (v[0] == '/' && v.back() != '/' && v != "/healthz" && v != "/metrics" && v != "/hooks")) {
    return "";
  }
  return "\"" + v +
         "\" must be \"\" or \"/path\" without a trailing slash, and not /healthz, /metrics or "
         "/hooks";
}

std::string CheckSumdbName(const std::string& v) {
  if (sign::IsValidName(v)) return "";
  return "\"" + v +
         "\" is not a valid checksum database name (non-empty, no '+', no white space), e.g. "
         "\"sum.corp.example\"";
}

std::string CheckSumdbStorage(const std::string& v) {
  if (v.empty()) return "";
  if (!v.starts_with("s3://"))
    return "\"" + v + "\": must be an s3:// URL (a directory is sumdb.dir)";
  return CheckStorageUrl(v);
}

std::string CheckUpstream(const std::string& v) {
  if (v.empty()) return "";
  const auto sp = v.find(' ');
  if (sp == std::string::npos) return "\"" + v + "\": must be \"<verifier key> <url>\" (or \"\")";
  if (auto key = sign::Verifier::Parse(v.substr(0, sp)); !key) {
    return "\"" + v.substr(0, sp) + "\": not a verifier key: " + key.message();
  }
  const std::string url = v.substr(sp + 1);
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    return "\"" + url + "\": the upstream URL must be http(s)://";
  }
  return "";
}

std::string CheckHttpProxy(const std::string& v) {
  if (v.empty() || v.starts_with("http://")) return "";
  return "\"" + v + "\": must be an http://host:port proxy";
}

std::string CheckImportPath(const std::string& v) {
  Status st = module::CheckImportPath(v);
  return st ? "" : st.message();
}

// ---- rules that span keys ----

void FinishTop(Scope& s) {
  Config& cfg = s.cfg;
  if (s.WasRead("storage") && cfg.storage.empty()) {
    s.Problem(s.Where("storage"), "storage", "must name at least one storage URL");
  }
  if (cfg.socket_path.size() >= 108) {
    s.Problem(s.Where("socket"), "socket",
              "path is longer than a Unix socket address allows (107 bytes)");
  }
}

void FinishRetry(Scope& s) {
  if (s.cfg.retry.max_backoff < s.cfg.retry.initial_backoff) {
    s.Problem(s.table.source(), "max_backoff_ms", "must not be less than initial_backoff_ms");
  }
}

void FinishProxy(Scope& s) {
  Config::Proxy& proxy = s.cfg.proxy;
  proxy.enabled = true;
  proxy.line = s.Line();
  if (!s.WasRead("from") && !s.cfg.storage.empty()) proxy.from = s.cfg.storage[0];
  if (s.cfg.http_listen.empty()) {
    s.checker.Problem(s.table.source(), "proxy",
                      "the GOPROXY endpoint is served on daemon.http_listen, which is \"\" (off)");
  }
}

void FinishSumdb(Scope& s) {
  Config::Sumdb& sumdb = s.cfg.sumdb;
  sumdb.enabled = true;
  sumdb.line = s.Line();
  if (!s.WasRead("dir") && !s.cfg.state_dir.empty()) sumdb.dir = s.cfg.state_dir + "/sumdb";
}

// Records the repository's path: the line of the repository that has it already, or 0.
int ClaimPath(Scope& s) {
  auto [it, fresh] = s.repo_paths.emplace(CanonicalOrLexical(s.repo.path), s.repo.line);
  return fresh ? 0 : it->second;
}

void FinishRepository(Scope& s) {
  RepoConfig& repo = s.repo;
  repo.line = s.Line();
  if (!s.Node("path")) {
    // A mirrored remote's bare repository defaults to a directory under state_dir.
    if (!repo.remote_url.empty() && !repo.import_path.empty() && !s.cfg.state_dir.empty()) {
      std::string name = repo.import_path;
      for (char& ch : name) {
        if (ch == '/') ch = '_';
      }
      repo.path = s.cfg.state_dir + "/mirrors/" + name + ".git";
      if (int other = ClaimPath(s)) {
        s.Problem(s.Where("import_path"), "import_path",
                  "its mirror " + repo.path + " is already used by the repository at line " +
                      std::to_string(other) + " (set path)");
      }
    } else {
      s.Missing("path", "");
    }
  } else if (s.WasRead("path")) {
    if (int other = ClaimPath(s)) {
      s.Problem(s.Where("path"), "path",
                "\"" + repo.path + "\" is already configured by the repository at line " +
                    std::to_string(other));
    }
  }
  if (repo.allowed_prefixes.empty() && !repo.import_path.empty()) {
    repo.allowed_prefixes.push_back(repo.import_path);
  }
  s.cfg.repositories.push_back(std::move(repo));
}

// ---- the table ----

std::vector<Key> TopLevelKeys() {
  return {
      {.name = "",
       .kind = Kind::kTable,
       .finish = FinishTop,
       .help = "modpub configuration: read by modpubd (--config), by the git hooks that\n"
               "`modpub hook install --config` installs, and by `modpub jobs --config`.\n"
               "Check it with:  modpubd --config /etc/modpub/modpub.toml --check-config\n"
               "Every path must be absolute. Unknown keys are errors (a typo must not go\n"
               "unnoticed)."},
      {.name = "log_level",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.log_level; },
       .choices = {"trace", "debug", "info", "warn", "error", "critical", "off"},
       .help = "How much modpubd logs."},
      {.name = "storage",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.storage; },
       .check = CheckStorageUrl,
       .required = "a list of storage URLs, e.g. [\"file:///srv/goproxy\"]",
       .example = R"(["file:///srv/goproxy"])",
       .help = "Where published module versions go; every version is written to each, in order.\n"
               "  file:///abs/dir          a GOPROXY tree: GOPROXY=file:///abs/dir, or serve it\n"
               "                           over HTTP\n"
               "  athens-disk:///abs/dir   Athens's disk storage layout\n"
               "  s3://bucket/prefix?endpoint=http://host:port&region=R&layout=goproxy|athens\n"
               "                           an S3/MinIO bucket\n"
               "S3 credentials (AWS_* variables or the shared credentials file) are read when\n"
               "modpubd or a hook opens the storage; loading this file, as --check-config does,\n"
               "checks the URLs' syntax only."},
      {.name = "storage_deadline_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.storage_deadline; },
       .min = 100,
       .max = 3600000,
       .help = "The longest any one storage operation may take (ms), retries included: a\n"
               "storage that accepts connections but never answers then fails the publish,\n"
               "which is retried later (see [retry]), instead of holding a worker. s3://\n"
               "requests stop at it; a file:// or athens-disk:// operation (a hung mount) is\n"
               "left to finish on its own thread while the worker moves on. Raise it for very\n"
               "large modules on slow links: a module zip's whole upload must fit."},
      {.name = "spool_dir",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.spool_dir; },
       .check = CheckAbsolute,
       .required = "an absolute path",
       .example = R"("/var/lib/modpub/spool")",
       .help = "The durable job spool: post-receive writes one job per pushed version tag here,\n"
               "modpubd takes them out. The git users pushing must be able to write it (shared\n"
               "group, setgid)."},
      {.name = "queue",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.queue; },
       .check = CheckQueueUrl,
       .example = R"("redis://127.0.0.1:6379/0?stream=modpub:jobs&group=modpubd")",
       .commented = true,
       .help = "A cluster's shared job queue, on Redis Streams (empty: spool_dir is the queue).\n"
               "Jobs still enter through spool_dir first, durable on this machine before a push\n"
               "or webhook is answered; post-receive and modpubd then forward them to Redis\n"
               "(modpub jobs forward does it by hand), and every modpubd's workers take them\n"
               "from there. Redis must keep what it acknowledged: appendonly yes, appendfsync\n"
               "always (examples/cluster/redis.conf)."},
      {.name = "queue_claim_idle_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.queue_claim_idle; },
       .min = 1000,
       .max = 86400000,
       .help = "A job taken by a worker that has not said it is still working on it for this\n"
               "long (its node died) is taken over by another worker (ms). Workers say so\n"
               "every third of it."},
      {.name = "state_dir",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.state_dir; },
       .check = CheckAbsolute,
       .required = "an absolute path",
       .example = R"("/var/lib/modpub/state")",
       .help = "The daemon's own state (owner locks, webhook delivery ids, mirrors of hosted\n"
               "repositories, the checksum database by default); not shared with the hooks."},
      {.name = "socket",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.socket_path; },
       .check = CheckAbsolute,
       .required = "an absolute path",
       .example = R"("/run/modpub/modpubd.sock")",
       .help = "Unix datagram socket: the hook pokes it after queueing so the daemon starts at\n"
               "once (without it, the periodic scan finds the job anyway). At most 107 bytes."},
  };
}

std::vector<Key> DaemonKeys() {
  return {
      {.name = "daemon", .kind = Kind::kTable, .help = "The daemon's workers and HTTP listener."},
      {.name = "daemon.workers",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.workers; },
       .min = 1,
       .max = 64,
       .help = "Concurrent publishes."},
      {.name = "daemon.http_listen",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.http_listen; },
       .check = CheckListen,
       .help = "host:port of /healthz, /metrics (Prometheus), the webhooks and, with [proxy],\n"
               "the GOPROXY endpoint. Loopback by default; \"\" turns HTTP off."},
      {.name = "daemon.scan_interval_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.scan_interval; },
       .min = 10,
       .max = 3600000,
       .help = "Periodic spool scan (ms): picks up jobs whose wake-up was lost, due retries, and\n"
               "jobs left claimed by a daemon instance that died."},
      {.name = "daemon.reconcile_interval_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.reconcile_interval; },
       .min = 0,
       .max = 86400000,
       .help = "Reconciliation (ms), also run at start: every version tag of every [[repository]]\n"
               "that storage lacks is queued (a lost webhook, a hook that was not installed,\n"
               "a full disk), and jobs pre-receive held for a push whose post-receive never ran\n"
               "are queued or dropped. One log line and a metric per repair. 0: never."},
      {.name = "daemon.keep_done_jobs_days",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.keep_done_jobs_days; },
       .min = 0,
       .max = 36500,
       .help = "Finished jobs (spool done/) older than this many days are deleted by the daemon's\n"
               "spool scan (at most once an hour); 0 keeps them forever. Published versions\n"
               "are never affected. Failed jobs are kept until retried or removed by hand:\n"
               "each needs a person's look."},
      {.name = "retry",
       .kind = Kind::kTable,
       .finish = FinishRetry,
       .help = "A failed publish (storage down, disk full) is retried after initial_backoff_ms,\n"
               "doubling each time up to max_backoff_ms, each delay +-20% jitter; after\n"
               "max_attempts attempts the job goes to failed/ (see `modpub jobs --failed`,\n"
               "`modpub retry <job>`). A tag go could never fetch fails at once: retrying cannot\n"
               "help."},
      {.name = "retry.initial_backoff_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.retry.initial_backoff; },
       .min = 1,
       .max = 86400000,
       .help = "The first retry's delay (ms)."},
      {.name = "retry.max_backoff_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.retry.max_backoff; },
       .min = 1,
       .max = 86400000,
       .help = "The longest delay (ms); not less than initial_backoff_ms."},
      {.name = "retry.max_attempts",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.retry.max_attempts; },
       .min = 1,
       .max = 1000,
       .help = "Publish attempts of a job before it fails."},
  };
}

std::vector<Key> WebhookKeys() {
  return {
      {.name = "webhook",
       .kind = Kind::kTable,
       .help = "The webhook endpoints, POST /hooks/github, /hooks/gitlab and /hooks/gitea on\n"
               "daemon.http_listen, for repositories on a hosted server (remote_url in\n"
               "[[repository]]). Put a TLS reverse proxy in front\n"
               "(examples/nginx/modpubd-tls.conf)."},
      {.name = "webhook.max_body_bytes",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.max_body_bytes; },
       .min = 1024,
       .max = std::int64_t{1} << 30,
       .help = "A larger request body is answered 413 without being read."},
      {.name = "webhook.threads",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.threads; },
       .min = 2,
       .max = 1024,
       .help = "HTTP worker threads: they run the handlers of daemon.http_listen (webhooks,\n"
               "GOPROXY, /healthz) once a request is complete; slow clients hold none."},
      {.name = "webhook.read_timeout_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.read_timeout; },
       .min = 10,
       .max = 600000,
       .help = "The request line and headers must arrive within this total time (ms), on a\n"
               "new or a kept-alive connection, else the connection is closed; also the\n"
               "longest a response write may wait for the client to take data."},
      {.name = "webhook.body_deadline_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.body_deadline; },
       .min = 10,
       .max = 3600000,
       .help = "A request body must arrive within this total time (ms), else the request is\n"
               "answered 408 and the connection closed."},
      {.name = "webhook.max_connections",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.max_connections; },
       .min = 16,
       .max = 1000000,
       .help = "Connections open at once on daemon.http_listen; one more is answered 503\n"
               "(Connection: close), logged and counted in /metrics. modpubd raises its\n"
               "open-files limit to this + 1024 where the hard limit allows."},
      {.name = "webhook.dedupe_entries",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.dedupe_entries; },
       .min = 1,
       .max = 100000000,
       .help = "Delivery ids remembered (in state_dir), so that a redelivery queues no second\n"
               "job."},
      {.name = "webhook.fetch_timeout_ms",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.webhook.fetch_timeout; },
       .min = 100,
       .max = 86400000,
       .help = "Longest git fetch of a mirrored tag (ms); the fetch is then killed and the job\n"
               "retried."},
  };
}

std::vector<Key> ProxyKeys() {
  return {
      {.name = "proxy",
       .kind = Kind::kTable,
       .finish = FinishProxy,
       .present = [](const Config& c) { return c.proxy.enabled; },
       .commented = true,
       .help = "Optional (uncomment to enable): the GOPROXY endpoint, on daemon.http_listen\n"
               "(which must be on). It serves /<module>/@v/list|.info|.mod|.zip|.sig and\n"
               "/<module>/@latest from a storage, and the checksum database of [sumdb] at\n"
               "<prefix>/sumdb/<name>/:\n"
               "  GOPROXY=http://127.0.0.1:8780\n"
               "  GOSUMDB=\"<verifier key> http://127.0.0.1:8780/sumdb/<name>\"\n"
               "Put TLS (nginx, ...) in front of it for anything but loopback: go sends .netrc\n"
               "credentials only over https."},
      {.name = "proxy.from",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.proxy.from; },
       .check = CheckServedUrl,
       .example = R"("file:///srv/goproxy")",
       .help = "The storage served (default: the first `storage` URL). An s3:// bucket is served\n"
               "through a local cache of downloaded objects (?cache_dir=/abs/dir&cache_mib=N), so\n"
               "that every node of a cluster can answer go clients."},
      {.name = "proxy.prefix",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.proxy.prefix; },
       .check = CheckPrefix,
       .help =
           "URL path prefix: \"\" or \"/path\" without a trailing slash (not /healthz, /metrics\n"
           "or /hooks)."},
      {.name = "proxy.auth",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.proxy.auth_file; },
       .check = CheckAbsolute,
       .example = R"("/etc/modpub/auth.toml")",
       .help = "Read access (Basic/Bearer, per-module-prefix rules; see `modpub auth-hash`).\n"
               "Absent: open. Read by modpubd at start and by --check-config."},
  };
}

std::vector<Key> SumdbKeys() {
  return {
      {.name = "sumdb",
       .kind = Kind::kTable,
       .finish = FinishSumdb,
       .present = [](const Config& c) { return c.sumdb.enabled; },
       .commented = true,
       .help = "Optional (uncomment to enable): a checksum database go itself verifies, so\n"
               "private modules need no GONOSUMDB/GOPRIVATE. With it every version the daemon\n"
               "publishes is signed (@v/<v>.sig beside it) and appended to an append-only log\n"
               "before it is stored; a version whose hashes differ from the logged ones is\n"
               "refused. With daemon.http_listen the log is served at /sumdb/<name>/ (below the\n"
               "proxy prefix)."},
      {.name = "sumdb.name",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.name; },
       .check = CheckSumdbName,
       .required = "",
       .example = R"("sum.corp.example")",
       .help = "The database's name: must be the name of the key (`modpub keygen --name\n"
               "<name>`)."},
      {.name = "sumdb.signer_key",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.signer_key; },
       .check = CheckAbsolute,
       .required = "",
       .example = R"("/etc/modpub/sumdb.key")",
       .help = "The signer key file (PRIVATE+KEY+...), readable by modpubd only (mode 0600).\n"
               "Give the verifier key (<name>+<hash>+...) to go clients in GOSUMDB. Read by\n"
               "modpubd at start and by --check-config, never by the hooks."},
      {.name = "sumdb.dir",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.dir; },
       .check = CheckAbsolute,
       .example = R"("/var/lib/modpub/state/sumdb")",
       .help = "The log (records, hashes, signed tree head); default <state_dir>/sumdb. Back it\n"
               "up: go clients that saw the tree reject one rebuilt differently."},
      {.name = "sumdb.storage",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.storage; },
       .check = CheckSumdbStorage,
       .example = R"("s3://sumdb/corp?endpoint=http://minio.corp.example:9000")",
       .help = "Instead of sumdb.dir (unused when this is set): the log in a bucket, shared by "
               "every node of a cluster\n"
               "(any node may append; a conditional-write S3 orders them). Its objects are the\n"
               "database as static files (latest, tile/..., lookup/...): nginx or a CDN in front\n"
               "of the bucket can serve it. Credentials as for s3:// storage."},
      {.name = "sumdb.upstream",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.upstream; },
       .check = CheckUpstream,
       .help = "\"<verifier key> <url>\" of the public checksum database (default sum.golang.org;\n"
               "\"\" = none). A lookup of a module version the log lacks, outside the private\n"
               "prefixes, is answered from there once its signature, inclusion proof and tree\n"
               "consistency verify, and logged: go clients need only this database."},
      {.name = "sumdb.upstream_proxy",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.upstream_proxy; },
       .check = CheckHttpProxy,
       .example = R"("http://proxy.corp.example:3128")",
       .commented = true,
       .help = "HTTP proxy (http://host:port) for sumdb.upstream."},
      {.name = "sumdb.private",
       .field = [](Config& c, RepoConfig&) -> Field { return &c.sumdb.private_; },
       .check = CheckImportPath,
       .example = R"(["corp.example", "git.corp.example"])",
       .help = "Module path prefixes never sent upstream, besides every [[repository]]'s allowed\n"
               "prefixes: their unknown versions are 404. List every private prefix a node\n"
               "serves that its own repositories do not name (a serving-only node has none).\n"
               "With sumdb.upstream on and no private prefix at all, modpubd refuses to start."},
  };
}

std::vector<Key> RepositoryKeys() {
  return {
      {.name = "repository",
       .kind = Kind::kTables,
       .finish = FinishRepository,
       .example =
           "# A repository on a hosted server, published from webhook deliveries; without a\n"
           "# path, its mirror is <state_dir>/mirrors/corp.example_tools.git.\n"
           "[[repository]]\n"
           "import_path = \"corp.example/tools\"\n"
           "remote_url = \"https://git.example/corp/tools.git\"\n"
           "provider = \"github\"\n"
           "# webhook_secret = \"a long random string, the webhook's secret\"\n"
           "remote_token_file = \"/etc/modpub/tokens/tools\"\n",
       .help = "One block per repository whose version tags are published: a bare repository\n"
               "with the modpub hooks installed, or a mirror of a hosted one (remote_url)."},
      {.name = "repository.path",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.path; },
       .check = CheckAbsolute,
       .example = R"("/srv/git/lib.git")",
       .help = "The bare repository. Required, except with remote_url: the mirror is then\n"
               "<state_dir>/mirrors/<import_path with \"/\" as \"_\">.git."},
      {.name = "repository.import_path",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.import_path; },
       .check = CheckImportPath,
       .required = "",
       .example = R"("corp.example/lib")",
       .help = "Import path of the repository root:\n"
               "  tag v1.2.3     publishes corp.example/lib@v1.2.3,\n"
               "  tag sub/v0.1.0 publishes corp.example/lib/sub@v0.1.0."},
      {.name = "repository.allowed_prefixes",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.allowed_prefixes; },
       .check = CheckImportPath,
       .example = R"(["corp.example/lib"])",
       .help = "Module paths the repository may publish (element-wise prefixes); a go.mod\n"
               "declaring anything else is refused at push time. Default: [import_path]."},
      {.name = "repository.immutable_tags",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.immutable_tags; },
       .help = "true: refuse moving or deleting ANY semver tag, not only published ones."},
  };
}

// The keys of a repository on a hosted server, published from webhook deliveries.
std::vector<Key> RemoteKeys() {
  return {
      {.name = "repository.remote_url",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.remote_url; },
       .example = R"("https://git.example/corp/lib.git")",
       .commented = true,
       .help = "A hosted repository, notified by webhooks: modpubd fetches each announced tag\n"
               "from here into `path` before publishing. A delivery is matched to this block by\n"
               "this URL (or by the repository's name in it)."},
      {.name = "repository.webhook_secret",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.webhook_secret; },
       .secret = true,
       .example = R"("change-me")",
       .commented = true,
       .help = "The webhook's secret: GitHub's X-Hub-Signature-256 and Gitea's X-Gitea-Signature\n"
               "(Forgejo's X-Forgejo-Signature) are checked with it, GitLab's X-Gitlab-Token\n"
               "must equal it. Without it every delivery is refused (401)."},
      {.name = "repository.provider",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.provider; },
       .choices = {"github", "gitlab", "generic", "gitea"},
       .example = R"("github")",
       .commented = true,
       .help = "Whose deliveries may name this repository: github (POST /hooks/github), gitlab\n"
               "(POST /hooks/gitlab) or gitea (POST /hooks/gitea: Gitea and Forgejo, a fork\n"
               "that sends Gitea's payloads); generic, or no provider, accepts all three."},
      {.name = "repository.remote_token_file",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.remote_token_file; },
       .check = CheckAbsolute,
       .example = R"("/etc/modpub/tokens/lib")",
       .commented = true,
       .help = "HTTPS token for fetching remote_url, one line; sent as user oauth2 with provider\n"
               "gitlab, else as x-access-token; never logged."},
      {.name = "repository.remote_ssh_key",
       .field = [](Config&, RepoConfig& r) -> Field { return &r.remote_ssh_key; },
       .check = CheckAbsolute,
       .example = R"("/etc/modpub/keys/lib")",
       .commented = true,
       .help = "SSH private key for fetching remote_url (the host must be in modpubd's\n"
               "known_hosts)."},
  };
}

}  // namespace

std::string CanonicalOrLexical(const std::string& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (!ec) return c.string();
  return fs::absolute(p, ec).lexically_normal().string();
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> all;
    for (auto part : {TopLevelKeys, DaemonKeys, WebhookKeys, ProxyKeys, SumdbKeys, RepositoryKeys,
                      RemoteKeys}) {
      for (Key& k : part()) all.push_back(std::move(k));
    }
    return all;
  }();
  return keys;
}

std::string_view SectionOf(const Key& key) {
  auto dot = key.name.find('.');
  return dot == std::string_view::npos ? std::string_view() : key.name.substr(0, dot);
}

std::string_view LeafOf(const Key& key) {
  auto dot = key.name.find('.');
  return dot == std::string_view::npos ? key.name : key.name.substr(dot + 1);
}

std::vector<const Key*> KeysOf(std::string_view section) {
  std::vector<const Key*> out;
  for (const Key& k : Keys()) {
    if (k.kind == Kind::kValue && SectionOf(k) == section) out.push_back(&k);
  }
  return out;
}

}  // namespace modpub::config::internal
