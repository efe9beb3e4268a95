// The daemon's engine: a bounded pool of workers that claim jobs from the spool and
// publish them through the publish pipeline (publish::PublishTag) into every storage.
//
// Per job:
//  * the repository must be configured (config::Config::FindRepo), else the job fails;
//  * the tag must still point at the commit recorded in the job (when one is recorded):
//    a moved tag fails the job (the push that moved it queued its own job);
//  * invalid tag -> failed/ at once (retrying cannot help); a storage that refused the
//    version (other content stored) -> failed/; a storage failure (including an operation
//    that ran out of its deadline, storage_deadline_ms: storage/deadline.hpp, so that a
//    storage that never answers frees the worker) or a local failure -> retried after
//    min(max_backoff, initial_backoff * 2^attempts) +-20% jitter, and failed/ once max_attempts
//    attempts have failed; else done/ with a result listing every module version × storage outcome.
// Exactly once: a job is claimed by one worker of one daemon (spool rename); a daemon
// killed mid-publish leaves the job claimed, and the next start (or a live daemon's
// periodic scan) re-queues it; re-running it completes or finds the identical version
// ("unchanged"): storage Put is idempotent and never writes a version twice.
// Checksum database: given a Signing, every module version is signed (.sig
// beside it in storage) and appended to the sumdb log before it is stored
// (publish::Options); a version whose hashes conflict with the log is refused (fails the
// job), a log that cannot be written is retried like a storage failure.
// Cluster (cfg.queue = "redis://…", redis_queue.hpp): the workers take jobs from Redis
// instead, each with its own connection and consumer name (<owner>-<worker>), and tell
// Redis every third of queue_claim_idle_ms that they still work on theirs; the local spool
// is then this node's outbox, forwarded into Redis by a thread of its own (forward.hpp)
// when woken and at every scan. Settling (done, retry, failed) goes to Redis.
// Wake-up: Wake() (called for each datagram on the daemon socket), or the periodic scan.
// Stop(): no new claims; running publishes finish and are recorded; then the workers
// exit. The observer callbacks run on worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/jobs/redis_queue.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::jobs {

struct RunnerObserver {
  // result: "done" | "retried" | "failed" | "corrupt"
  std::function<void(const std::string& result)> job;
  // One per module version × storage, with publish::OutcomeName.
  std::function<void(const std::string& outcome)> module_version;
  std::function<void(double seconds)> publish_duration;
  std::function<void(const std::string& message)> error;
  // After `job`, the job as recorded: "done" (result_json set), "retried" (attempts and
  // last_error of the failed attempt), "failed" (last_error: why). The status page's model
  // follows the spool with it (status/status.hpp).
  std::function<void(const Job& job, const std::string& result)> settled;
};

// The signer and log every publish uses ([sumdb] in the configuration); both or neither.
// Shared: the daemon serves the same log over HTTP (http/proxy.hpp).
struct Signing {
  std::shared_ptr<const sign::Signer> signer;
  std::shared_ptr<sumdb::Log> log;
};

// Every storage of `cfg`, opened with its storage_deadline_ms (the error of a storage that
// does not answer names that setting); the first that does not open is the error.
Result<std::vector<std::unique_ptr<storage::Backend>>> OpenBackends(const config::Config& cfg);

// Delay before retry number `attempts` (1 = first retry), without jitter.
std::chrono::milliseconds Backoff(const config::RetryPolicy& policy, int attempts);

class Runner {
 public:
  // Opens the spool and the storages, registers this instance as a spool owner and
  // re-queues jobs of dead owners. Nothing runs until Start.
  // `signing` must be both or neither (std::invalid_argument otherwise).
  static Result<std::unique_ptr<Runner>> Create(const config::Config& cfg, RunnerObserver observer,
                                                Signing signing = {});
  ~Runner();  // Stop() + join

  // Repositories are looked up in `live` from now on (SIGHUP may replace them); before,
  // and without a call, in the configuration Create was given.
  void UseLiveConfig(std::shared_ptr<const config::LiveConfig> live) { live_ = std::move(live); }
  void Start();
  void Wake();
  // Stops claiming; returns once every worker has finished its current job.
  void Stop();
  const Spool& spool() const { return spool_; }
  // Cluster: the shared queue's backlog (an error without a queue or when Redis is down).
  Result<RedisQueue::Depth> ClusterDepth();

 private:
  Runner(const config::Config& cfg, Spool spool, Owner owner, RunnerObserver observer,
         Signing signing);
  // Which worker holds a job, and (cluster) the Redis entry that settles it.
  struct Ticket {
    int worker = 0;
    std::optional<RedisQueue::Claimed> claimed;
  };
  Status ConnectQueue();
  void WorkerLoop(int index);
  bool ClaimFromQueue(int index);  // true: a job was handled
  void ForwardLoop();
  void Scan();                   // re-queue dead owners' jobs; retention of done/
  void RemoveOldFinishedJobs();  // worker 0 only (Scan's thread)
  void Handle(Job job, const Ticket& t);
  // After PublishTag: record the job done, or retry or fail it by what the reports say.
  void Finish(Job job, const std::string& what, const publish::TagResult& result, double seconds,
              const Ticket& t);
  // Job -> failed/ with `reason`; or back to queue/ with backoff (failed/ after
  // max_attempts). `what` names the job in the log.
  void Fail(const Job& job, const std::string& what, const std::string& reason, const Ticket& t);
  void Retry(const Job& job, const std::string& what, const std::string& error, const Ticket& t);
  Status Complete(const Job& job, const Ticket& t);

  config::Config cfg_;
  std::shared_ptr<const config::LiveConfig> live_;
  Spool spool_;
  Owner owner_;
  RunnerObserver observer_;
  Signing signing_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
  bool stopping_ = false;
  std::mutex claim_mu_;  // one claim at a time in this process: no pointless races
  std::vector<std::unique_ptr<RedisQueue>> queues_;  // cluster: one per worker
  std::unique_ptr<RedisQueue> outbox_;               // cluster: forwards the spool
  std::thread forwarder_;
  std::optional<std::chrono::steady_clock::time_point> last_prune_;  // Scan's thread only
};

}  // namespace modpub::jobs
