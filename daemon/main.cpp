// modpubd: the publishing daemon. Wiring only: configuration, logging, signals, the
// wake-up socket, systemd notification and the HTTP server around jobs::Runner, which
// does the work (src/modpub/jobs/runner.hpp).
//
//   modpubd --config <toml>                 run (Type=notify under systemd)
//   modpubd --config <toml> --check-config  validate the file, explain every problem
//                                           (syntax, rules, the key/auth files it names;
//                                           not the installation: see `modpub doctor`)
//   modpubd --version                       the version, needing no configuration
//
// Exit status: 0 = stopped by SIGTERM/SIGINT (or configuration valid), 1 = invalid
// configuration, 2 = cannot start (no --config; spool, socket or port unusable).
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "modpub/admin/admin.hpp"
#include "modpub/config/config.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/fsio/env.hpp"
#include "modpub/http/jwt_verifier.hpp"
#include "modpub/http/metrics.hpp"
#include "modpub/http/proxy.hpp"
#include "modpub/http/routes.hpp"
#include "modpub/http/server.hpp"
#include "modpub/jobs/reconcile.hpp"
#include "modpub/jobs/runner.hpp"
#include "modpub/jobs/wake_socket.hpp"
#include "modpub/modzip/modzip.hpp"
#include "modpub/status/render.hpp"
#include "modpub/status/status.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/webhook/service.hpp"

namespace {

using namespace modpub;

constexpr int kExitBadConfig = 1;
constexpr int kExitCannotStart = 2;

// "<file>:<line>: <key>: <what>", like the configuration's own messages.
std::string At(const config::Config& cfg, int line, const std::string& key,
               const std::string& what) {
  return cfg.source + ":" + std::to_string(line) + ": " + key + ": " + what;
}

// What [proxy] and [sumdb] ask the HTTP server to open; nullopt when neither is set.
std::optional<http::ProxySettings> ProxySettingsOf(const config::Config& cfg) {
  if (!cfg.proxy.enabled && !cfg.sumdb.enabled) return std::nullopt;
  http::ProxySettings settings;
  settings.from = cfg.proxy.enabled ? cfg.proxy.from : cfg.storage.front();
  settings.prefix = cfg.proxy.prefix;
  if (cfg.proxy.enabled) settings.auth_file = cfg.proxy.auth_file;
  if (cfg.sumdb.enabled) {
    settings.sumdb_log = cfg.sumdb.storage.empty() ? cfg.sumdb.dir : cfg.sumdb.storage;
    settings.upstream = cfg.sumdb.upstream;
    settings.upstream_proxy = cfg.sumdb.upstream_proxy;
    if (!cfg.state_dir.empty()) settings.upstream_state = cfg.state_dir + "/sumdb-upstream-latest";
    settings.private_prefixes = cfg.sumdb.private_;
    for (const auto& repo : cfg.repositories) {
      settings.private_prefixes.insert(settings.private_prefixes.end(),
                                       repo.allowed_prefixes.begin(), repo.allowed_prefixes.end());
    }
    settings.sumdb_key = cfg.sumdb.signer_key;
  }
  return settings;
}

// Checks what the configuration names but does not read ([sumdb] signer key, [proxy]
// auth file, the log's state): readable, well-formed, consistent. Writes nothing.
Status CheckServiceFiles(const config::Config& cfg) {
  auto settings = ProxySettingsOf(cfg);
  if (!settings) return Ok();
  std::string problems;
  for (const auto& p : http::CheckProxyFiles(*settings, cfg.sumdb.name)) {
    const int line = p.setting.rfind("sumdb.", 0) == 0 ? cfg.sumdb.line : cfg.proxy.line;
    problems += (problems.empty() ? "" : "\n") + At(cfg, line, p.setting, p.what);
  }
  if (!problems.empty()) return Fail(problems);
  return Ok();
}

void PrintLines(std::ostream& out, const std::string& prefix, const std::string& text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    out << prefix << text.substr(start, nl - start) << "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

// What --check-config does not look at, said after its verdict (on stderr: stdout is the
// effective configuration, TOML).
void PointToDoctor(const std::string& path) {
  std::cerr << "modpubd: --check-config checks the file alone (and the key and auth files it "
               "names), not the installation; for repositories, hooks, directories, the daemon "
               "and the storages run: modpub doctor --config "
            << path << "\n";
}

int CheckConfig(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  Status files = cfg ? CheckServiceFiles(*cfg) : Status(Ok());
  PointToDoctor(path);
  if (!cfg || !files) {
    PrintLines(std::cerr, "modpubd: ", cfg ? files.message() : cfg.message());
    std::cerr << "modpubd: " << path << ": invalid configuration (see examples/modpub.toml)\n";
    return kExitBadConfig;
  }
  const auto n = [](std::size_t k, const char* one, const char* many) {
    return std::to_string(k) + " " + (k == 1 ? one : many);
  };
  std::cout << path << ": OK: " << n(cfg->repositories.size(), "repository", "repositories") << ", "
            << n(cfg->storage.size(), "storage", "storages") << ", "
            << n(static_cast<std::size_t>(cfg->workers), "worker", "workers") << ", spool "
            << cfg->spool_dir << ", socket " << cfg->socket_path << ", HTTP "
            << (cfg->http_listen.empty() ? "off" : cfg->http_listen)
            << (cfg->proxy.enabled ? ", GOPROXY " + cfg->proxy.from : "")
            << (cfg->sumdb.enabled ? ", checksum database " + cfg->sumdb.name : "") << "\n";
  std::cout << config::EffectiveToml(*cfg);  // every key with the value in effect
  return 0;
}

// Everything a running daemon holds. Members are destroyed in reverse order: the HTTP
// server before the webhook service its handlers call, both before the runner.
struct Daemon {
  http::Metrics metrics;
  std::unique_ptr<jobs::Runner> runner;
  std::unique_ptr<jobs::Reconciler> reconciler;
  std::unique_ptr<jobs::WakeSocket> wake;
  std::unique_ptr<webhook::Service> webhooks;
  std::unique_ptr<status::Model> status;  // GET / and /api/status (the server's handlers read it)
  jobs::Signing signing;                  // [sumdb]: the workers' and the backfills' signer and log
  std::unique_ptr<admin::BackfillRuns> backfills;  // POST /api/backfill (the handlers call it)
  std::unique_ptr<http::Server> server;
  std::shared_ptr<http::Auth> auth;          // the GOPROXY endpoint's, when it has one (SIGHUP)
  std::shared_ptr<config::LiveConfig> live;  // what SIGHUP replaces: the repositories
};

jobs::RunnerObserver MetricsObserver(http::Metrics& metrics) {
  jobs::RunnerObserver observer;
  observer.job = [&metrics](const std::string& r) { metrics.CountJob(r); };
  observer.module_version = [&metrics](const std::string& o) { metrics.CountModuleVersion(o); };
  observer.publish_duration = [&metrics](double s) { metrics.ObservePublish(s); };
  observer.error = [&metrics](const std::string& m) { metrics.SetLastError(m); };
  return observer;
}

// The status page's model follows what the runner settles. `d.status` is set (StartHttp)
// before the runner starts and kept until its workers have stopped.
void FollowJobs(jobs::RunnerObserver& observer, Daemon& d) {
  observer.settled = [&d](const jobs::Job& job, const std::string& result) {
    if (d.status) d.status->Settled(job, result);
  };
}

// GET / and GET /api/status (status/render.hpp) from the model's current snapshot: no
// storage or spool is listed per request.
std::vector<http::RouteSet::Page> StatusPages(const config::Config& cfg, Daemon& d) {
  status::PageContext base;
  base.daemon_version = MODPUB_VERSION;
  base.started = status::Clock::now();
  base.proxy = cfg.proxy.enabled;
  base.proxy_prefix = cfg.proxy.prefix;
  const bool filtered = d.auth != nullptr;
  auto page = [&model = *d.status, base, filtered](bool json) {
    return [&model, base, filtered, json](const http::Request&, http::Response& res,
                                          const http::RouteSet::Readable& readable) {
      auto snapshot = model.Get();
      status::PageContext now = base;
      now.now = status::Clock::now();
      std::optional<status::Snapshot> visible;
      if (filtered) visible = status::Visible(*snapshot, readable);
      const status::Snapshot& shown = visible ? *visible : *snapshot;
      res.set_header("Cache-Control", "no-store");
      if (json) return res.set_content(status::RenderJson(shown, now), "application/json");
      res.set_content(status::RenderHtml(shown, now), "text/html; charset=utf-8");
    };
  };
  return {{"/", page(false)}, {"/api/status", page(true)}};
}

// The status page's model: the storage [proxy] serves (else the first), the jobs of the
// spool or of the cluster queue, the queue depth /metrics reports.
Status StartStatus(const config::Config& cfg, Daemon& d) {
  status::Sources sources;
  sources.storage_url = cfg.proxy.enabled ? cfg.proxy.from : cfg.storage.front();
  storage::OpenOptions open;
  open.deadline = cfg.storage_deadline;
  auto backend = storage::OpenBackend(sources.storage_url, open);
  if (!backend) return Fail("status page: " + backend.message());
  sources.storage = std::move(*backend);
  sources.config = [live = d.live] { return live->Get(); };
  if (cfg.queue.empty()) {
    sources.jobs = status::SpoolJobs(d.runner->spool());
    sources.queue_depth = [&spool = d.runner->spool(),
                           w = d.webhooks.get()]() -> Result<std::int64_t> {
      auto depth = spool.QueueDepth();
      if (!depth) return depth.error();
      return static_cast<std::int64_t>(*depth + w->IntakeBacklog());
    };
  } else {
    auto cluster = status::ClusterJobs(cfg.queue);
    if (!cluster) return Fail("status page: " + cluster.message());
    sources.jobs = std::move(*cluster);
    sources.queue_depth = [r = d.runner.get()]() -> Result<std::int64_t> {
      auto depth = r->ClusterDepth();
      if (!depth) return depth.error();
      return depth->queued + depth->pending + depth->delayed;
    };
  }
  d.status = std::make_unique<status::Model>(std::move(sources));
  d.status->Start();
  return Ok();
}

// /metrics' waiting jobs: queue/, plus what the webhook intake still holds in its journal
// (a burst waits there; queue/ is kept short).
void CountQueueDepth(Daemon& d) {
  d.metrics.SetQueueDepthSource([&spool = d.runner->spool(), w = d.webhooks.get()]() -> long {
    auto depth = spool.QueueDepth();
    if (!depth) return -1;
    return static_cast<long>(*depth + w->IntakeBacklog());
  });
}

// Cluster: the shared queue's backlog at every scrape (one Redis round trip per series).
std::string RenderClusterQueue(jobs::Runner& runner) {
  auto depth = runner.ClusterDepth();
  std::string out =
      "# HELP modpub_cluster_queue_up Whether the cluster queue (Redis) answered.\n"
      "# TYPE modpub_cluster_queue_up gauge\n";
  out += std::string("modpub_cluster_queue_up ") + (depth ? "1" : "0") + "\n";
  if (!depth) return out;
  out +=
      "# HELP modpub_cluster_queue_jobs Jobs in the cluster queue, by state.\n"
      "# TYPE modpub_cluster_queue_jobs gauge\n";
  for (const auto& [state, n] : {std::pair{"queued", depth->queued},
                                 {"pending", depth->pending},
                                 {"delayed", depth->delayed},
                                 {"dead", depth->dead}}) {
    out += std::string("modpub_cluster_queue_jobs{state=\"") + state + "\"} " + std::to_string(n) +
           "\n";
  }
  return out;
}

// The HTTP server's limits, from [webhook] (the listener's table since the webhooks came).
http::ServerOptions ServerOptionsOf(const config::Config& cfg) {
  http::ServerOptions o;
  o.worker_threads = cfg.webhook.threads;
  o.header_deadline = cfg.webhook.read_timeout;
  o.body_deadline = cfg.webhook.body_deadline;
  o.write_timeout = cfg.webhook.read_timeout;
  o.max_body_bytes = static_cast<std::uint64_t>(cfg.webhook.max_body_bytes);
  o.max_connections = static_cast<std::size_t>(cfg.webhook.max_connections);
  return o;
}

// The admin API's: the spool, the cluster queue (a connection of its own, made at the
// first retry), the workers' wake-up, and the backfill runs with the workers' signer and log.
Result<admin::Options> AdminOptions(const config::Config& cfg, Daemon& d) {
  admin::Options o{d.auth, &d.runner->spool(), nullptr, [r = d.runner.get()] { r->Wake(); }};
  if (!cfg.queue.empty()) {
    auto url = jobs::ParseRedisQueueUrl(cfg.queue);
    if (!url) return Fail(url.message() + " (queue in " + cfg.source + ")");
    auto q = jobs::RedisQueue::Open(*url, {"modpubd-admin"});
    if (!q) return q.error();
    o.cluster = std::move(*q);
  }
  d.backfills = std::make_unique<admin::BackfillRuns>(admin::BackfillRuns::Sources{
      [live = d.live] { return live->Get(); }, d.signing.signer, d.signing.log, {}});
  o.backfills = d.backfills.get();
  return o;
}

// The HTTP listener: /healthz, /metrics, the webhooks and, when configured, the GOPROXY
// endpoint and the checksum database (http::MountRoutes).
Status StartHttp(const config::Config& cfg, Daemon& d, std::optional<http::ProxyConfig> proxy) {
  std::string host;
  int port = 0;
  config::SplitHostPort(cfg.http_listen, &host, &port);
  const jobs::Spool& spool = d.runner->spool();
  d.server = std::make_unique<http::Server>(
      d.metrics,
      [&spool]() -> Status {
        auto depth = spool.QueueDepth();
        return depth ? Status(Ok()) : Status(depth.error());
      },
      ServerOptionsOf(cfg));
  auto hooks = webhook::Service::Create(cfg, [r = d.runner.get()] { r->Wake(); });
  if (!hooks) return hooks.error();
  d.webhooks = std::move(*hooks);
  d.webhooks->UseLiveConfig(d.live);
  d.metrics.AddSeriesSource([w = d.webhooks.get()] { return w->RenderMetrics(); });
  if (!cfg.queue.empty()) {
    d.metrics.AddSeriesSource([r = d.runner.get()] { return RenderClusterQueue(*r); });
  }
  if (proxy && proxy->upstream) {
    d.metrics.AddSeriesSource([u = proxy->upstream] { return u->RenderMetrics(); });
  }
  if (auto s = StartStatus(cfg, d); !s) return s;
  http::RouteSet routes;
  routes.pages = StatusPages(cfg, d);
  auto admin = AdminOptions(cfg, d);
  if (!admin) return admin.error();
  routes.extra = [w = d.webhooks.get(), admin = *admin](http::Router& router) {
    w->Mount(router);
    admin::Mount(router, admin);
  };
  routes.extra_names =
      std::string("/hooks/github, /hooks/gitlab, /hooks/gitea, ") + admin::kRouteNames;
  routes.proxy = std::move(proxy);
  routes.serve_modules = cfg.proxy.enabled;
  routes.modules_from = cfg.proxy.from;
  const std::string names = http::MountRoutes(*d.server, routes);
  CountQueueDepth(d);  // before the first /metrics can be asked
  // One descriptor per connection, plus what the runner and the spool use.
  const std::uint64_t wanted = static_cast<std::uint64_t>(cfg.webhook.max_connections) + 1024;
  if (std::uint64_t limit = http::RaiseOpenFileLimit(wanted); limit < wanted) {
    spdlog::warn(
        "open files limited to {} (RLIMIT_NOFILE), below webhook.max_connections {} + "
        "1024: raise LimitNOFILE",
        limit, cfg.webhook.max_connections);
  }
  if (auto s = d.server->Start(host, port); !s) return s;
  spdlog::info("HTTP on http://{}:{} ({})", host, d.server->port(), names);
  return Ok();
}

// Opens the runner, its signer and checksum database log, the HTTP server and the wake-up
// socket: everything that must work before the daemon says it is ready.
Status Open(const config::Config& cfg, Daemon& d) {
  if (auto s = fsio::MakeDirs(cfg.state_dir); !s) return Fail("state directory: " + s.message());
  // The signer and log every publish uses, and the GOPROXY endpoint: opened once, shared
  // by the workers and the HTTP handlers.
  std::optional<http::ProxyConfig> proxy;
  jobs::Signing signing;
  if (auto settings = ProxySettingsOf(cfg)) {
    auto opened = http::OpenProxy(*settings);
    if (!opened) return opened.error();
    signing = {opened->signer, opened->log};
    d.signing = signing;
    d.auth = opened->auth;
    proxy = std::move(*opened);
  }
  auto observer = MetricsObserver(d.metrics);
  FollowJobs(observer, d);
  auto runner = jobs::Runner::Create(cfg, std::move(observer), signing);
  if (!runner) return runner.error();
  d.runner = std::move(*runner);
  d.live = std::make_shared<config::LiveConfig>(cfg);
  d.runner->UseLiveConfig(d.live);
  d.reconciler = std::make_unique<jobs::Reconciler>(cfg, d.runner->spool(),
                                                    [r = d.runner.get()] { r->Wake(); });
  d.reconciler->UseLiveConfig(d.live);
  d.metrics.AddSeriesSource([rc = d.reconciler.get()] { return rc->RenderMetrics(); });
  auto wake = jobs::WakeSocket::Bind(cfg.socket_path);
  if (!wake) return wake.error();
  d.wake = std::move(*wake);
  if (!cfg.http_listen.empty()) {
    if (auto s = StartHttp(cfg, d, std::move(proxy)); !s) return s;
  }
  return Ok();
}

// The settings whose effective TOML lines differ between `a` and `b` ("daemon.workers",
// "[[repository]]"), in b's order.
std::vector<std::string> ChangedSettings(const config::Config& a, const config::Config& b) {
  auto lines = [](const config::Config& c) {
    std::vector<std::pair<std::string, std::string>> out;  // (table, line)
    std::istringstream in(config::EffectiveToml(c));
    std::string table;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      if (line[0] == '[') {
        table = line;
        continue;
      }
      out.emplace_back(table, line);
    }
    return out;
  };
  const auto old_lines = lines(a);
  std::vector<std::string> changed;
  for (const auto& [table, line] : lines(b)) {
    if (std::find(old_lines.begin(), old_lines.end(), std::pair(table, line)) != old_lines.end())
      continue;
    std::string name = table.starts_with("[[") ? table : "";
    if (name.empty()) {
      std::string key = line.substr(0, line.find_first_of(" ="));
      name = table.empty() ? key : table.substr(1, table.size() - 2) + "." + key;
    }
    if (std::find(changed.begin(), changed.end(), name) == changed.end()) changed.push_back(name);
  }
  return changed;
}

// SIGHUP: what can change under a running daemon is applied at once -- the log level, the
// [[repository]] tables (workers, webhooks and reconciliation read them per job, delivery
// and pass: config::LiveConfig) and the GOPROXY endpoint's auth file (read again) --; every
// other setting that differs from the running configuration is named in the log, to take
// effect at the next restart.
void Reload(const std::string& path, const config::Config& running, Daemon& d) {
  sd_notify(0, "RELOADING=1");
  auto fresh = config::LoadConfig(path);
  if (!fresh) {
    spdlog::error("SIGHUP: {} does not load; the running configuration stays: {}", path,
                  fresh.message());
  } else {
    const auto level = spdlog::level::from_str(fresh->log_level);
    if (level != spdlog::get_level()) {
      spdlog::set_level(level);
      spdlog::warn("SIGHUP: log_level is now {}", fresh->log_level);
    }
    if (d.auth) {
      auto n = d.auth->Reload();
      if (n) {
        spdlog::info("SIGHUP: reloaded {}: {} user(s) and token(s)", running.proxy.auth_file, *n);
        if (auto st = http::AttachJwtVerifier(*d.auth); !st) {
          spdlog::error("SIGHUP: [oidc]: {}; the token verifier in effect stays", st.message());
        }
      }
      if (!n) spdlog::error("SIGHUP: {}; the credentials in effect stay", n.message());
    }
    const auto before = d.live->Get();
    if (before->repositories != fresh->repositories) {
      config::Config next = *before;
      next.repositories = fresh->repositories;
      d.live->Set(std::move(next));
      spdlog::warn("SIGHUP: [[repository]] reloaded: {} repositor{} (was {})",
                   fresh->repositories.size(), fresh->repositories.size() == 1 ? "y" : "ies",
                   before->repositories.size());
    }
    std::string later;
    for (const auto& name : ChangedSettings(running, *fresh)) {
      if (name != "log_level" && name != "[[repository]]")
        later += (later.empty() ? "" : ", ") + name;
    }
    if (!later.empty())
      spdlog::warn("SIGHUP: changed in {}, applied at the next restart: {}", path, later);
  }
  sd_notify(0, "READY=1");
}

// Blocks until SIGTERM or SIGINT, pinging systemd's watchdog meanwhile; returns the signal.
// A SIGHUP in between calls `reload`.
int WaitForStop(const sigset_t& stop_signals, const std::function<void()>& reload) {
  std::uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  // Wake at half the watchdog period (or each second) to ping systemd.
  long tick_ms =
      watchdog ? static_cast<long>(std::min<std::uint64_t>(watchdog_usec / 2000, 1000)) : 1000;
  if (tick_ms < 1) tick_ms = 1;
  for (;;) {
    timespec ts{tick_ms / 1000, (tick_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    if (sig > 0) return sig;
    if (watchdog) sd_notify(0, "WATCHDOG=1");
  }
}

// Running publishes finish first; then no delivery arrives any more, and the webhook
// intake moves what its journal still holds into queue/ while the runner still exists.
// A backfill run stops before its next tag (the one in progress finishes, as a job does).
void Shutdown(Daemon& d) {
  if (d.backfills) d.backfills->Stop();
  d.reconciler->Stop();
  d.wake->Stop();
  d.runner->Stop();
  if (d.server) d.server->Stop();
  if (d.status) d.status->Stop();  // lists the spool: before the runner goes
  d.webhooks.reset();
  d.wake.reset();
  d.runner.reset();
}

int Run(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  Status files = cfg ? CheckServiceFiles(*cfg) : Status(Ok());
  if (!cfg || !files) {
    PrintLines(std::cerr, "modpubd: ", cfg ? files.message() : cfg.message());
    return kExitBadConfig;
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  // Signals are taken synchronously by the main thread (sigtimedwait); every thread
  // started from here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // reload, see Reload
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  modzip::PrimeLibzip();  // libzip's one-time set-up, while this is the only thread

  Daemon d;
  if (auto s = Open(*cfg, d); !s) {
    spdlog::critical("cannot start: {}", s.message());
    return kExitCannotStart;
  }
  d.runner->Start();
  d.reconciler->Start();
  d.wake->Run([r = d.runner.get()] { r->Wake(); });
  spdlog::info("modpubd ready: config {}, spool {}, socket {}", path, cfg->spool_dir,
               cfg->socket_path);
  sd_notifyf(0, "READY=1\nSTATUS=publishing from %s\nMAINPID=%d", cfg->spool_dir.c_str(),
             static_cast<int>(::getpid()));
  int sig = WaitForStop(stop_signals, [&] { Reload(path, *cfg, d); });
  spdlog::info("received {}: stopping (running publishes finish first)", strsignal(sig));
  sd_notify(0, "STOPPING=1");
  Shutdown(d);
  spdlog::info("modpubd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_logger_mt("modpubd"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  CLI::App app{
      "modpubd: publishes Go module versions from the job spool that the modpub git hooks fill.\n"
      "Claims each job, publishes its tag into every configured storage, retries failures\n"
      "with backoff, and serves /healthz and /metrics on the configured loopback address."};
  std::string config_path;
  bool check = false;
  app.set_version_flag("--version", "modpubd " MODPUB_VERSION);
  // Required unless --version (checked after parsing: CLI11 checks ->required() first).
  app.add_option("--config", config_path, "configuration file (TOML, see examples/modpub.toml)");
  app.add_flag("--check-config", check,
               "validate the configuration file (syntax, rules, the key and auth files it "
               "names), print every problem with its line, and exit (0 = valid, 1 = invalid); "
               "`modpub doctor` checks the whole installation");
  // For the crash-safety tests (hidden): sleep between the steps of every durable write,
  // so that a SIGKILL can land on any step (fsio::Env).
  int step_delay_ms = 0;
  app.add_option("--step-delay-ms", step_delay_ms)->group("")->check(CLI::Range(0, 60000));
  CLI11_PARSE(app, argc, argv);
  if (config_path.empty()) {
    std::cerr << "modpubd: --config <toml> is required (see examples/modpub.toml)\n" << app.help();
    return kExitCannotStart;
  }
  modpub::fsio::SlowStepsEnv slow_steps{std::chrono::milliseconds(step_delay_ms)};
  if (step_delay_ms > 0) modpub::fsio::SetEnv(&slow_steps);
  return check ? CheckConfig(config_path) : Run(config_path);
}
