#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "modpub/config/config.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/webhook/delivery_log.hpp"
#include "modpub/webhook/event.hpp"
#include "modpub/webhook/service.hpp"
#include "support/temp_repo.hpp"

namespace modpub::webhook {
namespace {

namespace fs = std::filesystem;
using modpub::testing::TempDir;
using ::testing::HasSubstr;

const std::string kZero(40, '0');
const std::string kA(40, 'a');
const std::string kB(40, 'b');

TEST(WebhookHmac, Rfc4231Vector) {
  // RFC 4231, test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookHmac, GitHubSignature) {
  const std::string body = R"({"zen":"Keep it logically awesome."})";
  const std::string sig = "sha256=" + HmacSha256Hex("s3cret", body);
  EXPECT_TRUE(VerifyGitHubSignature("s3cret", body, sig));
  std::string upper = sig;
  for (std::size_t i = 7; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(VerifyGitHubSignature("s3cret", body, upper));
  EXPECT_FALSE(VerifyGitHubSignature("other", body, sig));
  EXPECT_FALSE(VerifyGitHubSignature("s3cret", body + " ", sig));
  EXPECT_FALSE(VerifyGitHubSignature("s3cret", body, sig.substr(7)));  // no "sha256="
  EXPECT_FALSE(VerifyGitHubSignature("s3cret", body, sig.substr(0, sig.size() - 1)));
  EXPECT_FALSE(VerifyGitHubSignature("s3cret", body, ""));
  EXPECT_FALSE(VerifyGitHubSignature("", body, "sha256=" + HmacSha256Hex("", body)));
}

TEST(WebhookHmac, GitLabToken) {
  EXPECT_TRUE(VerifyGitLabToken("tok-1", "tok-1"));
  EXPECT_FALSE(VerifyGitLabToken("tok-1", "tok-2"));
  EXPECT_FALSE(VerifyGitLabToken("tok-1", "tok-1 "));
  EXPECT_FALSE(VerifyGitLabToken("tok-1", ""));
  EXPECT_FALSE(VerifyGitLabToken("", ""));
}

TEST(WebhookBody, JsonAndForm) {
  auto j = DecodeBody("application/json", R"({"a":1})");
  ASSERT_TRUE(j.ok()) << j.message();
  EXPECT_EQ((*j)["a"], 1);
  auto f =
      DecodeBody("application/x-www-form-urlencoded; charset=utf-8",
                 "x=1&payload=%7B%22ref%22%3A%22refs%2Ftags%2Fv1.0.0%22%2C%22n%22%3A%22a+b%22%7D");
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ((*f)["ref"], "refs/tags/v1.0.0");
  EXPECT_EQ((*f)["n"], "a b");
  EXPECT_FALSE(DecodeBody("application/json", "{not json").ok());
  EXPECT_FALSE(DecodeBody("application/x-www-form-urlencoded", "x=1").ok());
  EXPECT_FALSE(DecodeBody("application/x-www-form-urlencoded", "payload=%7").ok());
  EXPECT_FALSE(DecodeBody("text/plain", "{}").ok());
  EXPECT_FALSE(UrlDecode("%zz").ok());
  EXPECT_EQ(*UrlDecode("a%2Fb+c"), "a/b c");
}

nlohmann::json GitHubRepo() {
  return {{"full_name", "Corp/Lib"},
          {"clone_url", "https://github.example/Corp/Lib.git"},
          {"ssh_url", "git@github.example:Corp/Lib.git"},
          {"html_url", "https://github.example/Corp/Lib"}};
}

TEST(WebhookParse, GitHubPush) {
  nlohmann::json push = {
      {"ref", "refs/tags/v1.2.3"}, {"before", kZero},  {"after", kA},
      {"created", true},           {"deleted", false}, {"head_commit", {{"id", kB}}},
      {"repository", GitHubRepo()}};
  auto ev = ParseGitHub("push", push);
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(ev->kind, Kind::kTagCreated);
  EXPECT_EQ(ev->tag, "v1.2.3");
  EXPECT_EQ(ev->commit, kB);
  EXPECT_EQ(ev->names, std::vector<std::string>{"Corp/Lib"});
  EXPECT_EQ(ev->urls.size(), 3u);

  push["created"] = false;
  push["before"] = kB;
  EXPECT_EQ(ParseGitHub("push", push)->kind, Kind::kTagMoved);
  push["deleted"] = true;
  push["after"] = kZero;
  push["head_commit"] = nullptr;
  auto del = ParseGitHub("push", push);
  EXPECT_EQ(del->kind, Kind::kTagDeleted);
  EXPECT_EQ(del->commit, "");

  push["ref"] = "refs/heads/main";
  auto branch = ParseGitHub("push", push);
  ASSERT_TRUE(branch.ok());
  EXPECT_EQ(branch->kind, Kind::kIgnored);
  EXPECT_NE(branch->reason.find("not a tag"), std::string::npos);

  // Found by the fuzzer: a tag event with no tag name reached intake.
  push["ref"] = "refs/tags/";
  auto nameless = ParseGitHub("push", push);
  ASSERT_FALSE(nameless.ok());
  EXPECT_NE(nameless.message().find("\"refs/tags/\" names no tag"), std::string::npos);

  push.erase("ref");
  EXPECT_FALSE(ParseGitHub("push", push).ok());
  EXPECT_FALSE(ParseGitHub("push", nlohmann::json::array()).ok());
  EXPECT_FALSE(ParseGitHub("push", {{"ref", "refs/tags/v1.0.0"}}).ok());  // no repository
}

TEST(WebhookParse, GitHubCreatePingOther) {
  nlohmann::json create = {{"ref", "v2.0.0"}, {"ref_type", "tag"}, {"repository", GitHubRepo()}};
  auto ev = ParseGitHub("create", create);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, Kind::kTagCreated);
  EXPECT_EQ(ev->tag, "v2.0.0");
  EXPECT_EQ(ev->commit, "");
  create["ref_type"] = "branch";
  EXPECT_EQ(ParseGitHub("create", create)->kind, Kind::kIgnored);
  EXPECT_EQ(ParseGitHub("ping", {{"zen", "x"}, {"hook_id", 1}})->kind, Kind::kPing);
  auto issues = ParseGitHub("issues", {{"action", "opened"}, {"repository", GitHubRepo()}});
  ASSERT_TRUE(issues.ok());
  EXPECT_EQ(issues->kind, Kind::kIgnored);
}

nlohmann::json GitLabTagPush(const std::string& before, const std::string& after) {
  return {{"object_kind", "tag_push"},
          {"event_name", "tag_push"},
          {"before", before},
          {"after", after},
          {"ref", "refs/tags/sub/v1.0.0"},
          {"checkout_sha", after == kZero ? nlohmann::json(nullptr) : nlohmann::json(kB)},
          {"project",
           {{"path_with_namespace", "corp/tools"},
            {"git_http_url", "https://gitlab.example/corp/tools.git"},
            {"git_ssh_url", "git@gitlab.example:corp/tools.git"},
            {"web_url", "https://gitlab.example/corp/tools"}}}};
}

TEST(WebhookParse, GitLabTagPushWithoutATagName) {
  auto doc = GitLabTagPush(kZero, kA);
  doc["ref"] = "refs/tags/";
  auto ev = ParseGitLab("Tag Push Hook", doc);
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.message().find("names no tag"), std::string::npos);
}

TEST(WebhookParse, GitLabTagPush) {
  auto ev = ParseGitLab("Tag Push Hook", GitLabTagPush(kZero, kA));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(ev->kind, Kind::kTagCreated);
  EXPECT_EQ(ev->tag, "sub/v1.0.0");
  EXPECT_EQ(ev->commit, kB);
  EXPECT_EQ(ParseGitLab("Tag Push Hook", GitLabTagPush(kA, kZero))->kind, Kind::kTagDeleted);
  EXPECT_EQ(ParseGitLab("Tag Push Hook", GitLabTagPush(kA, kB))->kind, Kind::kTagMoved);
  auto push = GitLabTagPush(kZero, kA);
  push["object_kind"] = "push";
  EXPECT_EQ(ParseGitLab("Push Hook", push)->kind, Kind::kIgnored);
  auto bad = GitLabTagPush(kZero, kA);
  bad["ref"] = 5;
  EXPECT_FALSE(ParseGitLab("Tag Push Hook", bad).ok());
}

TEST(WebhookMatch, NormalizeUrls) {
  EXPECT_EQ(NormalizeRepoUrl("https://github.example/Corp/Lib.git"), "github.example/corp/lib");
  EXPECT_EQ(NormalizeRepoUrl("https://user:pw@GitHub.example:443/Corp/Lib/"),
            "github.example/corp/lib");
  EXPECT_EQ(NormalizeRepoUrl("git@github.example:Corp/Lib.git"), "github.example/corp/lib");
  EXPECT_EQ(NormalizeRepoUrl("ssh://git@github.example:22/Corp/Lib.git"),
            "github.example/corp/lib");
  EXPECT_EQ(NormalizeRepoUrl("git://127.0.0.1:9418/Corp/Lib.git"), "127.0.0.1/corp/lib");
  EXPECT_EQ(NormalizeRepoUrl("file:///srv/git/lib.git"), "/srv/git/lib");
}

config::Config TwoRepos(const std::string& dir) {
  auto cfg = config::ParseConfig(R"(storage = ["file://)" + dir + R"(/store"]
spool_dir = ")" + dir + R"(/spool"
state_dir = ")" + dir + R"(/state"
socket = ")" + dir + R"(/sock"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://github.example/Corp/Lib.git"
webhook_secret = "lib-secret"
provider = "github"
[[repository]]
path = ")" + dir + R"(/tools.git"
import_path = "corp.example/tools"
remote_url = "git@gitlab.example:corp/tools.git"
webhook_secret = "tools-token"
)",
                                 "test.toml");
  EXPECT_TRUE(cfg.ok()) << cfg.message();
  return *cfg;
}

TEST(WebhookMatch, ConfiguredRepos) {
  TempDir tmp;
  auto cfg = TwoRepos(tmp.path().string());
  // Default mirror path under state_dir.
  EXPECT_EQ(cfg.repositories[0].path, tmp.path().string() + "/state/mirrors/corp.example_lib.git");
  Event ev;
  ev.urls = {"git@github.example:corp/lib.git"};
  EXPECT_EQ(MatchRepo(cfg, Provider::kGitHub, ev), &cfg.repositories[0]);
  EXPECT_EQ(MatchRepo(cfg, Provider::kGitLab, ev), nullptr);  // provider = github
  ev.urls = {"https://elsewhere.example/x.git"};
  ev.names = {"corp/TOOLS"};
  EXPECT_EQ(MatchRepo(cfg, Provider::kGitLab, ev), &cfg.repositories[1]);
  ev.names = {"corp/other"};
  EXPECT_EQ(MatchRepo(cfg, Provider::kGitLab, ev), nullptr);
}

TEST(WebhookConfig, WebhookTableAndCredentials) {
  auto cfg = config::ParseConfig(R"(storage = ["file:///x"]
spool_dir = "/s"
state_dir = "/st"
socket = "/so"
[webhook]
max_body_bytes = 2048
threads = 4
fetch_timeout_ms = 1000
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://h/x.git"
remote_token_file = "/etc/t"
)",
                                 "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->webhook.max_body_bytes, 2048);
  EXPECT_EQ(cfg->webhook.threads, 4);
  EXPECT_EQ(cfg->webhook.fetch_timeout.count(), 1000);
  EXPECT_EQ(cfg->repositories[0].remote_token_file, "/etc/t");
  auto bad = config::ParseConfig(R"(storage = ["file:///x"]
spool_dir = "/s"
state_dir = "/st"
socket = "/so"
[webhook]
max_body = 1
[[repository]]
import_path = "corp.example/lib"
remote_ssh_key = "relative/key"
)",
                                 "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("webhook.max_body"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("remote_ssh_key"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("path: missing"), std::string::npos) << bad.message();
  auto twice = config::ParseConfig(R"(storage = ["file:///x"]
spool_dir = "/s"
state_dir = "/st"
socket = "/so"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://h/x.git"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://h/y.git"
)",
                                   "t.toml");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.message().find("/st/mirrors/corp.example_lib.git is already used"),
            std::string::npos)
      << twice.message();
}

TEST(WebhookDeliveryLog, DedupePersistsAndIsBounded) {
  TempDir tmp;
  const fs::path file = tmp.path() / "st" / "deliveries";
  {
    auto log = DeliveryLog::Open(file, 3);
    ASSERT_TRUE(log.ok()) << log.message();
    EXPECT_TRUE((*log)->Reserve("a"));
    EXPECT_FALSE((*log)->Reserve("a"));  // in flight
    ASSERT_TRUE((*log)->Commit("a").ok());
    EXPECT_FALSE((*log)->Reserve("a"));
    EXPECT_TRUE((*log)->Reserve("b"));
    (*log)->Abandon("b");
    EXPECT_TRUE((*log)->Reserve("b"));
    ASSERT_TRUE((*log)->Commit("b").ok());
    EXPECT_FALSE((*log)->Commit("zz").ok());  // never reserved
  }
  {
    auto log = DeliveryLog::Open(file, 3);
    ASSERT_TRUE(log.ok());
    EXPECT_FALSE((*log)->Reserve("a"));  // remembered across a restart
    EXPECT_FALSE((*log)->Reserve("b"));
    for (const char* id : {"c", "d", "e", "f", "g", "h"}) {
      ASSERT_TRUE((*log)->Reserve(id));
      ASSERT_TRUE((*log)->Commit(id).ok());
    }
    EXPECT_EQ((*log)->size(), 3u);
    EXPECT_TRUE((*log)->Reserve("a"));  // forgotten: only the newest 3 are kept
    (*log)->Abandon("a");
  }
  // The file was compacted when it grew past twice the capacity.
  std::ifstream in(file);
  int lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_LE(lines, 6);
  auto log = DeliveryLog::Open(file, 3);
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE((*log)->Reserve("h"));
  EXPECT_TRUE(DeliveryLog::ValidId("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
  EXPECT_FALSE(DeliveryLog::ValidId("a b"));
  EXPECT_FALSE(DeliveryLog::ValidId(""));
  EXPECT_FALSE(DeliveryLog::ValidId(std::string(201, 'x')));
}

Delivery GitHubDelivery(const std::string& id, const std::string& secret, const nlohmann::json& doc,
                        const std::string& event = "push") {
  Delivery d;
  d.provider = Provider::kGitHub;
  d.content_type = "application/json";
  d.event = event;
  d.id = id;
  d.body = doc.dump();
  d.has_auth = true;
  d.signature = "sha256=" + HmacSha256Hex(secret, d.body);
  return d;
}

// Jobs durable in the spool and waiting: in queue/, or still only in a service's intake
// journal (the intake moves them to queue/ moments later); each id counted once. The
// journal is read first, so that a job the intake moves meanwhile is found in queue/.
std::size_t Queued(const config::Config& cfg) {
  const std::filesystem::path dir(cfg.spool_dir);
  std::set<std::string> ids;
  for (const auto& e : std::filesystem::directory_iterator(dir / "intake")) {
    auto journal = jobs::ReadIntakeJournal(e.path());
    EXPECT_TRUE(journal.ok()) << journal.message();
    if (!journal) continue;
    EXPECT_FALSE(journal->damaged) << journal->last_bad;
    for (const auto& job : journal->jobs) ids.insert(job.id);
  }
  for (const auto& e : std::filesystem::directory_iterator(dir / "queue")) {
    ids.insert(e.path().stem().string());
  }
  return ids.size();
}

// Waits (bounded) until queue/ holds `n` jobs: the intake moves acknowledged jobs there.
bool WaitForQueueDepth(const config::Config& cfg, std::size_t n) {
  auto spool = jobs::Spool::Open(cfg.spool_dir);
  for (int i = 0; i < 500; ++i) {
    if (*spool->QueueDepth() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(WebhookService, DecisionsAndQueue) {
  TempDir tmp;
  auto cfg = TwoRepos(tmp.path().string());
  std::atomic<int> wakes = 0;
  auto svc = Service::Create(cfg, [&] { ++wakes; });
  ASSERT_TRUE(svc.ok()) << svc.message();
  nlohmann::json push = {
      {"ref", "refs/tags/v1.2.3"}, {"before", kZero},  {"after", kA},
      {"created", true},           {"deleted", false}, {"head_commit", {{"id", kB}}},
      {"repository", GitHubRepo()}};
  // Forged, missing, other repository's secret: 401, nothing queued.
  auto forged = GitHubDelivery("d1", "lib-secret", push);
  forged.signature[10] = forged.signature[10] == '0' ? '1' : '0';
  EXPECT_EQ((*svc)->Handle(forged).status, 401);
  auto missing = GitHubDelivery("d1", "lib-secret", push);
  missing.has_auth = false;
  missing.signature.clear();
  EXPECT_EQ((*svc)->Handle(missing).status, 401);
  EXPECT_EQ((*svc)->Handle(GitHubDelivery("d1", "tools-token", push)).status, 401);
  EXPECT_EQ(Queued(cfg), 0u);

  auto ok = (*svc)->Handle(GitHubDelivery("d1", "lib-secret", push));
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(Queued(cfg), 1u);
  // In queue/ moments later, and the runner woken then.
  ASSERT_TRUE(WaitForQueueDepth(cfg, 1));
  for (int i = 0; i < 500 && wakes == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(wakes, 1);
  auto replay = (*svc)->Handle(GitHubDelivery("d1", "lib-secret", push));
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.result, "duplicate");
  EXPECT_EQ(Queued(cfg), 1u);
  auto spool = jobs::Spool::Open(cfg.spool_dir);
  auto jobs = spool->List(jobs::State::kQueued);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job.source, "webhook");
  EXPECT_EQ((*jobs)[0].job.tag, "v1.2.3");
  EXPECT_EQ((*jobs)[0].job.commit, kB);
  EXPECT_EQ((*jobs)[0].job.repo, cfg.repositories[0].path);

  // A restarted service still knows d1.
  svc->reset();
  auto svc2 = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc2.ok());
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d1", "lib-secret", push)).status, 200);

  auto branch = push;
  branch["ref"] = "refs/heads/main";
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d2", "lib-secret", branch)).status, 204);
  auto release = push;
  release["ref"] = "refs/tags/release-1";
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d3", "lib-secret", release)).status, 204);
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d4", "lib-secret", push, "issues")).status, 204);
  auto bad = GitHubDelivery("d5", "lib-secret", push);
  bad.body = "{";
  EXPECT_EQ((*svc2)->Handle(bad).status, 400);
  auto other = push;
  other["repository"] = {{"full_name", "someone/else"}};
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d6", "lib-secret", other)).status, 404);
  auto ping =
      GitHubDelivery("d7", "lib-secret", {{"zen", "z"}, {"repository", GitHubRepo()}}, "ping");
  EXPECT_EQ((*svc2)->Handle(ping).status, 200);
  auto no_id = GitHubDelivery("", "lib-secret", push);
  EXPECT_EQ((*svc2)->Handle(no_id).status, 400);
  // Deleted tag that is not published: nothing queued, no alert.
  auto del = push;
  del["deleted"] = true;
  del["created"] = false;
  del["after"] = kZero;
  EXPECT_EQ((*svc2)->Handle(GitHubDelivery("d8", "lib-secret", del)).status, 204);
  EXPECT_EQ(Queued(cfg), 1u);
  EXPECT_NE((*svc2)->RenderMetrics().find(
                "modpub_webhook_tag_alerts_total{provider=\"github\",kind=\"deleted\"} 0"),
            std::string::npos);

  // GitLab: token, then a tag push.
  Delivery gl;
  gl.provider = Provider::kGitLab;
  gl.content_type = "application/json";
  gl.event = "Tag Push Hook";
  gl.id = "uuid-1";
  gl.body = GitLabTagPush(kZero, kA).dump();
  gl.has_auth = true;
  gl.token = "wrong";
  EXPECT_EQ((*svc2)->Handle(gl).status, 401);
  gl.token = "tools-token";
  EXPECT_EQ((*svc2)->Handle(gl).status, 202);
  EXPECT_EQ((*svc2)->Handle(gl).status, 200);
  EXPECT_EQ(Queued(cfg), 2u);
  EXPECT_EQ((*svc2)->Count("gitlab", "queued"), 1u);
}

// A tag git could not hold is a forged delivery (400); a tag no module version can have is
// answered 204 with the rule. Neither is queued, so nothing is retried as if temporary.
TEST(WebhookService, TagsThatCanNeverBeVersionsAreAnsweredAtIntake) {
  TempDir tmp;
  auto cfg = TwoRepos(tmp.path().string());
  auto svc = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc.ok()) << svc.message();
  nlohmann::json push = {{"ref", ""},
                         {"before", kZero},
                         {"after", kA},
                         {"created", true},
                         {"deleted", false},
                         {"head_commit", {{"id", kB}}},
                         {"repository", GitHubRepo()}};
  int n = 0;
  auto deliver = [&](const std::string& tag) {
    push["ref"] = "refs/tags/" + tag;
    return (*svc)->Handle(GitHubDelivery("n" + std::to_string(++n), "lib-secret", push));
  };
  for (const char* forged : {"x/../v1.0.0", "a b/v1.0.0", "v1.0.0.lock"}) {
    Reply r = deliver(forged);
    EXPECT_EQ(r.status, 400) << forged;
    EXPECT_THAT(r.body, HasSubstr("git check-ref-format")) << forged;
  }
  for (const char* never : {"--upload-pack=x/v1.0.0", "\xc3\xa9t\xc3\xa9/v1.0.0", "v1.2"}) {
    Reply r = deliver(never);
    EXPECT_EQ(r.status, 204) << never;
    EXPECT_EQ(r.result, "ignored") << never;
  }
  EXPECT_EQ(Queued(cfg), 0u);
  EXPECT_EQ(deliver("sub/v1.0.0").status, 202);
  EXPECT_EQ(Queued(cfg), 1u);
}

// GitHub's `create` + `push` for one tag, and redeliveries under new ids: answered with
// the job already waiting in queue/; a claimed job or another commit gets a new job.
TEST(WebhookService, DeliveriesOfAWaitingTagAreCoalesced) {
  TempDir tmp;
  auto cfg = TwoRepos(tmp.path().string());
  auto svc = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc.ok()) << svc.message();
  nlohmann::json push = {
      {"ref", "refs/tags/v1.4.0"}, {"before", kZero},  {"after", kA},
      {"created", true},           {"deleted", false}, {"head_commit", {{"id", kB}}},
      {"repository", GitHubRepo()}};
  auto job_of = [](const Reply& r) {
    return nlohmann::json::parse(r.body)["job"].get<std::string>();
  };
  auto first = (*svc)->Handle(GitHubDelivery("c1", "lib-secret", push));
  ASSERT_EQ(first.status, 202) << first.body;
  EXPECT_EQ(first.result, "queued");
  auto again = (*svc)->Handle(GitHubDelivery("c2", "lib-secret", push));
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.result, "coalesced");
  EXPECT_EQ(job_of(again), job_of(first));
  EXPECT_EQ(Queued(cfg), 1u);
  EXPECT_EQ((*svc)->Count("github", "coalesced"), 1u);
  // Another commit for the same tag (moved): its own job.
  auto moved = push;
  moved["head_commit"]["id"] = kA;
  auto m = (*svc)->Handle(GitHubDelivery("c3", "lib-secret", moved));
  ASSERT_EQ(m.status, 202) << m.body;
  EXPECT_EQ(m.result, "queued");
  EXPECT_NE(job_of(m), job_of(first));
  EXPECT_EQ(Queued(cfg), 2u);
  // A restarted service finds the waiting jobs in queue/.
  svc->reset();
  auto svc2 = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc2.ok()) << svc2.message();
  auto after_restart = (*svc2)->Handle(GitHubDelivery("c4", "lib-secret", push));
  EXPECT_EQ(after_restart.result, "coalesced");
  EXPECT_EQ(job_of(after_restart), job_of(first));
  // Once claimed, the job may already have fetched: a new delivery queues a new job.
  auto spool = jobs::Spool::Open(cfg.spool_dir);
  auto owner = spool->Register();
  ASSERT_TRUE(owner.ok()) << owner.message();
  for (int i = 0; i < 2; ++i) {
    auto c = spool->Claim(*owner);
    ASSERT_TRUE(c.ok() && c->job.has_value());
  }
  auto fresh = (*svc2)->Handle(GitHubDelivery("c5", "lib-secret", push));
  ASSERT_EQ(fresh.status, 202) << fresh.body;
  EXPECT_EQ(fresh.result, "queued");
  EXPECT_NE(job_of(fresh), job_of(first));
  EXPECT_EQ(Queued(cfg), 1u);
}

// GitHub sends `create` (no commit) and `push` (with head_commit) for one new tag, in
// either order: one job.
TEST(WebhookService, CreateAndPushOfOneTagAreOneJobInEitherOrder) {
  for (bool create_first : {true, false}) {
    TempDir tmp;
    auto cfg = TwoRepos(tmp.path().string());
    auto svc = Service::Create(cfg, nullptr);
    ASSERT_TRUE(svc.ok()) << svc.message();
    nlohmann::json push = {
        {"ref", "refs/tags/v1.5.0"}, {"before", kZero},  {"after", kA},
        {"created", true},           {"deleted", false}, {"head_commit", {{"id", kB}}},
        {"repository", GitHubRepo()}};
    nlohmann::json create = {{"ref", "v1.5.0"}, {"ref_type", "tag"}, {"repository", GitHubRepo()}};
    auto d_push = GitHubDelivery("p-1", "lib-secret", push);
    auto d_create = GitHubDelivery("c-1", "lib-secret", create, "create");
    auto first = (*svc)->Handle(create_first ? d_create : d_push);
    auto second = (*svc)->Handle(create_first ? d_push : d_create);
    ASSERT_EQ(first.status, 202) << first.body;
    EXPECT_EQ(first.result, "queued");
    ASSERT_EQ(second.status, 202) << second.body;
    EXPECT_EQ(second.result, "coalesced")
        << (create_first ? "create, then push" : "push, then create");
    EXPECT_EQ(Queued(cfg), 1u);
  }
}

}  // namespace
}  // namespace modpub::webhook
