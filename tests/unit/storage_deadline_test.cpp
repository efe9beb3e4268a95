// storage: every S3 operation has one overall deadline (storage/deadline.hpp), retries
// included, against real sockets: a server on 127.0.0.1 that accepts connections and
// never answers, and one that closes every connection at once (a retryable failure).
// Without the deadline the first costs attempts x the 30 s stall timeout (> 300 s), the
// second attempts x backoff. The local filesystem backends (storage/bounded.hpp) against
// a file that blocks whoever opens it: a FIFO in place of a stored file.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "modpub/storage/bounded.hpp"
#include "modpub/storage/open.hpp"
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

// A FIFO at `path`: whoever opens it for reading waits for a writer. Release() opens it
// for writing and closes it again, so the reader sees an empty file and goes on.
class Fifo {
 public:
  explicit Fifo(const std::filesystem::path& path) : path_(path) {
    std::filesystem::create_directories(path.parent_path());
    if (::mkfifo(path.c_str(), 0644) != 0) throw std::runtime_error("mkfifo " + path.string());
  }
  void Release() {
    // O_NONBLOCK fails with ENXIO until a reader is there; retried for a while.
    for (int i = 0; i < 500; ++i) {
      int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "nobody opened " << path_;
  }

 private:
  std::filesystem::path path_;
};

OpenOptions LocalBudget() {
  return OpenOptions{std::chrono::milliseconds(300), "the test's budget"};
}

TEST(StorageDeadline, LocalTreeOperationsEndAtTheDeadlineOfAFileThatBlocks) {
  TempDir tmp;
  auto root = tmp.path() / "tree";
  Fifo list(root / "example.com" / "m" / "@v" / "list");
  auto opened = OpenBackend("file://" + root.string(), LocalBudget());
  ASSERT_TRUE(opened.ok()) << opened.message();
  auto& backend = **opened;
  Fabricator fab(tmp.path());
  auto files = fab.Make("example.com/m", "v1.0.0");
  auto t0 = Clock::now();
  auto put = backend.Put(files);
  auto took = Clock::now() - t0;
  ASSERT_FALSE(put.ok()) << "a Put that reads a list nobody writes cannot finish";
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_THAT(put.message(), HasSubstr(backend.Name() + ": put example.com/m@v1.0.0: "));
  EXPECT_THAT(put.message(),
              HasSubstr("no answer within the 0.3 s storage deadline (the test's budget)"));
  // The filesystem answers again: the abandoned Put finishes what it started, and a retry
  // (what the daemon does next) finds the same version, unchanged.
  list.Release();
  // (Watched on disk, not with Stat: a Stat would open the FIFO too and wait in turn.)
  const auto list_path = root / "example.com" / "m" / "@v" / "list";
  for (int i = 0; i < 300 && !std::filesystem::is_regular_file(list_path); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(std::filesystem::is_regular_file(list_path)) << "the abandoned Put never finished";
  auto stat = backend.Stat("example.com/m", "v1.0.0");
  ASSERT_TRUE(stat.ok()) << stat.message();
  ASSERT_TRUE(*stat && (*stat)->state == VersionState::kComplete);
  auto again = backend.Put(files);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->outcome, PutOutcome::kUnchanged) << again->message;
  auto listed = backend.ListVersions("example.com/m");
  ASSERT_TRUE(listed.ok()) << listed.message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].version, "v1.0.0");
}

TEST(StorageDeadline, AthensDiskPutEndsAtTheDeadlineOfAPartThatBlocks) {
  TempDir tmp;
  auto root = tmp.path() / "athens";
  Fabricator fab(tmp.path());
  auto files = fab.Make("example.com/m", "v1.0.0");
  // An earlier, interrupted publish left a go.mod the comparison must read.
  Fifo mod(root / "example.com" / "m" / "v1.0.0" / "go.mod");
  auto opened = OpenBackend("athens-disk://" + root.string(), LocalBudget());
  ASSERT_TRUE(opened.ok()) << opened.message();
  auto t0 = Clock::now();
  auto put = (*opened)->Put(files);
  ASSERT_FALSE(put.ok());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
  EXPECT_THAT(put.message(), HasSubstr("put example.com/m@v1.0.0: no answer within the 0.3 s"));
  mod.Release();
}

// A backend whose ListModules waits until released, for the bound on abandoned threads.
class Blocking final : public Backend {
 public:
  explicit Blocking(std::shared_ptr<std::atomic<bool>> go) : go_(std::move(go)) {}
  const std::string& Name() const override { return name_; }
  Result<PutResult> Put(const VersionFiles&) override { return PutResult{}; }
  Result<std::optional<StoredVersion>> Stat(const std::string&, const std::string&) override {
    return std::optional<StoredVersion>{};
  }
  Result<std::vector<StoredVersion>> ListVersions(const std::string&) override {
    return std::vector<StoredVersion>{};
  }
  Result<std::vector<std::string>> ListModules() override {
    while (!*go_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return std::vector<std::string>{"example.com/m"};
  }

 private:
  std::shared_ptr<std::atomic<bool>> go_;
  std::string name_ = "file:///blocking";
};

TEST(StorageDeadline, AbandonedOperationsAreBoundedAndFreedWhenTheyFinish) {
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto backend = Bounded(std::make_unique<Blocking>(go),
                         {std::chrono::milliseconds(100), "the test's budget", /*max_stuck=*/2});
  for (int i = 0; i < 2; ++i) {
    auto r = backend->ListModules();
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.message(), HasSubstr("file:///blocking: list modules: no answer within"));
  }
  auto t0 = Clock::now();
  auto refused = backend->ListModules();
  ASSERT_FALSE(refused.ok());
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(50)) << "refused at once";
  EXPECT_THAT(refused.message(),
              HasSubstr("not tried: 2 earlier operations are still waiting for the filesystem"));
  // Operations that answer in time pass through with their results.
  auto stat = backend->Stat("example.com/m", "v1.0.0");
  EXPECT_FALSE(stat.ok()) << "the bound applies to every operation";
  *go = true;
  Result<std::vector<std::string>> listed = Fail("not run");
  for (int i = 0; i < 200 && !listed.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    listed = backend->ListModules();
  }
  ASSERT_TRUE(listed.ok()) << listed.message();
  EXPECT_EQ(*listed, std::vector<std::string>{"example.com/m"});
  EXPECT_TRUE(backend->Stat("example.com/m", "v1.0.0").ok());
}

TEST(StorageDeadline, NoBudgetMeansTheBackendItself) {
  auto go = std::make_shared<std::atomic<bool>>(true);
  auto* raw = new Blocking(go);
  auto backend = Bounded(std::unique_ptr<Backend>(raw), {std::chrono::milliseconds(0), ""});
  EXPECT_EQ(backend.get(), raw);
}

}  // namespace
}  // namespace modpub::storage
