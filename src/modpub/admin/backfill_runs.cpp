// See backfill_runs.hpp.
#include "modpub/admin/backfill_runs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "modpub/git/git.hpp"
#include "modpub/jobs/runner.hpp"

namespace modpub::admin {

struct BackfillRuns::Run {
  std::uint64_t id = 0;
  Caller caller;
  bool dry_run = false;
  std::vector<config::RepoConfig> repositories;
  jobs::Clock::time_point started = jobs::Clock::now();
  // Changed by the run's thread, under BackfillRuns::mu_:
  std::string state = "running";  // running | finished | stopped
  jobs::Clock::time_point finished{};
  nlohmann::json done = nlohmann::json::array();  // one object per repository backfilled
  nlohmann::json current;                         // null, or where the run is
};

namespace {

// The tag's outcome as the command line's tag line names it: the worst of its reports.
std::string TagOutcome(const publish::TagResult& result) {
  if (result.kind == publish::TagResult::kInvalid) return "invalid";
  if (result.kind == publish::TagResult::kFailed) {
    std::string why = result.error;
    std::replace(why.begin(), why.end(), '\n', ';');  // one log line per tag
    return "failed: " + why;
  }
  int worst = 0;  // 0 unchanged, 1 published, 2 refused, 3 failed
  for (const auto& r : result.reports) {
    worst = std::max(worst, r.outcome == publish::Outcome::kFailed      ? 3
                            : r.outcome == publish::Outcome::kRefused   ? 2
                            : r.outcome == publish::Outcome::kPublished ? 1
                                                                        : 0);
  }
  static const char* const kNames[] = {"unchanged", "published", "refused", "failed"};
  return kNames[worst];
}

nlohmann::json SummaryJson(const config::RepoConfig& repo,
                           const Result<publish::BackfillSummary>& summary) {
  nlohmann::json j = {{"repository", repo.import_path}, {"path", repo.path}};
  if (!summary) {
    j["error"] = summary.message();
    return j;
  }
  j["version_tags"] = summary->version_tags;
  j["skipped"] = summary->skipped;
  j["invalid"] = summary->invalid;
  j["tag_failures"] = summary->tag_failures;
  j["stopped"] = summary->stopped;
  nlohmann::json storages = nlohmann::json::object();
  for (const auto& [name, c] : summary->backends) {
    storages[name] = {{"published", c.published},
                      {"unchanged", c.unchanged},
                      {"refused", c.refused},
                      {"failed", c.failed}};
  }
  j["storages"] = std::move(storages);
  return j;
}

}  // namespace

Result<std::vector<config::RepoConfig>> SelectRepositories(const config::Config& cfg,
                                                           const std::optional<std::string>& name) {
  if (!name) {
    if (cfg.repositories.empty()) {
      return Fail("no [[repository]] in " + cfg.source + ": nothing to backfill");
    }
    return cfg.repositories;
  }
  for (const auto& r : cfg.repositories) {
    if (r.path == *name || r.import_path == *name) return std::vector{r};
  }
  std::string known;
  for (const auto& r : cfg.repositories) known += (known.empty() ? "" : ", ") + r.import_path;
  return Fail("repo=" + *name + ": no [[repository]] in " + cfg.source +
              " has this path or import_path (configured: " + (known.empty() ? "none" : known) +
              ")");
}

BackfillRuns::BackfillRuns(Sources sources) : sources_(std::move(sources)) {
  if (!sources_.run) {
    sources_.run = [this](const Caller& c, const config::RepoConfig& r,
                          const publish::BackfillObserver& o,
                          publish::BackfillMode m) { return RealBackfill(c, r, o, m); };
  }
}

BackfillRuns::~BackfillRuns() { Stop(); }

Result<std::vector<config::RepoConfig>> BackfillRuns::Select(
    const std::optional<std::string>& name) const {
  return SelectRepositories(*sources_.config(), name);
}

BackfillRuns::Started BackfillRuns::Start(Caller caller,
                                          std::vector<config::RepoConfig> repositories,
                                          bool dry_run) {
  std::lock_guard lock(mu_);
  if (stopped_) return {false, 0};
  if (running_) return {false, last_->id};
  if (thread_.joinable()) thread_.join();  // the previous run's thread, already done
  auto run = std::make_shared<Run>();
  run->id = next_id_++;
  run->caller = std::move(caller);
  run->dry_run = dry_run;
  run->repositories = std::move(repositories);
  last_ = run;
  running_ = true;
  thread_ = std::thread([this, run] { Work(run); });
  return {true, run->id};
}

void BackfillRuns::Work(std::shared_ptr<Run> run) {
  const auto mode = run->dry_run ? publish::BackfillMode::kDryRun : publish::BackfillMode::kPublish;
  bool stopped = false;
  for (const auto& repo : run->repositories) {
    if (stop_) {
      stopped = true;
      break;
    }
    publish::BackfillObserver observer;
    observer.stop = [this] { return stop_.load(); };
    observer.starting = [this, run, &repo](std::size_t i, std::size_t n, const std::string& tag) {
      std::lock_guard lock(mu_);
      run->current = {{"repository", repo.import_path}, {"tag", tag}, {"index", i}, {"of", n}};
    };
    observer.finished = [run, &repo](const std::string& tag, const publish::TagResult& result) {
      spdlog::info("admin: backfill run {} of {}: {} {}{}", run->id, repo.import_path, tag,
                   TagOutcome(result), run->dry_run ? " (dry run)" : "");
    };
    auto summary = sources_.run(run->caller, repo, observer, mode);
    stopped = summary && summary->stopped;
    std::lock_guard lock(mu_);
    run->done.push_back(SummaryJson(repo, summary));
    if (stopped) break;
  }
  std::lock_guard lock(mu_);
  run->state = stopped ? "stopped" : "finished";
  run->finished = jobs::Clock::now();
  run->current = nullptr;
  running_ = false;
}

Result<publish::BackfillSummary> BackfillRuns::RealBackfill(
    const Caller& caller, const config::RepoConfig& repo, const publish::BackfillObserver& observer,
    publish::BackfillMode mode) {
  const auto cfg = sources_.config();
  auto git = git::Repository::Open(repo.path);
  auto backends = jobs::OpenBackends(*cfg);
  if (!git || !backends) {
    const std::string why = !git ? git.message() : backends.message();
    Audit(caller, "backfill", "backfill of " + repo.import_path + " failed: " + why, false);
    return Fail(why);
  }
  std::vector<storage::Backend*> targets;
  for (const auto& b : *backends) targets.push_back(b.get());
  publish::Options options;
  options.signer = sources_.signer.get();
  options.log = sources_.log.get();
  options.build_root = std::filesystem::path(cfg->state_dir) / "build";  // as the workers'
  return BackfillRepository(caller, *git, repo.import_path, targets, options, observer, mode);
}

nlohmann::json BackfillRuns::State() const {
  std::lock_guard lock(mu_);
  nlohmann::json j = {{"running", running_}, {"run", nullptr}};
  if (!last_) return j;
  nlohmann::json names = nlohmann::json::array();
  for (const auto& r : last_->repositories) names.push_back(r.import_path);
  nlohmann::json run = {{"id", last_->id},
                        {"by", last_->caller.who},
                        {"dry_run", last_->dry_run},
                        {"state", last_->state},
                        {"started", jobs::FormatTime(last_->started)},
                        {"repositories", std::move(names)},
                        {"current", last_->current},
                        {"summary", last_->done}};
  if (last_->finished != jobs::Clock::time_point{}) {
    run["finished"] = jobs::FormatTime(last_->finished);
  }
  j["run"] = std::move(run);
  return j;
}

void BackfillRuns::Stop() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    stop_ = true;
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

}  // namespace modpub::admin
