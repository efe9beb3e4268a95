// Reconciliation: the daemon's safety net for "nothing accepted is ever lost".
//
// The fast path queues a job per accepted tag (post-receive, a webhook delivery). Anything
// that breaks it -- a webhook GitHub never delivered, a repository whose hooks were not
// installed, a post-receive that did not run, a disk that filled -- would leave a version
// tag that no one publishes. Reconcile compares what should be published with what is, and
// queues the difference. modpubd runs it at start and every daemon.reconcile_interval_ms.
//
// What one pass does, in order:
//  1. Held jobs (jobs::Spool::Hold, written by pre-receive) older than `held_grace`: the
//     push's post-receive should have released each within moments. If the repository's
//     tag now names the job's commit, the push was accepted: the job is released into
//     queue/. Otherwise (the push failed after pre-receive, or the tag moved since) it is
//     dropped. A repository that cannot be opened leaves its held jobs for the next pass.
//  2. For every configured repository (its bare repository or mirror, as it is on disk;
//     a mirror only knows the tags it has fetched), every version tag that resolves to
//     module versions (modzip::Resolve; a tag go could never fetch is skipped: the hooks
//     and the runner report those) is looked up in every backend (Backend::Stat). A
//     module version stored completely everywhere is done; otherwise the tag is queued
//     (source "reconcile"), unless a job for the same repository and tag is already
//     waiting, claimed or held, or has failed for the same commit (an operator retries
//     those with `modpub retry`, so a hopeless tag is not re-queued every pass).
// A backend that cannot be read makes its versions "unknown", not "missing": nothing is
// queued for them in this pass (a storage outage must not flood the queue).
// Every repair is one log line naming module@version (or the tag) and counted for
// /metrics (modpub_reconcile_repairs_total{kind="released|dropped|queued"}).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "modpub/config/config.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::jobs {

struct ReconcileOptions {
  std::chrono::seconds held_grace{120};  // a held job younger than this is left alone
};

struct ReconcileReport {
  int released = 0;  // held jobs queued: their push was accepted
  int dropped = 0;   // held jobs removed: their push was not accepted
  int queued = 0;    // version tags storage lacked, queued
  int versions_checked = 0;
  std::vector<std::string> problems;  // what could not be checked this pass, one line each
};

// One pass over `cfg`'s repositories against `backends` (see above).
ReconcileReport Reconcile(const config::Config& cfg, const Spool& spool,
                          const std::vector<storage::Backend*>& backends,
                          const ReconcileOptions& options = {});

// The daemon's reconciliation thread: a pass at Start, then one every
// cfg.reconcile_interval (none at all when it is 0), each with freshly opened backends.
// `wake` is called after a pass that queued or released jobs (the runner's Wake).
class Reconciler {
 public:
  Reconciler(const config::Config& cfg, Spool spool, std::function<void()> wake,
             ReconcileOptions options = {});
  ~Reconciler();  // Stop()
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Repositories are read from `live` from now on (SIGHUP may replace them).
  void UseLiveConfig(std::shared_ptr<const config::LiveConfig> live) { live_ = std::move(live); }
  void Start();
  void Stop();  // waits for a running pass to end; idempotent
  // Runs a pass now on the caller's thread (tests, and Start's first pass).
  ReconcileReport RunOnce();
  // Prometheus text: modpub_reconcile_repairs_total{kind=...}, modpub_reconcile_passes_total.
  std::string RenderMetrics() const;

 private:
  const config::Config& cfg_;
  std::shared_ptr<const config::LiveConfig> live_;
  Spool spool_;
  std::function<void()> wake_;
  ReconcileOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  long passes_ = 0, released_ = 0, dropped_ = 0, queued_ = 0, problems_ = 0;
  std::thread thread_;
};

}  // namespace modpub::jobs
