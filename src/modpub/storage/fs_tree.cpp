#include "modpub/storage/fs_tree.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <set>
#include <utility>

#include "modpub/fsio/atomic_file.hpp"
#include "modpub/fsio/env.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/local_part.hpp"
#include "modpub/storage/probe.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr char kLockName[] = ".modpub.lock";
constexpr std::size_t kMaxList = 64u << 20;
// The smallest zip file: an end-of-central-directory record alone.
constexpr std::uint64_t kMinZip = 22;

// Module `path`'s @v/list (ParseVersionList); empty when there is no list.
Result<VersionList> ReadList(const fs::path& list, const std::string& path) {
  auto exists = local::Exists(list);
  if (!exists) return exists.error();
  if (!*exists) return VersionList();
  auto data = local::ReadFile(list, kMaxList);
  if (!data) return data.error();
  return ParseVersionList(*data, path);
}

// The names of a version's parts in write order, for messages and Classify.
std::vector<std::string> PartNames(const std::string& ev) {
  return {ev + ".zip", ev + ".mod", ev + ".info", "list entry"};
}

// Which parts of a version are stored, and anything visibly wrong with the files present
// (a truncated zip, an empty .mod or .info, a directory in place of a file).
struct Presence {
  std::vector<bool> present;
  std::vector<std::string> problems;
};
Result<Presence> Examine(const fs::path& dir, const std::string& ev, bool listed) {
  Presence p;
  const std::pair<const char*, std::uint64_t> files[] = {
      {".zip", kMinZip}, {".mod", 1}, {".info", 1}};
  for (const auto& [ext, min_size] : files) {
    fs::path f = dir / (ev + ext);
    auto size = local::RegularFileSize(f);
    if (!size) return size.error();
    if (!*size) {
      auto exists = local::Exists(f);
      if (!exists) return exists.error();
      if (*exists) p.problems.push_back(ev + ext + " is not a regular file");
      p.present.push_back(*exists);
      continue;
    }
    p.present.push_back(true);
    if (**size < min_size) {
      p.problems.push_back(ev + ext + " is truncated (" + std::to_string(**size) + " bytes)");
    }
  }
  p.present.push_back(listed);
  return p;
}

}  // namespace

FsTree::FsTree(std::string url, fs::path root) : url_(std::move(url)), root_(std::move(root)) {
  if (!root_.is_absolute()) throw std::logic_error("FsTree root must be absolute");
}

Result<fs::path> FsTree::VersionDir(const std::string& path) const {
  auto escaped = module::EscapePath(path);
  if (!escaped) return escaped.error();
  return root_ / *escaped / "@v";
}

Result<FsTree::Files> FsTree::Locate(const std::string& path, const std::string& version) const {
  if (auto st = ValidateModuleVersion(path, version); !st) return st.error();
  auto dir = VersionDir(path);
  if (!dir) return dir.error();
  auto ev = module::EscapeVersion(version);
  if (!ev) return ev.error();
  Files f;
  f.dir = *dir;
  f.zip = *dir / (*ev + ".zip");
  f.mod = *dir / (*ev + ".mod");
  f.info = *dir / (*ev + ".info");
  f.list = *dir / "list";
  f.sig = *dir / (*ev + ".sig");
  f.escaped_version = *ev;
  return f;
}

Result<PutResult> FsTree::Put(const VersionFiles& f) {
  const std::string mv = f.path + "@" + f.version;
  auto loc = Locate(f.path, f.version);
  if (!loc) return loc.error();

  if (auto st = fsio::MakeDirs(loc->dir); !st) return st.error();
  auto lock = fsio::FileLock::Acquire(loc->dir / kLockName);
  if (!lock) return lock.error();
  if (auto st = fsio::RemoveStaleTemporaries(loc->dir); !st) return st.error();

  // Compare what is stored with what we would write (rule in backend.hpp).
  auto names = PartNames(loc->escaped_version);
  auto parts = local::CompareVersionFiles(f, loc->zip, loc->mod, loc->info, names);
  if (!parts) return parts.error();
  auto list = ReadList(loc->list, f.path);
  if (!list) return list.error();
  const std::vector<std::string>& versions = list->versions;
  parts->push_back(
      {names[3], Listed(versions, f.version) ? PartState::kSame : PartState::kAbsent, {}});

  const std::string sig_name = loc->sig.filename().string();
  auto store_sig = [&] { return local::PutSignature(loc->sig, f.sig, mv); };
  Decision d = Decide(mv, *parts, /*resumable=*/true);
  if (auto done = NothingToWrite(d)) return FinishPut(f, *done, sig_name, store_sig);

  // The missing files, in write order. A file that appears under its final name although
  // we hold the lock was written by something that ignores it: stop rather than guess.
  const std::pair<const fs::path*, std::function<Status(fsio::AtomicFile&)>> files[] = {
      {&loc->zip, [&](fsio::AtomicFile& t) { return t.AppendFile(f.zip); }},
      {&loc->mod, [&](fsio::AtomicFile& t) { return t.Append(f.mod); }},
      {&loc->info, [&](fsio::AtomicFile& t) { return t.Append(f.info); }},
  };
  for (std::size_t i = d.first_absent; i < std::size(files); ++i) {
    const fs::path& target = *files[i].first;
    auto committed = local::WriteNewFile(loc->dir, target, files[i].second);
    if (!committed) return committed.error();
    if (!*committed) {
      return Fail(target.string() + ": appeared while " + mv +
                  " was being published by this process, although it holds " + kLockName +
                  "; nothing was overwritten");
    }
  }
  // The list entry, last: the version is complete now.
  auto tmp = fsio::AtomicFile::Create(loc->dir);
  if (!tmp) return tmp.error();
  // Lines of the old list that were no versions are not written again.
  if (auto st = tmp->Append(VersionListWith(versions, f.version)); !st) return st.error();
  fsio::StepBoundary();
  if (auto st = tmp->CommitReplace(loc->list); !st) return st.error();
  return FinishPut(f, PutResult{PutOutcome::kPublished, d.message}, sig_name, store_sig);
}

Result<std::optional<fs::path>> FsTree::LocalFile(const std::string& path,
                                                  const std::string& version, VersionPart part) {
  auto loc = Locate(path, version);
  if (!loc) return loc.error();
  const fs::path& f = part == VersionPart::kInfo  ? loc->info
                      : part == VersionPart::kMod ? loc->mod
                      : part == VersionPart::kZip ? loc->zip
                                                  : loc->sig;
  auto size = local::RegularFileSize(f);
  if (!size) return size.error();
  if (!*size) return std::optional<fs::path>();
  return std::optional<fs::path>(f);
}

Result<std::optional<StoredVersion>> FsTree::Stat(const std::string& path,
                                                  const std::string& version) {
  auto loc = Locate(path, version);
  if (!loc) return loc.error();
  auto list = ReadList(loc->list, path);
  if (!list) return list.error();
  return StatListed(*loc, version, list->versions);
}

Result<std::optional<StoredVersion>> FsTree::StatListed(const Files& loc,
                                                        const std::string& version,
                                                        const std::vector<std::string>& listed) {
  auto p = Examine(loc.dir, loc.escaped_version, Listed(listed, version));
  if (!p) return p.error();
  if (std::none_of(p->present.begin(), p->present.end(), [](bool b) { return b; })) {
    return std::optional<StoredVersion>();
  }
  StoredVersion sv =
      Classify(version, PartNames(loc.escaped_version), p->present, /*resumable=*/true);
  if (!p->problems.empty()) {
    sv.state = VersionState::kDamaged;
    for (const auto& problem : p->problems) sv.detail += (sv.detail.empty() ? "" : "; ") + problem;
  }
  return std::optional<StoredVersion>(std::move(sv));
}

Result<std::vector<StoredVersion>> FsTree::ListVersions(const std::string& path) {
  if (auto st = module::CheckPath(path); !st) return st.error();
  auto dir = VersionDir(path);
  if (!dir) return dir.error();
  auto listed = ReadList(*dir / "list", path);
  if (!listed) return listed.error();
  std::set<std::string> candidates(listed->versions.begin(), listed->versions.end());
  std::error_code ec;
  if (fs::is_directory(*dir, ec)) {
    for (fs::directory_iterator it(*dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.starts_with(".")) continue;
      for (std::string_view ext : {".zip", ".mod", ".info"}) {
        if (!name.ends_with(ext)) continue;
        auto v = module::UnescapeVersion(name.substr(0, name.size() - ext.size()));
        if (v) candidates.insert(*v);
      }
    }
    if (ec) return Fail(dir->string() + ": " + ec.message());
  }
  std::vector<StoredVersion> out;
  for (const auto& v : candidates) {
    auto loc = Locate(path, v);
    if (!loc) continue;  // not something modpub stores
    auto sv = StatListed(*loc, v, listed->versions);
    if (!sv) return sv.error();
    if (*sv) out.push_back(std::move(**sv));
  }
  SortBySemver(out);
  for (const auto& j : listed->junk) out.push_back(JunkEntry(j));
  return out;
}

Result<std::vector<std::string>> FsTree::ListModules() {
  // <root>/<escaped module path>/@v/: a module is the parent of an @v directory.
  return local::FindModules(root_, [](const fs::path& rel, int) {
    if (rel.filename() != "@v") return std::string();
    auto path = module::UnescapePath(rel.parent_path().generic_string());
    return path ? *path : std::string();
  });
}

Status FsTree::Probe(const std::string& name) { return ProbeDirectory(url_, root_, name); }

}  // namespace modpub::storage
