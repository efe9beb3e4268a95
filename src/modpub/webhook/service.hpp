// The webhook endpoints of modpubd: POST /hooks/github, POST /hooks/gitlab and POST
// /hooks/gitea (Gitea and Forgejo: one provider, "gitea"; webhook/event.hpp). Each route
// takes only its provider's deliveries, authenticated its provider's way: GitHub's
// X-Hub-Signature-256, GitLab's X-Gitlab-Token, Gitea's X-Gitea-Signature or Forgejo's
// X-Forgejo-Signature (Forgejo's header family is read when present, else Gitea's:
// signature, event and delivery id alike).
//
// Per delivery, in this order (first match decides):
//   body larger than webhook.max_body_bytes          -> 413 (Content-Length: not read)
//   body not complete within webhook.body_deadline   -> 408, connection closed
//   body not JSON (or a form without payload=)       -> 400
//   event names no repository / lacks its fields     -> 400
//   repository not configured (MatchRepo)            -> 404, logged
//   signature / token missing or wrong               -> 401, logged, nothing queued
//   ping (GitHub)                                    -> 200 "pong"
//   delivery id missing (X-GitHub-Delivery; GitLab Idempotency-Key or
//     X-Gitlab-Event-UUID; X-Forgejo-Delivery or X-Gitea-Delivery) -> 400
//   delivery id already handled (DeliveryLog)        -> 200 "duplicate delivery"
//   not a tag / not a version tag / other event      -> 204 + X-Modpub-Result: ignored
//   tag deleted                                      -> 204; an ALERT log line and
//     modpub_webhook_tag_alerts_total{kind="deleted"} when the version is published;
//     once per deletion: Gitea announces one by `push` and by `delete`, so a deletion of
//     the same (repository, tag) within kRepeatedDeletion of its alert, with no creation of
//     the tag delivered in between, is logged as a repeat and not alerted again
//   tag created or moved, same (repository, tag) and the same commit -- or no commit on
//     one side (GitHub's `create` carries none) -- as a job this service queued that
//     still waits in queue/ untouched (not claimed, no attempt made)
//                                                    -> 202 {"job": "<that id>",
//     "coalesced": true}, X-Modpub-Result: coalesced, no second job (see below)
//   tag created or moved                             -> the job is made durable in the
//     spool (jobs::Intake: the service's journal, then queue/ moments later; source
//     "webhook"), the delivery id recorded, then 202 {"job": "<id>"}; the runner is
//     woken once the job is in queue/; a moved tag of a published version is also an
//     alert (publishing then refuses the other content: the job fails, nothing changes)
// Coalescing: GitHub sends `create` and `push` for one new tag, and a redelivery gets a
// new delivery id. Answering such a delivery with the job that is already waiting is
// safe: the runner fetches the tag only after it claims the job, i.e. after this
// delivery arrived, so that job sees at least what this delivery announced; two
// different commits of one tag (a moved tag) are never coalesced: each gets its job. Known waiting
// jobs are kept in memory (reloaded from queue/ at start); the waiting check looks in the
// intake's journal and then reads queue/<id>.job, so a job claimed meanwhile is never coalesced
// onto. Two deliveries of one tag handled at the same instant may still queue two jobs: harmless,
// publishing is idempotent. Authentication happens before anything is queued or recorded; the
// delivery id is only recorded for authenticated deliveries. Publishing never runs on the request
// thread. Slow clients hold no thread: the server (http/server.hpp) reads asynchronously, cuts the
// request line and headers at webhook.read_timeout_ms and the body at webhook.body_deadline_ms
// (both total deadlines; 408 for the body), and runs this service's handler on its worker pool
// (webhook.threads) only once the whole body is in. A job for a webhook carries repo = the
// repository entry's (mirror) path: the runner sees remote_url in that entry and fetches the tag
// first (mirror/mirror.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/http/router.hpp"
#include "modpub/jobs/intake.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/webhook/delivery_log.hpp"
#include "modpub/webhook/event.hpp"

namespace modpub::webhook {

struct Delivery {
  Provider provider = Provider::kGitHub;
  std::string content_type;
  std::string event;      // X-GitHub-Event / X-Gitlab-Event / X-Forgejo-Event, X-Gitea-Event
  std::string id;         // delivery id ("" = none)
  std::string signature;  // X-Hub-Signature-256 (GitHub); X-Forgejo-/X-Gitea-Signature (Gitea)
  std::string token;      // X-Gitlab-Token (GitLab)
  bool has_auth = false;  // the header was present
  std::string body;
};

// The delivery in `req`, read with `p`'s header names (above). Gitea: each of event,
// delivery id and signature from X-Forgejo-* when that header is present, else X-Gitea-*.
Delivery ReadDelivery(Provider p, const http::Request& req);

struct Reply {
  int status = 500;
  std::string result;  // pong | queued | duplicate | ignored | alert | bad_request |
                       // unknown_repo | unauthorized | error
  std::string body;    // JSON or text for the sender's delivery log
};

class Service {
 public:
  // Opens the spool and the delivery log (<state_dir>/webhook/deliveries).
  // `wake` is called after a job is queued (the runner's Wake).
  static Result<std::unique_ptr<Service>> Create(const config::Config& cfg,
                                                 std::function<void()> wake);

  // Repositories are matched in `live` from now on (SIGHUP may replace them); before, and
  // without a call, in the configuration Create was given.
  void UseLiveConfig(std::shared_ptr<const config::LiveConfig> live) { live_ = std::move(live); }

  // Decides one delivery (the table above, without the HTTP limits).
  Reply Handle(const Delivery& d);

  // Adds the two routes to `router`, the early body-size check (PreRoute, a header check)
  // and the counting of the server's own 408/413 refusals of these routes. The server's
  // limits (timeouts, body size, threads) are set from cfg.webhook by whoever builds it.
  void Mount(http::Router& router);
  // The header check: 413 for a Content-Length over webhook.max_body_bytes, 400 for a
  // malformed one, before any of the body is read (kHandled: answered).
  http::Router::Routed PreRoute(const http::Request& req, http::Response& res);

  // A published tag's deletion announced again within this time (and no creation of the
  // tag delivered since) is the same deletion: not alerted twice.
  static constexpr std::chrono::minutes kRepeatedDeletion{10};

  // Prometheus series (appended to /metrics):
  //   modpub_webhook_deliveries_total{provider,result} (result: the X-Modpub-Result)
  //   modpub_webhook_tag_alerts_total{provider,kind="deleted|moved"}
  std::string RenderMetrics() const;
  std::uint64_t Count(const std::string& provider, const std::string& result) const;
  // Jobs acknowledged (202) that wait in this daemon's intake journal, not yet in queue/.
  std::size_t IntakeBacklog() const;

 private:
  Service(const config::Config& cfg, jobs::Spool spool, std::unique_ptr<jobs::Intake> intake,
          std::unique_ptr<DeliveryLog> log);
  Reply HandleLocked(const Delivery& d, const std::string& provider);
  // Is any module version the tag may name stored in a storage (errors: yes)?
  bool Published(const config::RepoConfig& repo, const std::string& tag);
  void Alert(const std::string& provider, const char* kind, const config::RepoConfig& repo,
             const Event& ev);
  // A deleted published tag: alerts unless this deletion was alerted already (above).
  Reply AlertDeleted(const std::string& provider, const config::RepoConfig& repo, const Event& ev);
  void Serve(Provider p, const http::Request& req, http::Response& res);
  void CountRefusal(const http::Request& req, int status);

  config::Config cfg_;
  std::shared_ptr<const config::LiveConfig> live_;
  jobs::Spool spool_;
  std::unique_ptr<jobs::Intake> intake_;  // where accepted jobs go (durable before the 202)
  std::unique_ptr<DeliveryLog> log_;
  // Cluster (cfg.queue): delivery ids are also taken in Redis, so that a delivery handled
  // by one node is a duplicate on every other. Redis unreachable: this node's log alone.
  std::unique_ptr<jobs::RedisQueue> shared_;
  // Whether delivery `key` of `provider` is new across the cluster (true without one).
  bool FirstInCluster(const std::string& provider, const std::string& id);
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> deliveries_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> alerts_;
  // "<repo path>\n<tag>" -> when its deletion was alerted; an entry goes when the tag is
  // delivered as created, or when it is older than kRepeatedDeletion (pruned at each alert).
  std::map<std::string, std::chrono::steady_clock::time_point> deletions_;

  // Coalescing (see above): "<repo path>\n<tag>\n<commit>" -> id of the job queued for it.
  // "<repo>\n<tag>\n<commit>"; without the commit: the prefix every key of the tag has.
  static std::string WaitingKey(const jobs::Job& job, bool with_commit = true);
  // The id of a job still waiting untouched in queue/ for job's key, or "".
  std::string FindWaiting(const jobs::Job& job);
  void RememberWaiting(const jobs::Job& job, const std::string& id);
  std::mutex waiting_mu_;
  std::map<std::string, std::string> waiting_;
  std::size_t prune_at_ = 4096;  // waiting_ is pruned of jobs gone from queue/ at this size
};

}  // namespace modpub::webhook
