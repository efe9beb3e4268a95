// modpubd's backfill runs (POST /api/backfill): the backfill `modpub backfill --config
// <toml> --repo <r>` does, for every configured repository in order (or the one named),
// run by the daemon on a thread of its own, with the daemon's storages, signer and
// checksum database log. One run at a time; the newest run is kept to be looked at.
//
// Invariants:
//  * At most one run at a time: Start answers nothing while one runs (the API's 409).
//  * Each repository is backfilled by admin::BackfillRepository, so its audit lines are
//    the command line's; each tag's outcome is logged too (info), as it ends.
//  * Stop() (daemon shutdown) makes the run stop before its next tag and joins it: it
//    waits for the tag in progress only, whose storage operations are bounded by
//    storage_deadline_ms. After Stop, Start refuses.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "modpub/admin/operations.hpp"
#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/publish/backfill.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::admin {

// The configured repositories a backfill covers: all of them, or the one `name` names by
// its path or its import_path (as `modpub backfill --repo`). The error names the rule and
// the configured import paths.
Result<std::vector<config::RepoConfig>> SelectRepositories(const config::Config& cfg,
                                                           const std::optional<std::string>& name);

class BackfillRuns {
 public:
  // One repository's backfill: the real one (RealBackfill) unless a test plugs in its own.
  using RunOne = std::function<Result<publish::BackfillSummary>(
      const Caller& caller, const config::RepoConfig& repo,
      const publish::BackfillObserver& observer, publish::BackfillMode mode)>;

  struct Sources {
    // The configuration now (SIGHUP may replace its repositories): storages, state_dir.
    std::function<std::shared_ptr<const config::Config>()> config;
    // The daemon's signer and log ([sumdb]): both or neither, shared with the workers.
    std::shared_ptr<const sign::Signer> signer;
    std::shared_ptr<sumdb::Log> log;
    RunOne run;  // empty: RealBackfill over the members above
  };

  explicit BackfillRuns(Sources sources);
  ~BackfillRuns();  // Stop()
  BackfillRuns(const BackfillRuns&) = delete;
  BackfillRuns& operator=(const BackfillRuns&) = delete;

  struct Started {
    bool started = false;
    std::uint64_t run = 0;  // the new run's id, or the one that runs (or 0: stopped)
  };
  // Starts run `Started::run` over `repositories` in the background, or says which runs.
  Started Start(Caller caller, std::vector<config::RepoConfig> repositories, bool dry_run);
  // {"running": bool, "run": null | {...}} (admin.hpp documents the fields).
  nlohmann::json State() const;
  // The configuration's repositories (SelectRepositories over Sources::config).
  Result<std::vector<config::RepoConfig>> Select(const std::optional<std::string>& name) const;
  void Stop();

 private:
  struct Run;
  void Work(std::shared_ptr<Run> run);
  Result<publish::BackfillSummary> RealBackfill(const Caller& caller,
                                                const config::RepoConfig& repo,
                                                const publish::BackfillObserver& observer,
                                                publish::BackfillMode mode);

  Sources sources_;
  mutable std::mutex mu_;
  std::shared_ptr<Run> last_;  // the newest run, running or not
  bool running_ = false;
  bool stopped_ = false;
  std::atomic<bool> stop_{false};
  std::uint64_t next_id_ = 1;
  std::thread thread_;
};

}  // namespace modpub::admin
