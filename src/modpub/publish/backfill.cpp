// See backfill.hpp.
#include "modpub/publish/backfill.hpp"

#include <spdlog/spdlog.h>

namespace modpub::publish {
namespace {

void Count(const Report& r, BackfillSummary::Counts& c) {
  switch (r.outcome) {
    case Outcome::kPublished:
      ++c.published;
      break;
    case Outcome::kUnchanged:
      ++c.unchanged;
      break;
    case Outcome::kRefused:
      ++c.refused;
      break;
    case Outcome::kFailed:
      ++c.failed;
      break;
  }
}

}  // namespace

Result<BackfillSummary> Backfill(git::Repository& repo, const std::string& import_path,
                                 const std::vector<storage::Backend*>& backends,
                                 const Options& options, const BackfillObserver& observer) {
  auto names = repo.TagNames();
  if (!names) return names.error();
  OrderedTags tags = OrderVersionTags(*names);
  BackfillSummary summary;
  summary.version_tags = tags.versions.size();
  summary.skipped = std::move(tags.other);
  for (const std::string& t : summary.skipped) {
    spdlog::info("tag {} is not a version tag: skipped", t);
  }
  for (storage::Backend* b : backends) summary.backends[b->Name()];
  for (std::size_t i = 0; i < tags.versions.size(); ++i) {
    const std::string& tag = tags.versions[i];
    if (observer.starting) observer.starting(i + 1, tags.versions.size(), tag);
    TagResult result = PublishTag(repo, import_path, tag, backends, options);
    if (result.kind == TagResult::kInvalid) summary.invalid.push_back(tag);
    if (result.kind == TagResult::kFailed) ++summary.tag_failures;
    for (const Report& r : result.reports) Count(r, summary.backends[r.backend]);
    if (observer.finished) observer.finished(tag, result);
  }
  return summary;
}

}  // namespace modpub::publish
