// jobs::Intake: the spool's front door for one long-lived process (modpubd's webhook
// endpoint), where every delivery of a burst must be durable before it is answered.
//
// Why not Spool::Enqueue: each job there is a new file, and each batch costs two commits of
// the file system's journal (syncfs, then the fsync of queue/). syncfs also writes back
// everything else dirty on that file system, so under load a batch costs milliseconds, and
// creating files is slow on a busy spool (ext4 searches past recently freed inodes).
// Intake appends each job as one line to a journal of its own (spool/intake/<owner>.log,
// record format in spool.hpp) and fdatasync-s that one file: concurrent callers share one
// write and one fdatasync (group commit), about one device flush. A background thread (the
// mover) then puts journaled jobs into queue/ with Spool::EnqueueBatch, as many per batch
// as queue/ has room for (it keeps queue/ at most `queue_high` deep, so a burst waits in
// the journal until the runners make room, and its files are created at the pace the
// runners take them, not all during the burst), and empties the journal whenever
// everything in it is in queue/.
//
// Invariants:
//  * Enqueue returns an id only once the job's record is durable in the journal.
//  * A journaled job reaches queue/ once: by the mover, or, if this process dies first,
//    by RequeueStale in any daemon, which replays the journal of a dead owner and skips
//    ids already in the spool. (After a crash between the mover's rename into queue/ and
//    the journal's truncation the skip is what keeps it to one copy.)
//  * The journal is truncated only while every record in it is durable in queue/ and no
//    append is in progress.
//  * Waiting(id) sees jobs still only in the journal as well as jobs in queue/.
//  * The Intake is an owner of its own (Spool::Register): its lock tells other daemons it
//    is alive. Destruction refuses new jobs, moves everything pending into queue/, removes
//    the journal, then releases the lock; if moving fails, the journal stays for replay.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::jobs {

class Intake {
 public:
  // Registers an owner in `spool`, creates its journal and starts the mover.
  // `on_queued` is called (from the mover) after jobs reached queue/ (the runner's Wake),
  // never once destruction has begun. `queue_high`: the mover fills queue/ up to this many
  // jobs; large enough that the runners never find it empty while the journal holds more
  // (QueueHighFor).
  static Result<std::unique_ptr<Intake>> Open(Spool spool, std::function<void()> on_queued = {},
                                              std::size_t queue_high = 256);
  // A queue/ bound for `workers` runner threads: the mover looks for room every 20 ms when
  // queue/ is full, and a job (a fetch, then a publish) takes a worker longer than that, so
  // four jobs per worker (at least 32) are always ahead of the runners.
  static std::size_t QueueHighFor(int workers);
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // As Spool::Enqueue (same checks, id and times filled in), durable in the journal when
  // it returns.
  Result<std::string> Enqueue(Job job);
  // The job under `id` if it waits in the journal or in queue/ (see Spool::Waiting).
  std::optional<Job> Waiting(const std::string& id) const;

  // Blocks until every job acknowledged so far is in queue/, or `timeout` passes; false on
  // timeout. For tests and orderly stops.
  bool Flush(std::chrono::milliseconds timeout);

  // Jobs durable in the journal and not yet in queue/.
  std::size_t Backlog() const;

  struct Stats {
    std::uint64_t commits = 0;  // journal write + fdatasync, each for a batch of callers
    std::uint64_t jobs = 0;     // jobs acknowledged
    std::uint64_t moved = 0;    // jobs put into queue/ by the mover
  };
  Stats stats() const;
  const std::string& owner_id() const { return owner_.id(); }
  const std::filesystem::path& journal() const { return journal_; }

 private:
  struct Waiter;
  Intake(Spool spool, Owner owner, std::filesystem::path journal, int fd,
         std::function<void()> on_queued, std::size_t queue_high);
  void MoverLoop();
  // Appends the batch's records and fdatasync-s them; on failure cuts the journal back.
  Status CommitJournal(const std::vector<std::shared_ptr<Waiter>>& batch);

  Spool spool_;
  Owner owner_;  // declared before the journal state: released last
  std::filesystem::path journal_;
  int fd_ = -1;
  std::function<void()> on_queued_;
  const std::size_t queue_high_;

  mutable std::mutex mu_;
  std::condition_variable mover_cv_;           // the mover waiting for work or stop
  std::condition_variable idle_cv_;            // Flush waiting for the mover to catch up
  std::vector<std::shared_ptr<Waiter>> open_;  // records waiting for the next journal commit
  bool committing_ = false;
  std::condition_variable join_cv_;                   // a leader lingering for more callers
  bool lingering_ = false;                            // a leader waits on join_cv_
  std::size_t expected_batch_ = 1;                    // callers the next commit's leader waits for
  std::uint64_t size_ = 0;                            // bytes in the journal
  std::deque<Job> pending_;                           // durable in the journal, not in queue/
  std::unordered_map<std::string, Job> pending_ids_;  // the same, by id (Waiting)
  bool moving_ = false;                               // the mover holds a batch of pending_
  bool stopping_ = false;
  Stats stats_;
  std::thread mover_;
};

}  // namespace modpub::jobs
