// The pre-receive -> post-receive handoff: what pre-receive found out about a pushed version
// tag, kept for the post-receive hook of the same push.
//
// Why: both hooks run on every tag push, one after the other, and post-receive needs exactly
// what pre-receive has just computed (the module versions the tag publishes). Resolving them
// again means initialising libgit2 and reading the pushed objects a second time, which is
// most of post-receive's cost. With the handoff, post-receive reads one small file instead.
//
// Contract:
//  * One file per ref update, named by a digest of (repository path, ref, new id), in a
//    directory the caller gives (the hooks use <git dir>/modpub/handoff). A push that is
//    refused after pre-receive (another hook, a failed ref update) leaves its file behind;
//    WriteHandoff removes files older than an hour, so the directory stays small.
//  * Written with a temporary name and rename(2): a reader sees a whole file or none. Not
//    fsynced: a handoff lost to a crash only costs post-receive the slow path.
//  * Take returns a handoff only when the file states the same repository, ref and new id
//    (a digest collision or a stale file of another push is treated as absent), and removes
//    it. Absent, unreadable or malformed -> std::nullopt: the caller resolves the tag itself
//    (receive::Published). A handoff is an optimisation, never the only way to a job.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/receive/receive.hpp"

namespace modpub::receive {

// The name both hooks give ref update `u` of the repository at `repo_path`: 32 hex digits
// of a SHA-256 over (repository path, ref, new id). The handoff file and the job
// pre-receive holds in the spool (jobs::Spool::Hold) are both found by it.
std::string UpdateKey(const std::string& repo_path, const RefUpdate& u);

// Records `accepted` (the module versions of update `u`'s tag, from Review) for `u`.
Status WriteHandoff(const std::filesystem::path& dir, const std::string& repo_path,
                    const RefUpdate& u, const std::vector<Accepted>& accepted);

// The module versions recorded for `u` by WriteHandoff, removing the record; std::nullopt
// when there is no usable record (see above).
std::optional<std::vector<Accepted>> TakeHandoff(const std::filesystem::path& dir,
                                                 const std::string& repo_path, const RefUpdate& u);

}  // namespace modpub::receive
