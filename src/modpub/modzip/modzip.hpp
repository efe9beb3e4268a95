// Package modzip: from a version tag in a git repository to the module(s) the go command
// would download for it: the canonical zip, the .mod and .info files and their h1 hashes.
//
// Which modules a tag publishes follows the go command (cmd/go/internal/modfetch/
// coderepo.go, go 1.19):
//  * tag "<dir>/vX.Y.Z" serves the module in directory <dir> (tag prefix), tag "vX.Y.Z"
//    the repository root; the version must be canonical semver and not a pseudo-version.
//  * For X >= 2 the module path must end in "/vX": either <dir>/go.mod declares it, or
//    <dir>/vX/go.mod does (a major subdirectory); both at once is an error. With no go.mod
//    at the repository root and no vX/go.mod, the root module is served as
//    "vX.Y.Z+incompatible".
//  * The zip holds the files `git archive` yields for the module directory (git's export
//    filters from the tree's .gitattributes applied, export-ignore/export-subst not),
//    minus what x/mod's zip rules drop (see zipcheck); a subdirectory module without a
//    LICENSE gets the root LICENSE.
//  * .mod is the raw go.mod blob (or "module <path>\n" when there is none);
//    .info is {"Version":"…","Time":"<commit time, UTC, RFC 3339>"}.
// modpub is stricter than `go mod download` in one way: a go.mod whose module path is
// not the path the tag implies is refused, since no build could use it.
//
// Every problem found with a tag is reported, each naming the tag, the file and the rule.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/git/git.hpp"

namespace modpub::modzip {

// One module version that a tag publishes, before its zip is written.
struct ModuleVersion {
  std::string path;        // module path, e.g. "example.com/lib/v2"
  std::string version;     // e.g. "v2.1.0" or "v2.1.0+incompatible"
  std::string tag;         // the tag it came from, e.g. "sub/v2.1.0"
  std::string dir;         // module directory in the tree ("" = root)
  git::Oid commit;         // the tagged commit
  std::int64_t time = 0;   // commit time, seconds since the epoch (UTC)
  std::string mod;         // .mod contents (raw go.mod blob or synthesized)
  std::string go_version;  // the go.mod's go line ("1.24.0"), "" without one
  std::string info;        // .info contents
};

// Resolves `tag` in `repo` (whose root has import path `import_path`) to the module
// versions it publishes. Fails, listing every problem, when the tag names no version
// go could fetch. Does not read file contents beyond go.mod and LICENSE.
Result<std::vector<ModuleVersion>> Resolve(git::Repository& repo, const std::string& import_path,
                                           const std::string& tag);

// Resolve for a tag whose ref need not exist yet: `target` is the object the tag will name
// (a commit, or an annotated tag peeling to one). A pre-receive hook sees the pushed
// objects before any ref is updated. Same checks and messages as Resolve.
Result<std::vector<ModuleVersion>> ResolveAt(git::Repository& repo, const std::string& import_path,
                                             const std::string& tag, const git::Oid& target);

// Checks that `mv`'s tree can become a module zip (paths, case-fold collisions, sizes)
// without writing anything. Used by the pre-receive hook.
Status Check(git::Repository& repo, const ModuleVersion& mv);

// A module version with its zip written to local disk.
struct BuiltModule {
  ModuleVersion mv;
  std::filesystem::path zip;  // the canonical zip
  std::string sum;            // h1 of the zip contents
  std::string gomod_sum;      // h1 of the .mod
  std::string zip_sha256;     // SHA-256 of the zip file's bytes (hex), for S3's signed PUT
};

// Writes the canonical zip of `mv` to `zip_path` (atomically: temp file + rename),
// streaming blob by blob: libzip deflates one file at a time while, on a machine with a
// second core, a worker thread deflates the next files ahead within a fixed memory
// budget (16 MiB), so peak memory is about the largest file plus that budget. The bytes
// are the same either way. Fails, listing every problem, if the tree cannot be a
// module zip; nothing is left at `zip_path` then. The zip's SHA-256 is computed here, once,
// reading it back while it is still in the page cache (about 1.5 % of the build time):
// libzip rewrites each local header after the entry's data, so the bytes cannot be
// hashed as they are written.
// On failure, `*tree_invalid` (when given) says which kind: true when the tree cannot be a
// module zip (go could never fetch this version: a refusal for good), false when this
// machine could not write it (temporary space, libzip, a git object that could not be
// read: worth another attempt).
Result<BuiltModule> Build(git::Repository& repo, const ModuleVersion& mv,
                          const std::filesystem::path& zip_path, bool* tree_invalid = nullptr);

// Call before any zip_open that may run concurrently with another (Build does). libzip
// 1.7.3 (Debian 12) fills two function-local statics in zip_open_from_source on its first
// call, without a lock: a second thread opening an archive at that moment may read the
// second one still unset (all bits) and get a read-only archive ("Read-only archive" on its
// first add). modpubd's workers can open their first zips at the same instant (jobs
// waiting at start-up). A standalone probe (4 threads opening at once, 300 fresh
// processes) saw 6 read-only opens in 1,200 without this and none with it. The first call
// does one open under C++'s thread-safe static initialisation; later calls cost nothing.
// modpubd also calls it at start-up, before any thread: read-only opens elsewhere
// (storage's HashZip) could otherwise begin that set-up themselves.
void PrimeLibzip();

}  // namespace modpub::modzip
