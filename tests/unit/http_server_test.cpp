#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

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

}  // namespace
}  // namespace modpub::http
