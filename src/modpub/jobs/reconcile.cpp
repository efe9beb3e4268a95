// See reconcile.hpp.
#include "modpub/jobs/reconcile.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <set>
#include <tuple>

#include "modpub/git/git.hpp"
#include "modpub/jobs/runner.hpp"
#include "modpub/modzip/modzip.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/storage/open.hpp"

namespace modpub::jobs {
namespace {

// Jobs that already stand for a (repository, tag): waiting, claimed or held; and the
// (repository, tag, commit) of failed ones.
struct Pending {
  std::set<std::pair<std::string, std::string>> active;
  std::set<std::tuple<std::string, std::string, std::string>> failed;
};

Result<Pending> FindPending(const Spool& spool) {
  Pending p;
  for (State s : {State::kQueued, State::kClaimed, State::kFailed}) {
    auto list = spool.List(s);
    if (!list) return list.error();
    for (const auto& e : *list) {
      if (s == State::kFailed) {
        p.failed.insert({e.job.repo, e.job.tag, e.job.commit});
      } else {
        p.active.insert({e.job.repo, e.job.tag});
      }
    }
  }
  auto held = spool.ListHeld();
  if (!held) return held.error();
  for (const auto& h : *held) p.active.insert({h.job.repo, h.job.tag});
  return p;
}

// Step 1: held jobs of pushes whose post-receive never released them.
void SettleHeld(const Spool& spool, const ReconcileOptions& options, ReconcileReport& report) {
  auto held = spool.ListHeld();
  if (!held) {
    report.problems.push_back("held jobs: " + held.message());
    return;
  }
  const auto cutoff = Clock::now() - options.held_grace;
  for (const auto& h : *held) {
    if (h.since > cutoff) continue;
    if (!h.problem.empty()) {
      report.problems.push_back("held job " + h.key + ": " + h.problem);
      continue;
    }
    auto repo = git::Repository::Open(h.job.repo);
    if (!repo) {
      report.problems.push_back("held job " + h.key + ": " + repo.message());
      continue;
    }
    auto tagged = repo->ResolveTag(h.job.tag);
    const std::string what = h.job.import_path + " " + h.job.tag;
    if (tagged && tagged->commit.Hex() == h.job.commit) {
      if (auto r = spool.ReleaseHeld(h.key); !r) {
        report.problems.push_back("held job " + h.key + ": " + r.message());
      } else if (*r) {
        ++report.released;
        spdlog::warn("reconcile: {}: queued the job its push held (post-receive did not run)",
                     what);
      }
      continue;
    }
    if (auto s = spool.DropHeld(h.key); !s) {
      report.problems.push_back("held job " + h.key + ": " + s.message());
      continue;
    }
    ++report.dropped;
    spdlog::info("reconcile: {}: dropped the job its push held: the push was not accepted", what);
  }
}

// Whether every module version of `mvs` is stored completely in every backend; nullopt when
// some backend could not tell (then nothing is queued for the tag in this pass).
std::optional<bool> StoredEverywhere(const std::vector<modzip::ModuleVersion>& mvs,
                                     const std::vector<storage::Backend*>& backends,
                                     ReconcileReport& report, std::string* missing) {
  bool all = true;
  for (const auto& mv : mvs) {
    ++report.versions_checked;
    for (storage::Backend* b : backends) {
      auto st = b->Stat(mv.path, mv.version);
      if (!st) {
        report.problems.push_back(b->Name() + ": " + mv.path + "@" + mv.version + ": " +
                                  st.message());
        return std::nullopt;
      }
      if (st->has_value() && (*st)->state == storage::VersionState::kComplete) continue;
      if (all) *missing = mv.path + "@" + mv.version + " in " + b->Name();
      all = false;
    }
  }
  return all;
}

// Step 2 for one repository.
void ReconcileRepo(const config::RepoConfig& rc, const Spool& spool,
                   const std::vector<storage::Backend*>& backends, const Pending& pending,
                   ReconcileReport& report) {
  std::error_code ec;
  if (!rc.remote_url.empty() && !std::filesystem::exists(rc.path, ec)) return;  // no fetch yet
  auto repo = git::Repository::Open(rc.path);
  if (!repo) {
    report.problems.push_back(rc.import_path + ": " + repo.message());
    return;
  }
  auto names = repo->TagNames();
  if (!names) {
    report.problems.push_back(rc.import_path + ": " + names.message());
    return;
  }
  for (const std::string& tag : publish::OrderVersionTags(*names).versions) {
    auto mvs = modzip::Resolve(*repo, rc.import_path, tag);
    if (!mvs || mvs->empty()) continue;  // never publishable: reported by hooks and runner
    const std::string commit = mvs->front().commit.Hex();
    if (pending.active.count({rc.path, tag}) || pending.failed.count({rc.path, tag, commit})) {
      continue;
    }
    std::string missing;
    auto stored = StoredEverywhere(*mvs, backends, report, &missing);
    if (!stored || *stored) continue;
    Job job;
    job.repo = rc.path;
    job.import_path = rc.import_path;
    job.tag = tag;
    job.commit = commit;
    job.source = "reconcile";
    auto id = spool.Enqueue(job);
    if (!id) {
      report.problems.push_back(rc.import_path + " " + tag + ": cannot queue: " + id.message());
      continue;
    }
    ++report.queued;
    spdlog::warn("reconcile: {}: missing (first: {}): queued tag {} as job {}", rc.import_path,
                 missing, tag, *id);
  }
}

}  // namespace

ReconcileReport Reconcile(const config::Config& cfg, const Spool& spool,
                          const std::vector<storage::Backend*>& backends,
                          const ReconcileOptions& options) {
  ReconcileReport report;
  SettleHeld(spool, options, report);
  auto pending = FindPending(spool);
  if (!pending) {
    report.problems.push_back("spool: " + pending.message());
    return report;
  }
  for (const auto& rc : cfg.repositories) ReconcileRepo(rc, spool, backends, *pending, report);
  for (const auto& p : report.problems) spdlog::warn("reconcile: {}", p);
  return report;
}

Reconciler::Reconciler(const config::Config& cfg, Spool spool, std::function<void()> wake,
                       ReconcileOptions options)
    : cfg_(cfg), spool_(std::move(spool)), wake_(std::move(wake)), options_(options) {}

Reconciler::~Reconciler() { Stop(); }

ReconcileReport Reconciler::RunOnce() {
  std::vector<storage::Backend*> backends;
  ReconcileReport report;
  auto owned = OpenBackends(cfg_);
  if (!owned) {
    report.problems.push_back(owned.message());
    spdlog::warn("reconcile: {}", owned.message());
  } else {
    for (const auto& b : *owned) backends.push_back(b.get());
  }
  const auto snapshot = live_ ? live_->Get() : nullptr;
  if (report.problems.empty()) {
    report = Reconcile(snapshot ? *snapshot : cfg_, spool_, backends, options_);
  }
  {
    std::lock_guard lock(mu_);
    ++passes_;
    released_ += report.released;
    dropped_ += report.dropped;
    queued_ += report.queued;
    problems_ += static_cast<long>(report.problems.size());
  }
  spdlog::info(
      "reconcile: pass done: {} module version(s) checked, {} tag(s) queued, {} held "
      "job(s) released, {} dropped, {} problem(s)",
      report.versions_checked, report.queued, report.released, report.dropped,
      report.problems.size());
  if ((report.queued > 0 || report.released > 0) && wake_) wake_();
  return report;
}

void Reconciler::Start() {
  if (cfg_.reconcile_interval.count() == 0 || thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      RunOnce();
      lock.lock();
      cv_.wait_for(lock, cfg_.reconcile_interval, [this] { return stop_; });
    }
  });
}

void Reconciler::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Reconciler::RenderMetrics() const {
  std::lock_guard lock(mu_);
  return "# HELP modpub_reconcile_repairs_total What reconciliation repaired: tags storage lacked "
         "(queued), held jobs of accepted pushes (released) and of refused ones (dropped).\n"
         "# TYPE modpub_reconcile_repairs_total counter\n"
         "modpub_reconcile_repairs_total{kind=\"queued\"} " +
         std::to_string(queued_) + "\n" + "modpub_reconcile_repairs_total{kind=\"released\"} " +
         std::to_string(released_) + "\n" + "modpub_reconcile_repairs_total{kind=\"dropped\"} " +
         std::to_string(dropped_) + "\n" +
         "# HELP modpub_reconcile_passes_total Reconciliation passes run.\n"
         "# TYPE modpub_reconcile_passes_total counter\n"
         "modpub_reconcile_passes_total " +
         std::to_string(passes_) + "\n" +
         "# HELP modpub_reconcile_problems_total Things a pass could not check.\n"
         "# TYPE modpub_reconcile_problems_total counter\n"
         "modpub_reconcile_problems_total " +
         std::to_string(problems_) + "\n";
}

}  // namespace modpub::jobs
