// status: the status page's model (kept from a real GOPROXY tree on disk and a real spool)
// and its HTML/JSON rendering (escaping, empty states, links, what an auth rule hides).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/status/render.hpp"
#include "modpub/status/status.hpp"
#include "modpub/storage/open.hpp"
#include "support/redis_server.hpp"
#include "support/storage_fixtures.hpp"
#include "support/temp_repo.hpp"

namespace modpub::status {
namespace {

using ::modpub::testing::Fabricator;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHostile[] = "v1.0.0\"><script>alert('tag')</script>";
constexpr char kHostileError[] = "refused: <script>alert(\"x\")</script> & 'quoted'\nsecond line";

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

PageContext Page(bool proxy = false, std::string prefix = "") {
  PageContext p;
  p.daemon_version = "9.8.7";
  p.now = Clock::now();
  p.started = p.now - std::chrono::seconds(3725);
  p.proxy = proxy;
  p.proxy_prefix = std::move(prefix);
  return p;
}

Snapshot Listed() {
  Snapshot s;
  s.storage = "file:///srv/goproxy";
  s.storage_listed = s.jobs_listed = Clock::now();
  s.queue_depth = 0;
  return s;
}

JobLine Job(std::string tag, std::string state, std::string error = "") {
  JobLine j;
  j.id = "20260101T000000000Z-0000000" + std::to_string(tag.size() % 10);
  j.repo = "/srv/git/lib.git";
  j.tag = std::move(tag);
  j.state = std::move(state);
  j.attempts = 1;
  j.created = Clock::now() - std::chrono::minutes(5);
  j.error = std::move(error);
  return j;
}

TEST(StatusRender, EscapesWhatRepositoriesAndJobsControl) {
  Snapshot s = Listed();
  RepoStatus r;
  r.path = "/srv/git/<b>.git";
  r.import_path = "corp.example/lib";
  r.modules.push_back({"corp.example/lib", "v1.0.0", "2024-01-02T03:04:05Z", 1, Clock::now()});
  r.pending.push_back(Job(kHostile, "queued"));
  r.pending_total = 1;
  r.failed.push_back(Job(kHostile, "failed", kHostileError));
  r.failed_total = 1;
  s.repositories.push_back(r);
  s.jobs_error = "<script>jobs</script>";
  const std::string html = RenderHtml(s, Page(true));
  EXPECT_EQ(Count(html, "<script"), 0u) << html;
  EXPECT_EQ(Count(html, "<b>.git"), 0u);
  EXPECT_THAT(html, HasSubstr("v1.0.0&quot;&gt;&lt;script&gt;alert(&#39;tag&#39;)&lt;/script&gt;"));
  // The reason on one line: the line break became a space.
  EXPECT_THAT(html, HasSubstr("refused: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
                              "&#39;quoted&#39; second line"));
  EXPECT_THAT(html, HasSubstr("/srv/git/&lt;b&gt;.git"));
  EXPECT_THAT(html, HasSubstr("Job listing failed: &lt;script&gt;jobs&lt;/script&gt;"));

  // JSON carries the strings as they are, in valid JSON.
  auto j = nlohmann::json::parse(RenderJson(s, Page(true)));
  EXPECT_EQ(j["repositories"][0]["pending"][0]["tag"], kHostile);
  EXPECT_EQ(j["repositories"][0]["failed"][0]["error"], kHostileError);
  EXPECT_EQ(j["repositories"][0]["path"], "/srv/git/<b>.git");
}

TEST(StatusRender, BytesThatAreNotUtf8DoNotBreakTheJson) {
  Snapshot s = Listed();
  RepoStatus r;
  r.path = "/srv/git/lib.git";
  r.import_path = "corp.example/lib";
  r.failed.push_back(Job("v1.0.0-\xff\xfe", "failed", "bad \xc3"));
  r.failed_total = 1;
  s.repositories.push_back(r);
  std::string text;
  ASSERT_NO_THROW(text = RenderJson(s, Page()));
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["repositories"][0]["failed"][0]["tag"], "v1.0.0-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_NO_THROW(RenderHtml(s, Page()));
}

TEST(StatusRender, EmptyStatesSaySo) {
  Snapshot none = Listed();
  const std::string empty = RenderHtml(none, Page());
  EXPECT_THAT(empty, HasSubstr("No repositories configured."));
  EXPECT_THAT(empty, HasSubstr("never"));  // last publish
  auto j = nlohmann::json::parse(RenderJson(none, Page()));
  EXPECT_TRUE(j["repositories"].empty());
  EXPECT_TRUE(j["last_publish"].is_null());
  EXPECT_TRUE(j["unconfigured"].is_null());

  Snapshot one = Listed();
  one.repositories.push_back({"/srv/git/lib.git", "corp.example/lib", {}, {}, 0, {}, 0});
  const std::string html = RenderHtml(one, Page());
  EXPECT_THAT(html, Not(HasSubstr("No repositories configured.")));
  EXPECT_THAT(html, HasSubstr("No published versions yet."));
  EXPECT_THAT(html, HasSubstr("Nothing pending."));
  EXPECT_THAT(html, HasSubstr("No failed tags."));

  Snapshot starting;  // nothing listed yet
  const std::string first = RenderHtml(starting, Page());
  EXPECT_THAT(first, HasSubstr("Storage not listed yet"));
  EXPECT_THAT(first, HasSubstr("Queue depth</dt><dd>unknown"));
}

TEST(StatusRender, SelfContainedPageForPhones) {
  Snapshot s = Listed();
  s.repositories.push_back({"/srv/git/lib.git", "corp.example/lib", {}, {}, 0, {}, 0});
  const std::string html = RenderHtml(s, Page());
  EXPECT_THAT(html, HasSubstr("<meta name=\"viewport\" content=\"width=device-width"));
  EXPECT_THAT(html, HasSubstr("<style>"));
  EXPECT_THAT(html, HasSubstr("overflow-wrap:anywhere"));
  for (const char* external : {"<script", "<link", "http://", "https://", "@import", "url("})
    EXPECT_THAT(html, Not(HasSubstr(external))) << external;
  EXPECT_THAT(html, HasSubstr("modpubd 9.8.7 · up 1h 2m"));
  auto j = nlohmann::json::parse(RenderJson(s, Page()));
  EXPECT_EQ(j["format"], "modpub-status/1");
  EXPECT_EQ(j["daemon"]["version"], "9.8.7");
  EXPECT_EQ(j["daemon"]["uptime_seconds"], 3725);
}

TEST(StatusRender, ModulesLinkToTheirListBelowTheProxyPrefix) {
  Snapshot s = Listed();
  RepoStatus r{"/srv/git/lib.git", "corp.example/Lib", {}, {}, 0, {}, 0};
  r.modules.push_back({"corp.example/Lib/v2", "v2.1.0", "", 4, std::nullopt});
  s.repositories.push_back(r);
  const std::string html = RenderHtml(s, Page(true, "/goproxy"));
  EXPECT_THAT(html,
              HasSubstr("href=\"/goproxy/corp.example/!lib/v2/@v/list\">corp.example/Lib/v2<"));
  EXPECT_THAT(html, HasSubstr("latest <b>v2.1.0</b>"));
  EXPECT_THAT(html, HasSubstr("4 versions"));
  auto j = nlohmann::json::parse(RenderJson(s, Page(true, "/goproxy")));
  EXPECT_EQ(j["repositories"][0]["modules"][0]["list_url"],
            "/goproxy/corp.example/!lib/v2/@v/list");
  EXPECT_EQ(j["proxy"]["prefix"], "/goproxy");
  // Without [proxy] there is nothing to link to.
  const std::string plain = RenderHtml(s, Page(false));
  EXPECT_THAT(plain, Not(HasSubstr("@v/list")));
  EXPECT_TRUE(nlohmann::json::parse(RenderJson(s, Page(false)))["proxy"].is_null());
}

TEST(StatusRender, VisibleShowsOnlyWhatThePrincipalMayRead) {
  Snapshot s = Listed();
  const auto t1 = Clock::now() - std::chrono::hours(2), t2 = Clock::now() - std::chrono::hours(1);
  RepoStatus a{"/srv/git/a.git", "corp.example/a", {}, {}, 0, {}, 0};
  a.modules.push_back({"corp.example/a", "v1.0.0", "", 1, t1});
  a.failed.push_back(Job("v0.0.1", "failed", "no"));
  a.failed_total = 1;
  RepoStatus b{"/srv/git/b.git", "corp.example/b", {}, {}, 0, {}, 0};
  b.modules.push_back({"corp.example/b", "v1.0.0", "", 1, t2});
  b.pending.push_back(Job("v9.9.9", "queued"));
  b.pending_total = 1;
  s.repositories = {a, b};
  s.unconfigured.modules.push_back({"other.example/x", "v0.1.0", "", 1, t2});
  s.last_publish = t2;
  Snapshot v = Visible(s, [](std::string_view p) { return p.starts_with("corp.example/a"); });
  ASSERT_EQ(v.repositories.size(), 1u);
  EXPECT_EQ(v.repositories[0].import_path, "corp.example/a");
  EXPECT_EQ(v.repositories[0].failed_total, 1u);
  EXPECT_TRUE(v.unconfigured.modules.empty());
  EXPECT_EQ(v.last_publish, t1);  // b's later publish is not the principal's to see
  const std::string html = RenderHtml(v, Page());
  EXPECT_THAT(html, Not(HasSubstr("corp.example/b")));
  EXPECT_THAT(html, Not(HasSubstr("v9.9.9")));
}

TEST(StatusRender, OneLineAndDurations) {
  EXPECT_EQ(OneLine("a\n\n b\r\n\tc  "), "a b c");
  // Cut at a character boundary: "é" is two bytes.
  EXPECT_EQ(OneLine("ab\xc3\xa9z", 3), "ab\u2026");
  EXPECT_EQ(OneLine("ab\xc3\xa9z", 4), "ab\xc3\xa9\u2026");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(12)), "12s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(250)), "4m 10s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(7500)), "2h 5m");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(3 * 86400 + 4 * 3600 + 9)), "3d 4h");
}

// --- the model, from a real tree and a real spool -----------------------------------------

// A storage that counts how often it is listed (a request must not list it).
class CountingBackend : public storage::Backend {
 public:
  explicit CountingBackend(std::unique_ptr<storage::Backend> inner) : inner_(std::move(inner)) {}
  const std::string& Name() const override { return inner_->Name(); }
  Result<storage::PutResult> Put(const storage::VersionFiles& f) override { return inner_->Put(f); }
  Result<std::optional<storage::StoredVersion>> Stat(const std::string& p,
                                                     const std::string& v) override {
    return inner_->Stat(p, v);
  }
  Result<std::vector<storage::StoredVersion>> ListVersions(const std::string& p) override {
    ++lists;
    return inner_->ListVersions(p);
  }
  Result<std::vector<std::string>> ListModules() override {
    ++lists;
    if (fail) return Fail("storage down (test)");
    return inner_->ListModules();
  }
  Result<std::optional<std::filesystem::path>> LocalFile(const std::string& p, const std::string& v,
                                                         storage::VersionPart part) override {
    return inner_->LocalFile(p, v, part);
  }
  std::atomic<int> lists{0};
  std::atomic<bool> fail{false};  // ListModules fails, as a storage that is down

 private:
  std::unique_ptr<storage::Backend> inner_;
};

struct World {
  TempDir tmp;
  Fabricator fab{tmp.path() / "zips"};
  std::shared_ptr<CountingBackend> backend;
  std::optional<jobs::Spool> spool;
  std::shared_ptr<config::Config> cfg = std::make_shared<config::Config>();
  std::atomic<int> job_lists{0};

  World() {
    std::filesystem::create_directories(tmp.path() / "zips");
    backend = std::make_shared<CountingBackend>(
        storage::OpenBackend("file://" + (tmp.path() / "tree").string()).value());
    spool.emplace(jobs::Spool::Open(tmp.path() / "spool").value());
    config::RepoConfig repo;
    repo.path = "/srv/git/lib.git";
    repo.import_path = "corp.example/lib";
    repo.allowed_prefixes = {"corp.example/lib"};
    cfg->repositories.push_back(repo);
  }
  void Put(const std::string& path, const std::string& version) {
    auto r = backend->Put(fab.Make(path, version));
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->outcome, storage::PutOutcome::kPublished) << r->message;
  }
  jobs::Job MakeJob(const std::string& tag) {
    jobs::Job j;
    j.repo = "/srv/git/lib.git";
    j.import_path = "corp.example/lib";
    j.tag = tag;
    return j;
  }
  Sources MakeSources() {
    Sources s;
    s.storage = backend;
    s.storage_url = backend->Name();
    s.jobs = [this, list = SpoolJobs(*spool)](jobs::State st) {
      ++job_lists;
      return list(st);
    };
    s.queue_depth = [this]() -> Result<std::int64_t> {
      return static_cast<std::int64_t>(spool->QueueDepth().value());
    };
    s.config = [this] { return std::shared_ptr<const config::Config>(cfg); };
    return s;
  }
};

const ModuleStatus* FindModule(const RepoStatus& r, const std::string& path) {
  for (const auto& m : r.modules)
    if (m.path == path) return &m;
  return nullptr;
}

TEST(StatusModel, ListsTheTreeAndTheSpoolGroupedByRepository) {
  World w;
  const auto before = Clock::now() - std::chrono::seconds(2);
  for (const char* v : {"v1.0.0", "v1.1.0", "v1.2.0-rc.1"}) w.Put("corp.example/lib", v);
  w.Put("corp.example/lib/v2", "v2.0.0");
  w.Put("other.example/x", "v0.1.0");
  // One failed job (claimed, then failed with a reason) and one waiting.
  ASSERT_TRUE(w.spool->Enqueue(w.MakeJob("v0.9.0")).ok());
  auto owner = w.spool->Register().value();
  auto claimed = w.spool->Claim(owner).value();
  ASSERT_TRUE(claimed.job.has_value());
  ASSERT_TRUE(w.spool
                  ->MarkFailed(owner, *claimed.job,
                               "tag v0.9.0 is not publishable:\n"
                               "go.mod says other.example/y")
                  .ok());
  ASSERT_TRUE(w.spool->Enqueue(w.MakeJob("v1.3.0")).ok());

  Model model(w.MakeSources());
  EXPECT_FALSE(model.Get()->storage_listed);  // nothing listed before a refresh
  model.RefreshStorage();
  model.RefreshJobs();
  auto s = model.Get();
  ASSERT_EQ(s->repositories.size(), 1u);
  const RepoStatus& r = s->repositories[0];
  EXPECT_EQ(r.import_path, "corp.example/lib");
  ASSERT_EQ(r.modules.size(), 2u);
  const ModuleStatus* lib = FindModule(r, "corp.example/lib");
  ASSERT_NE(lib, nullptr);
  EXPECT_EQ(lib->latest, "v1.1.0");  // a release beats a later pre-release, as @latest
  EXPECT_EQ(lib->versions, 3u);
  EXPECT_EQ(lib->latest_time, "2024-01-02T03:04:05Z");  // the .info Time
  ASSERT_TRUE(lib->last_published.has_value());         // the .info file's time
  EXPECT_GE(*lib->last_published, before);
  EXPECT_LE(*lib->last_published, Clock::now());
  EXPECT_EQ(FindModule(r, "corp.example/lib/v2")->latest, "v2.0.0");
  ASSERT_EQ(s->unconfigured.modules.size(), 1u);
  EXPECT_EQ(s->unconfigured.modules[0].path, "other.example/x");
  ASSERT_EQ(r.pending.size(), 1u);
  EXPECT_EQ(r.pending[0].tag, "v1.3.0");
  EXPECT_EQ(r.pending[0].state, "queued");
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].tag, "v0.9.0");
  EXPECT_THAT(r.failed[0].error, HasSubstr("go.mod says other.example/y"));
  EXPECT_EQ(s->queue_depth, 1);
  EXPECT_TRUE(s->last_publish.has_value());
  EXPECT_TRUE(s->storage_error.empty() && s->jobs_error.empty());

  // The page is rendered from the snapshot: rendering lists nothing.
  const int lists = w.backend->lists, job_lists = w.job_lists;
  for (int i = 0; i < 50; ++i) {
    auto snap = model.Get();
    EXPECT_THAT(RenderHtml(*snap, Page(true)), HasSubstr("v1.3.0"));
    EXPECT_THAT(RenderJson(*snap, Page(true)), HasSubstr("v0.9.0"));
  }
  EXPECT_EQ(w.backend->lists, lists);
  EXPECT_EQ(w.job_lists, job_lists);
}

TEST(StatusModel, SettledJobsUpdateTheSnapshotWithoutListingTheSpool) {
  World w;
  w.Put("corp.example/lib", "v1.0.0");
  ASSERT_TRUE(w.spool->Enqueue(w.MakeJob("v1.1.0")).ok());
  ASSERT_TRUE(w.spool->Enqueue(w.MakeJob("<bad>")).ok());
  Model model(w.MakeSources());
  model.RefreshStorage();
  model.RefreshJobs();
  auto s = model.Get();
  ASSERT_EQ(s->repositories[0].pending_total, 2u);
  std::map<std::string, std::string> id_of;  // tag -> job id
  for (const auto& j : s->repositories[0].pending) id_of[j.tag] = j.id;
  const int job_lists = w.job_lists;

  // v1.1.0 published (its version now in storage), <bad> failed for good.
  w.Put("corp.example/lib", "v1.1.0");
  jobs::Job done = w.MakeJob("v1.1.0");
  done.id = id_of["v1.1.0"];
  done.result_json =
      R"([{"Path":"corp.example/lib","Version":"v1.1.0","Backend":"x","Result":"published"}])";
  jobs::Job failed = w.MakeJob("<bad>");
  failed.id = id_of["<bad>"];
  failed.last_error = "invalid tag";
  const auto settled_at = Clock::now();
  model.Settled(done, "done");
  model.Settled(failed, "failed");
  model.RefreshModules({});  // what the thread does when woken
  s = model.Get();
  const RepoStatus& r = s->repositories[0];
  EXPECT_EQ(r.pending_total, 0u);
  ASSERT_EQ(r.failed_total, 1u);
  EXPECT_EQ(r.failed[0].tag, "<bad>");
  EXPECT_EQ(r.failed[0].error, "invalid tag");
  ASSERT_EQ(r.modules.size(), 1u);
  EXPECT_EQ(r.modules[0].latest, "v1.1.0");
  EXPECT_EQ(r.modules[0].versions, 2u);
  ASSERT_TRUE(s->last_publish.has_value());
  EXPECT_GE(*s->last_publish, settled_at - std::chrono::seconds(1));
  EXPECT_EQ(w.job_lists, job_lists);  // from the events alone

  // A retry keeps the job pending, with the attempt's error.
  jobs::Job again = w.MakeJob("v1.2.0");
  again.id = "20260101T000000000Z-retry";
  again.attempts = 1;
  again.last_error = "storage down";
  model.Settled(again, "retried");
  model.RefreshModules({});
  s = model.Get();
  ASSERT_EQ(s->repositories[0].pending_total, 1u);
  EXPECT_EQ(s->repositories[0].pending[0].error, "storage down");
}

TEST(StatusModel, TheThreadListsAtStartAndFollowsEvents) {
  World w;
  w.Put("corp.example/lib", "v1.0.0");
  Options o;
  o.jobs_interval = std::chrono::milliseconds(50);
  o.storage_interval = std::chrono::hours(1);  // only events and the first listing
  Model model(w.MakeSources(), o);
  model.Start();
  auto wait = [&](auto pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(*model.Get())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  ASSERT_TRUE(wait([](const Snapshot& s) { return s.storage_listed && s.jobs_listed; }));
  EXPECT_EQ(model.Get()->repositories[0].modules[0].versions, 1u);
  // A job queued meanwhile shows at the next jobs listing.
  ASSERT_TRUE(w.spool->Enqueue(w.MakeJob("v1.1.0")).ok());
  EXPECT_TRUE(wait([](const Snapshot& s) { return s.repositories[0].pending_total == 1; }));
  // A publish shows as soon as the runner says so, not at the next storage listing.
  w.Put("corp.example/lib", "v1.1.0");
  jobs::Job done = w.MakeJob("v1.1.0");
  done.id = "x";
  done.result_json = R"([{"Path":"corp.example/lib","Version":"v1.1.0","Result":"published"}])";
  model.Settled(done, "done");
  EXPECT_TRUE(wait([](const Snapshot& s) { return s.repositories[0].modules[0].versions == 2; }));
  model.Stop();
}

TEST(StatusModel, StorageFailureIsShownAndTheLastListingKept) {
  World w;
  w.Put("corp.example/lib", "v1.0.0");
  Model model(w.MakeSources());
  model.RefreshStorage();
  w.backend->fail = true;
  model.RefreshStorage();
  auto s = model.Get();
  EXPECT_EQ(s->storage_error, "storage down (test)");
  ASSERT_EQ(s->repositories[0].modules.size(), 1u);  // what the last listing found
  EXPECT_THAT(RenderHtml(*s, Page()), HasSubstr("Storage listing failed: storage down (test)"));
  w.backend->fail = false;
  model.RefreshStorage();
  EXPECT_EQ(model.Get()->storage_error, "");
}

// A cluster's jobs come from the Redis queue (a real redis-server), as `modpub jobs` lists them.
TEST(StatusModel, ClusterJobsAreTheQueues) {
  if (!::modpub::testing::RedisTestServer::Available())
    GTEST_SKIP() << "redis-server is not installed";
  ::modpub::testing::RedisTestServer server;
  auto url = jobs::ParseRedisQueueUrl(server.url()).value();
  auto queue = jobs::RedisQueue::Open(url, {"test-worker"}).value();
  jobs::Job job;
  job.repo = "/srv/git/lib.git";
  job.import_path = "corp.example/lib";
  job.tag = "v1.4.0";
  ASSERT_TRUE(queue->Enqueue(job).ok());
  auto list = ClusterJobs(server.url());
  ASSERT_TRUE(list.ok()) << list.message();
  auto queued = (*list)(jobs::State::kQueued);
  ASSERT_TRUE(queued.ok()) << queued.message();
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].job.tag, "v1.4.0");
  EXPECT_TRUE((*list)(jobs::State::kFailed).value().empty());
}

}  // namespace
}  // namespace modpub::status
