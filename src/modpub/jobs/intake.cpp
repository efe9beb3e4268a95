// jobs::Intake: see intake.hpp for the contract.
#include "modpub/jobs/intake.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "modpub/fsio/atomic_file.hpp"

namespace modpub::jobs {

namespace fs = std::filesystem;

namespace {

// queue/ holds at most `queue_high_` jobs: a burst waits in the journal, where each job
// cost one appended line, and becomes a file in queue/ only as the runners make room. A
// new file per job is the expensive part (ext4 without a journal searches past every inode
// freed in the last 30 s, as a busy spool's finished jobs and git's temporary files are),
// and creating hundreds during a burst takes the CPU from the deliveries being answered.
// How long a journal commit's leader waits for the callers it expects (see Enqueue).
constexpr std::chrono::microseconds kLinger{500};
// How often the mover looks again while queue/ is full.
constexpr std::chrono::milliseconds kFullPoll{20};

std::string Errno(const fs::path& p, std::string_view what, int err) {
  return p.string() + ": " + std::string(what) + ": " + std::strerror(err);
}

}  // namespace

// One caller's record until its batch is committed. Each caller sleeps on its own
// condition variable and is woken once: when its batch is committed, or when it is first
// in line to lead the next commit. Wake-ups are most of what a commit costs its callers
// (on a VM each is an inter-processor interrupt), so none is spent on a caller whose
// record is not done, and each is sent after the intake's lock is released, so that the
// woken caller does not go back to sleep on that lock. Shared: the leader may still be
// signalling a caller that has already seen `done` and returned.
struct Intake::Waiter {
  Job job;
  std::string record;
  Status status = Ok();
  bool done = false;
  std::condition_variable cv;
};

std::size_t Intake::QueueHighFor(int workers) {
  return std::max<std::size_t>(32, 4 * static_cast<std::size_t>(std::max(workers, 1)));
}

Result<std::unique_ptr<Intake>> Intake::Open(Spool spool, std::function<void()> on_queued,
                                             std::size_t queue_high) {
  auto owner = spool.Register();
  if (!owner) return owner.error();
  fs::path journal = spool.dir() / "intake" / (owner->id() + ".log");
  int fd = ::open(journal.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(Errno(journal, "cannot create the intake journal", errno));
  // The journal's name must survive a crash as well as its records.
  if (auto s = fsio::SyncDir(journal.parent_path()); !s) {
    ::close(fd);
    ::unlink(journal.c_str());
    return s.error();
  }
  return std::unique_ptr<Intake>(new Intake(std::move(spool), std::move(*owner), journal, fd,
                                            std::move(on_queued),
                                            std::max<std::size_t>(queue_high, 1)));
}

Intake::Intake(Spool spool, Owner owner, fs::path journal, int fd, std::function<void()> on_queued,
               std::size_t queue_high)
    : spool_(std::move(spool)),
      owner_(std::move(owner)),
      journal_(std::move(journal)),
      fd_(fd),
      on_queued_(std::move(on_queued)),
      queue_high_(queue_high) {
  mover_ = std::thread([this] { MoverLoop(); });
}

Intake::~Intake() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  mover_cv_.notify_all();
  mover_.join();
  std::lock_guard lock(mu_);
  ::close(fd_);
  if (pending_.empty()) {
    ::unlink(journal_.c_str());
    (void)fsio::SyncDir(journal_.parent_path());
  } else {
    spdlog::error("intake {}: {} job(s) not yet in queue/ stay in {} for the next daemon",
                  owner_.id(), pending_.size(), journal_.string());
  }
}

Status Intake::CommitJournal(const std::vector<std::shared_ptr<Waiter>>& batch) {
  std::string data;
  for (const auto& w : batch) data += w->record;
  const char* p = data.data();
  std::size_t n = data.size();
  int err = 0;
  while (n > 0 && err == 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
  if (err != 0) {
    // No caller of this batch is told its job is durable; cut the journal back so that
    // the next batch does not follow a broken line.
    (void)::ftruncate(fd_, static_cast<off_t>(size_));
    return Fail(Errno(journal_, "cannot append to the intake journal", err));
  }
  size_ += data.size();
  return Ok();
}

Result<std::string> Intake::Enqueue(Job job) {
  if (auto s = PrepareJob(job); !s) return s.error();
  const std::string id = job.id;
  auto me = std::make_shared<Waiter>();
  me->record = IntakeRecord(job);
  me->job = std::move(job);

  std::unique_lock lock(mu_);
  if (stopping_) return Fail("the intake of " + owner_.id() + " is stopping");
  open_.push_back(me);
  if (lingering_ && open_.size() == expected_batch_) {
    lock.unlock();
    join_cv_.notify_one();
    lock.lock();
  }
  while (!me->done) {
    if (committing_) {
      me->cv.wait(lock);
      continue;
    }
    // Lead: everything waiting so far (this record included) is one journal commit.
    committing_ = true;
    // The callers of the last batch were all answered at once and come back at about the
    // same time: a leader that finds fewer waiting lingers up to kLinger for them, else
    // batches alternate between one caller and the rest, and each commit (a device flush,
    // ~0.3-1 ms here) carries half as many jobs. The expected size decays by one per
    // commit, so a quieter stream stops lingering.
    if (open_.size() < expected_batch_) {
      lingering_ = true;
      join_cv_.wait_for(lock, kLinger, [&] { return open_.size() >= expected_batch_; });
      lingering_ = false;
    }
    expected_batch_ = std::max(open_.size(), expected_batch_ > 1 ? expected_batch_ - 1 : 1);
    std::vector<std::shared_ptr<Waiter>> batch;
    batch.swap(open_);
    lock.unlock();
    Status st = CommitJournal(batch);
    // The copies for Waiting() are made before the lock is taken again.
    std::unordered_map<std::string, Job> ids;
    if (st) {
      for (const auto& w : batch) ids.emplace(w->job.id, w->job);
    }
    lock.lock();
    // The mover sleeps only while nothing is pending (or while it waits for room in
    // queue/, with a timeout): only new work after an empty pending_ needs to wake it.
    const bool wake_mover = st && pending_.empty();
    for (const auto& w : batch) {
      w->status = st;
      w->done = true;
      if (st) pending_.push_back(std::move(w->job));
    }
    pending_ids_.merge(ids);
    if (st) {
      stats_.commits += 1;
      stats_.jobs += batch.size();
    }
    committing_ = false;
    // The next commit is led by the first caller that arrived meanwhile.
    std::shared_ptr<Waiter> next = open_.empty() ? nullptr : open_.front();
    lock.unlock();
    for (const auto& w : batch) {
      if (w != me) w->cv.notify_one();
    }
    if (next) next->cv.notify_one();
    if (wake_mover) mover_cv_.notify_one();
    lock.lock();
  }
  if (!me->status) return me->status.error();
  return id;
}

void Intake::MoverLoop() {
  ::pthread_setname_np(::pthread_self(), "intake-mover");  // for top -H, perf, gdb
  std::chrono::milliseconds backoff{0};
  bool full = false;  // queue/ had no room at the last look
  std::unique_lock lock(mu_);
  for (;;) {
    const auto pause = backoff.count() ? backoff : full ? kFullPoll : std::chrono::hours(1);
    mover_cv_.wait_for(lock, pause, [&] {
      return stopping_ || (!pending_.empty() && backoff.count() == 0 && !full);
    });
    if (pending_.empty()) {
      if (stopping_) return;
      backoff = std::chrono::milliseconds(0);
      full = false;
      continue;
    }
    if (stopping_ && backoff.count() != 0) return;  // failing while stopping: leave it
    // Room in queue/ (all of it when stopping: the journal is emptied at an orderly stop).
    std::size_t room = pending_.size();
    if (!stopping_) {
      lock.unlock();
      auto depth = spool_.QueueDepth();
      lock.lock();
      std::size_t d = depth ? *depth : 0;
      room = d >= queue_high_ ? 0 : std::min(room, queue_high_ - d);
    }
    full = room == 0;
    if (full) continue;
    std::vector<Job> batch(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(room));
    moving_ = true;
    lock.unlock();
    std::vector<Status> statuses = spool_.EnqueueBatch(batch);
    lock.lock();
    moving_ = false;
    // The batch is the front of pending_ (only the mover removes from it). A job that did
    // not reach queue/ stays pending, in order, for the next attempt.
    std::deque<Job> kept;
    std::size_t moved = 0;
    std::string problem;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (statuses[i]) {
        pending_ids_.erase(batch[i].id);
        ++moved;
      } else {
        problem = statuses[i].message();
        kept.push_back(std::move(pending_.front()));
      }
      pending_.pop_front();
    }
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) pending_.push_front(std::move(*it));
    stats_.moved += moved;
    if (pending_.empty() && !committing_) {
      // Everything recorded is durable in queue/: start the journal afresh. Not synced: if
      // the old length survives a crash, replay finds those ids in the spool and skips them.
      if (::ftruncate(fd_, 0) == 0) {
        size_ = 0;
      } else {
        spdlog::warn("intake {}: cannot truncate {}: {}", owner_.id(), journal_.string(),
                     std::strerror(errno));
      }
    }
    if (!problem.empty()) {
      backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(100)),
                         std::chrono::milliseconds(5000));
      spdlog::error("intake {}: {} job(s) stay in the journal, retrying in {} ms: {}", owner_.id(),
                    kept.size(), backoff.count(), problem);
    } else {
      backoff = std::chrono::milliseconds(0);
    }
    idle_cv_.notify_all();
    // Not while stopping: the owner of the callback (the runner) may be gone already, and
    // stops next anyway; the jobs are in queue/ for its next start.
    if (moved > 0 && on_queued_ && !stopping_) {
      lock.unlock();
      on_queued_();
      lock.lock();
    }
  }
}

std::optional<Job> Intake::Waiting(const std::string& id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_ids_.find(id); it != pending_ids_.end()) return it->second;
  }
  return spool_.Waiting(id);
}

bool Intake::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(
      lock, timeout, [&] { return pending_.empty() && open_.empty() && !committing_ && !moving_; });
}

std::size_t Intake::Backlog() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

Intake::Stats Intake::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace modpub::jobs
