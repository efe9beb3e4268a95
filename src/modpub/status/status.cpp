// See status.hpp.
#include "modpub/status/status.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "modpub/jobs/redis_queue.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::status {
namespace {

using JobsFn = std::function<Result<std::vector<jobs::Spool::Entry>>(jobs::State)>;

// go's @latest among versions in ascending semver order: the last release, else the
// last pre-release (the proxy's @latest route decides alike, http/proxy.cpp).
std::string LatestOf(const std::vector<std::string>& ascending) {
  std::string best;
  for (const auto& v : ascending) {
    if (semver::Prerelease(v).empty()) best = v;
  }
  if (best.empty() && !ascending.empty()) best = ascending.back();
  return best;
}

// The "Time" of an .info file; "" when it cannot be read or has none.
std::string InfoTime(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("Time") || !j["Time"].is_string()) return "";
  return j["Time"].get<std::string>();
}

std::optional<Clock::time_point> ModifiedAt(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

JobLine LineOf(const jobs::Spool::Entry& e) {
  JobLine l;
  l.id = e.job.id;
  l.repo = e.job.repo;
  l.tag = e.job.tag;
  l.state = std::string(jobs::StateName(e.state));
  l.attempts = e.job.attempts;
  l.created = e.job.created;
  l.error = e.job.last_error;
  return l;
}

// The module paths a done job's result names, and those it published (not "unchanged").
void ModulesOf(const std::string& result_json, std::set<std::string>* named,
               std::set<std::string>* published) {
  auto j = nlohmann::json::parse(result_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return;
  for (const auto& r : j) {
    if (!r.is_object() || !r.contains("Path") || !r["Path"].is_string()) continue;
    const auto path = r["Path"].get<std::string>();
    named->insert(path);
    if (r.contains("Result") && r["Result"] == "published") published->insert(path);
  }
}

void Remove(std::vector<jobs::Spool::Entry>& entries, const std::string& id) {
  std::erase_if(entries, [&](const jobs::Spool::Entry& e) { return e.job.id == id; });
}

// Which repository of `cfg` a job's repo path names (-1: none), remembered per path.
class RepoIndex {
 public:
  explicit RepoIndex(const config::Config* cfg) : cfg_(cfg) {}
  int Of(const std::string& repo) {
    if (!cfg_) return -1;
    auto [it, fresh] = seen_.try_emplace(repo, -1);
    if (!fresh) return it->second;
    const auto& repos = cfg_->repositories;
    for (std::size_t i = 0; i < repos.size(); ++i) {
      if (repos[i].path == repo) return it->second = static_cast<int>(i);
    }
    if (const config::RepoConfig* found = cfg_->FindRepo(repo)) {
      it->second = static_cast<int>(found - repos.data());
    }
    return it->second;
  }

 private:
  const config::Config* cfg_;
  std::map<std::string, int> seen_;
};

void AddJob(RepoStatus& r, const jobs::Spool::Entry& e, bool failed) {
  auto& shown = failed ? r.failed : r.pending;
  auto& total = failed ? r.failed_total : r.pending_total;
  ++total;
  if (shown.size() < kJobsShown) shown.push_back(LineOf(e));
}

}  // namespace

std::string OneLine(std::string_view reason, std::size_t max) {
  std::string out;
  out.reserve(std::min(reason.size(), max + 4));
  for (unsigned char c : reason) {
    const bool blank = c < 0x20 || c == 0x7f || c == ' ';
    if (blank) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += static_cast<char>(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() <= max) return out;
  std::size_t cut = max;
  // Back up to the start of a UTF-8 sequence (never split a character).
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  return out + "\u2026";
}

JobsFn SpoolJobs(const jobs::Spool& spool) {
  return [&spool](jobs::State state) { return spool.List(state); };
}

Result<JobsFn> ClusterJobs(const std::string& queue_url) {
  auto url = jobs::ParseRedisQueueUrl(queue_url);
  if (!url) return url.error();
  jobs::RedisQueueOptions options;
  options.consumer = "status-page";  // lists only: never reads from the group
  auto opened = jobs::RedisQueue::Open(*url, options);
  if (!opened) return opened.error();
  std::shared_ptr<jobs::RedisQueue> queue = std::move(*opened);
  return JobsFn([queue](jobs::State state) -> Result<std::vector<jobs::Spool::Entry>> {
    auto listed = queue->List(state);
    if (!listed) return listed.error();
    std::vector<jobs::Spool::Entry> out;
    out.reserve(listed->size());
    for (auto& e : *listed) out.push_back({e.state, std::move(e.job), std::move(e.owner)});
    return out;
  });
}

Model::Model(Sources sources, Options options) : sources_(std::move(sources)), options_(options) {
  auto first = std::make_shared<Snapshot>();
  first->storage = sources_.storage_url;
  snapshot_ = std::move(first);
}

Model::~Model() { Stop(); }

void Model::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Model::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Model::Settled(const jobs::Job& job, const std::string& result) {
  {
    std::lock_guard lock(mu_);
    events_.push_back({job, result});
  }
  cv_.notify_all();
}

std::shared_ptr<const Snapshot> Model::Get() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void Model::Loop() {
  RefreshStorage();
  RefreshJobs();
  auto next_jobs = std::chrono::steady_clock::now() + options_.jobs_interval;
  auto next_storage = std::chrono::steady_clock::now() + options_.storage_interval;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, std::min(next_jobs, next_storage),
                     [&] { return stopping_ || !events_.empty(); });
      if (stopping_) return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_storage) {
      RefreshStorage();
      next_storage = std::chrono::steady_clock::now() + options_.storage_interval;
    } else if (now >= next_jobs) {
      RefreshJobs();
      next_jobs = std::chrono::steady_clock::now() + options_.jobs_interval;
    } else {
      RefreshModules({});  // only the events: their modules are read again
    }
  }
}

void Model::ApplyEvents() {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    events.swap(events_);
  }
  std::set<std::string> named;
  for (auto& [job, result] : events) {
    Remove(pending_, job.id);
    if (result == "failed") {
      Remove(failed_, job.id);
      failed_.push_back({jobs::State::kFailed, job, ""});
    } else if (result == "retried") {
      pending_.push_back({jobs::State::kQueued, job, ""});
    } else if (result == "done") {
      std::set<std::string> published;
      ModulesOf(job.result_json, &named, &published);
      for (const auto& p : published) settled_publish_[p] = Clock::now();
    }
  }
  ListModulesLocked(named);
}

void Model::RefreshModules(const std::set<std::string>& paths) {
  std::lock_guard lock(refresh_mu_);
  ApplyEvents();
  ListModulesLocked(paths);
  Publish();
}

void Model::ListModulesLocked(const std::set<std::string>& paths) {
  for (const auto& path : paths) {
    auto m = ListModule(path);
    if (!m) {
      spdlog::warn("status page: cannot list {}: {}", path, m.message());
      continue;
    }
    if (m->versions == 0) {
      modules_.erase(path);
    } else {
      modules_[path] = std::move(*m);
    }
  }
}

void Model::RefreshStorage() {
  std::lock_guard lock(refresh_mu_);
  ApplyEvents();
  auto paths = sources_.storage->ListModules();
  if (!paths) {
    storage_error_ = paths.message();
    spdlog::warn("status page: cannot list {}: {}", sources_.storage_url, storage_error_);
    return Publish();
  }
  std::map<std::string, ModuleStatus> fresh;
  std::string error;
  for (const auto& path : *paths) {
    auto m = ListModule(path);
    if (!m) {
      error = path + ": " + m.message();
      if (auto old = modules_.find(path); old != modules_.end()) fresh.insert(*old);
      continue;
    }
    if (m->versions > 0) fresh[path] = std::move(*m);
  }
  modules_ = std::move(fresh);
  storage_error_ = error;
  storage_listed_ = Clock::now();
  Publish();
}

void Model::RefreshJobs() {
  std::lock_guard lock(refresh_mu_);
  ApplyEvents();
  std::vector<jobs::Spool::Entry> pending, failed;
  std::string error;
  for (auto state : {jobs::State::kQueued, jobs::State::kClaimed, jobs::State::kFailed}) {
    auto listed = sources_.jobs
                      ? sources_.jobs(state)
                      : Result<std::vector<jobs::Spool::Entry>>(std::vector<jobs::Spool::Entry>{});
    if (!listed) {
      error = std::string(jobs::StateName(state)) + " jobs: " + listed.message();
      break;
    }
    auto& into = state == jobs::State::kFailed ? failed : pending;
    into.insert(into.end(), std::make_move_iterator(listed->begin()),
                std::make_move_iterator(listed->end()));
  }
  if (error.empty()) {
    // Claimed jobs were queued first: one order, by id (ids sort by creation).
    std::stable_sort(pending.begin(), pending.end(),
                     [](const auto& a, const auto& b) { return a.job.id < b.job.id; });
    pending_ = std::move(pending);
    failed_ = std::move(failed);
    jobs_listed_ = Clock::now();
  }
  jobs_error_ = error;
  if (sources_.queue_depth) {
    auto depth = sources_.queue_depth();
    depth_ = depth ? std::optional<std::int64_t>(*depth) : std::nullopt;
    if (!depth && jobs_error_.empty()) jobs_error_ = "queue depth: " + depth.message();
  }
  Publish();
}

Result<ModuleStatus> Model::ListModule(const std::string& path) {
  auto listed = sources_.storage->ListVersions(path);
  if (!listed) return listed.error();
  std::vector<std::string> complete;
  for (const auto& v : *listed) {
    if (v.state == storage::VersionState::kComplete) complete.push_back(v.version);
  }
  ModuleStatus m;
  m.path = path;
  m.versions = complete.size();
  m.latest = LatestOf(complete);
  for (const auto& v : complete) {
    const VersionFacts& f = FactsOf(path, v);
    if (f.stored && (!m.last_published || *f.stored > *m.last_published))
      m.last_published = f.stored;
    if (v == m.latest) m.latest_time = f.time;
  }
  return m;
}

Model::VersionFacts Model::FactsOf(const std::string& path, const std::string& version) {
  const std::string key = path + "@" + version;
  if (auto it = facts_.find(key); it != facts_.end()) return it->second;
  VersionFacts f;
  if (!local_files_) return f;
  auto file = sources_.storage->LocalFile(path, version, storage::VersionPart::kInfo);
  if (!file) {
    local_files_ = false;  // not a local storage: no times (S3 would cost a GET each)
    return f;
  }
  if (!*file) return f;  // gone meanwhile: asked again next time
  f.time = InfoTime(**file);
  f.stored = ModifiedAt(**file);
  facts_[key] = f;
  return f;
}

void Model::Publish() {
  auto s = std::make_shared<Snapshot>();
  const auto cfg = sources_.config ? sources_.config() : nullptr;
  if (cfg) {
    for (const auto& r : cfg->repositories) {
      RepoStatus rs;
      rs.path = r.path;
      rs.import_path = r.import_path;
      s->repositories.push_back(std::move(rs));
    }
  }
  auto repo_at = [&](int i) -> RepoStatus& {
    return i < 0 ? s->unconfigured : s->repositories[static_cast<std::size_t>(i)];
  };
  for (const auto& [path, m] : modules_) {
    ModuleStatus shown = m;
    if (auto it = settled_publish_.find(path); it != settled_publish_.end()) {
      if (!shown.last_published || it->second > *shown.last_published)
        shown.last_published = it->second;
    }
    if (shown.last_published && (!s->last_publish || *shown.last_published > *s->last_publish))
      s->last_publish = shown.last_published;
    int owner = -1;
    for (std::size_t i = 0; cfg && i < cfg->repositories.size(); ++i) {
      if (cfg->repositories[i].AllowsModule(path)) {
        owner = static_cast<int>(i);
        break;
      }
    }
    repo_at(owner).modules.push_back(std::move(shown));
  }
  RepoIndex index(cfg.get());
  for (const auto& e : pending_) AddJob(repo_at(index.Of(e.job.repo)), e, false);
  for (auto it = failed_.rbegin(); it != failed_.rend(); ++it)
    AddJob(repo_at(index.Of(it->job.repo)), *it, true);
  s->queue_depth = depth_;
  s->storage = sources_.storage_url;
  s->storage_error = storage_error_;
  s->jobs_error = jobs_error_;
  s->storage_listed = storage_listed_;
  s->jobs_listed = jobs_listed_;
  std::lock_guard lock(mu_);
  snapshot_ = std::move(s);
}

}  // namespace modpub::status
