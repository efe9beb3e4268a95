// modpubd: the publishing daemon. Wiring only: configuration, logging, signals, the
// wake-up socket, systemd notification and the HTTP server around jobs::Runner, which
// does the work (src/modpub/jobs/runner.hpp).
//
//   modpubd --config <toml>                 run (Type=notify under systemd)
//   modpubd --config <toml> --check-config  validate the file, explain every problem
//
// Exit status: 0 = stopped by SIGTERM/SIGINT (or configuration valid), 1 = invalid
// configuration, 2 = cannot start (spool, socket or port unusable).
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "modpub/config/config.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/http/auth.hpp"
#include "modpub/http/metrics.hpp"
#include "modpub/http/proxy.hpp"
#include "modpub/http/server.hpp"
#include "modpub/jobs/runner.hpp"
#include "modpub/modzip/modzip.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/webhook/service.hpp"

namespace {

using namespace modpub;

constexpr int kExitBadConfig = 1;
constexpr int kExitCannotStart = 2;

// The Unix datagram socket the post-receive hook pokes. Each datagram wakes the workers.
class WakeSocket {
 public:
  static Result<std::unique_ptr<WakeSocket>> Bind(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) return Fail(path + ": socket path too long");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    fsio::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return Fail(std::string("socket: ") + std::strerror(errno));
    if (auto s = fsio::MakeDirs(std::filesystem::path(path).parent_path()); !s) {
      return s.error();
    }
    // A socket file left by a previous instance (or a daemon on the same path) is
    // replaced: datagram sockets cannot be "connected to" to test liveness cheaply, and
    // the periodic scan covers a daemon that lost its socket.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return Fail(path + ": exists and is not a socket");
      ::unlink(path.c_str());
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return Fail(path + ": cannot bind: " + std::strerror(errno));
    }
    // Hooks run as the pushing users: anyone may wake the daemon (a wake-up only makes
    // it look at the spool).
    ::chmod(path.c_str(), 0666);
    return std::unique_ptr<WakeSocket>(new WakeSocket(path, std::move(fd)));
  }
  ~WakeSocket() {
    Stop();
    ::unlink(path_.c_str());
  }
  void Run(const std::function<void()>& on_wake) {
    thread_ = std::thread([this, on_wake] {
      char buf[256];
      while (!stop_.load()) {
        pollfd p{fd_.get(), POLLIN, 0};
        int n = ::poll(&p, 1, 200);
        if (n <= 0) continue;
        bool woke = false;
        while (::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) woke = true;
        if (woke) on_wake();
      }
    });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  WakeSocket(std::string path, fsio::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  fsio::UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// "<file>:<line>: <key>: <what>", like the configuration's own messages.
std::string At(const config::Config& cfg, int line, const std::string& key,
               const std::string& what) {
  return cfg.source + ":" + std::to_string(line) + ": " + key + ": " + what;
}

// Checks what the configuration names but does not read ([sumdb] signer key, [proxy]
// auth file, the log's state): readable, well-formed, consistent. Writes nothing.
Status CheckServiceFiles(const config::Config& cfg) {
  std::string problems;
  auto add = [&](const std::string& p) { problems += (problems.empty() ? "" : "\n") + p; };
  if (cfg.sumdb.enabled) {
    std::ifstream in(cfg.sumdb.signer_key);
    std::string key;
    if (!in || !std::getline(in, key)) {
      add(At(cfg, cfg.sumdb.line, "sumdb.signer_key",
             cfg.sumdb.signer_key + ": cannot read the signer key file: " +
                 std::error_code(errno, std::generic_category()).message()));
    } else {
      while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
      auto signer = sign::Signer::Parse(key);
      if (!signer) {
        add(At(cfg, cfg.sumdb.line, "sumdb.signer_key",
               cfg.sumdb.signer_key + ": not a signer key (PRIVATE+KEY+<name>+..., from " +
                   "`modpub keygen`): " + signer.message()));
      } else if (signer->name() != cfg.sumdb.name) {
        add(At(cfg, cfg.sumdb.line, "sumdb.name",
               "\"" + cfg.sumdb.name + "\" but the key " + cfg.sumdb.signer_key + " is for \"" +
                   signer->name() + "\" (go looks the database up by the key's name)"));
      }
    }
    std::error_code ec;
    if (std::filesystem::exists(cfg.sumdb.dir, ec)) {
      auto log = sumdb::Log::Open(cfg.sumdb.dir);
      Status st = log ? Status(Ok()) : Status(log.error());
      if (log) {
        if (auto head = log->Latest(); !head) st = head.error();
      }
      if (!st) add(At(cfg, cfg.sumdb.line, "sumdb.dir", st.message()));
    }
  }
  if (cfg.proxy.enabled && !cfg.proxy.auth_file.empty()) {
    if (auto auth = http::Auth::Load(cfg.proxy.auth_file); !auth) {
      add(At(cfg, cfg.proxy.line, "proxy.auth", auth.message()));
    }
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

int CheckConfig(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  Status files = cfg ? CheckServiceFiles(*cfg) : Status(Ok());
  if (!cfg || !files) {
    PrintLines(std::cerr, "modpubd: ", cfg ? files.message() : cfg.message());
    std::cerr << "modpubd: " << path << ": invalid configuration (see examples/modpub.toml)\n";
    return kExitBadConfig;
  }
  std::cout << path << ": OK: " << cfg->repositories.size() << " repositories, "
            << cfg->storage.size() << " storage(s), " << cfg->workers << " worker(s), spool "
            << cfg->spool_dir << ", socket " << cfg->socket_path << ", HTTP "
            << (cfg->http_listen.empty() ? "off" : cfg->http_listen)
            << (cfg->proxy.enabled ? ", GOPROXY " + cfg->proxy.from : "")
            << (cfg->sumdb.enabled ? ", checksum database " + cfg->sumdb.name : "") << "\n";
  return 0;
}

int Run(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  if (!cfg) {
    PrintLines(std::cerr, "modpubd: ", cfg.message());
    return kExitBadConfig;
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  if (auto st = CheckServiceFiles(*cfg); !st) {
    PrintLines(std::cerr, "modpubd: ", st.message());
    return kExitBadConfig;
  }

  // Signals are taken synchronously by the main thread (sigtimedwait); every thread
  // started from here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // libzip's one-time set-up, while this is the only thread (modzip.hpp: PrimeLibzip).
  modzip::PrimeLibzip();

  http::Metrics metrics;
  jobs::RunnerObserver observer;
  observer.job = [&metrics](const std::string& r) { metrics.CountJob(r); };
  observer.module_version = [&metrics](const std::string& o) { metrics.CountModuleVersion(o); };
  observer.publish_duration = [&metrics](double s) { metrics.ObservePublish(s); };
  observer.error = [&metrics](const std::string& m) { metrics.SetLastError(m); };

  if (auto s = fsio::MakeDirs(cfg->state_dir); !s) {
    spdlog::critical("state directory: {}", s.message());
    return kExitCannotStart;
  }
  // Issue 7: the signer and checksum database log every publish uses, and the GOPROXY
  // endpoint ([proxy], [sumdb]); opened once, shared by the workers and the HTTP handlers.
  std::optional<http::ProxyConfig> proxy;
  jobs::Signing signing;
  if (cfg->proxy.enabled || cfg->sumdb.enabled) {
    http::ProxySettings settings;
    settings.from = cfg->proxy.enabled ? cfg->proxy.from : cfg->storage.front();
    settings.prefix = cfg->proxy.prefix;
    settings.auth_file = cfg->proxy.auth_file;
    if (cfg->sumdb.enabled) {
      settings.sumdb_dir = cfg->sumdb.dir;
      settings.sumdb_key = cfg->sumdb.signer_key;
    }
    auto opened = http::OpenProxy(settings);
    if (!opened) {
      spdlog::critical("cannot start: {}", opened.message());
      return kExitCannotStart;
    }
    signing = {opened->signer, opened->log};
    proxy = std::move(*opened);
  }
  auto runner = jobs::Runner::Create(*cfg, observer, signing);
  if (!runner) {
    spdlog::critical("cannot start: {}", runner.message());
    return kExitCannotStart;
  }
  const jobs::Spool& spool = (*runner)->spool();
  metrics.SetQueueDepthSource([&spool]() -> long {
    auto d = spool.QueueDepth();
    return d ? static_cast<long>(*d) : -1;
  });

  auto wake = WakeSocket::Bind(cfg->socket_path);
  if (!wake) {
    spdlog::critical("cannot start: {}", wake.message());
    return kExitCannotStart;
  }

  std::unique_ptr<webhook::Service> webhooks;  // declared first: outlives the server
  std::unique_ptr<http::Server> server;
  if (!cfg->http_listen.empty()) {
    std::string host;
    int port = 0;
    config::SplitHostPort(cfg->http_listen, &host, &port);
    server = std::make_unique<http::Server>(metrics, [&spool]() -> Status {
      auto d = spool.QueueDepth();
      if (!d) return d.error();
      return Ok();
    });
    // Issue 6: POST /hooks/github and /hooks/gitlab (webhook/service.hpp).
    jobs::Runner* runner_ptr = runner->get();
    auto hooks = webhook::Service::Create(*cfg, [runner_ptr] { runner_ptr->Wake(); });
    if (!hooks) {
      spdlog::critical("cannot start: {}", hooks.message());
      return kExitCannotStart;
    }
    webhooks = std::move(*hooks);
    // Waiting jobs: queue/ and what this daemon's webhook intake still holds in its
    // journal (a burst waits there; queue/ is kept short).
    metrics.SetQueueDepthSource([&spool, w = webhooks.get()]() -> long {
      auto d = spool.QueueDepth();
      return d ? static_cast<long>(*d + w->IntakeBacklog()) : -1;
    });
    webhooks->Mount(server->raw());
    metrics.AddSeriesSource([w = webhooks.get()] { return w->RenderMetrics(); });
    std::string routes = "/healthz, /metrics, /hooks/github, /hooks/gitlab";
    if (proxy) {
      // After the daemon's own routes (cpp-httplib takes the first matching pattern).
      httplib::Server& raw = server->raw();
      if (!cfg->proxy.enabled) {
        // [sumdb] alone: serve the checksum database, not the storage's modules.
        raw.Get(R"(/(?!sumdb/).*)", [](const httplib::Request&, httplib::Response& res) {
          res.status = 404;
          res.set_content("not found ([proxy] is not configured)\n", "text/plain; charset=utf-8");
        });
      }
      if (cfg->proxy.enabled) {
        // Module files are answered before the route table is searched (no regular
        // expression per request), after the webhooks' early body-size check.
        http::PreRouting proxy_first = http::MountProxyPreRouting(raw, *proxy);
        raw.set_pre_routing_handler([hooks = webhooks.get(), proxy_first](
                                        const httplib::Request& req, httplib::Response& res) {
          if (hooks->PreRoute(req, res) == httplib::Server::HandlerResponse::Handled) {
            return httplib::Server::HandlerResponse::Handled;
          }
          return proxy_first(req, res);
        });
      } else {
        http::MountProxy(raw, *proxy);
      }
      if (cfg->proxy.enabled)
        routes += ", GOPROXY " + cfg->proxy.prefix + "/ from " + cfg->proxy.from;
      if (cfg->sumdb.enabled)
        routes += ", " + cfg->proxy.prefix + "/sumdb/" + cfg->sumdb.name + "/";
    }
    if (auto s = server->Start(host, port); !s) {
      spdlog::critical("cannot start: {}", s.message());
      return kExitCannotStart;
    }
    spdlog::info("HTTP on http://{}:{} ({})", host, server->port(), routes);
  }

  (*runner)->Start();
  jobs::Runner* r = runner->get();
  (*wake)->Run([r] { r->Wake(); });
  spdlog::info("modpubd ready: config {}, spool {}, socket {}", path, cfg->spool_dir,
               cfg->socket_path);
  sd_notifyf(0, "READY=1\nSTATUS=publishing from %s\nMAINPID=%d", cfg->spool_dir.c_str(),
             static_cast<int>(::getpid()));

  std::uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  // Wake at half the watchdog period (or each second) to ping systemd.
  long tick_ms =
      watchdog ? static_cast<long>(std::min<std::uint64_t>(watchdog_usec / 2000, 1000)) : 1000;
  if (tick_ms < 1) tick_ms = 1;
  int sig = 0;
  for (;;) {
    timespec ts{tick_ms / 1000, (tick_ms % 1000) * 1000000L};
    sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig > 0) break;
    if (watchdog) sd_notify(0, "WATCHDOG=1");
  }
  spdlog::info("received {}: stopping (running publishes finish first)", strsignal(sig));
  sd_notify(0, "STOPPING=1");
  (*wake)->Stop();
  (*runner)->Stop();
  if (server) server->Stop();
  // No delivery arrives any more: the webhook intake moves what its journal still holds
  // into queue/ and removes the journal, while the runner still exists.
  webhooks.reset();
  wake->reset();
  runner->reset();
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
  app.add_option("--config", config_path, "configuration file (TOML, see examples/modpub.toml)")
      ->required();
  app.add_flag("--check-config", check,
               "validate the configuration, print every problem with its line, and exit "
               "(0 = valid, 1 = invalid)");
  CLI11_PARSE(app, argc, argv);
  return check ? CheckConfig(config_path) : Run(config_path);
}
