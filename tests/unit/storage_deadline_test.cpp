// storage: every S3 operation has one overall deadline (storage/deadline.hpp), retries
// included, against real sockets: a server on 127.0.0.1 that accepts connections and
// never answers, and one that closes every connection at once (a retryable failure).
// Without the deadline the first costs attempts x the 30 s stall timeout (> 300 s), the
// second attempts x backoff.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "modpub/storage/s3.hpp"
#include "modpub/storage/s3_client.hpp"
#include "modpub/storage/s3_url.hpp"
#include "support/storage_fixtures.hpp"
#include "support/temp_repo.hpp"

namespace modpub::storage {
namespace {

using ::modpub::testing::Fabricator;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A TCP server on 127.0.0.1 (a free port) whose connections are either held open without
// a byte of answer (`silent`) or closed as soon as they are accepted. Stopped and joined
// by its destructor.
class BadServer {
 public:
  explicit BadServer(bool silent) : silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 64) != 0) {
      throw std::runtime_error("BadServer: cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~BadServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      if (silent_) {
        held_.push_back(c);  // read nothing, answer nothing
      } else {
        ::close(c);
      }
    }
  }

  bool silent_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;
  std::thread thread_;
};

constexpr auto kBudget = std::chrono::milliseconds(1500);
// Scheduling and curl's timer resolution; far below one 30 s stall timeout.
constexpr auto kSlack = std::chrono::milliseconds(1500);

std::unique_ptr<S3Backend> Open(const std::string& endpoint, const std::string& extra = "") {
  const std::string url = "s3://modules/p?endpoint=" + endpoint + extra;
  auto where = ParseS3Url(url);
  if (!where) throw std::runtime_error(where.message());
  return std::make_unique<S3Backend>(url, *where, s3::Credentials{"AK", "SK", ""}, kBudget,
                                     "the test's budget");
}

// Runs `op` and returns its error message and how long it took; a success is a test failure.
std::pair<std::string, Clock::duration> FailureOf(const std::function<std::string()>& op) {
  auto start = Clock::now();
  std::string message = op();
  return {message, Clock::now() - start};
}

template <class T>
std::string MessageOf(const Result<T>& r) {
  return r.ok() ? std::string("unexpected success") : r.message();
}

TEST(StorageDeadline, EveryS3OperationFailsAtTheDeadlineOfASilentServer) {
  BadServer server(/*silent=*/true);
  auto backend = Open(server.endpoint());
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto files = fab.Make("example.com/m", "v1.0.0");
  const std::vector<std::pair<std::string, std::function<std::string()>>> ops = {
      {"Put", [&] { return MessageOf(backend->Put(files)); }},
      {"Stat", [&] { return MessageOf(backend->Stat("example.com/m", "v1.0.0")); }},
      {"ListVersions", [&] { return MessageOf(backend->ListVersions("example.com/m")); }},
      {"ListModules", [&] { return MessageOf(backend->ListModules()); }},
      {"LocalFile",
       [&] { return MessageOf(backend->LocalFile("example.com/m", "v1.0.0", VersionPart::kZip)); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    auto [message, took] = FailureOf(op);
    EXPECT_GE(took, kBudget - std::chrono::milliseconds(50));
    EXPECT_LE(took, kBudget + kSlack);
    EXPECT_THAT(message, HasSubstr(backend->Name() + ": S3 "));
    EXPECT_THAT(message, HasSubstr(name == "ListModules" ? "modules/p/" : "example.com/m/@v/"));
    EXPECT_THAT(message,
                HasSubstr("no answer within the 1.5 s storage deadline (the test's budget)"));
  }
  EXPECT_GE(server.accepted(), 1);
}

TEST(StorageDeadline, PutNamesThePartItWasWriting) {
  BadServer server(/*silent=*/true);
  auto backend = Open(server.endpoint());
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto r = backend->Put(fab.Make("example.com/m", "v1.0.0"));
  ASSERT_FALSE(r.ok());
  // The first request of a Put reads what is stored (list object and version's keys).
  EXPECT_THAT(r.message(), ::testing::AnyOf(HasSubstr("S3 GET modules/p/example.com/m/@v/list"),
                                            HasSubstr("S3 LIST modules/p/example.com/m/@v/")));
}

// Retries are inside the budget: a server that drops every connection is retried (10
// attempts by default, here 100) only until the deadline.
TEST(StorageDeadline, RetriesStopAtTheDeadline) {
  BadServer server(/*silent=*/false);
  auto backend = Open(server.endpoint(), "&attempts=100");
  auto [message, took] = FailureOf([&] { return MessageOf(backend->ListModules()); });
  EXPECT_LE(took, kBudget + kSlack);
  EXPECT_GE(took, kBudget - std::chrono::milliseconds(50));
  EXPECT_THAT(message, HasSubstr("no answer within the 1.5 s storage deadline"));
  EXPECT_THAT(message, HasSubstr("attempt(s) to endpoint " + server.endpoint()));
  EXPECT_GT(server.accepted(), 1);  // it did retry
}

// The client alone: a request without a deadline is not limited by one (its per-try
// limits apply); with one, it ends there.
TEST(StorageDeadline, ClientRequestEndsAtItsDeadline) {
  BadServer server(/*silent=*/true);
  s3::ClientConfig c;
  c.endpoint = server.endpoint();
  c.bucket = "modules";
  c.credentials = {"AK", "SK", ""};
  c.storage = "s3://modules";
  s3::Client client(c);
  auto start = Clock::now();
  auto r = client.Get("k", 1024, Deadline::After(std::chrono::milliseconds(700), "x"));
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_LE(took, std::chrono::milliseconds(700) + kSlack);
  EXPECT_EQ(r.message().rfind("s3://modules: S3 GET modules/k: no answer within the 0.7 s", 0), 0u)
      << r.message();
}

TEST(StorageDeadline, DeadlineArithmetic) {
  Deadline never;
  EXPECT_FALSE(never.bounded());
  EXPECT_FALSE(never.Expired());
  EXPECT_FALSE(Deadline::After(std::chrono::milliseconds(0), "").bounded());
  auto d = Deadline::After(std::chrono::milliseconds(30000), "storage_deadline_ms");
  EXPECT_TRUE(d.bounded());
  EXPECT_FALSE(d.Expired());
  EXPECT_LE(d.Remaining(), std::chrono::milliseconds(30000));
  EXPECT_GT(d.Remaining(), std::chrono::milliseconds(29000));
  EXPECT_EQ(d.Exceeded(), "no answer within the 30 s storage deadline (storage_deadline_ms)");
  auto gone = Deadline::After(std::chrono::milliseconds(1), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(gone.Expired());
  EXPECT_EQ(gone.Remaining().count(), 0);
}

}  // namespace
}  // namespace modpub::storage
