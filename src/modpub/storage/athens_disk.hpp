// Athens's disk storage layout (URL athens-disk:///abs/dir), so that an Athens proxy with
// `StorageType = "disk"` and `RootPath = /abs/dir` serves what modpub published, also in
// strict network mode (no upstream):
//
//   <root>/<module path, not escaped>/<version>/go.mod
//   <root>/<module path, not escaped>/<version>/source.zip
//   <root>/<module path, not escaped>/<version>/<version>.info
//   <root>/.modpub-sig/<module path>/<version>.sig    optional detached signature
//
// Signatures live under their own prefix, never in the version directory (Athens serves
// a version only when its directory holds exactly the 3 files); ".modpub-sig" can be no
// module path (a module path's first element has no leading dot) and Athens's listers
// skip it as they skip modpub's temporaries.
// How Athens reads it (gomods/athens pkg/storage/fs): a version exists when its directory
// holds exactly 3 entries; a module's versions are the subdirectories of its directory,
// whatever their names and contents. So a version directory must never be seen partly
// filled, and nothing else may be a directory there: the three files are written (each
// fsynced) into a temporary directory <root>/.modpub-tmp-<module tag>-* in the root, which
// is then renamed to <root>/<path>/<version> in one step (no-replace) and the module
// directory fsynced. An interrupted publish leaves only that temporary directory, which
// Athens never serves (no module path starts with "."; its /catalog walk may list it
// while it exists) and the next writer of the same module removes; hence no partial
// version is ever resumable here (`resumable` = false in backend.hpp's rule): a version
// directory with some of the files missing, or with any other entry, was not left by
// modpub and is reported as damaged, never repaired.
// Writers of one module are serialized by an flock on <root>/<path>/.modpub.lock (a file,
// which Athens's lister skips).
// The module path is validated (module::CheckPath) before it becomes a directory name, so
// it cannot leave the root; it is used with its upper-case letters, as Athens does.
#pragma once

#include <filesystem>
#include <string>

#include "modpub/storage/backend.hpp"

namespace modpub::storage {

class AthensDisk : public Backend {
 public:
  // `root` must be absolute; it is created on the first Put if missing.
  AthensDisk(std::string url, std::filesystem::path root);

  const std::string& Name() const override { return url_; }
  Result<PutResult> Put(const VersionFiles& files) override;
  Result<std::optional<StoredVersion>> Stat(const std::string& path,
                                            const std::string& version) override;
  Result<std::vector<StoredVersion>> ListVersions(const std::string& path) override;
  Result<std::vector<std::string>> ListModules() override;
  Result<std::optional<std::filesystem::path>> LocalFile(const std::string& path,
                                                         const std::string& version,
                                                         VersionPart part) override;
  // <root>/.modpub-doctor/<name> (probe.hpp: ProbeDirectory).
  Status Probe(const std::string& name) override;

  // Is `name` a version directory name to Athens (semver.Canonical(name) is a prefix)?
  static bool IsVersionDirName(const std::string& name);

 private:
  std::string url_;
  std::filesystem::path root_;
};

}  // namespace modpub::storage
