#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "modpub/jobs/intake.hpp"
#include "modpub/jobs/spool.hpp"
#include "support/temp_repo.hpp"

namespace modpub::jobs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Job MakeJob(const std::string& tag) {
  Job j;
  j.repo = "/srv/git/lib.git";
  j.import_path = "corp.example/lib";
  j.tag = tag;
  j.commit = std::string(40, 'a');
  j.source = "hook";
  return j;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Jobs, TimeRoundTrip) {
  auto t = ParseTime("2026-12-02T09:10:00.123Z");
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(FormatTime(*t), "2026-12-02T09:10:00.123Z");
  auto whole = ParseTime("1970-01-01T00:00:01Z");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->time_since_epoch(), std::chrono::seconds(1));
  EXPECT_FALSE(ParseTime("2026-12-02 09:10:00Z").ok());
  EXPECT_FALSE(ParseTime("2026-12-02T09:10:00+01:00").ok());
  EXPECT_FALSE(ParseTime("2026-13-02T09:10:00Z").ok());
}

// The clock counts nanoseconds in 64 bits: a year before 1678 or after 2262 would overflow
// it (undefined behaviour; found by tests/fuzz/spool_fuzz.cpp). Such a time is refused.
TEST(Jobs, TimeOutOfTheClocksRangeIsRefused) {
  auto old = ParseTime("1013-12-02T09:10:00.123Z");
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.message(),
            "\"1013-12-02T09:10:00.123Z\" is out of range: job times are between 1970 and 2261");
  EXPECT_FALSE(ParseTime("9999-12-31T23:59:59Z").ok());
  EXPECT_FALSE(ParseTime("1969-12-31T23:59:59Z").ok());
  auto last = ParseTime("2261-12-31T23:59:59.999Z");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(FormatTime(*last), "2261-12-31T23:59:59.999Z");
}

TEST(Jobs, JsonRoundTripAndErrors) {
  Job j = MakeJob("v1.2.3");
  j.id = NewJobId();
  j.attempts = 2;
  j.created = Clock::time_point(std::chrono::milliseconds(1700000000123));
  j.next_attempt = j.created + 5s;
  j.last_error = "disk full";
  j.result_json = R"({"published":1})";
  auto back = FromJson(ToJson(j));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->id, j.id);
  EXPECT_EQ(back->tag, "v1.2.3");
  EXPECT_EQ(back->commit, j.commit);
  EXPECT_EQ(back->source, "hook");
  EXPECT_EQ(back->attempts, 2);
  EXPECT_EQ(back->created, j.created);
  EXPECT_EQ(back->next_attempt, j.next_attempt);
  EXPECT_EQ(back->last_error, "disk full");
  EXPECT_EQ(back->result_json, R"({"published":1})");

  EXPECT_EQ(FromJson("{").message(), "not valid JSON");
  EXPECT_EQ(FromJson("[]").message(), "not a JSON object");
  EXPECT_EQ(
      FromJson(R"({"format":"modpub-job/1","id":"x","repo":"/r","import_path":"a"})").message(),
      "key \"tag\" is missing");
  EXPECT_NE(
      FromJson(
          R"({"format":"modpub-job/1","id":"../x","repo":"/r","import_path":"a","tag":"v1.0.0"})")
          .message()
          .find("is not [A-Za-z0-9._-]"),
      std::string::npos);
  EXPECT_NE(FromJson(R"({"format":"other/2","id":"x"})").message().find("format"),
            std::string::npos);
}

TEST(Jobs, NewJobIdsAreUniqueAndSortable) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewJobId());
  EXPECT_EQ(ids.size(), 1000u);
  std::string a = NewJobId();
  std::this_thread::sleep_for(2ms);
  std::string b = NewJobId();
  EXPECT_LT(a, b);
}

TEST(Jobs, EnqueueIsAtomicAndClaimTakesOldestDue) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  auto id1 = spool->Enqueue(MakeJob("v1.0.0"));
  ASSERT_TRUE(id1.ok()) << id1.message();
  std::this_thread::sleep_for(2ms);
  Job later = MakeJob("v1.1.0");
  later.next_attempt = Clock::now() + 1h;
  auto id2 = spool->Enqueue(later);
  ASSERT_TRUE(id2.ok());
  EXPECT_EQ(Names(dir.path() / "spool" / "queue"),
            (std::vector<std::string>{*id1 + ".job", *id2 + ".job"}));
  EXPECT_TRUE(Names(dir.path() / "spool" / "tmp").empty());
  EXPECT_EQ(*spool->QueueDepth(), 2u);

  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok()) << owner.message();
  auto c = spool->Claim(*owner);
  ASSERT_TRUE(c.ok()) << c.message();
  ASSERT_TRUE(c->job.has_value());
  EXPECT_EQ(c->job->id, *id1);
  EXPECT_EQ(c->job->tag, "v1.0.0");
  // The other one is not due yet.
  auto none = spool->Claim(*owner);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->job.has_value());
  ASSERT_TRUE(none->next_due.has_value());
  EXPECT_EQ(FormatTime(*none->next_due), FormatTime(later.next_attempt));
  // ...but is when time has come.
  auto due = spool->Claim(*owner, Clock::now() + 2h);
  ASSERT_TRUE(due.ok());
  ASSERT_TRUE(due->job.has_value());
  EXPECT_EQ(due->job->id, *id2);
  EXPECT_EQ(spool->List(State::kClaimed)->size(), 2u);
  EXPECT_EQ(spool->List(State::kClaimed)->at(0).owner, owner->id());
}

// Pre-receive holds a job durably; post-receive releases it into queue/ (due now); a job
// of a push that was not accepted is dropped. Nothing of it is visible in queue/ before.
TEST(Jobs, HeldJobsAreReleasedIntoTheQueueOrDropped) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  EXPECT_TRUE(spool->ListHeld()->empty());  // no held/ yet: an older spool reads as empty
  Job later = MakeJob("v1.0.0");
  later.next_attempt = Clock::now() + 1h;
  ASSERT_TRUE(spool->Hold("k1", later).ok());
  ASSERT_TRUE(spool->Hold("k2", MakeJob("v2.0.0")).ok());
  EXPECT_FALSE(spool->Hold("../k", MakeJob("v3.0.0")).ok());
  EXPECT_EQ(*spool->QueueDepth(), 0u);
  auto held = spool->ListHeld();
  ASSERT_TRUE(held.ok()) << held.message();
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].key, "k1");
  EXPECT_EQ((*held)[0].job.tag, "v1.0.0");
  EXPECT_TRUE((*held)[0].problem.empty());

  auto released = spool->ReleaseHeld("k1");
  ASSERT_TRUE(released.ok()) << released.message();
  EXPECT_TRUE(*released);
  EXPECT_FALSE(*spool->ReleaseHeld("k1"));  // once
  auto queued = spool->List(State::kQueued);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].job.tag, "v1.0.0");
  EXPECT_LE((*queued)[0].job.next_attempt, Clock::now());  // due from the release
  ASSERT_TRUE(spool->DropHeld("k2").ok());
  EXPECT_TRUE(spool->ListHeld()->empty());
  EXPECT_EQ(*spool->QueueDepth(), 1u);
  EXPECT_TRUE(Names(dir.path() / "spool" / "tmp").empty());
}

TEST(Jobs, CompleteRetryFailAndRetryFailed) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE(spool->Enqueue(MakeJob("v1.0.0")).ok());
  ASSERT_TRUE(spool->Enqueue(MakeJob("v2.0.0")).ok());
  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok());

  Job a = *spool->Claim(*owner)->job;
  a.result_json = R"({"outcome":"published"})";
  ASSERT_TRUE(spool->Complete(*owner, a).ok());
  auto done = spool->List(State::kDone);
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ(done->at(0).job.result_json, R"({"outcome":"published"})");
  EXPECT_NE(done->at(0).job.finished, Clock::time_point{});

  Job b = *spool->Claim(*owner)->job;
  auto when = Clock::now() + 10min;
  ASSERT_TRUE(spool->Retry(*owner, b, "storage read-only", when).ok());
  auto queued = spool->List(State::kQueued);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->at(0).job.attempts, 1);
  EXPECT_EQ(queued->at(0).job.last_error, "storage read-only");
  EXPECT_EQ(FormatTime(queued->at(0).job.next_attempt), FormatTime(when));
  EXPECT_FALSE(spool->Claim(*owner)->job.has_value());

  Job b2 = *spool->Claim(*owner, when)->job;
  EXPECT_EQ(b2.attempts, 1);
  ASSERT_TRUE(spool->MarkFailed(*owner, b2, "gave up after 2 attempts").ok());
  auto failed = spool->List(State::kFailed);
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ(failed->at(0).job.last_error, "gave up after 2 attempts");
  EXPECT_TRUE(spool->List(State::kClaimed)->empty());

  EXPECT_FALSE(spool->RetryFailed("nonexistent").ok());
  ASSERT_TRUE(spool->RetryFailed(b2.id).ok());
  EXPECT_TRUE(spool->List(State::kFailed)->empty());
  Job again = *spool->Claim(*owner)->job;
  EXPECT_EQ(again.id, b2.id);
  EXPECT_EQ(again.attempts, 0);
  // A job not claimed by this owner cannot be completed.
  ASSERT_TRUE(spool->Release(*owner, again).ok());
  EXPECT_FALSE(spool->Complete(*owner, again).ok());
}

TEST(Jobs, CorruptFilesAreSetAsideWithReason) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  std::ofstream(dir.path() / "queue" / "0001-garbage.job") << "{not json";
  fs::create_directory(dir.path() / "queue" / "0002-dir.job");  // unreadable: a directory
  std::ofstream(dir.path() / "queue" / "0003-other.job")
      << R"({"format":"modpub-job/1","id":"zzz","repo":"/r","import_path":"a","tag":"v1.0.0"})";
  std::ofstream(dir.path() / "queue" / "ignored.tmp") << "partial";
  auto good = spool->Enqueue(MakeJob("v1.0.0"));
  ASSERT_TRUE(good.ok());
  auto owner = spool->Register();
  auto c = spool->Claim(*owner);
  ASSERT_TRUE(c.ok()) << c.message();
  ASSERT_TRUE(c->job.has_value());
  EXPECT_EQ(c->job->id, *good);
  ASSERT_EQ(c->set_aside.size(), 3u);
  EXPECT_NE(c->set_aside[0].reason.find("not valid JSON"), std::string::npos);
  EXPECT_NE(c->set_aside[1].reason.find("Is a directory"), std::string::npos)
      << c->set_aside[1].reason;
  EXPECT_NE(c->set_aside[2].reason.find("does not match the file name"), std::string::npos);
  auto corrupt = spool->List(State::kCorrupt);
  ASSERT_EQ(corrupt->size(), 3u);
  EXPECT_EQ(corrupt->at(0).job.id, "0001-garbage.job");
  EXPECT_NE(corrupt->at(0).job.last_error.find("not valid JSON"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "queue" / "ignored.tmp"));
}

TEST(Jobs, TwoOwnersNeverClaimTheSameJob) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  constexpr int kJobs = 200;
  for (int i = 0; i < kJobs; ++i)
    ASSERT_TRUE(spool->Enqueue(MakeJob("v1.0." + std::to_string(i))).ok());
  std::vector<std::string> got[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto s = Spool::Open(dir.path());
      auto owner = s->Register();
      for (;;) {
        auto c = s->Claim(*owner);
        if (!c.ok() || !c->job) break;
        got[t].push_back(c->job->id);
        ASSERT_TRUE(s->Complete(*owner, *c->job).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  std::size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kJobs));
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(spool->List(State::kDone)->size(), static_cast<std::size_t>(kJobs));
}

TEST(Jobs, RequeueStaleTakesBackOnlyDeadOwnersJobs) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE(spool->Enqueue(MakeJob("v1.0.0")).ok());
  ASSERT_TRUE(spool->Enqueue(MakeJob("v1.1.0")).ok());
  auto alive = spool->Register();
  ASSERT_TRUE(alive.ok());
  ASSERT_TRUE(spool->Claim(*alive)->job.has_value());

  // A dead owner: a child process registers, claims a job and dies without cleanup.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Spool::Open(dir.path());
    auto o = s->Register();
    auto c = s->Claim(*o);
    ::_exit(c.ok() && c->job ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(spool->List(State::kClaimed)->size(), 2u);
  EXPECT_EQ(*spool->QueueDepth(), 0u);

  auto n = spool->RequeueStale();
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(*spool->QueueDepth(), 1u);
  auto claimed = spool->List(State::kClaimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->at(0).owner, alive->id());
  EXPECT_EQ(Names(dir.path() / "claimed"), std::vector<std::string>{alive->id()});
  EXPECT_EQ(*spool->RequeueStale(), 0);
}

TEST(Jobs, OwnerCleansUpOnDestruction) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  {
    auto o = spool->Register();
    ASSERT_TRUE(o.ok());
  }
  EXPECT_TRUE(Names(dir.path() / "claimed").empty());
  EXPECT_TRUE(Names(dir.path() / "owners").empty());
}

TEST(Jobs, RemoveStaleTemporariesKeepsFreshOnes) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  std::ofstream(dir.path() / "tmp" / "old") << "x";
  std::ofstream(dir.path() / "tmp" / "fresh") << "x";
  fs::last_write_time(dir.path() / "tmp" / "old",
                      fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto n = spool->RemoveStaleTemporaries(std::chrono::hours(1));
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Names(dir.path() / "tmp"), std::vector<std::string>{"fresh"});
}

TEST(Jobs, PokeNeverBlocksAndTellsWhetherADaemonListens) {
  testing::TempDir dir;
  std::string path = (dir.path() / "d.sock").string();
  EXPECT_EQ(Poke(path), Wake::kNotRunning);  // no socket file: returns at once
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(Poke(path), Wake::kDelivered);
  char buf[16];
  EXPECT_GT(::recv(fd, buf, sizeof buf, MSG_DONTWAIT), 0);
  // A full socket buffer: pokes return at once, and say the daemon is there (busy).
  int busy = 0;
  for (int i = 0; i < 100000 && busy == 0; ++i) busy += Poke(path) == Wake::kBusy ? 1 : 0;
  EXPECT_EQ(busy, 1);
  // The file a killed daemon leaves behind: nobody has it bound any more.
  ::close(fd);
  EXPECT_EQ(Poke(path), Wake::kNotRunning);
}

// A git user (umask 022) may be the first to open the spool or to hold a job: the
// directories it makes must still let the daemon and the other git users in.
TEST(Jobs, NewSubdirectoriesTakeTheSpoolsPermissions) {
  testing::TempDir dir;
  const fs::path root = dir.path() / "spool";
  fs::create_directory(root);
  ASSERT_EQ(::chmod(root.c_str(), 02770), 0);
  const mode_t old_mask = ::umask(022);
  auto spool = Spool::Open(root);
  Status held = spool.ok() ? spool->Hold("push-1", MakeJob("v1.0.0")) : Status(Ok());
  ::umask(old_mask);
  ASSERT_TRUE(spool.ok()) << spool.message();
  ASSERT_TRUE(held.ok()) << held.message();
  for (const char* sub : {"tmp", "queue", "claimed", "done", "failed", "intake", "held"}) {
    struct stat st;
    ASSERT_EQ(::stat((root / sub).c_str(), &st), 0) << sub;
    EXPECT_EQ(st.st_mode & 07777, 02770u) << sub;
  }
}

TEST(Jobs, RemoveFinishedBeforeDeletesOnlyOldDoneJobs) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  for (const char* tag : {"v1.0.0", "v1.1.0", "v1.2.0"}) {
    ASSERT_TRUE(spool->Enqueue(MakeJob(tag)).ok());
  }
  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    Job j = *spool->Claim(*owner)->job;
    ids.push_back(j.id);
    ASSERT_TRUE(spool->Complete(*owner, j).ok());
  }
  Job f = *spool->Claim(*owner)->job;
  ASSERT_TRUE(spool->MarkFailed(*owner, f, "bad tag").ok());
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(dir.path() / "done" / (ids[0] + ".job"), now - std::chrono::hours(49));
  fs::last_write_time(dir.path() / "failed" / (f.id + ".job"), now - std::chrono::hours(49));

  auto n = spool->RemoveFinishedBefore(now - std::chrono::hours(48));
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Names(dir.path() / "done"), std::vector<std::string>{ids[1] + ".job"});
  EXPECT_EQ(spool->List(State::kFailed)->size(), 1u);  // failed jobs wait for a person
}

// Group commit: many threads enqueue at once; every job is in queue/ exactly once,
// complete (parses, id = file name), and nothing is left in tmp/.
TEST(Jobs, ConcurrentEnqueueKeepsEveryJobExactlyOnce) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  constexpr int kThreads = 16, kEach = 25;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::string> errors;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto id = spool->Enqueue(MakeJob("v1." + std::to_string(t) + "." + std::to_string(i)));
        std::lock_guard lock(mu);
        if (id.ok()) {
          ids[t].push_back(*id);
        } else {
          errors.push_back(id.message());
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  std::set<std::string> returned;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      EXPECT_TRUE(returned.insert(ids[t][i]).second) << "id returned twice: " << ids[t][i];
    }
  }
  auto queued = spool->List(State::kQueued);
  ASSERT_TRUE(queued.ok()) << queued.message();
  ASSERT_EQ(queued->size(), static_cast<std::size_t>(kThreads * kEach));
  std::set<std::string> tags;
  for (const auto& e : *queued) {
    EXPECT_EQ(e.job.last_error, "") << e.job.id;  // parsed, complete
    EXPECT_EQ(returned.count(e.job.id), 1u) << e.job.id;
    tags.insert(e.job.tag);
  }
  EXPECT_EQ(tags.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_TRUE(Names(dir.path() / "spool" / "tmp").empty());
  auto stats = spool->Stats();
  EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_LE(stats.batches, stats.jobs);
}

// Starts `n` threads that each enqueue one job; returns their results in thread order.
std::vector<Result<std::string>> EnqueueFromThreads(const Spool& spool, int first, int n) {
  std::vector<std::optional<Result<std::string>>> out(static_cast<std::size_t>(n));
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i) {
    ts.emplace_back(
        [&, i] { out[i] = spool.Enqueue(MakeJob("v2.0." + std::to_string(first + i))); });
  }
  for (auto& th : ts) th.join();
  std::vector<Result<std::string>> r;
  for (auto& o : out) r.push_back(std::move(*o));
  return r;
}

// Callers arriving while a batch commits wait and are committed together by one leader.
// The first caller's commit is held (test hook) until 7 more jobs are written and wait.
TEST(Jobs, WritersArrivingDuringACommitFormOneBatch) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  std::vector<std::size_t> sizes;  // written by leaders, one at a time
  std::atomic<int> calls{0};
  bool timed_out = false;
  spool->SetBatchObserver([&](std::size_t n) {
    sizes.push_back(n);
    ++calls;
    if (sizes.size() != 1) return;
    auto until = std::chrono::steady_clock::now() + 30s;
    while (spool->Stats().waiting < 7) {
      if (std::chrono::steady_clock::now() > until) {
        timed_out = true;
        return;
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  std::optional<Result<std::string>> first;
  std::thread leader([&] { first = spool->Enqueue(MakeJob("v2.0.0")); });
  while (calls == 0) std::this_thread::sleep_for(1ms);
  auto rest = EnqueueFromThreads(*spool, 1, 7);
  leader.join();
  ASSERT_FALSE(timed_out);
  ASSERT_TRUE(first->ok()) << first->message();
  for (const auto& r : rest) ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 7}));
  EXPECT_EQ(spool->Stats().batches, 2u);
  EXPECT_EQ(*spool->QueueDepth(), 8u);
  for (const auto& r : rest) EXPECT_TRUE(spool->Waiting(*r).has_value()) << *r;
  EXPECT_TRUE(Names(dir.path() / "spool" / "tmp").empty());
}

// A failure of the batch (here: queue/ is gone when the leader commits) reaches every
// caller in it, and leaves nothing behind in tmp/; the batch before it is unaffected.
TEST(Jobs, ABatchFailureReachesEveryCallerInIt) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  const fs::path queue = dir.path() / "spool" / "queue";
  std::vector<std::size_t> sizes;
  std::atomic<int> calls{0};
  spool->SetBatchObserver([&](std::size_t n) {
    sizes.push_back(n);
    ++calls;
    if (sizes.size() == 1) {
      auto until = std::chrono::steady_clock::now() + 30s;
      while (spool->Stats().waiting < 5 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(1ms);
    } else if (sizes.size() == 2) {
      fs::rename(queue, dir.path() / "spool" / "queue-away");
    }
  });
  std::optional<Result<std::string>> first;
  std::thread leader([&] { first = spool->Enqueue(MakeJob("v3.0.0")); });
  while (calls == 0) std::this_thread::sleep_for(1ms);
  auto rest = EnqueueFromThreads(*spool, 1, 5);
  leader.join();
  ASSERT_TRUE(first->ok()) << first->message();
  ASSERT_EQ(sizes, (std::vector<std::size_t>{1, 5}));
  for (const auto& r : rest) {
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("cannot open the queue directory"), std::string::npos)
        << r.message();
  }
  EXPECT_TRUE(Names(dir.path() / "spool" / "tmp").empty());
  fs::rename(dir.path() / "spool" / "queue-away", queue);
  EXPECT_EQ(Names(queue), std::vector<std::string>{*(*first) + ".job"});
  // The spool works again once queue/ is back.
  spool->SetBatchObserver(nullptr);
  EXPECT_TRUE(spool->Enqueue(MakeJob("v3.0.9")).ok());
}

TEST(Jobs, WaitingSeesOnlyJobsStillInQueue) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  auto id = spool->Enqueue(MakeJob("v4.0.0"));
  ASSERT_TRUE(id.ok()) << id.message();
  auto w = spool->Waiting(*id);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->tag, "v4.0.0");
  EXPECT_EQ(w->attempts, 0);
  EXPECT_FALSE(spool->Waiting("no-such-job").has_value());
  EXPECT_FALSE(spool->Waiting("../queue/x").has_value());
  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok()) << owner.message();
  auto c = spool->Claim(*owner);
  ASSERT_TRUE(c.ok() && c->job.has_value());
  EXPECT_FALSE(spool->Waiting(*id).has_value());
}

// --- Intake: journal first, queue/ as the runners make room ------------------------------

std::set<std::string> QueuedIds(const fs::path& spool) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(spool / "queue")) {
    out.insert(e.path().stem().string());
  }
  return out;
}

void WriteText(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool WaitUntil(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(Intake, ConcurrentJobsAreDurableThenQueuedOnce) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  std::atomic<int> wakes = 0;
  auto intake = Intake::Open(*spool, [&] { ++wakes; });
  ASSERT_TRUE(intake.ok()) << intake.message();
  std::mutex mu;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto id = (*intake)->Enqueue(MakeJob("v1." + std::to_string(t) + "." + std::to_string(i)));
        ASSERT_TRUE(id.ok()) << id.message();
        // Acknowledged: findable at once, from the journal or from queue/.
        EXPECT_TRUE((*intake)->Waiting(*id).has_value());
        std::lock_guard lock(mu);
        ids.insert(*id);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ids.size(), 200u);
  ASSERT_TRUE((*intake)->Flush(5s));
  EXPECT_EQ(QueuedIds(dir.path()), ids);
  auto st = (*intake)->stats();
  EXPECT_EQ(st.jobs, 200u);
  EXPECT_EQ(st.moved, 200u);
  EXPECT_LE(st.commits, 200u);
  EXPECT_GE(wakes, 1);
  // Everything recorded is in queue/: the journal was emptied.
  EXPECT_EQ(fs::file_size((*intake)->journal()), 0u);
  // Same checks as Spool::Enqueue.
  Job bad = MakeJob("v1.0.0");
  bad.tag.clear();
  EXPECT_FALSE((*intake)->Enqueue(bad).ok());
  bad = MakeJob("v1.0.0");
  bad.id = "../x";
  EXPECT_FALSE((*intake)->Enqueue(bad).ok());
}

TEST(Intake, ABurstWaitsInTheJournalUntilQueueHasRoom) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  auto intake = Intake::Open(*spool, {}, 64);
  ASSERT_TRUE(intake.ok()) << intake.message();
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    auto id = (*intake)->Enqueue(MakeJob("v2.0." + std::to_string(i)));
    ASSERT_TRUE(id.ok()) << id.message();
    ids.push_back(*id);
  }
  // No runner: queue/ fills up to its bound, the rest stays in the journal.
  ASSERT_TRUE(WaitUntil([&] { return *spool->QueueDepth() == 64u; }));
  EXPECT_FALSE((*intake)->Flush(100ms));
  EXPECT_EQ(*spool->QueueDepth(), 64u);
  EXPECT_TRUE((*intake)->Waiting(ids.back()).has_value());
  EXPECT_FALSE(spool->Waiting(ids.back()).has_value());
  EXPECT_EQ((*intake)->Backlog(), 300u - 64u);
  // `modpub jobs` lists them all as queued.
  auto listed = spool->List(State::kQueued);
  ASSERT_TRUE(listed.ok()) << listed.message();
  EXPECT_EQ(listed->size(), 300u);
  // Every job not in queue/ is in the journal (which may also still hold queued ones: it
  // is emptied only when everything in it is in queue/).
  auto journal = ReadIntakeJournal((*intake)->journal());
  ASSERT_TRUE(journal.ok()) << journal.message();
  EXPECT_FALSE(journal->damaged);
  std::set<std::string> journaled;
  for (const auto& j : journal->jobs) journaled.insert(j.id);
  const auto queued = QueuedIds(dir.path());
  for (const auto& id : ids) EXPECT_TRUE(queued.count(id) || journaled.count(id)) << id;
  EXPECT_GE(journaled.size(), 236u);
  // A runner takes 100 as the mover makes them files: queue/ is refilled to its bound.
  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok());
  std::set<std::string> claimed;
  auto claim = [&] {
    std::optional<Job> job;
    bool ok = WaitUntil([&] {
      auto c = spool->Claim(*owner);
      if (c.ok() && c->job) job = c->job;
      return job.has_value();
    });
    if (ok) {
      EXPECT_TRUE(claimed.insert(job->id).second) << job->id << " claimed twice";
    }
    return ok;
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(claim());
  ASSERT_TRUE(WaitUntil([&] { return *spool->QueueDepth() == 64u; }));
  EXPECT_FALSE((*intake)->Flush(100ms));
  EXPECT_EQ(*spool->QueueDepth(), 64u);
  // Then it takes the other 200: every job once, and the journal empties.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(claim());
  ASSERT_TRUE((*intake)->Flush(5s));
  EXPECT_EQ(*spool->QueueDepth(), 0u);
  EXPECT_EQ((*intake)->Backlog(), 0u);
  EXPECT_EQ(claimed, std::set<std::string>(ids.begin(), ids.end()));
}

TEST(Intake, AnOrderlyStopQueuesEverythingAndRemovesItsFiles) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  std::set<std::string> ids;
  {
    auto intake = Intake::Open(*spool);
    ASSERT_TRUE(intake.ok()) << intake.message();
    for (int i = 0; i < 300; ++i)
      ids.insert(*(*intake)->Enqueue(MakeJob("v3.0." + std::to_string(i))));
  }
  EXPECT_EQ(QueuedIds(dir.path()), ids);
  EXPECT_TRUE(Names(dir.path() / "intake").empty());
  EXPECT_TRUE(Names(dir.path() / "owners").empty());
  EXPECT_EQ(*spool->RequeueStale(), 0);
}

// A daemon killed with jobs still only in its journal: the next RequeueStale (any daemon)
// queues each acknowledged job exactly once, whether the mover had queued it or not.
TEST(Intake, AKilledIntakeIsReplayedExactlyOnce) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  const fs::path acked = dir.path() / "acked";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Spool::Open(dir.path());
    auto intake = Intake::Open(*s);
    if (!intake) ::_exit(1);
    std::ofstream out(acked);
    for (int i = 0; i < 400; ++i) {
      auto id = (*intake)->Enqueue(MakeJob("v4.0." + std::to_string(i)));
      if (!id) ::_exit(2);
      out << *id << "\n" << std::flush;
    }
    ::raise(SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  std::set<std::string> ids;
  std::ifstream in(acked);
  for (std::string line; std::getline(in, line);) ids.insert(line);
  ASSERT_EQ(ids.size(), 400u);
  const std::size_t before = *spool->QueueDepth();
  EXPECT_LE(before, 256u);  // the rest was only in the journal
  auto n = spool->RequeueStale();
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(static_cast<std::size_t>(*n), 400u - before);
  EXPECT_EQ(QueuedIds(dir.path()), ids);
  EXPECT_TRUE(Names(dir.path() / "intake").empty());
  EXPECT_EQ(*spool->RequeueStale(), 0);
  EXPECT_EQ(QueuedIds(dir.path()).size(), 400u);
}

TEST(Intake, JournalsCutShortOrDamagedAreReadAsFarAsTheyCanBe) {
  testing::TempDir dir;
  auto spool = Spool::Open(dir.path());
  ASSERT_TRUE(spool.ok());
  Job a = MakeJob("v5.0.0"), b = MakeJob("v5.0.1"), c = MakeJob("v5.0.2");
  ASSERT_TRUE(PrepareJob(a).ok() && PrepareJob(b).ok() && PrepareJob(c).ok());
  const std::string ra = IntakeRecord(a), rb = IntakeRecord(b), rc = IntakeRecord(c);
  EXPECT_EQ(ra.back(), '\n');
  EXPECT_EQ(std::count(ra.begin(), ra.end(), '\n'), 1);

  // The last record cut short (its writer died in the write): expected, not damage.
  const fs::path torn = dir.path() / "torn.log";
  WriteText(torn, ra + rb + rc.substr(0, rc.size() / 2));
  auto t = ReadIntakeJournal(torn);
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_FALSE(t->damaged);
  ASSERT_EQ(t->jobs.size(), 2u);
  EXPECT_EQ(t->jobs[1].id, b.id);
  EXPECT_EQ(t->jobs[1].tag, "v5.0.1");

  // Left by an intake that stopped with jobs it could not queue (its owner lock and claim
  // directory are gone): replayed all the same.
  fs::copy_file(torn, dir.path() / "intake" / "host-2-gone.log");
  auto replayed = spool->RequeueStale();
  ASSERT_TRUE(replayed.ok()) << replayed.message();
  EXPECT_EQ(*replayed, 2);
  EXPECT_EQ(QueuedIds(dir.path()), (std::set<std::string>{a.id, b.id}));
  EXPECT_TRUE(Names(dir.path() / "intake").empty());
  ASSERT_TRUE(fs::remove(dir.path() / "queue" / (a.id + ".job")));
  ASSERT_TRUE(fs::remove(dir.path() / "queue" / (b.id + ".job")));

  // A flipped byte in the middle: the checksum catches it, and the journal is damaged.
  std::string flipped = rb;
  flipped[20] = flipped[20] == 'x' ? 'y' : 'x';
  const fs::path bad = dir.path() / "bad.log";
  WriteText(bad, ra + flipped + rc);
  auto d = ReadIntakeJournal(bad);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_TRUE(d->damaged);
  EXPECT_NE(d->last_bad.find("bad.log:2: checksum mismatch"), std::string::npos) << d->last_bad;
  ASSERT_EQ(d->jobs.size(), 2u);

  // Replayed as a dead owner's journal: the usable jobs are queued (a is already in the
  // spool), the journal is kept in corrupt/ with the reason.
  ASSERT_TRUE(spool->Enqueue(a).ok());
  const std::string dead = "host-1-dead";
  ASSERT_TRUE(fs::create_directory(dir.path() / "claimed" / dead));
  fs::rename(bad, dir.path() / "intake" / (dead + ".log"));
  auto n = spool->RequeueStale();
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(QueuedIds(dir.path()), (std::set<std::string>{a.id, c.id}));
  EXPECT_TRUE(fs::exists(dir.path() / "corrupt" / (dead + ".log")));
  EXPECT_NE(ReadText(dir.path() / "corrupt" / (dead + ".log.reason")).find("checksum"),
            std::string::npos);
  EXPECT_TRUE(Names(dir.path() / "intake").empty());
}

}  // namespace
}  // namespace modpub::jobs
