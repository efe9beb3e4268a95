// `modpub jobs` and `modpub retry`: looking at the daemon's job spool and re-queueing
// failed jobs. Argument parsing and output only; the spool is modpub::jobs::Spool.
//
//   modpub jobs [--failed] [--json] [--config <toml> | --spool <dir>]
//     a table, one row per job, oldest first:
//       ID  STATE  MODULE  TAG  ATTEMPTS  WHEN  ERROR
//     (WHEN: "next <time>" queued, "owner <id>" claimed, "finished <time>" failed), or
//     with --json one JSON line per job; none: "no jobs waiting" / "no failed jobs" on
//     stderr, exit status 0.
//     without --failed: the waiting (queued) and running (claimed) jobs;
//     with --failed: the failed jobs and the job files set aside as corrupt, with reasons.
//   modpub retry <job>... [--config <toml> | --spool <dir>]
//   modpub retry --all-failed [--config <toml> | --spool <dir>]
//     moves each failed job (or every one) back to the queue (attempts reset) and wakes
//     the daemon: admin::RetryJob / RetryAllFailed, which write the audit lines modpubd's
//     admin API writes ("admin: <effect>; retry by unix:<user>"; printed on stderr).
//   modpub jobs forward [--config <toml>]
//     cluster: hands the spool's due jobs to the configured queue (jobs/forward.hpp).
// Without --config or --spool, $MODPUB_CONFIG names the configuration (ConfigPath).
// With a configuration whose `queue` is a Redis URL (a cluster), `jobs` lists the shared
// queue's jobs after this machine's spool (jobs waiting here to be forwarded), `jobs
// --failed` adds the dead-letter stream's, and `retry` looks there first.
// Exit status: 0 = done, 1 = a job to retry is not in failed/, 2 = spool, config or queue
// unusable (--all-failed: a queue not listed or a job not moved).

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "modpub/admin/operations.hpp"
#include "modpub/config/config.hpp"
#include "modpub/jobs/forward.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::cli {
namespace {

constexpr int kExitNotFound = kExitRefused;

struct SpoolOptions {
  std::string config;
  std::string spool;
  std::string socket;  // from the config, for the wake-up after retry
  std::string queue;   // from the config: the cluster queue, "" when none
};

void AddSpoolOptions(CLI::App* cmd, SpoolOptions* o) {
  auto* c = cmd->add_option("--config", o->config,
                            ConfigHelp("its spool_dir, socket and cluster queue are used"));
  auto* s = cmd->add_option("--spool", o->spool, "spool directory (instead of --config)");
  c->excludes(s);
  s->excludes(c);
}

// Opens the spool named by --spool or the config; prints the problem and returns nothing
// when it cannot.
std::unique_ptr<jobs::Spool> OpenSpool(SpoolOptions& o) {
  std::string dir = o.spool;
  if (dir.empty()) o.config = ConfigPath(o.config);
  if (!o.config.empty()) {
    auto cfg = LoadCliConfig(o.config);
    if (!cfg) return nullptr;
    dir = cfg->spool_dir;
    o.socket = cfg->socket_path;
    o.queue = cfg->queue;
  }
  if (dir.empty()) {
    std::cerr << "modpub: give --config <toml> (or set $MODPUB_CONFIG) or --spool <dir>\n";
    return nullptr;
  }
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec);
  const bool is_spool = !ec && std::filesystem::is_directory(p / "queue", ec);
  if (ec) {  // e.g. a directory on the way that this user may not search
    std::cerr << "modpub: " << (p / "queue").string() << ": " << ec.message() << "\n";
    return nullptr;
  }
  if (!is_spool) {
    std::cerr << "modpub: " << dir << ": not a job spool (no queue/ directory)\n";
    return nullptr;
  }
  auto spool = jobs::Spool::Open(p);
  if (!spool) {
    std::cerr << "modpub: " << spool.message() << "\n";
    return nullptr;
  }
  return std::make_unique<jobs::Spool>(std::move(*spool));
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n') c = ';';
  }
  return s;
}

// The jobs of one listing, from the spool and the cluster queue, as a table or JSON lines.
class JobList {
 public:
  explicit JobList(bool json)
      : json_(json), table_({"ID", "STATE", "MODULE", "TAG", "ATTEMPTS", "WHEN", "ERROR"}) {}

  void Add(const jobs::Spool::Entry& e, const char* queue) {
    ++count_;
    if (json_) return PrintJson(e, queue);
    if (e.state == jobs::State::kCorrupt) {
      table_.Add({e.job.id, "corrupt", "-", "-", "-", "-", OneLine(e.job.last_error)});
      return;
    }
    std::string when = "-";
    switch (e.state) {
      case jobs::State::kQueued:
        when = "next " + jobs::FormatTime(e.job.next_attempt);
        break;
      case jobs::State::kClaimed:
        when = "owner " + e.owner;
        break;
      default:
        if (e.job.finished != jobs::Clock::time_point{})
          when = "finished " + jobs::FormatTime(e.job.finished);
        break;
    }
    table_.Add({e.job.id, std::string(jobs::StateName(e.state)),
                e.job.import_path.empty() ? "?" : e.job.import_path,
                e.job.tag.empty() ? "?" : e.job.tag, std::to_string(e.job.attempts), when,
                e.job.last_error.empty() ? "" : OneLine(e.job.last_error)});
  }

  // The table, or what is empty; the JSON lines went out as they came.
  void Finish(bool failed) {
    if (count_ == 0) {
      std::cerr << "modpub: " << (failed ? "no failed jobs" : "no jobs waiting") << "\n";
      return;
    }
    if (!json_) table_.Print(std::cout);
  }

 private:
  static void PrintJson(const jobs::Spool::Entry& e, const char* queue) {
    nlohmann::ordered_json j;
    j["Id"] = e.job.id;
    j["State"] = std::string(jobs::StateName(e.state));
    j["Queue"] = queue;
    if (e.state != jobs::State::kCorrupt) {
      j["ImportPath"] = e.job.import_path;
      j["Tag"] = e.job.tag;
      j["Attempts"] = e.job.attempts;
      if (e.state == jobs::State::kQueued) j["Next"] = jobs::FormatTime(e.job.next_attempt);
      if (e.state == jobs::State::kClaimed) j["Owner"] = e.owner;
      if (e.job.finished != jobs::Clock::time_point{})
        j["Finished"] = jobs::FormatTime(e.job.finished);
    }
    if (!e.job.last_error.empty()) j["Error"] = e.job.last_error;
    std::cout << j.dump() << "\n";
  }

  bool json_;
  Table table_;
  std::size_t count_ = 0;
};

// The cluster queue of the configuration, as consumer `name`; nullptr (and a message) when
// it cannot be used.
std::unique_ptr<jobs::RedisQueue> OpenQueue(const SpoolOptions& o, const std::string& name) {
  auto url = jobs::ParseRedisQueueUrl(o.queue);
  if (!url) {
    std::cerr << "modpub: " << url.message() << "\n";
    return nullptr;
  }
  auto q = jobs::RedisQueue::Open(*url, {name});
  if (!q) {
    std::cerr << "modpub: " << q.message() << "\n";
    return nullptr;
  }
  return std::move(*q);
}

bool ListQueue(const SpoolOptions& o, const std::vector<jobs::State>& states, JobList& out) {
  auto q = OpenQueue(o, "modpub-jobs");
  if (!q) return false;
  for (auto st : states) {
    if (st == jobs::State::kCorrupt) continue;  // in the dead-letter stream, as failed
    auto list = q->List(st);
    if (!list) {
      std::cerr << "modpub: " << list.message() << "\n";
      return false;
    }
    for (const auto& e : *list) out.Add(jobs::Spool::Entry{e.state, e.job, e.owner}, "cluster");
  }
  return true;
}

int RunForward(SpoolOptions& o) {
  auto spool = OpenSpool(o);
  if (!spool) return kExitFailed;
  if (o.queue.empty()) {
    std::cerr << "modpub: no queue in the configuration: nothing to forward to\n";
    return kExitFailed;
  }
  auto q = OpenQueue(o, "modpub-forward");
  auto owner = spool->Register();
  if (!q || !owner) {
    if (!owner) std::cerr << "modpub: " << owner.message() << "\n";
    return kExitFailed;
  }
  auto n = jobs::ForwardSpool(*spool, *owner, *q);
  if (!n) {
    std::cerr << "modpub: " << n.message() << "\n";
    return kExitFailed;
  }
  std::cout << "modpub: forwarded " << Plural(*n, "job", "jobs") << "\n";
  return 0;
}

int RunJobs(SpoolOptions& o, bool failed, bool json) {
  auto spool = OpenSpool(o);
  if (!spool) return kExitFailed;
  std::vector<jobs::State> states = failed
                                        ? std::vector{jobs::State::kFailed, jobs::State::kCorrupt}
                                        : std::vector{jobs::State::kClaimed, jobs::State::kQueued};
  JobList out(json);
  for (auto st : states) {
    auto list = spool->List(st);
    if (!list) {
      std::cerr << "modpub: " << list.message() << "\n";
      return kExitFailed;
    }
    for (const auto& e : *list) out.Add(e, "spool");
  }
  if (!o.queue.empty() && !ListQueue(o, states, out)) return kExitFailed;
  out.Finish(failed);
  return 0;
}

// Wakes modpubd (with --config); jobs put back in this machine's spool wait for it, so a
// daemon that is not running is worth saying.
void WakeDaemon(const SpoolOptions& o, bool spool_requeued) {
  if (o.socket.empty()) return;
  if (jobs::Poke(o.socket) == jobs::Wake::kNotRunning && spool_requeued) {
    std::cerr << "modpub: modpubd is not running (no daemon listens on " << o.socket
              << "): the jobs wait in the spool until it starts\n";
  }
}

int RunRetry(SpoolOptions& o, const std::vector<std::string>& ids, bool all_failed) {
  auto spool = OpenSpool(o);
  if (!spool) return kExitFailed;
  std::unique_ptr<jobs::RedisQueue> q;
  if (!o.queue.empty() && !(q = OpenQueue(o, "modpub-retry"))) return kExitFailed;
  const admin::Queues queues{spool.get(), q.get()};
  const admin::Caller caller = AuditCaller();
  int code = 0;
  bool spool_requeued = false;
  if (all_failed) {
    auto r = admin::RetryAllFailed(caller, queues);
    for (const auto& j : r.requeued) {
      spool_requeued |= j.where != admin::kClusterQueue;
      std::cout << "modpub: re-queued " << j.id
                << (j.where == admin::kClusterQueue ? " in the cluster queue" : "") << "\n";
    }
    for (const auto& e : r.errors) std::cerr << "modpub: " << e << "\n";
    if (r.requeued.empty() && r.errors.empty()) std::cerr << "modpub: no failed jobs\n";
    if (!r.errors.empty()) code = kExitFailed;
  }
  for (const auto& id : ids) {
    auto r = admin::RetryJob(caller, queues, id);
    if (!r) {
      std::cerr << "modpub: " << r.message() << "\n";
      code = kExitNotFound;
      continue;
    }
    std::cout << "modpub: re-queued " << id
              << (r->where == admin::kClusterQueue ? " in the cluster queue" : "") << "\n";
    spool_requeued |= r->where != admin::kClusterQueue;
  }
  WakeDaemon(o, spool_requeued);
  return code;
}

void RegisterJobs(CLI::App& app, int* exit_code) {
  auto jo = std::make_shared<SpoolOptions>();
  auto failed = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::App* j = app.add_subcommand(
      "jobs",
      "Show the publishing jobs in the modpubd spool (and, with a cluster queue in the\n"
      "configuration, in the shared queue), oldest first, as a table:\n"
      "  ID  STATE  MODULE  TAG  ATTEMPTS  WHEN  ERROR\n"
      "WHEN is \"next <time>\" (queued), \"owner <id>\" (claimed) or \"finished <time>\".\n"
      "With --json, one JSON line per job: Id, State, Queue (spool | cluster), ImportPath,\n"
      "Tag, Attempts, Next | Owner | Finished, Error. Without --failed: waiting (queued)\n"
      "and running (claimed) jobs. With --failed: failed jobs with their reason, and job\n"
      "files set aside as corrupt. No jobs: \"no jobs waiting\" / \"no failed jobs\" on\n"
      "stderr, exit status 0. Exit status 2: the spool, configuration or queue is unusable.");
  AddSpoolOptions(j, jo.get());
  j->add_flag("--failed", *failed, "show failed and corrupt jobs instead");
  j->add_flag("--json", *json, "one JSON line per job");
  CLI::App* fwd = j->add_subcommand(
      "forward",
      "Cluster: hand the spool's due jobs to the queue of the configuration (Redis), as\n"
      "post-receive and modpubd do; for a git server without a daemon, e.g. from a timer.");
  auto fo = std::make_shared<SpoolOptions>();
  fwd->add_option("--config", fo->config, ConfigHelp("its spool_dir and queue"));
  fwd->callback([fo, exit_code] { *exit_code = RunForward(*fo); });
  j->callback([j, jo, failed, json, exit_code] {
    if (j->got_subcommand("forward")) return;
    *exit_code = RunJobs(*jo, *failed, *json);
  });

  auto ro = std::make_shared<SpoolOptions>();
  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* r = app.add_subcommand(
      "retry",
      "Move failed jobs (ids from `modpub jobs --failed`), or with --all-failed every\n"
      "failed job, back to the queue with their attempts reset, and wake modpubd (with\n"
      "--config). With a cluster queue in the configuration its dead letters are looked\n"
      "at first, then the spool. Prints \"modpub: re-queued <id>\" per job on stdout, and\n"
      "the audit line modpubd's admin API writes for the same operation on stderr\n"
      "(\"admin: job <id> re-queued (spool); retry by unix:<user>\"). The HTTP twins:\n"
      "POST /api/jobs/<id>/retry and POST /api/jobs/retry-failed. Exit status 1 when a\n"
      "job is not in the failed list; 2 when the spool or queue is unusable (--all-failed:\n"
      "a queue that cannot be listed or a job not moved).");
  AddSpoolOptions(r, ro.get());
  auto all_failed = std::make_shared<bool>(false);
  auto* job_ids = r->add_option("job", *ids, "job id(s)");
  auto* all = r->add_flag("--all-failed", *all_failed,
                          "every failed job (of the spool and the cluster queue); not with "
                          "job ids");
  all->excludes(job_ids);
  job_ids->excludes(all);
  r->callback([r, ro, ids, all_failed, exit_code] {
    if (ids->empty() && !*all_failed) {
      std::cerr << "modpub: retry: give job ids (from `modpub jobs --failed`) or --all-failed\n"
                << r->help();
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = RunRetry(*ro, *ids, *all_failed);
  });
}

}  // namespace

const Registration kRegistration{40, RegisterJobs};

}  // namespace modpub::cli
