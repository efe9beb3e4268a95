#include "modpub/storage/backend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::storage {
namespace {

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// Present parts followed by missing ones only: what a crash between the steps leaves.
bool IsPrefix(const std::vector<bool>& present) {
  bool seen_absent = false;
  for (bool p : present) {
    if (!p) seen_absent = true;
    if (p && seen_absent) return false;
  }
  return true;
}

std::string DescribeGap(const std::vector<std::string>& names, const std::vector<bool>& present) {
  std::vector<std::string> have, missing;
  for (std::size_t i = 0; i < names.size(); ++i) (present[i] ? have : missing).push_back(names[i]);
  if (have.empty()) return "nothing stored";
  if (missing.empty()) return "all parts stored";
  return Join(have, ", ") + " present but " + Join(missing, ", ") + " missing";
}

}  // namespace

std::string_view OutcomeName(PutOutcome o) {
  switch (o) {
    case PutOutcome::kPublished:
      return "published";
    case PutOutcome::kUnchanged:
      return "unchanged";
    case PutOutcome::kRefused:
      return "refused";
  }
  throw std::logic_error("bad PutOutcome");
}

std::string_view StateName(VersionState s) {
  switch (s) {
    case VersionState::kComplete:
      return "complete";
    case VersionState::kIncomplete:
      return "incomplete";
    case VersionState::kDamaged:
      return "damaged";
  }
  throw std::logic_error("bad VersionState");
}

Status ValidateModuleVersion(std::string_view path, std::string_view version) {
  if (auto st = module::CheckPath(path); !st) return st;
  constexpr std::string_view kIncompatible = "+incompatible";
  std::string_view base = version;
  bool incompatible = base.ends_with(kIncompatible);
  if (incompatible) base.remove_suffix(kIncompatible.size());
  if (!semver::IsValid(base) || semver::Canonical(base) != base) {
    return Fail(std::string(path) + "@" + std::string(version) +
                ": not a canonical version (vMAJOR.MINOR.PATCH[-pre][+incompatible])");
  }
  if (incompatible) {
    std::string major = semver::Major(base);
    if (major == "v0" || major == "v1") {
      return Fail(std::string(path) + "@" + std::string(version) +
                  ": +incompatible is only for major versions 2 and above");
    }
  }
  return module::Check(path, version);
}

Decision Decide(std::string_view module_version, const std::vector<StoredPart>& parts,
                bool resumable) {
  std::vector<std::string> names, differences;
  std::vector<bool> present;
  for (const auto& p : parts) {
    names.push_back(p.name);
    present.push_back(p.state != PartState::kAbsent);
    if (p.state == PartState::kDifferent) differences.push_back(p.name + ": " + p.difference);
  }
  Decision d;
  if (!differences.empty()) {
    d.kind = Decision::kConflict;
    d.message = std::string(module_version) + " is already stored with different content (" +
                Join(differences, "; ") + "); nothing was written";
    return d;
  }
  std::size_t first_absent = 0;
  while (first_absent < parts.size() && present[first_absent]) ++first_absent;
  if (first_absent == parts.size()) {
    d.kind = Decision::kUnchanged;
    return d;
  }
  // A prefix starting at index 0 means nothing is stored: a fresh publish.
  if (IsPrefix(present) && (first_absent == 0 || resumable)) {
    d.kind = Decision::kWrite;
    d.first_absent = first_absent;
    if (first_absent > 0) {
      d.message =
          "completed an interrupted publish (" +
          Join({names.begin(), names.begin() + static_cast<std::ptrdiff_t>(first_absent)}, ", ") +
          " already stored)";
    }
    return d;
  }
  d.kind = Decision::kDamaged;
  d.message = std::string(module_version) + " is stored but damaged (" +
              DescribeGap(names, present) +
              "), which no interrupted publish leaves; not repaired: inspect the stored "
              "version and remove it by hand";
  return d;
}

std::optional<PutResult> NothingToWrite(const Decision& d) {
  switch (d.kind) {
    case Decision::kConflict:
    case Decision::kDamaged:
      return PutResult{PutOutcome::kRefused, d.message};
    case Decision::kUnchanged:
      return PutResult{PutOutcome::kUnchanged, ""};
    case Decision::kWrite:
      break;
  }
  return std::nullopt;
}

PutResult SignatureAdded(PutResult r) {
  if (r.outcome != PutOutcome::kUnchanged) return r;
  return PutResult{PutOutcome::kPublished, "added its signature"};
}

Result<PutResult> FinishPut(const VersionFiles& files, PutResult r, std::string_view sig_name,
                            const std::function<Result<SignatureWrite>()>& store) {
  if (r.outcome == PutOutcome::kRefused || files.sig.empty()) return r;
  auto sig = store();
  if (!sig) return sig.error();
  switch (sig->kind) {
    case SignatureWrite::kWritten:
      return SignatureAdded(r);
    case SignatureWrite::kAlreadyStored:
      return r;
    case SignatureWrite::kDifferent:
      break;
  }
  return PutResult{PutOutcome::kRefused,
                   files.path + "@" + files.version + ": its stored signature " +
                       std::string(sig_name) +
                       " differs from the new one (signed with another key?); kept, not "
                       "overwritten (" +
                       sig->difference + ")"};
}

StoredVersion Classify(std::string version, const std::vector<std::string>& part_names,
                       const std::vector<bool>& present, bool resumable) {
  if (part_names.size() != present.size()) throw std::logic_error("Classify: size mismatch");
  StoredVersion sv;
  sv.version = std::move(version);
  bool all = true;
  for (bool p : present) all = all && p;
  if (all) {
    sv.state = VersionState::kComplete;
    return sv;
  }
  sv.detail = DescribeGap(part_names, present);
  sv.state = resumable && IsPrefix(present) ? VersionState::kIncomplete : VersionState::kDamaged;
  return sv;
}

Result<std::optional<std::filesystem::path>> Backend::LocalFile(const std::string&,
                                                                const std::string&, VersionPart) {
  return Fail(Name() + ": this storage cannot be served from local files");
}

Status Backend::Probe(const std::string&) {
  return Fail(Name() + ": this storage cannot be probed for writing");
}

namespace {

// `s` as it can be printed in a message or a log line: printable ASCII as is, '"' and '\\'
// and every other byte (control characters, bytes that may not be UTF-8) as \xNN.
std::string Printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= ' ' && c <= '~' && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

VersionList ParseVersionList(std::string_view data, std::string_view path) {
  VersionList out;
  std::size_t start = 0;
  for (std::size_t number = 1; start < data.size(); ++number) {
    std::size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) nl = data.size();
    std::string line(data.substr(start, nl - start));
    start = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    Status valid = ValidateModuleVersion(path, line);
    if (valid) {
      out.versions.push_back(std::move(line));
      continue;
    }
    ListJunk j{number, Printable(line),
               "not a version of " + std::string(path) +
                   " (a list line must be exactly one canonical version, vMAJOR.MINOR.PATCH"
                   "[-pre][+incompatible], of the module's major version)"};
    spdlog::warn("{}: @v/list line {} \"{}\" dropped: {}", path, j.line, j.text, j.rule);
    out.junk.push_back(std::move(j));
  }
  return out;
}

StoredVersion JunkEntry(const ListJunk& junk) {
  StoredVersion sv;
  sv.version = "\"" + junk.text + "\"";
  sv.state = VersionState::kDamaged;
  sv.detail = "@v/list line " + std::to_string(junk.line) + ": " + junk.rule +
              "; go may take it for a version, and `go get M@latest` can fail; the next "
              "publish of a new version writes the list without it";
  return sv;
}

bool Listed(const std::vector<std::string>& versions, std::string_view version) {
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

std::string VersionListWith(std::vector<std::string> versions, std::string version) {
  versions.push_back(std::move(version));
  semver::Sort(versions);
  versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
  std::string text;
  for (const auto& v : versions) text += v + "\n";
  return text;
}

void SortBySemver(std::vector<StoredVersion>& versions) {
  std::stable_sort(versions.begin(), versions.end(),
                   [](const StoredVersion& a, const StoredVersion& b) {
                     return semver::Compare(a.version, b.version) < 0;
                   });
}

}  // namespace modpub::storage
