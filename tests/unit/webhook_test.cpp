#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "modpub/config/config.hpp"
#include "modpub/http/message.hpp"
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

// A repository object as Gitea (and Forgejo) put it in every payload (services/convert's
// ToRepo), trimmed of the members modpub never reads but keeping ones it must not match on.
nlohmann::json GiteaRepo() {
  return {{"id", 140},
          {"owner", {{"id", 1}, {"login", "corp"}, {"username", "corp"}}},
          {"name", "Lib"},
          {"full_name", "corp/Lib"},
          {"private", true},
          {"mirror", false},
          {"html_url", "https://gitea.example/corp/Lib"},
          {"url", "https://gitea.example/api/v1/repos/corp/Lib"},
          {"ssh_url", "git@gitea.example:corp/Lib.git"},
          {"clone_url", "https://gitea.example/corp/Lib.git"},
          {"original_url", "https://github.example/upstream/Lib.git"},
          {"default_branch", "main"}};
}

// Gitea's push of a new tag: before is always zeros, head_commit is the tagged commit,
// after the ref's value (here an annotated tag object).
nlohmann::json GiteaTagPush(const std::string& tag, const std::string& before,
                            const std::string& after, const nlohmann::json& head) {
  return {{"ref", "refs/tags/" + tag},
          {"before", before},
          {"after", after},
          {"compare_url", "https://gitea.example/corp/Lib/compare/" + before + "..." + after},
          {"commits", nlohmann::json::array()},
          {"total_commits", 0},
          {"head_commit", head},
          {"repository", GiteaRepo()},
          {"pusher", {{"id", 1}, {"login", "corp"}}},
          {"sender", {{"id", 1}, {"login", "corp"}}}};
}

TEST(WebhookHmac, GiteaSignature) {
  const std::string body = GiteaTagPush("v1.0.0", kZero, kA, {{"id", kB}}).dump(2);
  const std::string sig = HmacSha256Hex("s3cret", body);  // no "sha256=" prefix
  EXPECT_TRUE(VerifyGiteaSignature("s3cret", body, sig));
  std::string upper = sig;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(VerifyGiteaSignature("s3cret", body, upper));
  EXPECT_FALSE(VerifyGiteaSignature("other", body, sig));
  EXPECT_FALSE(VerifyGiteaSignature("s3cret", body + "\n", sig));
  EXPECT_FALSE(VerifyGiteaSignature("s3cret", body, "sha256=" + sig));  // GitHub's form
  EXPECT_FALSE(VerifyGiteaSignature("s3cret", body, sig.substr(1)));
  EXPECT_FALSE(VerifyGiteaSignature("s3cret", body, ""));
  EXPECT_FALSE(VerifyGiteaSignature("", body, HmacSha256Hex("", body)));
}

TEST(WebhookParse, GiteaPushCreateDelete) {
  auto ev = ParseGitea("push", GiteaTagPush("v1.2.3", kZero, kA, {{"id", kB}}));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(ev->kind, Kind::kTagCreated);
  EXPECT_EQ(ev->tag, "v1.2.3");
  EXPECT_EQ(ev->commit, kB);  // head_commit, not `after` (the tag object)
  EXPECT_EQ(ev->names, std::vector<std::string>{"corp/Lib"});
  // clone, ssh, web; not the API url, not the mirror's original_url.
  EXPECT_EQ(ev->urls, (std::vector<std::string>{"https://gitea.example/corp/Lib.git",
                                                "git@gitea.example:corp/Lib.git",
                                                "https://gitea.example/corp/Lib"}));
  // A deleted tag: push with after = zeros and no head_commit.
  auto del = ParseGitea("push", GiteaTagPush("v1.2.3", kA, kZero, nullptr));
  ASSERT_TRUE(del.ok()) << del.message();
  EXPECT_EQ(del->kind, Kind::kTagDeleted);
  EXPECT_EQ(del->commit, "");
  // "Test Delivery": a push of the default branch.
  auto branch = GiteaTagPush("x", kA, kB, {{"id", kB}});
  branch["ref"] = "refs/heads/main";
  auto test_delivery = ParseGitea("push", branch);
  ASSERT_TRUE(test_delivery.ok());
  EXPECT_EQ(test_delivery->kind, Kind::kIgnored);
  EXPECT_THAT(test_delivery->reason, HasSubstr("refs/heads/main is not a tag"));

  nlohmann::json create = {{"sha", kA},
                           {"ref", "sub/v0.3.0"},
                           {"ref_type", "tag"},
                           {"repository", GiteaRepo()},
                           {"sender", {{"login", "corp"}}}};
  auto created = ParseGitea("create", create);
  ASSERT_TRUE(created.ok()) << created.message();
  EXPECT_EQ(created->kind, Kind::kTagCreated);
  EXPECT_EQ(created->tag, "sub/v0.3.0");
  EXPECT_EQ(created->commit, "");  // sha may be a tag object: never taken for the commit
  create["ref_type"] = "branch";
  EXPECT_EQ(ParseGitea("create", create)->kind, Kind::kIgnored);

  nlohmann::json removed = {
      {"ref", "v1.2.3"}, {"ref_type", "tag"}, {"pusher_type", "user"}, {"repository", GiteaRepo()}};
  auto deleted = ParseGitea("delete", removed);
  ASSERT_TRUE(deleted.ok()) << deleted.message();
  EXPECT_EQ(deleted->kind, Kind::kTagDeleted);
  EXPECT_EQ(deleted->tag, "v1.2.3");
  removed["ref_type"] = "branch";
  EXPECT_EQ(ParseGitea("delete", removed)->kind, Kind::kIgnored);

  auto release = ParseGitea("release", {{"action", "published"}, {"repository", GiteaRepo()}});
  ASSERT_TRUE(release.ok());
  EXPECT_EQ(release->kind, Kind::kIgnored);
  EXPECT_THAT(release->reason, HasSubstr("push, create, delete"));

  auto nameless = GiteaTagPush("", kZero, kA, {{"id", kB}});
  EXPECT_FALSE(ParseGitea("push", nameless).ok());
  EXPECT_FALSE(ParseGitea("create", {{"ref_type", "tag"}, {"repository", GiteaRepo()}}).ok());
  EXPECT_FALSE(ParseGitea("push", {{"ref", "refs/tags/v1.0.0"}}).ok());  // no repository
  EXPECT_FALSE(ParseGitea("push", nlohmann::json::array()).ok());
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

// Gitea payloads match by URL or full_name like the others; provider = "github" refuses
// them, provider = "gitea" refuses GitHub's and GitLab's, none (or generic) takes all.
TEST(WebhookMatch, GiteaProvider) {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  auto cfg = config::ParseConfig(R"(storage = ["file://)" + dir + R"(/store"]
spool_dir = ")" + dir + R"(/spool"
state_dir = ")" + dir + R"(/state"
socket = ")" + dir + R"(/sock"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://gitea.example/corp/lib.git"
webhook_secret = "s"
provider = "gitea"
[[repository]]
import_path = "corp.example/gh"
remote_url = "https://gitea.example/corp/gh.git"
webhook_secret = "s"
provider = "github"
[[repository]]
import_path = "corp.example/any"
remote_url = "ssh://git@gitea.example:2222/corp/any.git"
webhook_secret = "s"
provider = "generic"
)",
                                 "test.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  auto ev = ParseGitea("push", GiteaTagPush("v1.0.0", kZero, kA, {{"id", kB}}));
  ASSERT_TRUE(ev.ok()) << ev.message();
  EXPECT_EQ(MatchRepo(*cfg, Provider::kGitea, *ev), &cfg->repositories[0]);  // clone_url
  EXPECT_EQ(MatchRepo(*cfg, Provider::kGitHub, *ev), nullptr);
  EXPECT_EQ(MatchRepo(*cfg, Provider::kGitLab, *ev), nullptr);
  Event gh;
  gh.urls = {"git@gitea.example:corp/gh.git"};
  EXPECT_EQ(MatchRepo(*cfg, Provider::kGitHub, gh), &cfg->repositories[1]);
  EXPECT_EQ(MatchRepo(*cfg, Provider::kGitea, gh), nullptr);  // provider = github
  Event any;
  any.names = {"Corp/Any"};
  for (Provider p : {Provider::kGitHub, Provider::kGitLab, Provider::kGitea}) {
    EXPECT_EQ(MatchRepo(*cfg, p, any), &cfg->repositories[2]) << ProviderName(p);
  }
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

config::Config GiteaRepos(const std::string& dir) {
  auto cfg = config::ParseConfig(R"(storage = ["file://)" + dir + R"(/store"]
spool_dir = ")" + dir + R"(/spool"
state_dir = ")" + dir + R"(/state"
socket = ")" + dir + R"(/sock"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://gitea.example/corp/Lib.git"
webhook_secret = "lib-secret"
provider = "gitea"
[[repository]]
import_path = "corp.example/gh"
remote_url = "https://github.example/Corp/Tools.git"
webhook_secret = "gh-secret"
provider = "github"
)",
                                 "test.toml");
  EXPECT_TRUE(cfg.ok()) << cfg.message();
  return *cfg;
}

Delivery GiteaDelivery(const std::string& id, const std::string& secret, const nlohmann::json& doc,
                       const std::string& event = "push") {
  Delivery d;
  d.provider = Provider::kGitea;
  d.content_type = "application/json";
  d.event = event;
  d.id = id;
  d.body = doc.dump(2);  // Gitea indents its JSON; the signature covers the raw bytes
  d.has_auth = true;
  d.signature = HmacSha256Hex(secret, d.body);
  return d;
}

TEST(WebhookService, GiteaDecisionsAndQueue) {
  TempDir tmp;
  auto cfg = GiteaRepos(tmp.path().string());
  auto svc = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc.ok()) << svc.message();
  const auto push = GiteaTagPush("v1.2.3", kZero, kA, {{"id", kB}});
  auto forged = GiteaDelivery("g1", "lib-secret", push);
  forged.signature[3] = forged.signature[3] == '0' ? '1' : '0';
  EXPECT_EQ((*svc)->Handle(forged).status, 401);
  auto missing = GiteaDelivery("g1", "lib-secret", push);
  missing.has_auth = false;
  missing.signature.clear();
  auto refused = (*svc)->Handle(missing);
  EXPECT_EQ(refused.status, 401);
  EXPECT_THAT(refused.body, HasSubstr("X-Gitea-Signature / X-Forgejo-Signature missing or wrong"));
  EXPECT_EQ((*svc)->Handle(GiteaDelivery("g1", "gh-secret", push)).status, 401);
  EXPECT_EQ(Queued(cfg), 0u);

  auto ok = (*svc)->Handle(GiteaDelivery("g1", "lib-secret", push));
  ASSERT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(ok.result, "queued");
  auto replay = (*svc)->Handle(GiteaDelivery("g1", "lib-secret", push));
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.result, "duplicate");
  // The `create` Gitea sends with the push: the job that waits covers it.
  nlohmann::json create = {
      {"sha", kA}, {"ref", "v1.2.3"}, {"ref_type", "tag"}, {"repository", GiteaRepo()}};
  auto created = (*svc)->Handle(GiteaDelivery("g2", "lib-secret", create, "create"));
  EXPECT_EQ(created.result, "coalesced") << created.body;
  EXPECT_EQ(Queued(cfg), 1u);
  auto spool = jobs::Spool::Open(cfg.spool_dir);
  ASSERT_TRUE(WaitForQueueDepth(cfg, 1));
  auto jobs = spool->List(jobs::State::kQueued);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job.tag, "v1.2.3");
  EXPECT_EQ((*jobs)[0].job.commit, kB);
  EXPECT_EQ((*jobs)[0].job.repo, cfg.repositories[0].path);

  // A repository with provider = "github" takes no Gitea delivery, and the other way round.
  auto gh_push = push;
  gh_push["repository"] = {{"full_name", "Corp/Tools"},
                           {"clone_url", "https://github.example/Corp/Tools.git"}};
  EXPECT_EQ((*svc)->Handle(GiteaDelivery("g3", "gh-secret", gh_push)).status, 404);
  auto to_github = GitHubDelivery("g4", "lib-secret", push);
  EXPECT_EQ((*svc)->Handle(to_github).status, 404);
  // Not a tag, no delivery id.
  auto branch = push;
  branch["ref"] = "refs/heads/main";
  EXPECT_EQ((*svc)->Handle(GiteaDelivery("g5", "lib-secret", branch)).status, 204);
  auto no_id = (*svc)->Handle(GiteaDelivery("", "lib-secret", push));
  EXPECT_EQ(no_id.status, 400);
  EXPECT_THAT(no_id.body, HasSubstr("X-Gitea-Delivery / X-Forgejo-Delivery"));
  EXPECT_EQ(Queued(cfg), 1u);
  EXPECT_EQ((*svc)->Count("gitea", "queued"), 1u);
  EXPECT_EQ((*svc)->Count("gitea", "unauthorized"), 3u);
  EXPECT_EQ((*svc)->Count("gitea", "unknown_repo"), 1u);
  EXPECT_EQ((*svc)->Count("github", "unknown_repo"), 1u);
  EXPECT_THAT((*svc)->RenderMetrics(),
              HasSubstr("modpub_webhook_deliveries_total{provider=\"gitea\",result=\"queued\"} 1"));
}

// Gitea announces a deleted tag by `push` and by `delete`: a published version's deletion
// is one alert; deleted again after the tag was re-created, it is a new one.
TEST(WebhookService, GiteaDeletionOfAPublishedTagAlertsOnce) {
  TempDir tmp;
  auto cfg = GiteaRepos(tmp.path().string());
  // Published as far as the service can tell: the version's .info is stored.
  const fs::path v = tmp.path() / "store" / "corp.example" / "lib" / "@v";
  fs::create_directories(v);
  std::ofstream(v / "v1.0.0.info") << R"({"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"})";
  auto svc = Service::Create(cfg, nullptr);
  ASSERT_TRUE(svc.ok()) << svc.message();
  nlohmann::json del_event = {
      {"ref", "v1.0.0"}, {"ref_type", "tag"}, {"pusher_type", "user"}, {"repository", GiteaRepo()}};
  auto by_push =
      (*svc)->Handle(GiteaDelivery("d1", "lib-secret", GiteaTagPush("v1.0.0", kA, kZero, nullptr)));
  EXPECT_EQ(by_push.status, 204);
  EXPECT_EQ(by_push.result, "alert");
  auto by_delete = (*svc)->Handle(GiteaDelivery("d2", "lib-secret", del_event, "delete"));
  EXPECT_EQ(by_delete.status, 204);
  EXPECT_THAT(by_delete.body, HasSubstr("alerted already"));
  const std::string one = "modpub_webhook_tag_alerts_total{provider=\"gitea\",kind=\"deleted\"} 1";
  EXPECT_THAT((*svc)->RenderMetrics(), HasSubstr(one));
  // Re-created (queued), deleted again: alerted again.
  auto again = (*svc)->Handle(
      GiteaDelivery("d3", "lib-secret", GiteaTagPush("v1.0.0", kZero, kA, {{"id", kB}})));
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ((*svc)->Handle(GiteaDelivery("d4", "lib-secret", del_event, "delete")).status, 204);
  EXPECT_THAT((*svc)->RenderMetrics(),
              HasSubstr("modpub_webhook_tag_alerts_total{provider=\"gitea\",kind=\"deleted\"} 2"));
  // A tag that was never published: no alert.
  del_event["ref"] = "v9.9.9";
  auto unpublished = (*svc)->Handle(GiteaDelivery("d5", "lib-secret", del_event, "delete"));
  EXPECT_EQ(unpublished.result, "ignored");
}

http::Request GiteaRequest(const http::Headers& headers, const std::string& body) {
  http::Request req;
  req.method = "POST";
  req.path = req.target = "/hooks/gitea";
  req.headers = headers;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  return req;
}

// Forgejo sends X-Forgejo-* and X-Gitea-*; Forgejo's are read when present, each header
// on its own; Gitea sends only its own.
TEST(WebhookService, GiteaAndForgejoHeaders) {
  const std::string body = R"({"ref":"refs/tags/v1.0.0"})";
  const std::string good = HmacSha256Hex("s", body);
  auto gitea = ReadDelivery(Provider::kGitea, GiteaRequest({{"X-Gitea-Event", "push"},
                                                            {"X-Gitea-Delivery", "gitea-id"},
                                                            {"X-Gitea-Signature", good},
                                                            {"X-Hub-Signature-256", "x"}},
                                                           body));
  EXPECT_EQ(gitea.provider, Provider::kGitea);
  EXPECT_EQ(gitea.event, "push");
  EXPECT_EQ(gitea.id, "gitea-id");
  EXPECT_TRUE(gitea.has_auth);
  EXPECT_EQ(gitea.signature, good);
  EXPECT_EQ(gitea.body, body);
  EXPECT_EQ(gitea.content_type, "application/json");
  auto both = ReadDelivery(Provider::kGitea, GiteaRequest({{"X-Gitea-Event", "create"},
                                                           {"X-Gitea-Delivery", "gitea-id"},
                                                           {"X-Gitea-Signature", good},
                                                           {"x-forgejo-event", "push"},
                                                           {"X-Forgejo-Delivery", "forgejo-id"},
                                                           {"X-Forgejo-Signature", "bad"}},
                                                          body));
  EXPECT_EQ(both.event, "push");
  EXPECT_EQ(both.id, "forgejo-id");
  EXPECT_EQ(both.signature, "bad");  // Forgejo's, even though Gitea's would verify
  EXPECT_FALSE(VerifyGiteaSignature("s", both.body, both.signature));
  auto forgejo_only = ReadDelivery(Provider::kGitea, GiteaRequest({{"X-Forgejo-Event", "delete"},
                                                                   {"X-Forgejo-Delivery", "f"},
                                                                   {"X-Forgejo-Signature", good}},
                                                                  body));
  EXPECT_EQ(forgejo_only.event, "delete");
  EXPECT_EQ(forgejo_only.id, "f");
  EXPECT_TRUE(VerifyGiteaSignature("s", forgejo_only.body, forgejo_only.signature));
  auto unsigned_ = ReadDelivery(Provider::kGitea, GiteaRequest({{"X-Gitea-Event", "push"}}, body));
  EXPECT_FALSE(unsigned_.has_auth);
  EXPECT_EQ(unsigned_.id, "");
}

}  // namespace
}  // namespace modpub::webhook
