#include "modpub/jobs/runner.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "modpub/git/git.hpp"
#include "modpub/jobs/forward.hpp"
#include "modpub/mirror/mirror.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/receive/receive.hpp"
#include "modpub/storage/open.hpp"

namespace modpub::jobs {
namespace {

double Jitter() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  return std::uniform_real_distribution<double>(0.8, 1.2)(rng);
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n') c = ';';
  }
  return s;
}

std::filesystem::path BuildRootOf(const config::Config& cfg) {
  return std::filesystem::path(cfg.state_dir) / "build";
}

}  // namespace

Result<std::vector<std::unique_ptr<storage::Backend>>> OpenBackends(const config::Config& cfg) {
  storage::OpenOptions options;
  options.deadline = cfg.storage_deadline;
  options.deadline_setting = "storage_deadline_ms in " + cfg.source;
  std::vector<std::unique_ptr<storage::Backend>> backends;
  for (const auto& url : cfg.storage) {
    auto b = storage::OpenBackend(url, options);
    if (!b) return b.error();
    backends.push_back(std::move(*b));
  }
  return backends;
}

std::chrono::milliseconds Backoff(const config::RetryPolicy& policy, int attempts) {
  double ms = static_cast<double>(policy.initial_backoff.count());
  for (int i = 1; i < attempts && ms < static_cast<double>(policy.max_backoff.count()); ++i) {
    ms *= 2;
  }
  ms = std::min(ms, static_cast<double>(policy.max_backoff.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

Result<std::unique_ptr<Runner>> Runner::Create(const config::Config& cfg, RunnerObserver observer,
                                               Signing signing) {
  if (!signing.signer != !signing.log) {
    throw std::invalid_argument("Runner::Create: a checksum database needs a signer and a log");
  }
  auto spool = Spool::Open(cfg.spool_dir);
  if (!spool) return spool.error();
  if (auto backends = OpenBackends(cfg); !backends) return backends.error();
  if (auto n = spool->RemoveStaleTemporaries(std::chrono::hours(1)); n && *n > 0) {
    spdlog::info("removed {} stale temporary file(s) from {}/tmp", *n, cfg.spool_dir);
  }
  // Zips are built under the state directory, where the next start finds what a killed
  // daemon left (with PrivateTmp, /tmp is gone with the service anyway).
  for (const auto& root : {BuildRootOf(cfg), publish::BuildRoot("")}) {
    if (int n = publish::SweepBuildDirs(root); n > 0) {
      spdlog::info("removed {} abandoned build directory(ies) under {}", n, root.string());
    }
  }
  auto owner = spool->Register();
  if (!owner) return owner.error();
  auto requeued = spool->RequeueStale();
  if (!requeued) return requeued.error();
  if (*requeued > 0) {
    spdlog::warn("re-queued {} job(s) claimed by a daemon instance that died", *requeued);
  }
  std::unique_ptr<Runner> runner(new Runner(cfg, std::move(*spool), std::move(*owner),
                                            std::move(observer), std::move(signing)));
  if (auto s = runner->ConnectQueue(); !s) return s.error();
  return runner;
}

// Cluster: one Redis connection per worker and one for forwarding (nothing connects yet).
Status Runner::ConnectQueue() {
  if (cfg_.queue.empty()) return Ok();
  auto url = ParseRedisQueueUrl(cfg_.queue);
  if (!url) return modpub::Fail(url.message() + " (queue in " + cfg_.source + ")");
  auto open = [&](const std::string& consumer) {
    return RedisQueue::Open(*url, RedisQueueOptions{consumer, cfg_.queue_claim_idle});
  };
  for (int i = 0; i < cfg_.workers; ++i) {
    auto q = open(owner_.id() + "-" + std::to_string(i));
    if (!q) return q.error();
    queues_.push_back(std::move(*q));
  }
  auto outbox = open(owner_.id() + "-forward");
  if (!outbox) return outbox.error();
  outbox_ = std::move(*outbox);
  return Ok();
}

Runner::Runner(const config::Config& cfg, Spool spool, Owner owner, RunnerObserver observer,
               Signing signing)
    : cfg_(cfg),
      spool_(std::move(spool)),
      owner_(std::move(owner)),
      observer_(std::move(observer)),
      signing_(std::move(signing)) {}

Runner::~Runner() { Stop(); }

void Runner::Start() {
  spdlog::info("spool {}: owner {}, {} worker(s)", spool_.dir().string(), owner_.id(),
               cfg_.workers);
  if (outbox_) {
    spdlog::info("cluster queue {} (group {}): jobs of {} are forwarded there",
                 RedactedUrl(cfg_.queue), outbox_->url().group, spool_.dir().string());
    forwarder_ = std::thread([this] { ForwardLoop(); });
  }
  for (int i = 0; i < cfg_.workers; ++i) threads_.emplace_back([this, i] { WorkerLoop(i); });
}

Result<RedisQueue::Depth> Runner::ClusterDepth() {
  if (!outbox_) return modpub::Fail("no cluster queue configured");
  return outbox_->Stats();
}

void Runner::ForwardLoop() {
  ::pthread_setname_np(::pthread_self(), "job-forward");
  for (;;) {
    std::uint64_t seen_wakes;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen_wakes = wakes_;
    }
    if (auto n = ForwardSpool(spool_, owner_, *outbox_); !n) {
      spdlog::error("{}", n.message());
      if (observer_.error) observer_.error(n.message());
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, cfg_.scan_interval, [&] { return stopping_ || wakes_ != seen_wakes; });
  }
}

void Runner::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wakes_;
  }
  cv_.notify_all();
}

void Runner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (forwarder_.joinable()) forwarder_.join();
}

void Runner::Scan() {
  auto n = spool_.RequeueStale();
  if (!n) {
    spdlog::error("spool scan: {}", n.message());
    if (observer_.error) observer_.error(n.message());
  } else if (*n > 0) {
    spdlog::warn("re-queued {} job(s) claimed by a daemon instance that died", *n);
  }
  RemoveOldFinishedJobs();
}

// done/ would otherwise grow by one file per published tag forever; an hour between passes
// keeps the directory listing off the scan's hot path.
void Runner::RemoveOldFinishedJobs() {
  if (cfg_.keep_done_jobs_days <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (last_prune_ && now - *last_prune_ < std::chrono::hours(1)) return;
  last_prune_ = now;
  const auto cutoff = std::filesystem::file_time_type::clock::now() -
                      std::chrono::hours(24) * cfg_.keep_done_jobs_days;
  auto n = spool_.RemoveFinishedBefore(cutoff);
  if (!n) {
    spdlog::error("spool retention: {}", n.message());
  } else if (*n > 0) {
    spdlog::info("deleted {} finished job(s) older than {} days from {}/done", *n,
                 cfg_.keep_done_jobs_days, spool_.dir().string());
  }
}

void Runner::WorkerLoop(int index) {
  // Named for `top -H`, perf and gdb (at most 15 characters).
  ::pthread_setname_np(::pthread_self(),
                       ("job-worker-" + std::to_string(index)).substr(0, 15).c_str());
  auto last_scan = std::chrono::steady_clock::now();
  for (;;) {
    std::uint64_t seen_wakes;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen_wakes = wakes_;
    }
    if (index == 0 && std::chrono::steady_clock::now() - last_scan >= cfg_.scan_interval) {
      Scan();
      last_scan = std::chrono::steady_clock::now();
    }
    if (!queues_.empty()) {
      ClaimFromQueue(index);
      continue;
    }
    Result<ClaimResult> claim = [&] {
      std::lock_guard lock(claim_mu_);
      return spool_.Claim(owner_);
    }();
    if (!claim) {
      spdlog::error("cannot claim a job from {}: {}", spool_.dir().string(), claim.message());
      if (observer_.error) observer_.error(claim.message());
    } else {
      for (const auto& s : claim->set_aside) {
        spdlog::error("job file set aside as {}: {}", s.file, OneLine(s.reason));
        if (observer_.job) observer_.job("corrupt");
        if (observer_.error) observer_.error("job file set aside: " + s.reason);
      }
      if (claim->job) {
        Handle(std::move(*claim->job), Ticket{index, std::nullopt});
        continue;  // look for more at once
      }
    }
    // Nothing due: sleep until woken, the next scan, or stop. A wake that came while we
    // were claiming is not lost (wakes_ counts them).
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.scan_interval);
    if (claim && claim->next_due) {
      auto until_due =
          std::chrono::duration_cast<std::chrono::milliseconds>(*claim->next_due - Clock::now());
      wait = std::clamp(until_due, std::chrono::milliseconds(1), wait);
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return stopping_ || wakes_ != seen_wakes; });
  }
}

namespace {

// While a cluster job runs: tells Redis every third of claim_idle that this worker still
// works on it, so that no other node takes it over (redis_queue.hpp).
class Heartbeat {
 public:
  Heartbeat(RedisQueue& q, const RedisQueue::Claimed& c, std::chrono::milliseconds every)
      : thread_([this, &q, &c, every] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, every, [this] { return done_; })) {
            lock.unlock();
            if (auto s = q.Touch(c); !s)
              spdlog::warn("{} {}: {}", c.job.import_path, c.job.tag, s.message());
            lock.lock();
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard g(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

bool Runner::ClaimFromQueue(int index) {
  RedisQueue& q = *queues_[index];
  // Blocks in Redis up to a second: Stop() is seen within that.
  auto wait = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(1000),
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.scan_interval));
  auto claim = q.Claim(wait);
  if (!claim) {
    spdlog::error("cannot claim a job from the cluster queue: {}", claim.message());
    if (observer_.error) observer_.error(claim.message());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return stopping_; });  // Redis down: not a busy loop
    return false;
  }
  if (!*claim) return false;
  Ticket t{index, std::move(**claim)};
  if (t.claimed->taken_over) {
    spdlog::warn("{} {} (job {}): taken over from a worker silent for {} ms (its node died?)",
                 t.claimed->job.import_path, t.claimed->job.tag, t.claimed->job.id,
                 cfg_.queue_claim_idle.count());
  }
  Heartbeat beat(q, *t.claimed, cfg_.queue_claim_idle / 3);
  Handle(t.claimed->job, t);
  return true;
}

void Runner::Fail(const Job& job, const std::string& what, const std::string& reason,
                  const Ticket& t) {
  spdlog::error("{}: failed: {}", what, OneLine(reason));
  if (observer_.error) observer_.error(what + ": " + reason);
  Status s = t.claimed ? queues_[t.worker]->MarkFailed(*t.claimed, job, reason)
                       : spool_.MarkFailed(owner_, job, reason);
  if (!s) {
    spdlog::error("{}: cannot record the failure: {}", what, s.message());
  }
  if (observer_.job) observer_.job("failed");
  if (observer_.settled) {
    Job failed = job;
    failed.last_error = reason;
    observer_.settled(failed, "failed");
  }
}

void Runner::Retry(const Job& job, const std::string& what, const std::string& error,
                   const Ticket& t) {
  if (observer_.error) observer_.error(what + ": " + error);
  if (job.attempts + 1 >= cfg_.retry.max_attempts) {
    return Fail(job, what,
                "gave up after " + std::to_string(job.attempts + 1) + " attempt(s): " + error, t);
  }
  auto delay = Backoff(cfg_.retry, job.attempts + 1);
  auto jittered = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(delay.count()) * Jitter()));
  spdlog::warn("{}: attempt {} failed, retrying in {} ms: {}", what, job.attempts + 1,
               jittered.count(), OneLine(error));
  Status s = Ok();
  if (t.claimed) {
    Job next = job;
    next.attempts += 1;
    next.last_error = error;
    s = queues_[t.worker]->Retry(*t.claimed, std::move(next), Clock::now() + jittered);
  } else {
    s = spool_.Retry(owner_, job, error, Clock::now() + jittered);
  }
  if (!s) {
    spdlog::error("{}: cannot re-queue: {}", what, s.message());
  }
  if (observer_.job) observer_.job("retried");
  if (observer_.settled) {
    Job next = job;
    next.attempts += 1;
    next.last_error = error;
    observer_.settled(next, "retried");
  }
}

namespace {

// "" when the tag still names the commit the job was queued for (or the job names none).
std::string TagMoved(git::Repository& repo, const Job& job) {
  if (job.commit.empty()) return "";
  auto tagged = repo.ResolveTag(job.tag);
  if (!tagged) return "tag " + job.tag + " no longer exists: " + tagged.message();
  if (tagged->commit.Hex() == job.commit) return "";
  return "tag " + job.tag + " moved since it was queued (was " + job.commit + ", now " +
         tagged->commit.Hex() + "); the push that moved it queued its own job";
}

// What a finished publish reports, per module version and backend: the job's JSON
// result, and the refused and failed ones (one line each).
struct Outcomes {
  std::string json, refused, failed;
};

Outcomes Summarize(const std::vector<publish::Report>& reports, const RunnerObserver& observer) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  Outcomes out;
  for (const auto& r : reports) {
    const std::string outcome(publish::OutcomeName(r.outcome));
    if (observer.module_version) observer.module_version(outcome);
    nlohmann::ordered_json j;
    j["Path"] = r.path;
    j["Version"] = r.version;
    j["Sum"] = r.sum;
    j["Backend"] = r.backend;
    j["Result"] = outcome;
    if (!r.message.empty()) j["Message"] = r.message;
    if (!r.sumdb.empty()) j["Sumdb"] = r.sumdb;
    all.push_back(std::move(j));
    std::string line = r.path + "@" + r.version + " in " + r.backend + ": " + r.message;
    std::string* list = r.outcome == publish::Outcome::kFailed    ? &out.failed
                        : r.outcome == publish::Outcome::kRefused ? &out.refused
                                                                  : nullptr;
    if (list) *list += (list->empty() ? "" : "\n") + line;
  }
  out.json = all.dump();
  return out;
}

}  // namespace

void Runner::Handle(Job job, const Ticket& t) {
  const std::string what = job.import_path + " " + job.tag + " (job " + job.id + ")";
  auto start = std::chrono::steady_clock::now();
  const auto snapshot = live_ ? live_->Get() : nullptr;  // keeps repo_cfg valid
  const config::Config& now = snapshot ? *snapshot : cfg_;
  const config::RepoConfig* repo_cfg = now.FindRepo(job.repo);
  if (!repo_cfg)
    return Fail(job, what, "repository " + job.repo + " is not configured in " + now.source, t);
  // A tag no module version can have fails now: fetching and retrying cannot change that.
  const receive::TagVerdict name = receive::JudgeTagName(repo_cfg->import_path, job.tag);
  if (name.kind == receive::TagVerdict::kNever || name.kind == receive::TagVerdict::kNotAGitRef)
    return Fail(job, what, name.why, t);
  if (!repo_cfg->remote_url.empty()) {  // a mirrored remote: fetch the tag, then check it
    auto prepared = mirror::Prepare(now, *repo_cfg, job.tag);
    if (prepared.kind == mirror::Prepared::kRetry) return Retry(job, what, prepared.message, t);
    if (prepared.kind == mirror::Prepared::kFail) return Fail(job, what, prepared.message, t);
  }
  auto repo = git::Repository::Open(repo_cfg->path);
  if (!repo) return Retry(job, what, repo.message(), t);
  if (std::string moved = TagMoved(*repo, job); !moved.empty()) return Fail(job, what, moved, t);
  auto backends = OpenBackends(cfg_);
  if (!backends) return Fail(job, what, backends.message(), t);
  std::vector<storage::Backend*> ptrs;
  for (const auto& b : *backends) ptrs.push_back(b.get());

  spdlog::info("{}: publishing (attempt {})", what, job.attempts + 1);
  publish::Options options;
  options.signer = signing_.signer.get();
  options.log = signing_.log.get();
  options.build_root = BuildRootOf(cfg_);
  auto result = publish::PublishTag(*repo, repo_cfg->import_path, job.tag, ptrs, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (observer_.publish_duration) observer_.publish_duration(seconds);
  Finish(std::move(job), what, result, seconds, t);
}

void Runner::Finish(Job job, const std::string& what, const publish::TagResult& result,
                    double seconds, const Ticket& t) {
  if (result.kind == publish::TagResult::kInvalid) {
    return Fail(job, what, "tag " + job.tag + " is not publishable: " + result.error, t);
  }
  if (result.kind == publish::TagResult::kFailed) return Retry(job, what, result.error, t);
  Outcomes outcomes = Summarize(result.reports, observer_);
  if (!outcomes.refused.empty())
    return Fail(job, what, "refused by storage: " + outcomes.refused, t);
  if (!outcomes.failed.empty()) return Retry(job, what, outcomes.failed, t);
  job.result_json = std::move(outcomes.json);
  if (auto s = Complete(job, t); !s) {
    // Published, but not recorded: the job stays claimed and is re-run after a restart,
    // finding every version unchanged.
    spdlog::error("{}: published but cannot move the job to done/: {}", what, s.message());
    if (observer_.error) observer_.error(s.message());
    return;
  }
  for (const auto& r : result.reports) {
    spdlog::info("{}: {}@{} {} in {}{} ({:.0f} ms)", what, r.path, r.version,
                 publish::OutcomeName(r.outcome), r.backend,
                 r.sumdb.empty() ? "" : ", sumdb " + r.sumdb, seconds * 1000);
  }
  if (observer_.job) observer_.job("done");
  if (observer_.settled) observer_.settled(job, "done");
}

Status Runner::Complete(const Job& job, const Ticket& t) {
  return t.claimed ? queues_[t.worker]->Complete(*t.claimed, job) : spool_.Complete(owner_, job);
}

}  // namespace modpub::jobs
