// Backfill: publish every version tag a repository already has, oldest first, into every
// backend (after a repository is put under modpub, or to complete storage that missed
// versions). It never stops at a bad tag: invalid tags and local failures are counted and
// the rest goes on. Re-running it after an interruption completes the work without
// duplicates, since PublishTag is idempotent (identical content is "unchanged").
//
// Progress is reported through BackfillObserver as each tag starts and ends, so that a
// caller can print a line per tag, a progress bar or JSON; the summary comes back at the
// end, one row of counts per backend.
//
// A dry run (BackfillMode::kDryRun) resolves and builds every tag exactly as a publish
// would, and then asks each backend and the checksum database what a publish WOULD do,
// through DryRunBackend: no storage, log or signature is written. Its reports use the
// same outcomes, meaning "would publish", "unchanged", "would refuse", "failed".
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modpub/git/git.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::publish {

struct BackfillObserver {
  // Once, before the first tag: the version tags in the order they will be published.
  std::function<void(const std::vector<std::string>& tags)> planned;
  // Before tag i (1-based) of n is published.
  std::function<void(std::size_t i, std::size_t n, const std::string& tag)> starting;
  // After it: kDone with a report per module version and backend, or kInvalid / kFailed.
  std::function<void(const std::string& tag, const TagResult& result)> finished;
  // Asked before each tag: true ends the run there (a daemon stopping), the summary
  // counting the tags tried so far, with `stopped` set.
  std::function<bool()> stop;
};

struct BackfillSummary {
  struct Counts {
    int published = 0, unchanged = 0, refused = 0, failed = 0;
  };
  std::size_t version_tags = 0;            // tags tried
  std::vector<std::string> skipped;        // tags that are not version tags
  std::vector<std::string> invalid;        // version tags go could never fetch
  int tag_failures = 0;                    // tags that failed before reaching a backend
  std::map<std::string, Counts> backends;  // by backend URL, every backend present
  bool stopped = false;                    // observer.stop ended it before the last tag
};

enum class BackfillMode { kPublish, kDryRun };

// Publishes every version tag of `repo` (OrderVersionTags order) to `backends`; in
// kDryRun mode only reports what it would do (each backend behind DryRunBackend with
// options.log, nothing written). Fails only when the repository's tags cannot be listed.
Result<BackfillSummary> Backfill(git::Repository& repo, const std::string& import_path,
                                 const std::vector<storage::Backend*>& backends,
                                 const Options& options, const BackfillObserver& observer = {},
                                 BackfillMode mode = BackfillMode::kPublish);

// A Backend whose Put writes nothing: it answers what `real`'s Put would, from what is
// stored now. With `log`, a module version the log holds with other hashes is refused as
// PublishTag would refuse it (pass the log here, not in Options, for a dry run). Per
// module version, from Stat:
//   absent                 -> published ("would publish")
//   incomplete             -> published ("would complete an interrupted publish")
//   damaged                -> refused (the damage named)
//   complete               -> zip, .mod and .info compared byte for byte with the build
//                             (storage::Decide): unchanged, or refused naming the parts
//                             and hashes; with a signature to store, a missing one is
//                             published ("would add its signature"), another refused.
// A bucket (s3://) cannot be compared without downloading every zip: a complete version
// there is reported unchanged, saying it was not compared.
// Stat and ListModules pass through; Name() is `real`'s. `real` and `log` must outlive it.
std::unique_ptr<storage::Backend> DryRunBackend(storage::Backend& real, sumdb::Log* log);

}  // namespace modpub::publish
