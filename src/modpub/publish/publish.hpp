// Package publish: from a version tag to its module versions stored in every backend.
//
// The pipeline, used by `modpub publish`, `modpub backfill` and the daemon:
//  1. modzip::Resolve the tag to the module versions it publishes (a tag may publish two:
//     path@vN.x.y+incompatible and path/vN, or a module and its vN/ subdirectory);
//  2. modzip::Build each one once, into a private temporary directory (removed after);
//     a tag that cannot be resolved or built is invalid and nothing is written anywhere;
//  3. hand every module version to every backend in turn (storage::Backend::Put). A
//     backend that fails or refuses does not stop the others: each module×backend pair
//     gets its own Report, so a re-run completes what failed (Put is idempotent).
// Each Put is logged as one line naming module@version and the backend.
//
// Optionally (Options), before step 3:
//  * checksum database: each module version's go.sum lines are appended to the sumdb log
//    (sumdb::Log::AppendModule). If the log already holds OTHER hashes for the version,
//    go would reject what we store: nothing is written, every backend reports it refused.
//    A log that cannot be written fails the version on every backend (re-run completes).
//  * signature: each module version gets a detached signature, the note signed by
//    `signer` over its go.sum lines (sumdb::ModuleRecord), stored beside it (see
//    storage/backend.hpp).
// Both are deterministic, so re-running a publish finds them unchanged.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/git/git.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::publish {

// What happened to one module version on one backend.
enum class Outcome {
  kPublished,  // written now (possibly completing an interrupted publish)
  kUnchanged,  // already stored with identical content
  kRefused,    // stored with other content, or damaged: nothing written
  kFailed,     // the backend could not be read or written (I/O, full disk, ...)
};
std::string_view OutcomeName(Outcome o);  // "published", "unchanged", "refused", "failed"

struct Report {
  std::string path;
  std::string version;
  std::string sum;        // h1 of the zip we built
  std::string gomod_sum;  // h1 of the .mod
  std::string backend;    // the backend's URL
  Outcome outcome = Outcome::kFailed;
  std::string message;     // why it was refused or failed; or a note
  std::string sumdb = {};  // with a checksum database: "record <id>" (appended or present)
};

struct Options {
  const sign::Signer* signer = nullptr;  // sign every module version (nullptr: no signatures)
  sumdb::Log* log = nullptr;             // append every module version (nullptr: no sumdb)
  std::filesystem::path build_root;      // where zips are built; "" = the temporary directory
};

// Build directories. PublishTag builds a tag's zips (up to the zip size limit each) in
// <root>/modpub-build-<pid>-XXXXXX and removes it when done. While it exists, its .owner
// file is flock-ed by the process that made it; the kernel drops that lock when the
// process dies (SIGKILL included), so a directory whose lock can be taken is abandoned.
//   BuildRoot: `configured`, or the temporary directory ($TMPDIR, else /tmp) when empty.
//   SweepBuildDirs: removes the abandoned build directories under `root` (and those
//     without an .owner file older than ten minutes: an older modpub's); programs call it
//     at start. Returns how many it removed; logs each.
//   RemoveOwnBuildDirs: removes this process's build directories under `root`, for a
//     program about to exit on SIGINT/SIGTERM. Returns how many.
std::filesystem::path BuildRoot(const std::filesystem::path& configured);
int SweepBuildDirs(const std::filesystem::path& root);
int RemoveOwnBuildDirs(const std::filesystem::path& root);

struct TagResult {
  enum Kind {
    kDone,     // every module version went to every backend: see `reports`
    kInvalid,  // the tag names no module version go could fetch: `error`, one line per problem
    kFailed,   // a local failure before any backend was written (e.g. no temporary space)
  } kind = kDone;
  std::string error;
  std::vector<Report> reports;  // module versions in Resolve order, then backends in order
};

// Publishes tag `tag` of `repo` (whose root has import path `import_path`) to `backends`.
TagResult PublishTag(git::Repository& repo, const std::string& import_path, const std::string& tag,
                     const std::vector<storage::Backend*>& backends, const Options& options = {});

// Tags in publishing order for a backfill: version tags ("v…" or "dir/v…" whose last
// element starts with "v" and a digit) sorted oldest first by semver of that element
// (semver::Compare; tags that are not valid semver first, to be reported), ties by tag
// name. Other tags ("release", "latest") are not version tags: returned in `other`.
struct OrderedTags {
  std::vector<std::string> versions;
  std::vector<std::string> other;
};
OrderedTags OrderVersionTags(const std::vector<std::string>& tags);

}  // namespace modpub::publish
