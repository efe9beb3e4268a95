// A GOPROXY tree on local disk (URL file:///abs/dir), which `GOPROXY=file:///abs/dir` and
// a plain static web server (examples/nginx/) serve as is:
//
//   <root>/<escaped module path>/@v/list              one version per line, semver order
//   <root>/<escaped module path>/@v/<escaped v>.zip
//   <root>/<escaped module path>/@v/<escaped v>.mod
//   <root>/<escaped module path>/@v/<escaped v>.info
//   <root>/<escaped module path>/@v/<escaped v>.sig   optional detached signature
//
// Paths and versions are "!"-escaped (module::EscapePath/EscapeVersion) exactly as the go
// command requests them; a module path is validated before it becomes a file name, so no
// path can leave the root.
//
// Writes (see backend.hpp for the immutability rule): the parts are zip, .mod, .info, list
// entry, in that order, each one atomic (fsio/atomic_file.hpp), committed with a no-replace
// rename. Writers of one module are serialized by an flock on @v/.modpub.lock, held from
// the first comparison to the list update, so `list` stays sorted and free of duplicates.
// Temporaries live in @v/ as .modpub-tmp-*; a writer holding the lock removes those left
// by crashed writers. An interrupted publish is resumable: zip, or zip and .mod, or all
// three files without a list entry are completed by publishing the same content again.
// Go fetches .info first, so a version is visible by explicit version once its .info is
// stored, and listed (for `go list -m -versions` and @latest queries) only after that.
// A list line that is no version (ParseVersionList, backend.hpp) is dropped when read,
// reported as damage by ListVersions, and not written again by the next Put that adds a
// version to the list.
// Deadline (deadline.hpp): not enforced here; a hung filesystem blocks the caller, so
// OpenBackend wraps this backend in Bounded (bounded.hpp).
#pragma once

#include <filesystem>
#include <string>

#include "modpub/storage/backend.hpp"

namespace modpub::storage {

class FsTree : public Backend {
 public:
  // `root` must be absolute; it is created on the first Put if missing.
  FsTree(std::string url, std::filesystem::path root);

  // Where the files of `path`@`version` are (or would be) stored: the one place that
  // knows the layout. Fails unless ValidateModuleVersion accepts path and version.
  struct Files {
    std::filesystem::path dir;  // <root>/<escaped path>/@v
    std::filesystem::path zip, mod, info, list;
    std::filesystem::path sig;  // <root>/<escaped path>/@v/<escaped v>.sig (optional)
    std::string escaped_version;
  };
  Result<Files> Locate(const std::string& path, const std::string& version) const;

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

 private:
  // <root>/<escaped path>/@v, for a valid module path.
  Result<std::filesystem::path> VersionDir(const std::string& path) const;
  // Stat, given the versions of the module's list (read once by ListVersions).
  Result<std::optional<StoredVersion>> StatListed(const Files& loc, const std::string& version,
                                                  const std::vector<std::string>& listed);

  std::string url_;
  std::filesystem::path root_;
};

}  // namespace modpub::storage
