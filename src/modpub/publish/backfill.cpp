// See backfill.hpp.
#include "modpub/publish/backfill.hpp"

#include <spdlog/spdlog.h>

#include <optional>

#include "modpub/storage/local_part.hpp"
#include "modpub/sumdb/tlog.hpp"

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

using storage::PutOutcome;
using storage::PutResult;

class DryRun final : public storage::Backend {
 public:
  DryRun(storage::Backend& real, sumdb::Log* log) : real_(real), log_(log) {}

  const std::string& Name() const override { return real_.Name(); }

  Result<PutResult> Put(const storage::VersionFiles& f) override {
    const std::string mv = f.path + "@" + f.version;
    if (log_) {
      auto logged = CheckLog(f);
      if (!logged) return logged.error();
      if (*logged) return **logged;
    }
    auto st = real_.Stat(f.path, f.version);
    if (!st) return st.error();
    if (!*st) return PutResult{PutOutcome::kPublished, "would publish"};
    switch ((*st)->state) {
      case storage::VersionState::kIncomplete:
        return PutResult{PutOutcome::kPublished,
                         "would complete an interrupted publish (" + (*st)->detail + ")"};
      case storage::VersionState::kDamaged:
        return PutResult{PutOutcome::kRefused, mv + " is damaged (" + (*st)->detail +
                                                   "): a publish would refuse it; inspect it"};
      case storage::VersionState::kComplete:
        break;
    }
    return CompareComplete(f, mv);
  }

  Result<std::optional<storage::StoredVersion>> Stat(const std::string& path,
                                                     const std::string& version) override {
    return real_.Stat(path, version);
  }
  Result<std::vector<storage::StoredVersion>> ListVersions(const std::string& path) override {
    return real_.ListVersions(path);
  }
  Result<std::vector<std::string>> ListModules() override { return real_.ListModules(); }

 private:
  // A refusal when the log holds other hashes for the version; nullopt when it holds the
  // same or none (a publish would append it).
  Result<std::optional<PutResult>> CheckLog(const storage::VersionFiles& f) {
    auto id = log_->Lookup(f.path, f.version);
    if (!id) return id.error();
    if (!*id) return std::optional<PutResult>();
    auto text = log_->ReadRecord(**id);
    if (!text) return text.error();
    if (*text == sumdb::ModuleRecord(f.path, f.version, f.sum, f.gomod_sum)) {
      return std::optional<PutResult>();
    }
    return std::optional<PutResult>(
        PutResult{PutOutcome::kRefused, "checksum database " + log_->where() + ": record " +
                                            std::to_string(**id) + " holds other hashes for " +
                                            f.path + "@" + f.version + " (new " + f.sum + ")"});
  }

  // The stored files of a complete version, compared as Put's Decide compares them.
  Result<PutResult> CompareComplete(const storage::VersionFiles& f, const std::string& mv) {
    if (real_.Name().starts_with("s3://")) {  // comparing would download every zip
      return PutResult{PutOutcome::kUnchanged,
                       "stored; a dry run does not compare a bucket's bytes"};
    }
    auto zip = real_.LocalFile(f.path, f.version, storage::VersionPart::kZip);
    auto mod = real_.LocalFile(f.path, f.version, storage::VersionPart::kMod);
    auto info = real_.LocalFile(f.path, f.version, storage::VersionPart::kInfo);
    if (!zip || !mod || !info) return !zip ? zip.error() : !mod ? mod.error() : info.error();
    std::vector<storage::StoredPart> parts;
    auto add = [&](const std::string& name, const std::optional<std::filesystem::path>& at,
                   auto compare, auto describe) -> Status {
      storage::StoredPart part{name, storage::PartState::kAbsent, ""};
      if (at) {
        auto state = compare(*at);
        if (!state) return state.error();
        part.state = *state;
        if (part.state == storage::PartState::kDifferent) part.difference = describe(*at);
      }
      parts.push_back(std::move(part));
      return Ok();
    };
    Status s = add(
        f.version + ".zip", *zip,
        [&](const auto& p) { return storage::local::CompareFile(p, f.zip); },
        [&](const auto& p) { return storage::local::DescribeZipDifference(p, f.sum); });
    if (s) {
      s = add(
          f.version + ".mod", *mod,
          [&](const auto& p) { return storage::local::CompareBytes(p, f.mod); },
          [&](const auto& p) {
            return storage::local::DescribeModDifference(p, f.path, f.version, f.gomod_sum);
          });
    }
    if (s) {
      s = add(
          f.version + ".info", *info,
          [&](const auto& p) { return storage::local::CompareBytes(p, f.info); },
          [&](const auto& p) { return storage::local::DescribeBytesDifference(p, f.info); });
    }
    if (!s) return s.error();
    auto decision = storage::Decide(mv, parts, /*resumable=*/true);
    if (auto nothing = storage::NothingToWrite(decision)) {
      if (nothing->outcome != PutOutcome::kUnchanged || f.sig.empty()) return *nothing;
      return CompareSignature(f);
    }
    return PutResult{PutOutcome::kPublished, "would complete an interrupted publish"};
  }

  Result<PutResult> CompareSignature(const storage::VersionFiles& f) {
    auto sig = real_.LocalFile(f.path, f.version, storage::VersionPart::kSig);
    if (!sig) return sig.error();
    if (!*sig) return PutResult{PutOutcome::kPublished, "would add its signature"};
    auto state = storage::local::CompareBytes(**sig, f.sig);
    if (!state) return state.error();
    if (*state == storage::PartState::kSame) return PutResult{PutOutcome::kUnchanged, ""};
    return PutResult{PutOutcome::kRefused,
                     "its stored signature differs (signed with another key?): " +
                         storage::local::DescribeBytesDifference(**sig, f.sig)};
  }

  storage::Backend& real_;
  sumdb::Log* log_;
};

}  // namespace

std::unique_ptr<storage::Backend> DryRunBackend(storage::Backend& real, sumdb::Log* log) {
  return std::make_unique<DryRun>(real, log);
}

Result<BackfillSummary> Backfill(git::Repository& repo, const std::string& import_path,
                                 const std::vector<storage::Backend*>& backends,
                                 const Options& options, const BackfillObserver& observer,
                                 BackfillMode mode) {
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
  // A dry run: every backend behind DryRunBackend, which also consults the log, so that
  // PublishTag itself appends and writes nothing.
  std::vector<std::unique_ptr<storage::Backend>> dry;
  std::vector<storage::Backend*> targets = backends;
  Options used = options;
  if (mode == BackfillMode::kDryRun) {
    targets.clear();
    for (storage::Backend* b : backends) {
      dry.push_back(DryRunBackend(*b, options.log));
      targets.push_back(dry.back().get());
    }
    used.log = nullptr;
  }
  if (observer.planned) observer.planned(tags.versions);
  for (std::size_t i = 0; i < tags.versions.size(); ++i) {
    const std::string& tag = tags.versions[i];
    if (observer.stop && observer.stop()) {
      summary.version_tags = i;
      summary.stopped = true;
      break;
    }
    if (observer.starting) observer.starting(i + 1, tags.versions.size(), tag);
    TagResult result = PublishTag(repo, import_path, tag, targets, used);
    if (result.kind == TagResult::kInvalid) summary.invalid.push_back(tag);
    if (result.kind == TagResult::kFailed) ++summary.tag_failures;
    for (const Report& r : result.reports) Count(r, summary.backends[r.backend]);
    if (observer.finished) observer.finished(tag, result);
  }
  return summary;
}

}  // namespace modpub::publish
