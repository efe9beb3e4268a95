#include "modpub/webhook/service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "modpub/jobs/runner.hpp"
#include "modpub/receive/receive.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::webhook {
namespace {

Reply Make(int status, std::string result, std::string message) {
  nlohmann::json j;
  j["result"] = result;
  j["message"] = message;
  return Reply{status, std::move(result), j.dump() + "\n"};
}

std::string Short(const std::string& id) { return id.size() > 12 ? id.substr(0, 12) : id; }

// The header(s) that authenticate `p`'s deliveries, for messages.
std::string AuthHeader(Provider p) {
  switch (p) {
    case Provider::kGitHub:
      return "X-Hub-Signature-256";
    case Provider::kGitLab:
      return "X-Gitlab-Token";
    case Provider::kGitea:
      return "X-Gitea-Signature / X-Forgejo-Signature";
  }
  return "authentication";
}

std::string DeliveryIdHeader(Provider p) {
  switch (p) {
    case Provider::kGitHub:
      return "X-GitHub-Delivery";
    case Provider::kGitLab:
      return "Idempotency-Key / X-Gitlab-Event-UUID";
    case Provider::kGitea:
      return "X-Gitea-Delivery / X-Forgejo-Delivery";
  }
  return "delivery id";
}

// Does the delivery carry valid authentication for a repository with `secret`?
bool Authentic(const Delivery& d, const std::string& secret) {
  if (!d.has_auth) return false;
  switch (d.provider) {
    case Provider::kGitHub:
      return VerifyGitHubSignature(secret, d.body, d.signature);
    case Provider::kGitLab:
      return VerifyGitLabToken(secret, d.token);
    case Provider::kGitea:
      return VerifyGiteaSignature(secret, d.body, d.signature);
  }
  return false;
}

// The provider whose route `path` is; nullopt for any other path.
std::optional<Provider> ProviderOfPath(std::string_view path) {
  for (Provider p : {Provider::kGitHub, Provider::kGitLab, Provider::kGitea}) {
    if (path == "/hooks/" + std::string(ProviderName(p))) return p;
  }
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<Service>> Service::Create(const config::Config& cfg,
                                                 std::function<void()> wake) {
  auto spool = jobs::Spool::Open(cfg.spool_dir);
  if (!spool) return spool.error();
  auto log = DeliveryLog::Open(std::filesystem::path(cfg.state_dir) / "webhook" / "deliveries",
                               static_cast<std::size_t>(cfg.webhook.dedupe_entries));
  if (!log) return log.error();
  auto intake =
      jobs::Intake::Open(*spool, std::move(wake), jobs::Intake::QueueHighFor(cfg.workers));
  if (!intake) return intake.error();
  std::unique_ptr<Service> svc(
      new Service(cfg, std::move(*spool), std::move(*intake), std::move(*log)));
  if (!cfg.queue.empty()) {
    auto url = jobs::ParseRedisQueueUrl(cfg.queue);
    if (!url) return url.error();
    url->endpoint.timeout = std::chrono::milliseconds(2000);  // a delivery waits this at most
    auto shared = jobs::RedisQueue::Open(*url, {"webhook"});
    if (!shared) return shared.error();
    svc->shared_ = std::move(*shared);
  }
  // Jobs queued before a restart can still absorb deliveries of their tag.
  auto queued = svc->spool_.List(jobs::State::kQueued);
  if (!queued) return queued.error();
  for (const auto& e : *queued) {
    if (e.job.source == "webhook" && e.job.attempts == 0 && e.job.last_error.empty())
      svc->RememberWaiting(e.job, e.job.id);
  }
  return svc;
}

std::string Service::WaitingKey(const jobs::Job& job, bool with_commit) {
  return job.repo + "\n" + job.tag + "\n" + (with_commit ? job.commit : "");
}

std::string Service::FindWaiting(const jobs::Job& job) {
  // Candidates: the job for this very commit; and, since a delivery without a commit (a
  // GitHub `create` event) and one with it (the `push` event GitHub sends for the same new
  // tag, in either order) are about the same tag, a waiting job without a commit for a
  // delivery with one, or any waiting job of the tag for a delivery without one.
  std::vector<std::string> ids;
  {
    std::lock_guard lock(waiting_mu_);
    const std::string key = WaitingKey(job);
    if (auto it = waiting_.find(key); it != waiting_.end()) ids.push_back(it->second);
    const std::string tag_key = WaitingKey(job, false);  // "<repo>\n<tag>\n": a prefix of all
    if (!job.commit.empty()) {
      if (auto it = waiting_.find(tag_key); it != waiting_.end()) ids.push_back(it->second);
    } else {
      for (auto it = waiting_.lower_bound(tag_key);
           it != waiting_.end() && it->first.starts_with(tag_key); ++it) {
        if (it->first != key) ids.push_back(it->second);
      }
    }
  }
  for (const std::string& id : ids) {
    // Untouched: still in queue/ (not claimed) and never attempted (a retry waiting for
    // its backoff is not coalesced onto: the new delivery should not wait for it).
    auto w = intake_->Waiting(id);
    if (w && w->attempts == 0 && w->repo == job.repo && w->tag == job.tag &&
        (w->commit == job.commit || w->commit.empty() || job.commit.empty())) {
      return id;
    }
  }
  return "";
}

void Service::RememberWaiting(const jobs::Job& job, const std::string& id) {
  std::lock_guard lock(waiting_mu_);
  waiting_[WaitingKey(job)] = id;
  if (waiting_.size() < prune_at_) return;
  // Bounded memory: forget jobs that left queue/ (claimed, done, failed).
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    it = intake_->Waiting(it->second) ? std::next(it) : waiting_.erase(it);
  }
  prune_at_ = std::max<std::size_t>(4096, 2 * waiting_.size());
}

Service::Service(const config::Config& cfg, jobs::Spool spool, std::unique_ptr<jobs::Intake> intake,
                 std::unique_ptr<DeliveryLog> log)
    : cfg_(cfg), spool_(std::move(spool)), intake_(std::move(intake)), log_(std::move(log)) {}

Reply Service::Handle(const Delivery& d) {
  const std::string provider(ProviderName(d.provider));
  Reply r = HandleLocked(d, provider);
  std::lock_guard lock(mu_);
  ++deliveries_[{provider, r.result}];
  return r;
}

Reply Service::HandleLocked(const Delivery& d, const std::string& provider) {
  auto doc = DecodeBody(d.content_type, d.body);
  if (!doc) {
    spdlog::warn("webhook {}: delivery {}: 400: {}", provider, d.id, doc.message());
    return Make(400, "bad_request", doc.message());
  }
  auto ev = Parse(d.provider, d.event, *doc);
  if (!ev) {
    spdlog::warn("webhook {}: delivery {} ({}): 400: {}", provider, d.id, d.event, ev.message());
    return Make(400, "bad_request", ev.message());
  }
  const auto snapshot = live_ ? live_->Get() : nullptr;  // keeps `repo` valid
  const config::RepoConfig* repo = MatchRepo(snapshot ? *snapshot : cfg_, d.provider, *ev);
  if (!repo) {
    std::string names;
    for (const auto& n : ev->names) names += (names.empty() ? "" : ", ") + n;
    for (const auto& u : ev->urls) names += (names.empty() ? "" : ", ") + u;
    spdlog::warn("webhook {}: delivery {} ({}): 404: repository [{}] is not configured in {}",
                 provider, d.id, d.event, names, cfg_.source);
    return Make(404, "unknown_repo", "repository not configured for webhooks");
  }
  if (!Authentic(d, repo->webhook_secret)) {
    spdlog::warn("webhook {}: delivery {} for {}: 401: {}", provider, d.id, repo->import_path,
                 !d.has_auth                       ? "no " + AuthHeader(d.provider)
                 : d.provider == Provider::kGitLab ? std::string("token does not match")
                                                   : std::string("signature does not match"));
    return Make(401, "unauthorized", AuthHeader(d.provider) + " missing or wrong");
  }
  if (!DeliveryLog::ValidId(d.id)) {
    return Make(400, "bad_request", DeliveryIdHeader(d.provider) + " missing or invalid");
  }
  const std::string key = provider + ":" + d.id;
  if (!log_->Reserve(key)) {
    spdlog::info("webhook {}: delivery {} for {}: duplicate, ignored", provider, d.id,
                 repo->import_path);
    return Make(200, "duplicate", "delivery " + d.id + " was already handled");
  }
  auto commit = [&](Reply reply) {
    if (auto s = log_->Commit(key); !s) spdlog::error("webhook {}: {}", provider, s.message());
    return reply;
  };
  if (!FirstInCluster(provider, d.id)) {
    spdlog::info("webhook {}: delivery {} for {}: handled by another node, ignored", provider, d.id,
                 repo->import_path);
    return commit(Make(200, "duplicate", "delivery " + d.id + " was already handled"));
  }

  switch (ev->kind) {
    case Kind::kPing:
      spdlog::info("webhook {}: ping for {}", provider, repo->import_path);
      return commit(Make(200, "pong", "pong"));
    case Kind::kIgnored:
      spdlog::info("webhook {}: delivery {} for {}: ignored: {}", provider, d.id, repo->import_path,
                   ev->reason);
      return commit(Make(204, "ignored", ev->reason));
    case Kind::kTagDeleted:
      if (receive::IsVersionTag(ev->tag) && Published(*repo, ev->tag)) {
        return commit(AlertDeleted(provider, *repo, *ev));
      }
      spdlog::info("webhook {}: {} tag {} deleted (not published): nothing to do", provider,
                   repo->import_path, ev->tag);
      return commit(Make(204, "ignored", "tag " + ev->tag + " deleted"));
    case Kind::kTagCreated:
    case Kind::kTagMoved:
      break;
  }
  const receive::TagVerdict name = receive::JudgeTagName(repo->import_path, ev->tag);
  switch (name.kind) {
    case receive::TagVerdict::kMaybe:
      break;
    case receive::TagVerdict::kNotVersion:
      spdlog::info("webhook {}: delivery {} for {}: tag {} is not a version tag, ignored", provider,
                   d.id, repo->import_path, ev->tag);
      return commit(Make(204, "ignored", "tag " + ev->tag + " is not a version tag"));
    case receive::TagVerdict::kNever:
      spdlog::warn("webhook {}: delivery {} for {}: not queued: {}", provider, d.id,
                   repo->import_path, name.why);
      return commit(Make(204, "ignored", name.why));
    case receive::TagVerdict::kNotAGitRef:
      spdlog::warn("webhook {}: delivery {} for {}: 400: {}", provider, d.id, repo->import_path,
                   name.why);
      return commit(Make(400, "bad_request", name.why));
  }
  if (ev->kind == Kind::kTagMoved && Published(*repo, ev->tag))
    Alert(provider, "moved", *repo, *ev);
  {
    // The tag exists again: its next deletion is a new one.
    std::lock_guard lock(mu_);
    deletions_.erase(repo->path + "\n" + ev->tag);
  }

  jobs::Job job;
  job.repo = repo->path;
  job.import_path = repo->import_path;
  job.tag = ev->tag;
  // Only a full commit id from the payload is recorded (the runner then checks the
  // fetched tag still names it); GitHub's `after` may be an annotated tag object.
  if (ev->commit.size() == 40) job.commit = ev->commit;
  job.source = "webhook";
  if (std::string waiting = FindWaiting(job); !waiting.empty()) {
    spdlog::info("webhook {}: delivery {}: {}@{} already waiting as job {}: coalesced", provider,
                 Short(d.id), repo->import_path, ev->tag, waiting);
    nlohmann::json j;
    j["result"] = "coalesced";
    j["job"] = waiting;
    j["coalesced"] = true;
    return commit(Reply{202, "coalesced", j.dump() + "\n"});
  }
  auto id = intake_->Enqueue(job);
  if (!id) {
    log_->Abandon(key);
    if (shared_) (void)shared_->ForgetDelivery(provider, d.id);  // a redelivery may retry
    spdlog::error("webhook {}: delivery {}: {} {}: cannot queue: {}", provider, d.id,
                  repo->import_path, ev->tag, id.message());
    return Make(500, "error", "cannot queue the job: " + id.message());
  }
  spdlog::info("webhook {}: delivery {}: {}@{} queued as job {} (remote {})", provider, Short(d.id),
               repo->import_path, ev->tag, *id, repo->remote_url);
  RememberWaiting(job, *id);  // the intake wakes the runner once the job is in queue/
  nlohmann::json j;
  j["result"] = "queued";
  j["job"] = *id;
  return commit(Reply{202, "queued", j.dump() + "\n"});
}

bool Service::FirstInCluster(const std::string& provider, const std::string& id) {
  if (!shared_) return true;
  auto first = shared_->FirstDelivery(provider, id, std::chrono::hours(24 * 7));
  if (first) return *first;
  spdlog::warn(
      "webhook {}: delivery {}: the cluster's delivery ids cannot be read ({}); "
      "deduplicated on this node only",
      provider, id, first.message());
  return true;  // a duplicate job publishes nothing twice; a lost delivery would
}

bool Service::Published(const config::RepoConfig& repo, const std::string& tag) {
  auto slash = tag.rfind('/');
  std::string dir = slash == std::string::npos ? "" : tag.substr(0, slash);
  std::string version = slash == std::string::npos ? tag : tag.substr(slash + 1);
  std::string path = repo.import_path + (dir.empty() ? "" : "/" + dir);
  std::vector<std::pair<std::string, std::string>> candidates = {{path, version}};
  const std::string major = semver::IsValid(version) ? semver::Major(version) : "";
  if (!major.empty() && major != "v0" && major != "v1") {
    candidates.push_back({path + "/" + major, version});
    candidates.push_back({path, version + "+incompatible"});
  }
  auto backends = jobs::OpenBackends(cfg_);
  if (!backends) return true;  // cannot tell: treat as published (alert rather than stay silent)
  // A candidate no module version can be (v2+ without its /vN) is stored nowhere: asking
  // would fail, and a failure counts as published.
  std::erase_if(candidates,
                [](const auto& c) { return !storage::ValidateModuleVersion(c.first, c.second); });
  for (const auto& b : *backends) {
    for (const auto& [p, ver] : candidates) {
      auto st = b->Stat(p, ver);
      if (!st || st->has_value()) return true;
    }
  }
  return false;
}

void Service::Alert(const std::string& provider, const char* kind, const config::RepoConfig& repo,
                    const Event& ev) {
  spdlog::critical(
      "ALERT webhook {}: published version tag {} of {} was {} on {} ({} -> {}); published "
      "versions are never unpublished or replaced",
      provider, ev.tag, repo.import_path, kind, repo.remote_url, ev.before, ev.after);
  std::lock_guard lock(mu_);
  ++alerts_[{provider, kind}];
}

Reply Service::AlertDeleted(const std::string& provider, const config::RepoConfig& repo,
                            const Event& ev) {
  const std::string key = repo.path + "\n" + ev.tag;
  const auto now = std::chrono::steady_clock::now();
  bool repeat = false;
  {
    std::lock_guard lock(mu_);
    std::erase_if(deletions_, [&](const auto& e) { return now - e.second >= kRepeatedDeletion; });
    repeat = deletions_.contains(key);
    if (!repeat) deletions_[key] = now;
  }
  if (repeat) {
    spdlog::info(
        "webhook {}: published version tag {} of {}: deletion announced again, alerted "
        "already",
        provider, ev.tag, repo.import_path);
    return Make(204, "alert",
                "tag " + ev.tag + " deleted (alerted already); published versions stay");
  }
  Alert(provider, "deleted", repo, ev);
  return Make(204, "alert", "tag " + ev.tag + " deleted; published versions stay");
}

std::uint64_t Service::Count(const std::string& provider, const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = deliveries_.find({provider, result});
  return it == deliveries_.end() ? 0 : it->second;
}

std::size_t Service::IntakeBacklog() const { return intake_->Backlog(); }

std::string Service::RenderMetrics() const {
  std::lock_guard lock(mu_);
  std::string out =
      "# HELP modpub_webhook_deliveries_total Webhook deliveries by provider and result.\n"
      "# TYPE modpub_webhook_deliveries_total counter\n";
  for (const auto& [k, n] : deliveries_) {
    out += "modpub_webhook_deliveries_total{provider=\"" + k.first + "\",result=\"" + k.second +
           "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP modpub_webhook_tag_alerts_total Published version tags deleted or moved on a "
      "remote.\n"
      "# TYPE modpub_webhook_tag_alerts_total counter\n";
  for (const char* p : {"github", "gitlab", "gitea"}) {
    for (const char* k : {"deleted", "moved"}) {
      auto it = alerts_.find({p, k});
      out += std::string("modpub_webhook_tag_alerts_total{provider=\"") + p + "\",kind=\"" + k +
             "\"} " + std::to_string(it == alerts_.end() ? 0 : it->second) + "\n";
    }
  }
  return out;
}

Delivery ReadDelivery(Provider p, const http::Request& req) {
  Delivery d;
  d.provider = p;
  d.content_type = req.get_header_value("Content-Type");
  d.body = req.body;
  switch (p) {
    case Provider::kGitHub:
      d.event = req.get_header_value("X-GitHub-Event");
      d.id = req.get_header_value("X-GitHub-Delivery");
      d.has_auth = req.has_header("X-Hub-Signature-256");
      d.signature = req.get_header_value("X-Hub-Signature-256");
      break;
    case Provider::kGitLab:
      d.event = req.get_header_value("X-Gitlab-Event");
      d.id = req.has_header("Idempotency-Key") ? req.get_header_value("Idempotency-Key")
                                               : req.get_header_value("X-Gitlab-Event-UUID");
      d.has_auth = req.has_header("X-Gitlab-Token");
      d.token = req.get_header_value("X-Gitlab-Token");
      break;
    case Provider::kGitea: {
      // Forgejo sends its own headers and Gitea's; a Forgejo that stops sending Gitea's
      // must keep working, and Gitea never sends Forgejo's.
      auto pick = [&](const char* forgejo, const char* gitea) {
        return req.has_header(forgejo) ? forgejo : gitea;
      };
      d.event = req.get_header_value(pick("X-Forgejo-Event", "X-Gitea-Event"));
      d.id = req.get_header_value(pick("X-Forgejo-Delivery", "X-Gitea-Delivery"));
      const char* signature = pick("X-Forgejo-Signature", "X-Gitea-Signature");
      d.has_auth = req.has_header(signature);
      d.signature = req.get_header_value(signature);
      break;
    }
  }
  return d;
}

void Service::Serve(Provider p, const http::Request& req, http::Response& res) {
  // The server read the whole body within webhook.max_body_bytes and body_deadline_ms
  // (else it answered 413 / 408 itself: CountRefusal).
  Reply r = Handle(ReadDelivery(p, req));
  res.status = r.status;
  res.set_header("X-Modpub-Result", r.result);
  if (r.status != 204) res.set_content(r.body, "application/json");
}

void Service::CountRefusal(const http::Request& req, int status) {
  const auto p = ProviderOfPath(req.path);
  if (req.method != "POST" || !p) return;
  const std::string provider(ProviderName(*p));
  if (status == 408) {
    spdlog::warn("webhook {}: {} from {}: body not received in time, connection closed", provider,
                 req.path, req.remote_addr);
  }
  std::lock_guard lock(mu_);
  ++deliveries_[{provider, status == 408 ? "timeout" : "too_large"}];
}

http::Router::Routed Service::PreRoute(const http::Request& req, http::Response& res) {
  // Refuse an oversized or malformed Content-Length before any of the body is read, and
  // close (the server would refuse it too, but uncounted and unlogged).
  const auto max = static_cast<std::uint64_t>(cfg_.webhook.max_body_bytes);
  if (req.method != "POST" || req.path.rfind("/hooks/", 0) != 0 ||
      !req.has_header("Content-Length")) {
    return http::Router::Routed::kUnhandled;
  }
  const std::string len = req.get_header_value("Content-Length");
  std::uint64_t n = 0;
  bool digits = !len.empty() && len.size() <= 19;
  for (char c : len) {
    if (c < '0' || c > '9') digits = false;
  }
  if (digits) n = std::stoull(len);
  if (digits && n <= max) return http::Router::Routed::kUnhandled;
  const auto p = ProviderOfPath(req.path);  // another /hooks/ path: refused, not counted
  const std::string provider(p ? ProviderName(*p) : "webhook");
  res.status = digits ? 413 : 400;
  res.set_header("Connection", "close");
  res.set_content(digits ? "body larger than webhook.max_body_bytes\n" : "bad Content-Length\n",
                  "text/plain; charset=utf-8");
  spdlog::warn("webhook {}: {} from {}: Content-Length {} refused ({} bytes allowed)", provider,
               req.path, req.remote_addr, len, max);
  if (!p) return http::Router::Routed::kHandled;
  std::lock_guard lock(mu_);
  ++deliveries_[{provider, digits ? "too_large" : "bad_request"}];
  return http::Router::Routed::kHandled;
}

void Service::Mount(http::Router& router) {
  router.AddHeaderCheck(
      [this](const http::Request& req, http::Response& res) { return PreRoute(req, res); });
  router.AddRefusalObserver(
      [this](const http::Request& req, int status) { CountRefusal(req, status); });
  router.Post("/hooks/github", [this](const http::Request& req, http::Response& res) {
    Serve(Provider::kGitHub, req, res);
  });
  router.Post("/hooks/gitlab", [this](const http::Request& req, http::Response& res) {
    Serve(Provider::kGitLab, req, res);
  });
  router.Post("/hooks/gitea", [this](const http::Request& req, http::Response& res) {
    Serve(Provider::kGitea, req, res);
  });
}

}  // namespace modpub::webhook
