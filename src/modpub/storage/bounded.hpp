// The storage deadline (deadline.hpp) for backends whose steps are blocking system calls
// on a local or mounted filesystem (file://, athens-disk://).
//
// A thread blocked in such a call cannot be stopped from another, so each operation runs
// on a thread of its own and the caller waits for it at most the operation's budget. When
// the budget is spent the caller gets the deadline failure (the storage, the operation,
// the budget and where it is set) and goes on -- the daemon retries the job later, its
// worker is free, `modpub publish` exits 2 -- while the operation's thread is abandoned:
// it keeps the backend alive and finishes whenever the filesystem answers.
//
// Why abandoning is safe: what an abandoned Put may still write is what a Put writes, each
// part atomically (temporary file, rename) under the module's lock, the same bytes a
// retried Put of the same version would write (builds are reproducible). The retry either
// waits for that lock (and is bounded by its own budget) or finds the version complete
// ("unchanged") or a prefix of it (an interrupted publish, completed). Nothing published
// is changed: the immutability rule (backend.hpp) holds for the late writer as for any.
//
// Bounds: at most `max_stuck` abandoned operations per backend at once; beyond that an
// operation fails at once, naming how many are still waiting on the filesystem, rather
// than piling up threads on a mount that does not answer. LocalFile (serving: a path and a
// stat or two, the read follows in the server anyway) runs on the caller's thread.
//
// Limits: a process cannot finish exiting while one of its threads waits uninterruptibly
// in the kernel (an NFS "hard" mount), so such a mount still needs its own options
// ("soft,timeo=…,retrans=…") for `modpub publish` to return to the shell; the daemon goes
// on serving and retrying meanwhile.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "modpub/storage/backend.hpp"

namespace modpub::storage {

struct BoundOptions {
  std::chrono::milliseconds deadline{0};  // zero or less: no wrapper needed (unbounded)
  std::string setting;                    // where the budget is configured, for messages
  std::size_t max_stuck = 16;             // abandoned operations allowed at once
};

// `inner` with every operation but LocalFile bounded by `options.deadline`.
std::unique_ptr<Backend> Bounded(std::unique_ptr<Backend> inner, BoundOptions options);

}  // namespace modpub::storage
