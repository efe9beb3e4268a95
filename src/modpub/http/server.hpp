// The HTTP/1.1 server of modpubd and `modpub serve` (Boost.Beast on Boost.Asio; TLS with
// boost::asio::ssl): event-driven I/O on a few threads, handlers on a bounded worker pool.
//
// Guarantees, per connection (Options holds every figure):
//   - the request line and headers must be complete within header_deadline, counted from
//     the moment the server waits for them (a new connection, or a kept-alive one after
//     its previous answer): a TOTAL deadline, not a per-read timeout, so a client sending
//     one byte at a time is cut at the deadline; the connection is then closed;
//   - headers over max_header_bytes: 431 and close; a body: complete within
//     body_deadline (408 and close) and at most max_body_bytes (413 and close; a larger
//     Content-Length is refused before any of the body is read);
//   - each response write must make progress within write_timeout (a reader that stops
//     reading is cut; a slow one that keeps reading is served to the end);
//   - requests sent back to back on one connection (pipelined) are answered in order;
//     a connection serves at most keep_alive_max requests, then is closed;
//   - at most max_connections connections are open: one more is answered "503 Service
//     Unavailable" with "Connection: close" and closed at once, logged (one line per
//     second at most, with the count) and counted (stats());
//   - waiting for a slow client never holds a worker: reading and writing are
//     asynchronous on the I/O threads; handlers and the chunks of a streamed body are
//     produced on the worker pool (io_threads + worker_threads threads in all).
// The socket listens with SO_REUSEADDR (never SO_REUSEPORT, which would let a second
// server bind the same port and take half of the requests), a backlog of `backlog`,
// and TCP_NODELAY on every connection (else small answers wait ~40 ms for delayed ACKs).
//
// The daemon's constructor adds GET /healthz and /metrics (with the server's own series:
// modpub_http_connections_open, modpub_http_connections_refused_total,
// modpub_http_requests_cut_total{reason}); other routes are mounted on router() before
// Start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/http/metrics.hpp"
#include "modpub/http/router.hpp"

namespace modpub::http {

struct ServerOptions {
  int io_threads = 1;       // threads running the event loop (reads, writes, timers)
  int worker_threads = 16;  // threads running handlers and filling streamed bodies
  std::chrono::milliseconds header_deadline{10000};
  std::chrono::milliseconds body_deadline{10000};
  std::chrono::milliseconds write_timeout{10000};
  std::size_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 64 * 1024;
  std::size_t max_connections = 10000;
  int backlog = 511;  // nginx's; the kernel caps it at net.core.somaxconn
  int keep_alive_max = 1000;
  // Both or neither: serve https with this PEM certificate (chain) and private key.
  std::string tls_cert_file;
  std::string tls_key_file;
};

struct ServerStats {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t header_deadline_cuts = 0;
  std::uint64_t body_deadline_cuts = 0;
  std::uint64_t too_large = 0;  // 413 and 431
  std::uint64_t write_timeout_cuts = 0;
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  // The daemon's server: also GET /healthz (`health` asked at each: ok -> 200 "ok",
  // error -> 503 with its message) and GET /metrics (`metrics` plus this server's series).
  Server(Metrics& metrics, std::function<Status()> health, ServerOptions options = {});
  ~Server();  // stops the server
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes are added before Start.
  Router& router() { return router_; }
  void Mount(const std::function<void(Router&)>& add_routes) { add_routes(router_); }

  // Binds `host`:`port` (port 0: any free port), loads the TLS certificate when set, and
  // serves on background threads. Errors name the address or the file.
  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  // Stops listening, closes every connection, waits for running handlers; idempotent.
  void Stop();

  ServerStats stats() const;
  std::string RenderStats() const;  // the Prometheus series named above

 private:
  struct Impl;
  ServerOptions options_;
  Router router_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Raises this process's soft limit of open files towards the hard limit, to at least
// `wanted` where allowed (each connection is a file descriptor; Debian's soft default
// is 1024). Returns the limit in effect.
std::uint64_t RaiseOpenFileLimit(std::uint64_t wanted);

}  // namespace modpub::http
