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
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "modpub/config/config.hpp"
#include "modpub/http/metrics.hpp"
#include "modpub/http/server.hpp"
#include "modpub/jobs/runner.hpp"
#include "modpub/storage/atomic_file.hpp"
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
    storage::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return Fail(std::string("socket: ") + std::strerror(errno));
    if (auto s = storage::MakeDirs(std::filesystem::path(path).parent_path()); !s) {
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
  WakeSocket(std::string path, storage::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  storage::UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

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
  if (!cfg) {
    PrintLines(std::cerr, "modpubd: ", cfg.message());
    std::cerr << "modpubd: " << path << ": invalid configuration (see examples/modpub.toml)\n";
    return kExitBadConfig;
  }
  std::cout << path << ": OK: " << cfg->repositories.size() << " repositories, "
            << cfg->storage.size() << " storage(s), " << cfg->workers << " worker(s), spool "
            << cfg->spool_dir << ", socket " << cfg->socket_path << ", HTTP "
            << (cfg->http_listen.empty() ? "off" : cfg->http_listen) << "\n";
  return 0;
}

int Run(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  if (!cfg) {
    PrintLines(std::cerr, "modpubd: ", cfg.message());
    return kExitBadConfig;
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));

  // Signals are taken synchronously by the main thread (sigtimedwait); every thread
  // started from here on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  http::Metrics metrics;
  jobs::RunnerObserver observer;
  observer.job = [&metrics](const std::string& r) { metrics.CountJob(r); };
  observer.module_version = [&metrics](const std::string& o) { metrics.CountModuleVersion(o); };
  observer.publish_duration = [&metrics](double s) { metrics.ObservePublish(s); };
  observer.error = [&metrics](const std::string& m) { metrics.SetLastError(m); };

  if (auto s = storage::MakeDirs(cfg->state_dir); !s) {
    spdlog::critical("state directory: {}", s.message());
    return kExitCannotStart;
  }
  auto runner = jobs::Runner::Create(*cfg, observer);
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
    webhooks->Mount(server->raw());
    metrics.AddSeriesSource([w = webhooks.get()] { return w->RenderMetrics(); });
    if (auto s = server->Start(host, port); !s) {
      spdlog::critical("cannot start: {}", s.message());
      return kExitCannotStart;
    }
    spdlog::info("HTTP on http://{}:{} (/healthz, /metrics, /hooks/github, /hooks/gitlab)", host,
                 server->port());
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
