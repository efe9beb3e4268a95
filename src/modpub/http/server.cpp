#include "modpub/http/server.hpp"

#include <chrono>

namespace modpub::http {

Server::Server(Metrics& metrics, std::function<Status()> health)
    : metrics_(metrics), health_(std::move(health)) {
  // Without TCP_NODELAY every small response waits for the delayed ACK (~40 ms).
  server_.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which lets a second daemon bind the same
  // port and silently take half of the requests: only SO_REUSEADDR (fast restarts).
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Clients that reuse connections (go fetching modules, a reverse proxy's upstream pool in
  // front of the webhook endpoint, monitoring): close one after 1000 requests, not after
  // cpp-httplib's default of 5 (each reconnection costs a handshake and a thread hand-off).
  server_.set_keep_alive_max_count(1000);
  server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    Status st = health_ ? health_() : Ok();
    if (st.ok()) {
      res.set_content("ok\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content(st.message() + "\n", "text/plain; charset=utf-8");
    }
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

Server::~Server() { Stop(); }

void Server::Mount(const std::function<void(httplib::Server&)>& add_routes) { add_routes(server_); }

Status Server::Start(const std::string& host, int port) {
  if (thread_.joinable()) return Fail("HTTP server already started");
  if (port == 0) {
    port_ = server_.bind_to_any_port(host);
    if (port_ <= 0) return Fail("cannot listen on " + host + ": no free port");
  } else {
    if (!server_.bind_to_port(host, port)) {
      return Fail("cannot listen on " + host + ":" + std::to_string(port) +
                  " (address in use or not local?)");
    }
    port_ = port;
  }
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  // httplib's stop() does nothing before the accept loop runs (it would then run for
  // ever): wait until it does, so that Stop() right after Start() works.
  for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Ok();
}

void Server::Stop() {
  if (!thread_.joinable()) return;
  server_.stop();
  thread_.join();
}

}  // namespace modpub::http
