#include "modpub/storage/athens_disk.hpp"

#include <algorithm>
#include <functional>
#include <iterator>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/local_part.hpp"
#include "modpub/storage/probe.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr char kLockName[] = ".modpub.lock";
constexpr std::uint64_t kMinZip = 22;  // an end-of-central-directory record alone

// The owner tag of a module's temporary directories in the root: writers of different
// modules hold different locks, so each removes only the leftovers of its own module.
std::string TempTag(const std::string& module_path) {
  return dirhash::Hex(dirhash::Sha256::Of(module_path)).substr(0, 16);
}

// Where the detached signature of path@version lives: outside every version directory.
fs::path SigPath(const fs::path& root, const std::string& path, const std::string& version) {
  return root / ".modpub-sig" / path / (version + ".sig");
}

// The three file names Athens expects, in write order.
std::vector<std::string> PartNames(const std::string& version) {
  return {"source.zip", "go.mod", version + ".info"};
}

// What a version directory holds: which parts; what makes Athens treat it as absent or
// unservable (`structural`: other entries, no directory, an empty directory); and parts
// visibly broken (`broken`: truncated, not a regular file), which Put finds by comparison.
struct Presence {
  bool exists = false;
  std::vector<bool> present;
  std::vector<std::string> structural;
  std::vector<std::string> broken;
};
Result<Presence> Examine(const fs::path& vdir, const std::string& version) {
  Presence p;
  auto names = PartNames(version);
  p.present.assign(names.size(), false);
  auto exists = local::Exists(vdir);
  if (!exists) return exists.error();
  if (!*exists) return p;
  p.exists = true;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(vdir, ec))) {
    p.structural.push_back(vdir.filename().string() + " is not a directory");
    return p;
  }
  for (fs::directory_iterator it(vdir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    auto at = std::find(names.begin(), names.end(), name);
    if (at == names.end()) {
      p.structural.push_back("unexpected entry " + name +
                             " (Athens serves a version only when its directory holds exactly " +
                             names[0] + ", " + names[1] + " and " + names[2] + ")");
      continue;
    }
    auto i = static_cast<std::size_t>(at - names.begin());
    p.present[i] = true;
    auto size = local::RegularFileSize(it->path());
    if (!size) return size.error();
    std::uint64_t min_size = i == 0 ? kMinZip : 1;
    if (!*size) {
      p.broken.push_back(name + " is not a regular file");
    } else if (**size < min_size) {
      p.broken.push_back(name + " is truncated (" + std::to_string(**size) + " bytes)");
    }
  }
  if (ec) return Fail(vdir.string() + ": " + ec.message());
  if (std::none_of(p.present.begin(), p.present.end(), [](bool b) { return b; }) &&
      p.structural.empty()) {
    p.structural.push_back(
        "empty version directory (Athens lists the version but cannot serve it)");
  }
  return p;
}

std::string JoinProblems(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::string out;
  for (const auto* v : {&a, &b}) {
    for (const auto& s : *v) out += (out.empty() ? "" : "; ") + s;
  }
  return out;
}

StoredVersion ToStored(const std::string& version, const Presence& p) {
  StoredVersion sv = Classify(version, PartNames(version), p.present, /*resumable=*/false);
  std::string problems = JoinProblems(p.structural, p.broken);
  if (!problems.empty()) {
    sv.state = VersionState::kDamaged;
    sv.detail =
        sv.detail == "nothing stored" || sv.detail.empty() ? problems : sv.detail + "; " + problems;
  }
  return sv;
}

}  // namespace

AthensDisk::AthensDisk(std::string url, fs::path root)
    : url_(std::move(url)), root_(std::move(root)) {
  if (!root_.is_absolute()) throw std::logic_error("AthensDisk root must be absolute");
}

bool AthensDisk::IsVersionDirName(const std::string& name) {
  std::string canon = semver::Canonical(name);
  return !canon.empty() && name.starts_with(canon);
}

Result<PutResult> AthensDisk::Put(const VersionFiles& f) {
  const std::string mv = f.path + "@" + f.version;
  if (auto st = ValidateModuleVersion(f.path, f.version); !st) return st.error();
  const fs::path mdir = root_ / f.path;
  const fs::path vdir = mdir / f.version;
  const auto names = PartNames(f.version);

  if (auto st = fsio::MakeDirs(mdir); !st) return st.error();
  auto lock = fsio::FileLock::Acquire(mdir / kLockName);
  if (!lock) return lock.error();
  const std::string tag = TempTag(f.path);
  if (auto st = fsio::RemoveStaleTemporaries(root_, tag); !st) return st.error();

  auto presence = Examine(vdir, f.version);
  if (!presence) return presence.error();
  if (!presence->structural.empty()) {
    return PutResult{PutOutcome::kRefused,
                     mv + " is stored but damaged (" + JoinProblems(presence->structural, {}) +
                         "); not repaired: inspect the stored version and remove it by hand"};
  }
  auto parts =
      local::CompareVersionFiles(f, vdir / names[0], vdir / names[1], vdir / names[2], names);
  if (!parts) return parts.error();
  // The optional signature, once the version is complete (backend.hpp, athens_disk.hpp).
  const fs::path sig = SigPath(root_, f.path, f.version);
  auto store_sig = [&] { return local::PutSignature(sig, f.sig, mv); };
  Decision d = Decide(mv, *parts, /*resumable=*/false);
  if (auto done = NothingToWrite(d)) return FinishPut(f, *done, sig.filename().string(), store_sig);
  if (d.first_absent != 0) throw std::logic_error("AthensDisk: partial write decided");

  // Fill a temporary directory in the root, then rename it into place. Not in the module
  // directory: Athens lists every subdirectory there as a version.
  auto tmp = fsio::AtomicDir::Create(root_, tag);
  if (!tmp) return tmp.error();
  const std::function<Status(fsio::AtomicFile&)> fills[] = {
      [&](fsio::AtomicFile& t) { return t.AppendFile(f.zip); },
      [&](fsio::AtomicFile& t) { return t.Append(f.mod); },
      [&](fsio::AtomicFile& t) { return t.Append(f.info); },
  };
  for (std::size_t i = 0; i < std::size(fills); ++i) {
    auto committed = local::WriteNewFile(tmp->path(), tmp->path() / names[i], fills[i]);
    if (!committed) return committed.error();
    if (!*committed) throw std::logic_error("AthensDisk: name taken in a private directory");
  }
  auto committed = tmp->CommitNoReplace(vdir);
  if (!committed) return committed.error();
  if (!*committed) {
    return Fail(vdir.string() + ": appeared while " + mv +
                " was being published by this process, although it holds " + kLockName +
                "; nothing was overwritten");
  }
  return FinishPut(f, PutResult{PutOutcome::kPublished, ""}, sig.filename().string(), store_sig);
}

Result<std::optional<fs::path>> AthensDisk::LocalFile(const std::string& path,
                                                      const std::string& version,
                                                      VersionPart part) {
  if (auto st = ValidateModuleVersion(path, version); !st) return st.error();
  if (part == VersionPart::kSig) {
    fs::path sig = SigPath(root_, path, version);
    auto size = local::RegularFileSize(sig);
    if (!size) return size.error();
    return *size ? std::optional<fs::path>(sig) : std::optional<fs::path>();
  }
  auto sv = Stat(path, version);  // only a complete version is served, as Athens does
  if (!sv) return sv.error();
  if (!*sv || (*sv)->state != VersionState::kComplete) return std::optional<fs::path>();
  const auto names = PartNames(version);
  const std::string& name = part == VersionPart::kZip   ? names[0]
                            : part == VersionPart::kMod ? names[1]
                                                        : names[2];
  return std::optional<fs::path>(root_ / path / version / name);
}

Result<std::optional<StoredVersion>> AthensDisk::Stat(const std::string& path,
                                                      const std::string& version) {
  if (auto st = ValidateModuleVersion(path, version); !st) return st.error();
  auto p = Examine(root_ / path / version, version);
  if (!p) return p.error();
  if (!p->exists) return std::optional<StoredVersion>();
  return std::optional<StoredVersion>(ToStored(version, *p));
}

Result<std::vector<StoredVersion>> AthensDisk::ListVersions(const std::string& path) {
  if (auto st = module::CheckPath(path); !st) return st.error();
  const fs::path mdir = root_ / path;
  std::vector<StoredVersion> out;
  std::error_code ec;
  if (!fs::is_directory(mdir, ec)) return out;
  std::vector<std::string> versions;
  for (fs::directory_iterator it(mdir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsVersionDirName(name) && it->is_directory(ec)) versions.push_back(name);
  }
  if (ec) return Fail(mdir.string() + ": " + ec.message());
  for (const auto& v : versions) {
    auto p = Examine(mdir / v, v);
    if (!p) return p.error();
    out.push_back(ToStored(v, *p));
  }
  SortBySemver(out);
  return out;
}

Result<std::vector<std::string>> AthensDisk::ListModules() {
  // <root>/<module path>/<version>/: a module is the parent of a version directory.
  return local::FindModules(root_, [](const fs::path& rel, int depth) {
    if (depth == 0 || !IsVersionDirName(rel.filename().string())) return std::string();
    std::string path = rel.parent_path().generic_string();
    return module::CheckPath(path) ? path : std::string();
  });
}

Status AthensDisk::Probe(const std::string& name) { return ProbeDirectory(url_, root_, name); }

}  // namespace modpub::storage
