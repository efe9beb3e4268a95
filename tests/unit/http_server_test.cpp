#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "modpub/http/metrics.hpp"
#include "modpub/http/server.hpp"

namespace modpub::http {
namespace {

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.CountJob("done");
  m.CountJob("done");
  m.CountJob("failed");
  m.CountModuleVersion("published");
  m.ObservePublish(0.03);
  m.ObservePublish(3);
  m.SetLastError("lib v1.0.0: \"disk\" full\nsecond line");
  m.SetQueueDepthSource([] { return 7L; });
  std::string t = m.Render();
  EXPECT_NE(t.find("modpub_jobs_total{result=\"done\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("modpub_jobs_total{result=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_jobs_total{result=\"retried\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_module_versions_total{outcome=\"published\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_queue_depth 7\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_bucket{le=\"0.025\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_bucket{le=\"0.05\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_bucket{le=\"5\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(t.find("modpub_publish_duration_seconds_sum 3.03"), std::string::npos);
  EXPECT_NE(
      t.find("modpub_last_error_info{message=\"lib v1.0.0: \\\"disk\\\" full\\nsecond line\"} 1"),
      std::string::npos)
      << t;
  EXPECT_EQ(m.JobCount("done"), 2u);
  // Every sample line is "name{labels} value" or "name value".
  std::size_t start = 0;
  while (start < t.size()) {
    auto nl = t.find('\n', start);
    std::string line = t.substr(start, nl - start);
    start = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind("modpub_", 0), 0u) << line;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
  }
}

TEST(Metrics, NoQueueDepthWhenUnknown) {
  Metrics m;
  EXPECT_EQ(m.Render().find("modpub_queue_depth"), std::string::npos);
  m.SetQueueDepthSource([] { return -1L; });
  EXPECT_EQ(m.Render().find("modpub_queue_depth"), std::string::npos);
}

// Regex routes never see a path longer than Router::kMaxRoutedPath (std::regex recurses
// per character); such a request is 414, and the next one on the connection is served.
TEST(Server, OverlongPathsAre414BeforeAnyRegexRoute) {
  Server s(ServerOptions{});
  s.Mount([](Router& raw) {
    raw.Get("/m/.*", [](const Request&, Response& res) { res.set_content("ok", "text/plain"); });
  });
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  httplib::Client c("127.0.0.1", s.port());
  auto fine = c.Get("/m/" + std::string(Router::kMaxRoutedPath - 3, 'a'));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  auto longer = c.Get("/m/" + std::string(Router::kMaxRoutedPath, 'a'));
  ASSERT_TRUE(longer);
  EXPECT_EQ(longer->status, 414);
  auto after = c.Get("/m/x");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST(Server, HealthzMetricsAndMountedRoutes) {
  Metrics m;
  m.CountJob("done");
  bool healthy = true;
  Server s(m, [&healthy]() -> Status {
    if (healthy) return Ok();
    return Fail("spool /x: cannot list directory");
  });
  s.Mount([](Router& raw) {
    raw.Get("/sumdb/hello",
            [](const Request&, Response& res) { res.set_content("mounted", "text/plain"); });
  });
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  ASSERT_GT(s.port(), 0);
  httplib::Client c("127.0.0.1", s.port());
  c.set_connection_timeout(5);
  // The socket listens when Start returns, so connecting works at once.
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "ok\n");
  auto mt = c.Get("/metrics");
  ASSERT_TRUE(mt);
  EXPECT_EQ(mt->status, 200);
  EXPECT_EQ(mt->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(mt->body.find("modpub_jobs_total{result=\"done\"} 1"), std::string::npos);
  auto mounted = c.Get("/sumdb/hello");
  ASSERT_TRUE(mounted);
  EXPECT_EQ(mounted->body, "mounted");
  auto missing = c.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  healthy = false;
  auto bad = c.Get("/healthz");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 503);
  EXPECT_EQ(bad->body, "spool /x: cannot list directory\n");
  s.Stop();
  s.Stop();  // idempotent
  EXPECT_FALSE(c.Get("/healthz"));
}

TEST(Server, PortInUseIsAnError) {
  Metrics m;
  Server a(m, nullptr);
  ASSERT_TRUE(a.Start("127.0.0.1", 0).ok());
  Server b(m, nullptr);
  auto st = b.Start("127.0.0.1", a.port());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot listen on 127.0.0.1:"), std::string::npos);
}

// One client connection serves many requests (cpp-httplib alone closes it after 5).
TEST(Server, AConnectionIsKeptForManyRequests) {
  Metrics m;
  Server s(m, nullptr);
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()))
        << "request " << i;
    std::string response;
    char buf[4096];
    // The whole answer ends with its 3-byte body "ok\n".
    while (response.find("\r\n\r\nok\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "connection closed after " << i << " requests";
      response.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
    EXPECT_EQ(response.find("Connection: close"), std::string::npos) << "request " << i;
  }
  ::close(fd);
  s.Stop();
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A client that stops reading a large streamed body holds no worker: with ONE worker
// thread, another request is answered while that body waits in the socket buffers.
TEST(Server, AStalledReaderOfAStreamedBodyHoldsNoWorker) {
  ServerOptions o;
  o.worker_threads = 1;
  Server s(o);
  constexpr std::size_t kSize = 64 << 20;  // far more than the socket buffers hold
  s.router().Get("/big", [](const Request&, Response& res) {
    res.set_content_provider(kSize, "application/octet-stream",
                             [](std::size_t, std::size_t length, DataSink& sink) {
                               std::string chunk(length, 'z');
                               return sink.write(chunk.data(), chunk.size());
                             });
  });
  s.router().Get("/small",
                 [](const Request&, Response& res) { res.set_content("s", "text/plain"); });
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  int stalled = Connect(s.port());
  ASSERT_GE(stalled, 0);
  const std::string big = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(stalled, big.data(), big.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(big.size()));
  char buf[4096];
  ASSERT_GT(::recv(stalled, buf, sizeof buf, 0), 0);  // the body has begun; then no more reads
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(5, 0);
  auto r = c.Get("/small");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "s");
  ::close(stalled);
  s.Stop();
}

// Requests sent back to back are answered in order; a malformed one ends the connection
// with 400 after the good ones are answered.
TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  Server s;
  s.router().Get(R"(/echo/(\d+))", [](const Request& req, Response& res) {
    res.set_content(req.path.substr(6), "text/plain");
  });
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  int fd = Connect(s.port());
  ASSERT_GE(fd, 0);
  std::string all;
  for (int i = 1; i <= 5; ++i)
    all += "GET /echo/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  all += "NOT HTTP\r\n\r\n";
  ASSERT_EQ(::send(fd, all.data(), all.size(), MSG_NOSIGNAL), static_cast<ssize_t>(all.size()));
  std::string got;
  char buf[4096];
  for (int i = 0; i < 100; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::size_t at = 0;
  for (int i = 1; i <= 5; ++i) {
    at = got.find("\r\n\r\n" + std::to_string(i), at);
    ASSERT_NE(at, std::string::npos) << "answer " << i << " missing or out of order: " << got;
  }
  EXPECT_NE(got.find("HTTP/1.1 400", at), std::string::npos) << got;
  // The server notices the close at once; give it a moment (bounded).
  for (int i = 0; i < 200 && s.stats().connections_open != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.stats().connections_open, 0u);
}

// The header cuts counted so far, once they reach `want` (or after 3 s): beast's stream
// closes the socket when its deadline expires and the read it cancelled completes (and is
// counted) after that, so a client may see the close before the count moves.
std::uint64_t HeaderCutsOnceAt(Server& s, std::uint64_t want) {
  for (int i = 0; i < 300 && s.stats().header_deadline_cuts < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return s.stats().header_deadline_cuts;
}

// The header deadline is total: a byte every 100 ms is cut at the 500 ms deadline.
TEST(Server, HeaderDeadlineIsTotal) {
  ServerOptions o;
  o.header_deadline = std::chrono::milliseconds(500);
  Server s(o);
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  int fd = Connect(s.port());
  ASSERT_GE(fd, 0);
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto start = std::chrono::steady_clock::now();
  const std::string line =
      "GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (std::size_t i = 0; i < 60 && !cut; ++i) {  // 6 s at most
    // A send refused (EPIPE, ECONNRESET: the server's close was seen first) is the cut too.
    if (::send(fd, line.data() + (i % line.size()), 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);
    cut = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_TRUE(cut);
  EXPECT_GE(took, std::chrono::milliseconds(400));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_EQ(HeaderCutsOnceAt(s, 1), 1u);
}

// A new connection that sends nothing is cut at the header deadline and counted (the
// idle-connection attack); a kept-alive connection that goes silent after a request is
// closed as quietly as ever.
TEST(Server, ASilentNewConnectionIsAHeaderCutAKeptAliveOneIsNot) {
  ServerOptions o;
  o.header_deadline = std::chrono::milliseconds(300);
  Server s(o);
  s.Mount([](Router& raw) {
    raw.Get("/", [](const Request&, Response& res) { res.set_content("ok\n", "text/plain"); });
  });
  ASSERT_TRUE(s.Start("127.0.0.1", 0).ok());
  timeval tv{5, 0};
  int idle = Connect(s.port());
  ASSERT_GE(idle, 0);
  ::setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  EXPECT_LE(::recv(idle, buf, sizeof buf, 0), 0);  // closed by the server at the deadline
  ::close(idle);
  EXPECT_EQ(HeaderCutsOnceAt(s, 1), 1u);

  int kept = Connect(s.port());
  ASSERT_GE(kept, 0);
  ::setsockopt(kept, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(kept, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
  ASSERT_GT(::recv(kept, buf, sizeof buf, 0), 0);  // the answer
  while (::recv(kept, buf, sizeof buf, 0) > 0) {
  }  // then silence, and the server's close
  ::close(kept);
  EXPECT_EQ(HeaderCutsOnceAt(s, 2), 1u);  // waited for a second count: none came
}

}  // namespace
}  // namespace modpub::http
