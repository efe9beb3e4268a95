// The admin operations themselves, for both of their callers: modpubd's admin API
// (admin.hpp, over HTTP) and the command line (`modpub retry`, `modpub backfill`). Each
// function performs the operation AND writes its audit lines, so that the effects and
// the lines are the same whoever asks and however.
//
// Audit lines: spdlog, info (warn when the effect failed), one per effect, in one shape:
//   admin: <effect>; <action> by <who>
// e.g.
//   admin: job 1234-abc re-queued (cluster queue); retry by alice
//   admin: job 1234-abc not re-queued: <why, naming where it was looked for>; retry by unix:bob
//   admin: job 1234-abc re-queued (spool); retry-failed by alice
//   admin: 2 failed jobs re-queued (cluster queue: 1234-abc; spool: 5678-def);
//          retry-failed by alice
//   admin: backfill of corp.example/lib started (dry run); backfill by alice
//   admin: backfill of corp.example/lib finished: file:///srv/goproxy: 2 published,
//          1 unchanged, 0 refused, 0 failed; 1 invalid tag (v1.2); 4 version tags;
//          backfill by alice
// (each one line in the log; folded here).
// <who> is the principal: over HTTP the one http::Auth::CheckAdmin allowed (its Decision's
// `who`), from the command line "unix:<user name>" of the effective uid (UnixCaller).
// The authorization itself is the caller's: these functions do what they are asked.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/git/git.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/publish/backfill.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::admin {

// Who asks for an operation, and who else sees its audit lines.
struct Caller {
  std::string who;
  // Called with each audit line too, when set: the command line prints them, since its
  // log level (warn unless -v) would hide an info line.
  std::function<void(const std::string& line)> echo;
};

// "unix:<user name>" of geteuid() ("unix:<uid>" when the user has no passwd entry).
std::string UnixPrincipal();
Caller UnixCaller(std::function<void(const std::string& line)> echo = {});

// Logs `effect; action by who` (warn unless ok) and echoes it; returns the line.
std::string Audit(const Caller& caller, const std::string& action, const std::string& effect,
                  bool ok = true);

// Where failed jobs wait for a person.
struct Queues {
  const jobs::Spool* spool = nullptr;   // this machine's spool (required)
  jobs::RedisQueue* cluster = nullptr;  // the cluster queue's dead letters, when configured
};

inline constexpr char kClusterQueue[] = "cluster queue";
inline constexpr char kSpoolQueue[] = "spool";

struct Requeued {
  std::string id;
  std::string where;  // kClusterQueue or kSpoolQueue
};

// Failed job `id` back to the queue with its attempts reset: from the cluster queue's
// dead letters when there is a cluster queue and it holds the job, else from the spool's
// failed/ (`modpub retry <id>`, POST /api/jobs/<id>/retry). The error says where it was
// looked for. Waking the workers is the caller's.
Result<Requeued> RetryJob(const Caller& caller, const Queues& queues, const std::string& id);

struct RetryAllResult {
  std::vector<Requeued> requeued;   // cluster queue first, then spool; oldest first in each
  std::vector<std::string> errors;  // a queue that could not be listed, a job not moved
};
// Every failed job back to its queue, as RetryJob does each (`modpub retry --all-failed`,
// POST /api/jobs/retry-failed); one line per job and one for the whole. Jobs set aside
// as corrupt stay where they are (they cannot run).
RetryAllResult RetryAllFailed(const Caller& caller, const Queues& queues);

// One repository's backfill (publish::Backfill, same arguments) between its two audit
// lines: started, and finished with the counts (DescribeSummary) or the error.
Result<publish::BackfillSummary> BackfillRepository(const Caller& caller, git::Repository& repo,
                                                    const std::string& import_path,
                                                    const std::vector<storage::Backend*>& backends,
                                                    const publish::Options& options,
                                                    const publish::BackfillObserver& observer,
                                                    publish::BackfillMode mode);

// "<storage>: 2 published, 1 unchanged, 0 refused, 0 failed; 1 invalid tag (v1.2); 4
// version tags" (", stopped early" when the observer stopped it).
std::string DescribeSummary(const publish::BackfillSummary& summary);

}  // namespace modpub::admin
