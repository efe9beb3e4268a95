// The durable job spool: one file per job, moved between directories by rename(2).
//
// Layout under the spool directory (created by Open):
//   tmp/                 jobs being written (never read by anyone but their writer)
//   queue/<id>.job       waiting jobs; only complete, fsynced files ever appear here
//   claimed/<owner>/<id>.job   jobs a daemon instance is working on
//   owners/<owner>.lock  held with flock(2) by a live daemon instance for its lifetime
//   done/<id>.job        finished jobs, with their result
//   failed/<id>.job      jobs that ran out of attempts or cannot succeed, with the reason
//   corrupt/<name>       job files that could not be read or parsed, + <name>.reason
//   held/<key>.job       jobs made durable by pre-receive for a push not yet accepted
//                        (key: the hooks' name for the ref update); post-receive moves
//                        each into queue/ (ReleaseHeld). One left behind belongs to a push
//                        that failed after pre-receive, or whose post-receive did not run:
//                        the daemon's reconciler queues or drops it (jobs/reconcile.hpp).
//                        Made by the first Hold, not by Open.
//   intake/<owner>.log   the intake journal of a live owner (jobs::Intake): jobs already
//                        durable but not yet in queue/. One record per line,
//                        "<crc32 of the JSON, 8 hex> <job JSON>\n", appended and fdatasync-ed.
//                        RequeueStale replays the journal of a dead owner: every usable
//                        record whose id is not already in the spool goes to queue/.
//
// Job file format (UTF-8 JSON object; unknown keys are kept out, not errors):
//   {"format":"modpub-job/1", "id":"20261202T091000123Z-1a2b3c4d",
//    "repo":"/srv/git/lib.git", "import_path":"corp.example/lib", "tag":"v1.2.3",
//    "commit":"<40 hex: the commit the tag pointed at when queued, or \"\">",
//    "source":"hook"|"webhook"|"cli", "attempts":0,
//    "created":"2026-12-02T09:10:00.123Z", "next_attempt":"2026-12-02T09:10:00.123Z",
//    "last_error":"", "result":null|{...}, "finished":""|"<time>"}
// Required: format, id, repo, import_path, tag. Times are RFC 3339 UTC ("Z"), fractional
// seconds optional; a missing next_attempt means "now". The file name is "<id>.job"; an
// id is [A-Za-z0-9._-]{1,128} and must match the file name, else the job is corrupt.
//
// Invariants:
//  * Enqueue writes tmp/, makes the file durable, renames it into queue/ and fsyncs
//    queue/, all before it returns: a job in queue/ is complete and durable, and a job
//    whose Enqueue returned its id is durable. Names not ending in ".job" are ignored.
//  * Group commit: concurrent Enqueue calls on one Spool (and its copies) share the
//    durability cost. Each caller writes its own tmp file, then joins the open batch; one
//    caller (the leader) commits the whole batch: data of all its files durable (one
//    fsync for a batch of one, else one syncfs(2) of the spool's filesystem), then every
//    rename into queue/, then one fsync of queue/. Followers wait and return the status
//    of their own job; callers arriving during a commit form the next batch. So a batch
//    of N jobs costs two journal commits instead of 2N fsyncs, and no file is renamed
//    into queue/ before its data is durable (a crash mid-batch leaves only tmp/ files,
//    which RemoveStaleTemporaries removes). Why syncfs: on ext4 (and most journaling
//    file systems) every fsync of a new file costs a cache flush of the device, so N
//    fsyncs cost N flushes even when issued together; syncfs writes the N files back in
//    one go and flushes once. Its cost: it also writes back other dirty data on the same
//    file system, so keep the spool off file systems with heavy unrelated writers.
//  * Errors of a batch: a failure that concerns one file (create, write, fsync, rename)
//    reaches its caller only; a failure of the batch (opening queue/, syncfs, the fsync
//    of queue/) reaches every caller in it. After an error the job is not in queue/,
//    except when the final fsync of queue/ failed: then the complete job may be in
//    queue/ but its name may not survive a crash; the caller sees an error and may
//    enqueue again (publishing is idempotent).
//  * A job is claimed by rename(queue/<id>.job -> claimed/<owner>/<id>.job). rename is
//    atomic: of two daemons racing for one job exactly one succeeds (the other sees
//    ENOENT), so two daemons on one spool never work on the same job.
//  * Every later move (done, failed, retry back to queue, release) first writes the
//    updated job to its destination (temp + rename), then removes the claimed file; a
//    crash in between leaves the job in both places, and RequeueStale drops the claimed
//    copy when a done/ or failed/ copy of the same id exists. Publishing is idempotent
//    (an identical version is "unchanged"), so a job re-run after a crash publishes
//    nothing twice.
//  * An owner is "dead" when its owners/<owner>.lock is not flock-ed (the kernel drops
//    flocks when a process dies, even on SIGKILL); its claimed jobs are re-queued and its
//    intake journal replayed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::jobs {

using Clock = std::chrono::system_clock;

struct Job {
  std::string id;  // empty: Enqueue assigns NewJobId()
  std::string repo;
  std::string import_path;
  std::string tag;
  std::string commit;
  std::string source = "cli";        // "hook" | "webhook" | "cli"
  int attempts = 0;                  // publish attempts made so far
  Clock::time_point created{};       // epoch: Enqueue sets now
  Clock::time_point next_attempt{};  // epoch: due now
  std::string last_error;
  std::string result_json;  // done/: JSON value describing the publish ("" = none)
  Clock::time_point finished{};
};

enum class State { kQueued, kClaimed, kDone, kFailed, kCorrupt };
std::string_view StateName(State s);  // "queued", "claimed", "done", "failed", "corrupt"

// A fresh id: UTC time (sortable) + random suffix, e.g. "20261202T091000123Z-1a2b3c4d".
std::string NewJobId();

// What every enqueue does first: assigns id, created and next_attempt when unset; fails
// if the id is not [A-Za-z0-9._-]{1,128} or repo, import_path or tag is empty.
Status PrepareJob(Job& job);

// Serialization of the job file format above.
std::string ToJson(const Job& job);
Result<Job> FromJson(std::string_view text);  // error says which key is wrong

// RFC 3339 UTC with milliseconds, and its parser (accepts any fraction, requires "Z").
std::string FormatTime(Clock::time_point t);
Result<Clock::time_point> ParseTime(std::string_view s);

// A daemon instance's identity in the spool: holds owners/<id>.lock with flock for its
// lifetime; destroying it releases the lock and removes the lock file and its (then
// empty) claimed/<id>/ directory.
class Owner {
 public:
  ~Owner();
  Owner(Owner&&) noexcept;
  Owner& operator=(Owner&&) = delete;
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;
  const std::string& id() const { return id_; }

 private:
  friend class Spool;
  Owner(std::filesystem::path root, std::string id, int fd);
  std::filesystem::path root_;
  std::string id_;
  int fd_ = -1;
};

// A job taken out of a queue file that could not be used, for the caller to log.
struct SetAside {
  std::string file;    // path under corrupt/ it was moved to
  std::string reason;  // why (also written to <file>.reason)
};

struct ClaimResult {
  std::optional<Job> job;           // nothing due (or all due ones taken by others)
  std::vector<SetAside> set_aside;  // corrupt files moved aside while looking
  // When no job was due: the earliest next_attempt among the waiting jobs, if any (so
  // the caller can sleep exactly until a retry is due).
  std::optional<Clock::time_point> next_due;
};

class Spool {
 public:
  // Opens (creating the subdirectories if missing) the spool at `dir`.
  static Result<Spool> Open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }

  // --- producers (hooks, webhooks, tests) ------------------------------------------
  // Writes the job durably into queue/ (see invariants; concurrent calls are group
  // committed). Assigns id, created and next_attempt when unset; returns the id only once
  // the job is durable in queue/. Thread-safe.
  Result<std::string> Enqueue(Job job) const;
  // Enqueue of many jobs as one batch (one syncfs, the renames, one fsync of queue/),
  // for a caller that already holds them (jobs::Intake, journal replay). Fills in ids
  // and times in `jobs`; one status per job, in order.
  std::vector<Status> EnqueueBatch(std::vector<Job>& jobs) const;
  // Pre-receive: writes `job` durably (tmp, fsync, rename, fsync of held/) as
  // held/<key>.job, replacing an earlier one of the same key. A push is accepted only once
  // its jobs are held, so a full disk refuses the push instead of losing the publish.
  Status Hold(const std::string& key, Job job) const;
  // Post-receive: held/<key>.job -> queue/<id>.job (durable, due now). false: nothing is
  // held under `key` (a hook of an older modpub, or the reconciler was first).
  Result<bool> ReleaseHeld(const std::string& key) const;
  struct Held {
    std::string key;
    Job job;                    // empty when `problem` is set
    std::string problem;        // the file is not a job
    Clock::time_point since{};  // when it was held (file time)
  };
  Result<std::vector<Held>> ListHeld() const;
  // Removes held/<key>.job (a push that was not accepted after all).
  Status DropHeld(const std::string& key) const;
  // Whether a job with this id is anywhere in the spool (queue/, claimed/, done/,
  // failed/, corrupt/).
  bool Known(const std::string& id) const;
  // The job waiting in queue/ under `id`, if there is one (not claimed, not finished);
  // nothing when it is not in queue/ or cannot be read.
  std::optional<Job> Waiting(const std::string& id) const;

  // --- daemon -----------------------------------------------------------------------
  // Registers a new owner (id = "<hostname>-<pid>-<random>") with its lock held.
  Result<Owner> Register() const;
  // Re-queues the claimed jobs of every dead owner (lock file not flock-ed) and removes
  // their directories; returns how many jobs went back to queue/.
  Result<int> RequeueStale() const;
  // Claims the oldest due job (next_attempt <= now), by rename. Corrupt or unreadable
  // queue files are moved to corrupt/ with a reason and reported in set_aside.
  Result<ClaimResult> Claim(const Owner& owner, Clock::time_point now = Clock::now()) const;
  // Claimed -> done/, with job.result_json and finished set by the caller or now.
  Status Complete(const Owner& owner, Job job) const;
  // Claimed -> queue/ with attempts+1, last_error = error, next_attempt = when.
  Status Retry(const Owner& owner, Job job, const std::string& error, Clock::time_point when) const;
  // Claimed -> failed/ with last_error = reason.
  Status MarkFailed(const Owner& owner, Job job, const std::string& reason) const;
  // Claimed -> queue/ unchanged (graceful stop before the job ran).
  Status Release(const Owner& owner, const Job& job) const;

  // Removes entries of tmp/ last modified more than `age` ago: temporaries and owner
  // locks of writers that died mid-write (a live writer renames within milliseconds).
  // Returns how many were removed.
  Result<int> RemoveStaleTemporaries(std::chrono::seconds age) const;
  // Retention: deletes the done/ job files last written before `cutoff` (a job's done/
  // file is written when it finishes) and returns how many. done/ is a record
  // only: nothing reads it to decide what to publish, so deleting never loses work.
  Result<int> RemoveFinishedBefore(std::filesystem::file_time_type cutoff) const;

  // --- inspection (modpub jobs / retry) ---------------------------------------------
  struct Entry {
    State state;
    Job job;            // for kCorrupt only job.id (the file name) and last_error (reason)
    std::string owner;  // kClaimed: the owner holding it
  };
  // Jobs in `state`, oldest id first. Unparsable files are listed with last_error set.
  // kQueued includes the jobs still only in an intake journal.
  Result<std::vector<Entry>> List(State state) const;
  // Number of *.job files in queue/ (cheap: no parsing).
  Result<std::size_t> QueueDepth() const;
  // failed/<id>.job -> queue/ with attempts reset to 0, due now, last_error kept.
  Status RetryFailed(const std::string& id) const;

  // --- group commit statistics and observer ---------------------------------------------
  struct CommitStats {
    std::uint64_t batches = 0;  // batches committed (each: <= 2 journal commits)
    std::uint64_t jobs = 0;     // jobs in them
    std::size_t waiting = 0;    // written jobs waiting, now, for the next batch to start
  };
  CommitStats Stats() const;
  // Called by each batch leader, before it commits, with the batch size (nullptr: none).
  // The observer runs on the leader's thread while later writers queue up behind it, so
  // a slow observer makes the next batch larger: a test can hold a batch open with it.
  void SetBatchObserver(std::function<void(std::size_t)> observer) const;

 private:
  Result<int> ReplayIntake(const std::string& owner) const;
  struct GroupCommit;  // shared by copies of a Spool: see spool.cpp
  explicit Spool(std::filesystem::path dir);
  std::filesystem::path dir_;
  std::shared_ptr<GroupCommit> group_;
};

// One intake journal record (format above), newline included.
std::string IntakeRecord(const Job& job);
// An intake journal as read back: the usable records, in order. A last record cut short
// (its writer died before the fdatasync returned, so no one was told it was durable) is
// expected; any other unusable line marks the journal `damaged`.
struct IntakeJournal {
  std::vector<Job> jobs;
  bool damaged = false;
  std::string last_bad;  // "<file>:<line>: <why>" of the last unusable line, if any
};
Result<IntakeJournal> ReadIntakeJournal(const std::filesystem::path& file);

// What a wake-up found at the daemon's socket.
enum class Wake {
  kDelivered,   // a daemon is listening: it looks at the spool now
  kBusy,        // a daemon is listening but its socket queue is full: it is already awake
  kNotRunning,  // nobody listens (no socket file, or a file no process has bound)
};

// Wakes the daemon listening on the Unix datagram socket `socket_path`: sends one small
// datagram with MSG_DONTWAIT and returns at once. Never blocks, never fails loudly: a
// daemon that is down finds the job by its scan when it starts. The answer lets a hook
// tell the pushing user that nothing will publish until the daemon runs.
Wake Poke(const std::string& socket_path);

}  // namespace modpub::jobs
