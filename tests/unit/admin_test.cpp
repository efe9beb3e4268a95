// The admin layer: the operations both the CLI and modpubd's admin API call (retry one
// job, every failed job, backfill), their audit lines, the routes' input rules and
// refusals (driven through the Router, no server), the backfill runs one at a time, and
// a real backfill into a file:// tree. The cluster-queue cases run against a real
// redis-server and are skipped where it is not installed.
#include "modpub/admin/admin.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "modpub/admin/backfill_runs.hpp"
#include "modpub/admin/operations.hpp"
#include "support/redis_server.hpp"
#include "support/temp_repo.hpp"

namespace modpub::admin {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// Every line logged while it lives (the default logger replaced, then restored).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_level(spdlog::level::info);
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

jobs::Job MakeJob(const std::string& tag) {
  jobs::Job j;
  j.repo = "/srv/git/lib.git";
  j.import_path = "corp.example/lib";
  j.tag = tag;
  j.source = "hook";
  return j;
}

// A spool with one failed job per tag; their ids in order.
std::vector<std::string> FailJobs(const jobs::Spool& spool, const std::vector<std::string>& tags) {
  auto owner = spool.Register();
  EXPECT_TRUE(owner.ok()) << owner.message();
  std::vector<std::string> ids;
  for (const auto& tag : tags) {
    EXPECT_TRUE(spool.Enqueue(MakeJob(tag)).ok());
    auto c = spool.Claim(*owner);
    EXPECT_TRUE(c.ok() && c->job.has_value());
    EXPECT_TRUE(spool.MarkFailed(*owner, *c->job, "gave up: no such tag").ok());
    ids.push_back(c->job->id);
  }
  return ids;
}

std::vector<std::string> IdsIn(const jobs::Spool& spool, jobs::State state) {
  std::vector<std::string> ids;
  auto list = spool.List(state);  // named: a range-for over *temporary would dangle
  EXPECT_TRUE(list.ok()) << list.message();
  if (list) {
    for (const auto& e : *list) ids.push_back(e.job.id);
  }
  return ids;
}

// --- the operations ---------------------------------------------------------------------

TEST(AdminOperations, UnixPrincipalIsTheEffectiveUsersName) {
  const passwd* pw = ::getpwuid(::geteuid());
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(UnixPrincipal(), std::string("unix:") + pw->pw_name);
  EXPECT_EQ(UnixCaller().who, UnixPrincipal());
}

TEST(AdminOperations, RetryJobRequeuesFromTheSpoolAndWritesOneAuditLine) {
  testing::TempDir dir;
  auto spool = jobs::Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  const auto ids = FailJobs(*spool, {"v1.0.0"});
  std::vector<std::string> echoed;
  LogCapture log;
  auto r = RetryJob(Caller{"alice", [&](const std::string& l) { echoed.push_back(l); }},
                    Queues{&*spool, nullptr}, ids[0]);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->where, kSpoolQueue);
  EXPECT_EQ(IdsIn(*spool, jobs::State::kQueued), ids);
  EXPECT_TRUE(IdsIn(*spool, jobs::State::kFailed).empty());
  const std::string line = "admin: job " + ids[0] + " re-queued (spool); retry by alice";
  EXPECT_EQ(log.text(), line + "\n");
  EXPECT_EQ(echoed, std::vector<std::string>{line});

  // Not failed (any more): an error naming where it looked, and a line saying so.
  auto again = RetryJob(Caller{"unix:bob", {}}, Queues{&*spool, nullptr}, ids[0]);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.message(), HasSubstr("is not in failed/"));
  EXPECT_THAT(log.text(), HasSubstr("admin: job " + ids[0] + " not re-queued: job " + ids[0] +
                                    " is not in failed/"));
  EXPECT_THAT(log.text(), HasSubstr("; retry by unix:bob\n"));
}

TEST(AdminOperations, RetryAllFailedRequeuesEveryFailedJobAndSaysWhich) {
  testing::TempDir dir;
  auto spool = jobs::Spool::Open(dir.path() / "spool");
  ASSERT_TRUE(spool.ok()) << spool.message();
  LogCapture log;
  auto none = RetryAllFailed(Caller{"alice", {}}, Queues{&*spool, nullptr});
  EXPECT_TRUE(none.requeued.empty() && none.errors.empty());
  EXPECT_THAT(log.text(), HasSubstr("admin: 0 failed jobs re-queued (spool: none); "
                                    "retry-failed by alice"));
  const auto ids = FailJobs(*spool, {"v1.0.0", "v1.1.0"});
  auto r = RetryAllFailed(Caller{"alice", {}}, Queues{&*spool, nullptr});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.requeued.size(), 2u);
  EXPECT_EQ(r.requeued[0].id, ids[0]);
  EXPECT_EQ(r.requeued[1].id, ids[1]);
  EXPECT_EQ(IdsIn(*spool, jobs::State::kQueued), ids);
  EXPECT_TRUE(IdsIn(*spool, jobs::State::kFailed).empty());
  for (const auto& id : ids) {
    EXPECT_THAT(log.text(),
                HasSubstr("admin: job " + id + " re-queued (spool); retry-failed by alice"));
  }
  EXPECT_THAT(log.text(), HasSubstr("admin: 2 failed jobs re-queued (spool: " + ids[0] + ", " +
                                    ids[1] + "); retry-failed by alice"));
}

TEST(AdminOperations, DescribeSummaryNamesEveryStorageAndTheInvalidTags) {
  publish::BackfillSummary s;
  s.version_tags = 4;
  s.invalid = {"v1.2"};
  s.backends["file:///srv/goproxy"] = {2, 1, 0, 0};
  EXPECT_EQ(DescribeSummary(s),
            "file:///srv/goproxy: 2 published, 1 unchanged, 0 refused, 0 failed; 1 invalid tag "
            "(v1.2); 4 version tags");
  s.stopped = true;
  s.tag_failures = 1;
  EXPECT_THAT(DescribeSummary(s), HasSubstr("1 tag failed before reaching a storage; 4 version "
                                            "tags, stopped early"));
}

// --- the cluster queue (a real redis-server) ------------------------------------------------

class AdminClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!::modpub::testing::RedisTestServer::Available()) {
      GTEST_SKIP() << "redis-server is not installed";
    }
    auto url = jobs::ParseRedisQueueUrl(server_.url("stream=admin:jobs&group=workers"));
    ASSERT_TRUE(url.ok()) << url.message();
    auto q = jobs::RedisQueue::Open(*url, jobs::RedisQueueOptions{"worker-0"});
    ASSERT_TRUE(q.ok()) << q.message();
    queue_ = std::move(*q);
    auto spool = jobs::Spool::Open(dir_.path() / "spool");
    ASSERT_TRUE(spool.ok()) << spool.message();
    spool_.emplace(std::move(*spool));
  }
  // A job through the stream into the dead letters, as a worker gives it up; its id.
  std::string DeadJob(const std::string& tag) {
    EXPECT_TRUE(queue_->Enqueue(MakeJob(tag)).ok());
    auto c = queue_->Claim(milliseconds(200));
    EXPECT_TRUE(c.ok() && c->has_value());
    EXPECT_TRUE(queue_->MarkFailed(**c, (*c)->job, "gave up: no such tag").ok());
    return (*c)->job.id;
  }
  ::modpub::testing::RedisTestServer server_;
  testing::TempDir dir_;
  std::unique_ptr<jobs::RedisQueue> queue_;
  std::optional<jobs::Spool> spool_;
};

TEST_F(AdminClusterTest, RetryLooksInTheClusterQueueFirstThenTheSpool) {
  const std::string dead = DeadJob("v2.0.0");
  const auto local = FailJobs(*spool_, {"v2.1.0"});
  LogCapture log;
  const Queues both{&*spool_, queue_.get()};
  auto r = RetryJob(Caller{"alice", {}}, both, dead);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->where, kClusterQueue);
  EXPECT_TRUE(queue_->List(jobs::State::kFailed)->empty());
  auto again = queue_->Claim(milliseconds(200));
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->job.id, dead);
  EXPECT_EQ((*again)->job.attempts, 0);
  EXPECT_THAT(log.text(),
              HasSubstr("admin: job " + dead + " re-queued (cluster queue); retry by alice"));
  // Not in the dead letters: the spool's failed/ is next.
  auto s = RetryJob(Caller{"alice", {}}, both, local[0]);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->where, kSpoolQueue);
  // In neither: both places are named.
  auto missing = RetryJob(Caller{"alice", {}}, both, "20260101T000000000Z-00000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("cluster queue: job 20260101T000000000Z-00000000 is "
                                           "not among the failed jobs of admin:jobs:dead"));
  EXPECT_THAT(missing.message(), HasSubstr("is not in failed/"));
}

TEST_F(AdminClusterTest, RetryAllFailedEmptiesBothQueuesDeadLetters) {
  const std::string a = DeadJob("v3.0.0"), b = DeadJob("v3.1.0");
  const auto local = FailJobs(*spool_, {"v3.2.0"});
  LogCapture log;
  auto r = RetryAllFailed(Caller{"alice", {}}, Queues{&*spool_, queue_.get()});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.requeued.size(), 3u);
  EXPECT_EQ(r.requeued[0].where, kClusterQueue);
  EXPECT_EQ(r.requeued[1].where, kClusterQueue);
  EXPECT_EQ(r.requeued[2].id, local[0]);
  EXPECT_EQ(r.requeued[2].where, kSpoolQueue);
  EXPECT_TRUE(queue_->List(jobs::State::kFailed)->empty());
  EXPECT_TRUE(IdsIn(*spool_, jobs::State::kFailed).empty());
  EXPECT_THAT(log.text(), HasSubstr("admin: 3 failed jobs re-queued (cluster queue: "));
  EXPECT_THAT(log.text(), HasSubstr("; spool: " + local[0] + "); retry-failed by alice"));
}

// --- the routes ---------------------------------------------------------------------------

const char kAdminToken[] = "admin-token";
const char kReaderToken[] = "reader-token";

std::shared_ptr<http::Auth> MakeAuth() {
  auto auth =
      http::Auth::FromToml("[[token]]\nname = \"ops\"\nsha256 = \"" + http::HashToken(kAdminToken) +
                               "\"\nallow = [\"*\"]\nadmin = true\n"
                               "[[token]]\nname = \"reader\"\nsha256 = \"" +
                               http::HashToken(kReaderToken) + "\"\nallow = [\"*\"]\n",
                           "admin.toml");
  EXPECT_TRUE(auth.ok()) << auth.message();
  return *auth;
}

http::Response Call(const http::Router& router, const std::string& method,
                    const std::string& target, const std::string& token = "",
                    const std::string& body = "") {
  http::Request req;
  req.method = method;
  req.target = target;
  req.path = target.substr(0, target.find('?'));
  req.remote_addr = "127.0.0.1";
  req.body = body;
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  http::Response res;
  router.Dispatch(req, res);
  return res;
}

nlohmann::json Body(const http::Response& res) { return nlohmann::json::parse(res.body); }

// A daemon's admin API on a spool, with backfill runs whose work a test controls: each
// repository's backfill waits until released.
class AdminRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spool = jobs::Spool::Open(dir_.path() / "spool");
    ASSERT_TRUE(spool.ok()) << spool.message();
    spool_.emplace(std::move(*spool));
    config::Config cfg;
    cfg.source = "modpub.toml";
    for (const char* name : {"corp.example/a", "corp.example/b"}) {
      config::RepoConfig r;
      r.path = std::string("/srv/git/") + name + ".git";
      r.import_path = name;
      cfg.repositories.push_back(r);
    }
    auto shared = std::make_shared<const config::Config>(std::move(cfg));
    BackfillRuns::Sources sources;
    sources.config = [shared] { return shared; };
    sources.run = [this](const Caller& caller, const config::RepoConfig& repo,
                         const publish::BackfillObserver& observer,
                         publish::BackfillMode) -> Result<publish::BackfillSummary> {
      std::unique_lock lock(mu_);
      ran_.push_back(caller.who + " " + repo.import_path);
      cv_.notify_all();
      // observer.stop() turns true without a notification: look again every 10 ms.
      while (!released_ && !observer.stop()) cv_.wait_for(lock, milliseconds(10));
      publish::BackfillSummary s;
      s.version_tags = 1;
      s.backends["file:///tree"].published = 1;
      s.stopped = observer.stop();
      return s;
    };
    runs_ = std::make_unique<BackfillRuns>(std::move(sources));
  }
  void TearDown() override {
    Release();
    runs_.reset();
  }
  void Mount(std::shared_ptr<http::Auth> auth) {
    Options o;
    o.auth = std::move(auth);
    o.spool = &*spool_;
    o.wake = [this] { ++wakes_; };
    o.backfills = runs_.get();
    admin::Mount(router_, o);
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void WaitForRuns(std::size_t n) {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ran_.size() >= n; }));
  }
  nlohmann::json WaitUntilIdle() {
    for (int i = 0; i < 1000; ++i) {
      auto state = Body(Call(router_, "GET", "/api/backfill", kAdminToken));
      if (!state["running"].get<bool>()) return state;
      std::this_thread::sleep_for(milliseconds(10));
    }
    ADD_FAILURE() << "the backfill run did not end";
    return {};
  }

  testing::TempDir dir_;
  std::optional<jobs::Spool> spool_;
  std::unique_ptr<BackfillRuns> runs_;
  http::Router router_;
  int wakes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> ran_;
  bool released_ = false;
};

TEST_F(AdminRoutesTest, EveryRouteRefusesAnonymousNonAdminsAndADaemonWithoutAuth) {
  Mount(MakeAuth());
  const auto ids = FailJobs(*spool_, {"v1.0.0"});
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/api/jobs/" + ids[0] + "/retry"},
                                                        {"POST", "/api/jobs/retry-failed"},
                                                        {"POST", "/api/backfill"},
                                                        {"GET", "/api/backfill"}}) {
    auto anonymous = Call(router_, method, target);
    EXPECT_EQ(anonymous.status, 401) << target;
    bool challenged = false;
    for (const auto& [k, v] : anonymous.headers) challenged |= k == "WWW-Authenticate";
    EXPECT_TRUE(challenged) << target;
    EXPECT_EQ(Call(router_, method, target, "wrong-token").status, 401) << target;
    EXPECT_EQ(Call(router_, method, target, kReaderToken).status, 403) << target;
  }
  EXPECT_EQ(IdsIn(*spool_, jobs::State::kFailed), ids);
  EXPECT_TRUE(ran_.empty());

  http::Router bare;
  Options o;
  o.spool = &*spool_;
  o.backfills = runs_.get();
  admin::Mount(bare, o);
  EXPECT_EQ(Call(bare, "POST", "/api/jobs/retry-failed", kAdminToken).status, 403);
  EXPECT_EQ(Call(bare, "POST", "/api/backfill", kAdminToken).status, 403);
  EXPECT_EQ(IdsIn(*spool_, jobs::State::kFailed), ids);
}

TEST_F(AdminRoutesTest, RetryFailedAnswersTheIdsItRequeuedAndWakesTheWorkers) {
  Mount(MakeAuth());
  const auto ids = FailJobs(*spool_, {"v1.0.0", "v1.1.0"});
  LogCapture log;
  auto res = Call(router_, "POST", "/api/jobs/retry-failed", kAdminToken);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(
      Body(res),
      (nlohmann::json{{"requeued", ids}, {"cluster", nlohmann::json::array()}, {"spool", ids}}));
  EXPECT_EQ(wakes_, 1);
  EXPECT_EQ(IdsIn(*spool_, jobs::State::kQueued), ids);
  EXPECT_THAT(log.text(), HasSubstr("admin: job " + ids[0] +
                                    " re-queued (spool); retry-failed "
                                    "by ops"));
  // Nothing left: 200 with empty lists, no wake-up.
  res = Call(router_, "POST", "/api/jobs/retry-failed", kAdminToken);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(Body(res)["requeued"], nlohmann::json::array());
  EXPECT_EQ(wakes_, 1);
}

TEST_F(AdminRoutesTest, MalformedInputIs400NamingTheRule) {
  Mount(MakeAuth());
  const auto ids = FailJobs(*spool_, {"v1.0.0"});
  struct Case {
    std::string method, target, body, rule;
  };
  for (const auto& c : std::vector<Case>{
           {"POST", "/api/jobs/retry-failed?all=1", "",
            "unknown query parameter \"all\": this "
            "route takes no parameters"},
           {"POST", "/api/jobs/retry-failed", "x=1", "takes no body"},
           {"POST", "/api/jobs/a b/retry", "", "a job id is [A-Za-z0-9._-]{1,128}"},
           {"POST", "/api/jobs/" + ids[0] + "/retry?force=1", "", "unknown query parameter"},
           {"POST", "/api/backfill?dry_run=yes", "", "dry_run is 0, 1, true or false"},
           {"POST", "/api/backfill?repo=a&repo=b", "", "\"repo\" is given twice"},
           {"POST", "/api/backfill?repo=%zz", "", "two hex digits"},
           {"POST", "/api/backfill?repo", "", "has no value"},
           {"POST", "/api/backfill?branch=main", "", "this route takes only repo, dry_run"},
           {"GET", "/api/backfill?x=1", "", "unknown query parameter \"x\""}}) {
    // Anonymous: the input is checked first, so a malformed request is 400 for anyone.
    auto res = Call(router_, c.method, c.target, "", c.body);
    EXPECT_EQ(res.status, 400) << c.target;
    EXPECT_THAT(Body(res)["error"].get<std::string>(), HasSubstr(c.rule)) << c.target;
  }
  // An unknown repository: after the credentials (the answer lists the configured ones).
  EXPECT_EQ(Call(router_, "POST", "/api/backfill?repo=corp.example/nope").status, 401);
  auto res = Call(router_, "POST", "/api/backfill?repo=corp.example%2Fnope", kAdminToken);
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(Body(res)["error"].get<std::string>(),
              HasSubstr("repo=corp.example/nope: no [[repository]] in modpub.toml has this path "
                        "or import_path (configured: corp.example/a, corp.example/b)"));
  EXPECT_EQ(IdsIn(*spool_, jobs::State::kFailed), ids);
  EXPECT_TRUE(ran_.empty());
}

TEST_F(AdminRoutesTest, OneBackfillAtATimeAndItsStateShown) {
  Mount(MakeAuth());
  EXPECT_EQ(Body(Call(router_, "GET", "/api/backfill", kAdminToken)),
            (nlohmann::json{{"running", false}, {"run", nullptr}}));
  auto res = Call(router_, "POST", "/api/backfill?repo=corp.example/b&dry_run=1", kAdminToken);
  ASSERT_EQ(res.status, 202) << res.body;
  EXPECT_EQ(Body(res), (nlohmann::json{{"run", 1},
                                       {"state", "running"},
                                       {"dry_run", true},
                                       {"repositories", {"corp.example/b"}}}));
  WaitForRuns(1);
  // While it runs: 409 naming it, and the state says where it is.
  auto busy = Call(router_, "POST", "/api/backfill", kAdminToken);
  EXPECT_EQ(busy.status, 409);
  EXPECT_EQ(Body(busy)["run"], 1);
  EXPECT_THAT(Body(busy)["error"].get<std::string>(), HasSubstr("backfill run 1 is still going"));
  auto state = Body(Call(router_, "GET", "/api/backfill", kAdminToken));
  EXPECT_EQ(state["running"], true);
  EXPECT_EQ(state["run"]["state"], "running");
  EXPECT_EQ(state["run"]["by"], "ops");
  Release();
  state = WaitUntilIdle();
  EXPECT_EQ(state["run"]["state"], "finished");
  ASSERT_EQ(state["run"]["summary"].size(), 1u);
  EXPECT_EQ(state["run"]["summary"][0]["repository"], "corp.example/b");
  EXPECT_EQ(state["run"]["summary"][0]["storages"]["file:///tree"]["published"], 1);
  EXPECT_TRUE(state["run"].contains("finished"));
  // The next run may start now: every repository, in order.
  res = Call(router_, "POST", "/api/backfill", kAdminToken);
  ASSERT_EQ(res.status, 202) << res.body;
  EXPECT_EQ(Body(res)["run"], 2);
  WaitUntilIdle();
  EXPECT_EQ(ran_, (std::vector<std::string>{"ops corp.example/b", "ops corp.example/a",
                                            "ops corp.example/b"}));
}

TEST_F(AdminRoutesTest, StopEndsARunningBackfillAndRefusesNewOnes) {
  Mount(MakeAuth());
  ASSERT_EQ(Call(router_, "POST", "/api/backfill", kAdminToken).status, 202);
  WaitForRuns(1);
  runs_->Stop();  // the work sees observer.stop() and ends; Stop joins it
  auto state = Body(Call(router_, "GET", "/api/backfill", kAdminToken));
  EXPECT_EQ(state["running"], false);
  EXPECT_EQ(state["run"]["state"], "stopped");
  EXPECT_EQ(state["run"]["summary"].size(), 1u) << "the second repository never started";
  EXPECT_EQ(ran_.size(), 1u);
  EXPECT_EQ(Call(router_, "POST", "/api/backfill", kAdminToken).status, 503);
}

// --- a real backfill ------------------------------------------------------------------------

std::vector<std::string> Listed(const std::filesystem::path& tree, const std::string& module) {
  std::ifstream in(tree / module / "@v" / "list");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(AdminBackfill, RealRunPublishesEveryVersionTagIntoTheConfiguredStorage) {
  testing::TempRepo repo;
  repo.Write("go.mod", "module corp.example/bf\n\ngo 1.19\n");
  repo.Write("bf.go", "package bf\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("v1.1");  // not canonical: invalid
  repo.Write("more.go", "package bf\n");
  repo.Commit();
  repo.Tag("v1.1.0");
  testing::TempDir out;
  config::Config cfg;
  cfg.source = "modpub.toml";
  cfg.storage = {"file://" + (out.path() / "tree").string()};
  cfg.state_dir = (out.path() / "state").string();
  config::RepoConfig r;
  r.path = repo.path().string();
  r.import_path = "corp.example/bf";
  cfg.repositories.push_back(r);
  auto shared = std::make_shared<const config::Config>(cfg);
  BackfillRuns runs(BackfillRuns::Sources{[shared] { return shared; }, nullptr, nullptr, {}});
  LogCapture log;
  auto started = runs.Start(Caller{"alice", {}}, cfg.repositories, false);
  ASSERT_TRUE(started.started);
  nlohmann::json state;
  for (int i = 0; i < 3000 && (state = runs.State())["running"].get<bool>(); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(state["run"]["state"], "finished") << state.dump();
  const auto& summary = state["run"]["summary"][0];
  EXPECT_EQ(summary["version_tags"], 3) << summary.dump();
  EXPECT_EQ(summary["invalid"], nlohmann::json({"v1.1"}));
  EXPECT_EQ(summary["storages"][cfg.storage[0]]["published"], 2);
  EXPECT_EQ(Listed(out.path() / "tree", "corp.example/bf"),
            (std::vector<std::string>{"v1.0.0", "v1.1.0"}));
  EXPECT_THAT(log.text(),
              HasSubstr("admin: backfill of corp.example/bf started; backfill by alice"));
  EXPECT_THAT(log.text(),
              HasSubstr("admin: backfill of corp.example/bf finished: " + cfg.storage[0] +
                        ": 2 published, 0 unchanged, 0 refused, 0 failed; 1 invalid "
                        "tag (v1.1); 3 version tags; backfill by alice"));
  EXPECT_THAT(log.text(), HasSubstr("admin: backfill run 1 of corp.example/bf: v1.1.0 published"));
}

TEST(AdminQuery, ParsesDecodesAndRefuses) {
  auto q = ParseQuery("/api/backfill?repo=corp.example%2Flib&dry_run=1&", {"repo", "dry_run"});
  ASSERT_TRUE(q.ok()) << q.message();
  EXPECT_EQ(*q,
            (std::map<std::string, std::string>{{"repo", "corp.example/lib"}, {"dry_run", "1"}}));
  EXPECT_EQ(ParseQuery("/x?repo=/srv/a+b%20c.git", {"repo"})->at("repo"), "/srv/a+b c.git");
  EXPECT_TRUE(ParseQuery("/api/backfill", {})->empty());
  EXPECT_TRUE(ParseQuery("/api/backfill?", {})->empty());
  EXPECT_THAT(ParseQuery("/x?a=%4", {"a"}).message(), HasSubstr("two hex digits"));
  EXPECT_THAT(ParseQuery("/x?a=%00", {"a"}).message(), HasSubstr("NUL"));
}

}  // namespace
}  // namespace modpub::admin
