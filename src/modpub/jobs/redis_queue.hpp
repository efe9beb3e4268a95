// Jobs on Redis Streams: the job queue of a cluster, shared by every git server's hooks,
// every node's webhooks and every node's workers (`queue = "redis://…"` in modpub.toml;
// without it the local spool, spool.hpp, is the queue).
//
// URL: redis://[:password@]host[:port][/db][?stream=NAME&group=NAME]
//      (port 6379, db 0, stream "modpub:jobs", group "modpubd" unless given)
//
// Keys, all named after the stream S:
//   S            due jobs, one entry each: {job: <job JSON, spool.hpp's format>}; read by one
//                consumer group (G) whose consumers are the workers of every node
//   S:delayed    jobs waiting for a retry: a sorted set, member = job JSON, score = when
//                it is due (ms since the epoch); moved into S when due (Promote)
//   S:dead       the dead-letter stream: {job, reason}: jobs past max_attempts or that can
//                never succeed; RetryFailed moves one back into S
//   S:done       finished jobs with their result, capped at the newest ~1000 entries
//   S:delivery:<provider>:<id>   webhook delivery ids already taken (SET NX, with a TTL)
//
// Invariants:
//  * A job is durable when Enqueue returned (Redis acknowledged the XADD); how durable is
//    Redis's configuration: `appendonly yes` + `appendfsync always` for a single server,
//    replication with Sentinel for a server that may be lost (examples/cluster/).
//  * An entry of S is delivered to one consumer at a time (XREADGROUP). It stays pending
//    for that consumer until the job is settled (Complete, Retry, MarkFailed): each of
//    them acknowledges and deletes the entry and records the job's next place in the
//    same MULTI/EXEC transaction, so a job is never both settled and pending, nor lost
//    between the two.
//  * A pending entry idle for `claim_idle` (its worker died, or its node) is taken over by
//    the next Claim of any consumer (XAUTOCLAIM). A live worker calls Touch more often than
//    that while it works, so its job is not taken from it. Should a job still run twice
//    (a worker stalled past claim_idle), the second publish finds the version stored and
//    is "unchanged": publishing is idempotent, versions are immutable.
//  * Settling names the entry id Claim returned; settling an entry another consumer has
//    meanwhile taken over fails (the job is that consumer's now) and changes nothing.
// Thread-safety: one connection, used under a mutex; a daemon opens one queue per worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/jobs/redis.hpp"
#include "modpub/jobs/spool.hpp"

namespace modpub::jobs {

struct RedisQueueUrl {
  redis::Endpoint endpoint;
  std::string stream = "modpub:jobs";
  std::string group = "modpubd";
};
// Parses the URL above; the error names the URL (password hidden) and the rule.
Result<RedisQueueUrl> ParseRedisQueueUrl(const std::string& url);
// The URL with its password replaced by "***", for logs and messages.
std::string RedactedUrl(const std::string& url);

struct RedisQueueOptions {
  std::string consumer;                         // this worker's name (unique in the group)
  std::chrono::milliseconds claim_idle{60000};  // take over entries idle this long
  std::size_t done_kept = 1000;                 // S:done keeps about this many entries
};

class RedisQueue {
 public:
  // Connects (lazily: the first command connects) and makes sure the group exists.
  static Result<std::unique_ptr<RedisQueue>> Open(const RedisQueueUrl& url,
                                                  RedisQueueOptions options);

  // XADD: the job is durable in Redis when this returns its id (assigned if empty).
  Result<std::string> Enqueue(Job job);

  // A job handed to this consumer, with the stream entry that settles it.
  struct Claimed {
    Job job;
    std::string entry;
    bool taken_over = false;  // from a consumer idle past claim_idle (XAUTOCLAIM)
  };
  // Moves due delayed jobs into S, takes over one entry idle past claim_idle, else reads
  // a new one, waiting up to `wait` for it. nullopt: nothing due.
  Result<std::optional<Claimed>> Claim(std::chrono::milliseconds wait);
  // Resets the entry's idle time: the job is still being worked on.
  Status Touch(const Claimed& c);
  // The job is finished (`job` carries its result): S -> S:done.
  Status Complete(const Claimed& c, Job job);
  // The job is tried again at `when` (`job` carries attempts and last_error): S -> S:delayed.
  Status Retry(const Claimed& c, Job job, Clock::time_point when);
  // The job failed for good, for `reason`: S -> S:dead.
  Status MarkFailed(const Claimed& c, Job job, const std::string& reason);

  // Moves the jobs of S:delayed that are due at `now` into S; how many moved.
  Result<int> Promote(Clock::time_point now = Clock::now());

  struct Entry {
    State state;
    Job job;
    std::string owner;  // kClaimed: the consumer holding it; kFailed: empty
  };
  // kQueued (due in S and waiting in S:delayed), kClaimed (pending in S), kFailed
  // (S:dead, reason in job.last_error), kDone (S:done, newest first).
  Result<std::vector<Entry>> List(State state);
  // A dead job, by job id, back into S with attempts reset; an error when it is not there.
  Status RetryFailed(const std::string& id);

  struct Depth {
    std::int64_t queued = 0;   // in S, not yet delivered
    std::int64_t pending = 0;  // delivered, not settled
    std::int64_t delayed = 0;
    std::int64_t dead = 0;
  };
  Result<Depth> Stats();

  // Whether webhook delivery `id` of `provider` is seen here first (kept `ttl`): true
  // once across all nodes, false for every later delivery with that id.
  Result<bool> FirstDelivery(const std::string& provider, const std::string& id,
                             std::chrono::seconds ttl);

  // Undoes FirstDelivery for a delivery that could not be handled (so a redelivery counts).
  Status ForgetDelivery(const std::string& provider, const std::string& id);

  const RedisQueueUrl& url() const { return url_; }

 private:
  RedisQueue(RedisQueueUrl url, RedisQueueOptions options);
  Result<redis::Reply> Run(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  Status Settle(const Claimed& c, const std::vector<std::string>& place);
  Status SettleLocked(const Claimed& c, const std::vector<std::string>& place);
  Result<std::optional<Claimed>> Readable(const redis::Reply& entry);
  Result<std::map<std::string, std::string>> PendingOwners();
  Result<std::optional<Claimed>> TakeOver();
  // Makes the group with the stream, once ("0": entries added before it are delivered
  // too; BUSYGROUP says it exists already).
  Status EnsureGroup();
  Result<std::optional<Claimed>> ReadNew(std::chrono::milliseconds wait);

  RedisQueueUrl url_;
  RedisQueueOptions options_;
  std::mutex mu_;
  redis::Connection conn_;
  bool group_ready_ = false;  // under mu_
};

}  // namespace modpub::jobs
