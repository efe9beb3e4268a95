// The daemon's HTTP server (cpp-httplib): /healthz and /metrics on a loopback address by
// default, and a mount point for more routes on the same listener.
//
// Other features mount their routes before Start, e.g. the GOPROXY + checksum-database
// handlers (sumdb):
//   server.Mount([&](httplib::Server& s) { s.Get(R"(/sumdb/.*)", handler); });
// or directly through server.raw(). Routes are matched in registration order; /healthz
// and /metrics are registered by the constructor, so mounted routes must not reuse them.
// Handlers run on httplib's thread pool: they must be thread-safe.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "modpub/base/result.hpp"
#include "modpub/http/metrics.hpp"

namespace modpub::http {

class Server {
 public:
  // `health` is asked at every /healthz: ok -> 200 "ok", error -> 503 with its message.
  Server(Metrics& metrics, std::function<Status()> health);
  ~Server();  // stops the server
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds routes to the underlying server. Call before Start.
  void Mount(const std::function<void(httplib::Server&)>& add_routes);
  httplib::Server& raw() { return server_; }

  // Binds `host`:`port` (port 0: any free port) and serves on a background thread.
  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  // Stops listening and joins the thread; idempotent.
  void Stop();

 private:
  Metrics& metrics_;
  std::function<Status()> health_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace modpub::http
