// Backfill: publish every version tag a repository already has, oldest first, into every
// backend (after a repository is put under modpub, or to complete storage that missed
// versions). It never stops at a bad tag: invalid tags and local failures are counted and
// the rest goes on. Re-running it after an interruption completes the work without
// duplicates, since PublishTag is idempotent (identical content is "unchanged").
//
// Progress is reported through BackfillObserver as each tag starts and ends, so that a
// caller can print a line per tag, a progress bar or JSON; the summary comes back at the
// end, one row of counts per backend.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "modpub/git/git.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::publish {

struct BackfillObserver {
  // Before tag i (1-based) of n is published.
  std::function<void(std::size_t i, std::size_t n, const std::string& tag)> starting;
  // After it: kDone with a report per module version and backend, or kInvalid / kFailed.
  std::function<void(const std::string& tag, const TagResult& result)> finished;
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
};

// Publishes every version tag of `repo` (OrderVersionTags order) to `backends`.
// Fails only when the repository's tags cannot be listed.
Result<BackfillSummary> Backfill(git::Repository& repo, const std::string& import_path,
                                 const std::vector<storage::Backend*>& backends,
                                 const Options& options, const BackfillObserver& observer = {});

}  // namespace modpub::publish
