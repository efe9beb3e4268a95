// What modpubd's status page shows (GET / and GET /api/status; render.hpp draws it): the
// configured repositories, their modules' latest published versions, the tags pending
// and failed, the queue depth and when a version was last published.
//
// A request never lists storage or the spool: it takes the current Snapshot (a pointer
// copy under a mutex) and renders that. The snapshot is rebuilt by the Model's own thread:
//  * at Start, storage and jobs are listed once (until then the snapshot says it has not
//    listed them yet: `storage_listed`/`jobs_listed` empty);
//  * the jobs (queued, claimed, failed) and the queue depth every `jobs_interval`; the
//    whole storage every `storage_interval`;
//  * a job the runner settles (Settled, from jobs::RunnerObserver::settled) updates the
//    pending and failed jobs at once, and a done job's module versions are read again from
//    storage (those modules only), so a publish shows within milliseconds.
// Listing costs what the storage costs (fs_tree: a stat per part of each version); what
// does not change is read once: a version's .info is immutable, so its Time and its file
// time are kept across refreshes (local backends only: Backend::LocalFile).
//
// Grouping: a module belongs to the first configured repository whose allowed prefixes
// cover it (config::RepoConfig::AllowsModule), a job to the repository at its path
// (config::Config::FindRepo); the rest go to `unconfigured` (a repository removed from
// the configuration, modules published from elsewhere). The configuration is read again
// at every rebuild (SIGHUP replaces the repositories: config::LiveConfig).
//
// Times: a version's `latest_time` is its .info Time, the commit time go reports. A
// module's `last_published` is when its newest version landed in storage: the .info file's
// modification time (written by the publish, never touched again), or the moment this
// daemon's runner settled a job that published a version of it, whichever is later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::status {

using Clock = std::chrono::system_clock;

struct ModuleStatus {
  std::string path;
  // go's @latest among the complete versions: the highest release, else the highest
  // pre-release; "" when no version is complete.
  std::string latest;
  std::string latest_time;   // the latest version's .info Time; "" when unknown
  std::size_t versions = 0;  // complete versions (what @v/list serves)
  std::optional<Clock::time_point> last_published;
};

// A job as the page shows it.
struct JobLine {
  std::string id;
  std::string repo;  // the repository path the job names
  std::string tag;
  std::string state;  // "queued" | "claimed" | "failed"
  int attempts = 0;
  Clock::time_point created{};
  // failed: why; queued after a failed attempt: that attempt's error; else "".
  std::string error;
};

struct RepoStatus {
  std::string path;                   // the bare repository as configured (unconfigured: "")
  std::string import_path;            // (unconfigured: "")
  std::vector<ModuleStatus> modules;  // by path
  std::vector<JobLine> pending;       // queued and claimed, oldest first, at most kJobsShown
  std::size_t pending_total = 0;
  std::vector<JobLine> failed;  // newest first, at most kJobsShown
  std::size_t failed_total = 0;
};

// How many pending and failed jobs a repository shows (the totals are counted).
inline constexpr std::size_t kJobsShown = 20;

struct Snapshot {
  std::vector<RepoStatus> repositories;           // configuration order
  RepoStatus unconfigured;                        // modules and jobs of no configured repository
  std::optional<std::int64_t> queue_depth;        // jobs waiting; empty: unknown (listing failed)
  std::optional<Clock::time_point> last_publish;  // the newest module's last_published
  std::string storage;                            // the storage URL listed
  std::string storage_error;                      // the last listing's failure ("" = it worked)
  std::string jobs_error;
  std::optional<Clock::time_point> storage_listed;  // when storage was last listed whole
  std::optional<Clock::time_point> jobs_listed;
};

// Where the model reads. Every function is called from the model's thread only.
struct Sources {
  std::shared_ptr<storage::Backend> storage;  // required
  std::string storage_url;                    // for the page
  // Jobs in `state` (kQueued, kClaimed, kFailed), oldest first (Spool::List's order).
  std::function<Result<std::vector<jobs::Spool::Entry>>(jobs::State)> jobs;
  std::function<Result<std::int64_t>()> queue_depth;
  // The configuration in effect (its repositories).
  std::function<std::shared_ptr<const config::Config>()> config;
};

// A local spool as the jobs source (Spool::List; the spool must outlive the function).
std::function<Result<std::vector<jobs::Spool::Entry>>(jobs::State)> SpoolJobs(
    const jobs::Spool& spool);
// The cluster queue at `queue_url` (redis://…) as the jobs source: its own connection
// (jobs/redis_queue.hpp List: S and S:delayed queued, pending claimed, S:dead failed).
Result<std::function<Result<std::vector<jobs::Spool::Entry>>(jobs::State)>> ClusterJobs(
    const std::string& queue_url);

struct Options {
  std::chrono::milliseconds jobs_interval{2000};
  std::chrono::milliseconds storage_interval{60000};
};

class Model {
 public:
  Model(Sources sources, Options options = {});
  ~Model();  // Stop()
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Starts the thread: lists everything once, then keeps the snapshot current.
  void Start();
  void Stop();

  // The runner settled `job` ("done": job.result_json lists the module versions,
  // "retried": job.last_error and attempts are the new ones, "failed": job.last_error is
  // why). Thread-safe, cheap: no I/O here (it runs on a worker thread).
  void Settled(const jobs::Job& job, const std::string& result);

  // The current snapshot; never null.
  std::shared_ptr<const Snapshot> Get() const;

  // Synchronous refreshes, for tests (the thread does the same): the whole storage, the
  // given modules only, the jobs and queue depth. Each applies the Settled events first
  // and publishes a new snapshot.
  void RefreshStorage();
  void RefreshModules(const std::set<std::string>& paths);
  void RefreshJobs();

 private:
  struct VersionFacts {
    std::string time;  // .info Time
    std::optional<Clock::time_point> stored;
  };
  struct Event {
    jobs::Job job;
    std::string result;
  };
  void Loop();
  // Under refresh_mu_: what the calls above share.
  void ApplyEvents();
  void ListModulesLocked(const std::set<std::string>& paths);
  Result<ModuleStatus> ListModule(const std::string& path);
  VersionFacts FactsOf(const std::string& path, const std::string& version);
  void Publish();  // builds a snapshot from the state below and makes it current

  Sources sources_;
  Options options_;

  // The refresher's state: touched only with refresh_mu_ held (the thread, or a test
  // calling a Refresh* method).
  std::mutex refresh_mu_;
  std::map<std::string, VersionFacts> facts_;  // "<path>@<version>"; .info is immutable
  bool local_files_ = true;                    // LocalFile works for this storage
  std::map<std::string, ModuleStatus> modules_;
  std::map<std::string, Clock::time_point> settled_publish_;  // module -> when
  std::vector<jobs::Spool::Entry> pending_, failed_;          // oldest first
  std::optional<std::int64_t> depth_;
  std::string storage_error_, jobs_error_;
  std::optional<Clock::time_point> storage_listed_, jobs_listed_;

  // Shared with Settled and Get.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  bool stopping_ = false;
  std::shared_ptr<const Snapshot> snapshot_;
  std::thread thread_;
};

// `reason` on one line: each line break (and any other control character) becomes " ",
// runs of blanks one space; longer than `max` bytes: cut (at a UTF-8 boundary) with "…".
std::string OneLine(std::string_view reason, std::size_t max = 300);

}  // namespace modpub::status
