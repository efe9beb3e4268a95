// The overall time limit of one storage operation.
//
// Every Backend operation (Put, Stat, ListVersions, ListModules, LocalFile) starts a
// Deadline from the budget its backend was opened with (OpenOptions, open.hpp; default
// kDefaultDeadline) and fails once it is spent, with a message naming the storage, the
// operation and the budget (Exceeded). The budget covers the whole operation: every
// request of it, the retries of each request and the pauses between them, so a server
// that accepts connections and never answers costs one budget, not attempts × timeouts.
//
// Where it is enforced:
//  * s3://: in the S3 client (s3_client.hpp). Each request's transfer is limited to what
//    is left of the budget, no retry starts once it is spent, and a backoff pause never
//    outlasts it. A Put stopped by its deadline leaves what an interrupted publish leaves
//    (a prefix of the parts, each object whole or absent): the version is not listed, and
//    publishing it again completes it.
//  * file:// and athens-disk://: each operation runs on a thread of its own that the
//    caller stops waiting for at the deadline (bounded.hpp, which says why the abandoned
//    thread finishing later is safe, and what an NFS "hard" mount still needs). Serving's
//    LocalFile is not bounded there.
// A failure at the deadline is a temporary one, like any storage failure: the daemon
// retries the job with backoff, `modpub publish` exits 2.
#pragma once

#include <chrono>
#include <string>

namespace modpub::storage {

// The budget of a storage operation unless configured (storage_deadline_ms in
// modpub.toml, --storage-deadline on the command line).
inline constexpr std::chrono::milliseconds kDefaultDeadline{30000};

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // Unbounded: never expires (tools and tests that want no limit).
  Deadline() = default;
  // Expires `budget` from now; a budget of zero or less is unbounded. `setting` names
  // where the budget is configured, for the message (e.g. "--storage-deadline").
  static Deadline After(std::chrono::milliseconds budget, std::string setting);

  bool bounded() const { return bounded_; }
  bool Expired() const { return bounded_ && Clock::now() >= at_; }
  // What is left, never negative; a very large value when unbounded.
  std::chrono::milliseconds Remaining() const;
  std::chrono::milliseconds budget() const { return budget_; }

  // "no answer within the 30 s storage deadline (<setting>)": what follows
  // "<storage>: <operation>: " in the failure of an operation that ran out of time.
  std::string Exceeded() const;

 private:
  bool bounded_ = false;
  Clock::time_point at_{};
  std::chrono::milliseconds budget_{0};
  std::string setting_;
};

}  // namespace modpub::storage
