// Package storage: proxy storage that module versions are published into.
//
// A Backend stores module versions in some layout a Go module proxy serves: a GOPROXY
// tree on disk (fs_tree.hpp), Athens's disk layout (athens_disk.hpp), or either layout in
// an S3 bucket (s3.hpp). OpenBackend (open.hpp) picks one by URL.
//
// A stored module version consists of "parts", written in a fixed order that makes the
// version visible to readers only when it is complete: zip, then .mod, then .info (then,
// in layouts that have one, the entry in the module's version list). Go clients fetch
// .info first, so a reader never sees a version whose other files are missing.
//
// Immutability and recovery: the rule every backend applies in Put, the same for all
// (Decide below). Each part already stored is compared byte for byte with what this
// publish would write, and is absent, the same, or different. Then:
//  1. If any part is different (other content, a truncated or damaged file): REFUSED
//     as a conflict. Nothing is written; the message names each differing part with both
//     hashes (h1 for zip and go.mod, as go.sum records them; sha256 otherwise).
//  2. Else, if every part is present: UNCHANGED (publishing again is a no-op).
//  3. Else, if the parts present are a prefix of the write order (e.g. zip and .mod, no
//     .info, not listed): the trace of an interrupted publish of this very content. The
//     remaining parts are written: PUBLISHED, noting that an interrupted publish was
//     completed. A backend whose writes leave no partial state (Athens disk renames a
//     whole directory into place) does not allow this case: see `resumable`.
//  4. Else (a part missing before a present one, e.g. listed but no zip; or, for Athens,
//     an unexpected extra file): REFUSED as damaged. Something other than a modpub crash
//     did this: it is reported, not repaired; an operator must inspect and remove it.
// Nothing stored is ever overwritten or removed by Put (except modpub's own leftover
// temporaries). Concurrent Puts of one module are serialized by the disk backends (a lock
// file); S3 has no locks, so there every write is conditional instead (s3.hpp).
//
// Signatures (optional): a version may carry a detached signature (VersionFiles::sig, a
// signed note over its go.sum lines, see modpub::sign). It is not one of the parts above
// (Athens would not serve a version directory with a 4th file; older versions have none):
// it is stored once the version is complete (under the same lock on disk, create-only on
// S3), atomically and never overwritten: absent -> written (outcome published, noted),
// same -> nothing, different -> REFUSED (kept; e.g. signed with another key). A Put
// without a signature ignores it. Every backend ends its Put with FinishPut (below).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::storage {

// One module version to store: what `modzip::Build` produced.
struct VersionFiles {
  std::string path;           // module path, e.g. "example.com/lib/v2"
  std::string version;        // canonical version, e.g. "v2.1.0" or "v2.0.0+incompatible"
  std::string info;           // .info bytes
  std::string mod;            // .mod bytes
  std::filesystem::path zip;  // the module zip, a local file
  std::string sum;            // h1 of the zip (for messages)
  std::string gomod_sum;      // h1 of .mod (for messages)
  std::string sig = {};       // detached signature note; empty: none (see above). The
                              // initializer keeps 7-field aggregate inits warning-free.
  // SHA-256 of the zip file's bytes, lower-case hex, as modzip::Build computed it; empty:
  // unknown, a backend that needs it (S3 signs it) reads the zip to learn it.
  std::string zip_sha256 = {};
};

// The files of a stored version a proxy serves (Backend::LocalFile).
enum class VersionPart { kInfo, kMod, kZip, kSig };

enum class PutOutcome { kPublished, kUnchanged, kRefused };
std::string_view OutcomeName(PutOutcome o);  // "published", "unchanged", "refused"

struct PutResult {
  PutOutcome outcome = PutOutcome::kPublished;
  // Refused: why (conflict or damage, with hashes). Published: "" or a note such as
  // "completed an interrupted publish".
  std::string message;
};

// A stored version as found, without anything to compare it with.
enum class VersionState {
  kComplete,    // every part present: served to clients
  kIncomplete,  // a prefix of the parts: an interrupted publish, completed by re-running it
  kDamaged,     // any other state: reported, never repaired by Put; also a line of a
                // module's version list that is no version (ListJunk below), which the
                // next Put of a new version drops when it writes the list again
};
std::string_view StateName(VersionState s);  // "complete", "incomplete", "damaged"

struct StoredVersion {
  std::string version;
  VersionState state = VersionState::kComplete;
  std::string detail;  // for incomplete/damaged: which parts are missing or unexpected
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The URL the backend was opened with, e.g. "file:///srv/goproxy".
  virtual const std::string& Name() const = 0;

  // Stores one module version under the rule above. An Error means the backend could not
  // be read or written (I/O error, full disk, permissions, invalid module path or version);
  // the version is then in some state a later Put completes or reports.
  virtual Result<PutResult> Put(const VersionFiles& files) = 0;

  // The state of `path`@`version`, or nullopt when no part of it is stored.
  virtual Result<std::optional<StoredVersion>> Stat(const std::string& path,
                                                    const std::string& version) = 0;
  // Every version of `path` of which any part is stored, in semver order; then, damaged,
  // each line of its version list that is no version (JunkEntry), in file order.
  virtual Result<std::vector<StoredVersion>> ListVersions(const std::string& path) = 0;
  // Every module path with at least one version directory or file, sorted.
  virtual Result<std::vector<std::string>> ListModules() = 0;

  // Serving: the local file holding `part` of `path`@`version`, or nullopt when that file
  // is absent (or, in layouts that serve only complete versions such as Athens's, when the
  // version is not complete). Fails for an invalid path or version, and for backends that
  // are not on local disk (the default).
  virtual Result<std::optional<std::filesystem::path>> LocalFile(const std::string& path,
                                                                 const std::string& version,
                                                                 VersionPart part);

  // Checks that the storage takes a write, gives it back and lets it go (`modpub doctor`):
  // creates the object `.modpub-doctor/<name>` below the storage's root (no module's
  // file: a module path never starts with "."), reads it back, compares, and deletes it.
  // Whatever the probe created (the object, and on disk the directories it needed) is
  // removed again even when a step fails; a failure to remove it is the probe's failure,
  // naming what was left. `name` is one element of [A-Za-z0-9._-] that no concurrent
  // probe uses (ProbeName). The default fails: the storage cannot be probed.
  virtual Status Probe(const std::string& name);
};

// A probe name unique to this process and call: "<host>-<pid>-<random hex>".
std::string ProbeName();

// Fails unless `path` is a valid module path and `version` a canonical version for it
// (vX.Y.Z[-pre], or vX.Y.Z[-pre]+incompatible): what a backend may turn into file names.
// This is what keeps "../" and absolute paths out of the storage root.
Status ValidateModuleVersion(std::string_view path, std::string_view version);

// A line of a module's `@v/list` that is not a version modpub stores.
struct ListJunk {
  std::size_t line = 0;  // 1-based
  std::string text;      // the line, printable: '"', '\\' and bytes outside ' '..'~' escaped
  std::string rule;      // why it is no version, for the user
};
// A GOPROXY `@v/list` as read (the file on disk and the S3 object alike).
struct VersionList {
  std::vector<std::string> versions;  // file order
  std::vector<ListJunk> junk;         // lines dropped, file order
};
// The list of module `path`: one version per line, trailing spaces and CRs dropped, empty
// lines skipped. A line is kept only when it is exactly a version ValidateModuleVersion
// accepts for `path` (canonical, of the path's major version): what Put writes. Any other
// line ("v9.9.9 junk", "v1.0", "v1.0.0+meta", "v2.0.0" in a v1 module, "../x", bytes that
// are not UTF-8) is dropped and logged as a warning naming the module and the line. Why
// not keep them: go (1.19 and 1.26 alike) takes the first word of every line that is
// valid semver as a version, so such a line can become the module's @latest that no file
// backs, and `go list -m M@latest` then fails for everyone.
VersionList ParseVersionList(std::string_view data, std::string_view path);
// How ListVersions reports a dropped line: a damaged entry whose version is the line
// (quoted) and whose detail names the line and the rule.
StoredVersion JunkEntry(const ListJunk& junk);
// Is `version` one of `versions` (the entries of an `@v/list`)?
bool Listed(const std::vector<std::string>& versions, std::string_view version);
// The `@v/list` text once `version` is added to `versions` (parsed by ParseVersionList, so
// free of junk): semver order, each version once, one per line. Shared by the layouts with a list
// (on disk and on S3): they write the same bytes for the same versions.
std::string VersionListWith(std::vector<std::string> versions, std::string version);

// The immutability rule, shared by every backend.
enum class PartState { kAbsent, kSame, kDifferent };
struct StoredPart {
  std::string name;  // as the user should read it: "v1.0.0.zip", "list entry"
  PartState state = PartState::kAbsent;
  std::string difference;  // for kDifferent: "stored h1:…, new h1:…"
};
struct Decision {
  enum Kind { kWrite, kUnchanged, kConflict, kDamaged } kind = kWrite;
  std::size_t first_absent = 0;  // kWrite: index of the first part to write
  std::string message;           // kConflict, kDamaged: for the user; kWrite: a note
};
// `parts` in write order. `resumable`: may a prefix be completed (rule 3)? If not, a
// partial state is damage.
Decision Decide(std::string_view module_version, const std::vector<StoredPart>& parts,
                bool resumable);
// A Put that has nothing to write ends here: kConflict and kDamaged -> refused with the
// decision's message, kUnchanged -> unchanged. std::nullopt for kWrite.
std::optional<PutResult> NothingToWrite(const Decision& d);
// After a signature was stored for a version: an unchanged version becomes "published",
// noting that its signature was added (other outcomes are returned as they are).
PutResult SignatureAdded(PutResult r);

// Orders versions as `go list -m -versions` does (semver; ties keep their order).
void SortBySemver(std::vector<StoredVersion>& versions);

// What storing a version's detached signature found ("Signatures" above).
struct SignatureWrite {
  enum Kind { kWritten, kAlreadyStored, kDifferent } kind = kWritten;
  std::string difference;  // kDifferent: "stored …, new …" (the stored signature is kept)
};
// How every Put ends once the version is complete, or was refused: a refusal, or a Put
// without a signature (files.sig empty), is returned as it is; otherwise `store` stores the
// signature, and a different stored one (named `sig_name`, e.g. "v1.0.0.sig") refuses the
// Put, while a new one makes it "published" (SignatureAdded). Shared so that every backend
// words and decides this alike; only how a signature is stored differs between them.
Result<PutResult> FinishPut(const VersionFiles& files, PutResult r, std::string_view sig_name,
                            const std::function<Result<SignatureWrite>()>& store);

// The state of a version from the presence of its parts alone (parts in write order):
// all present = complete, a prefix = incomplete (if `resumable`), otherwise damaged.
StoredVersion Classify(std::string version, const std::vector<std::string>& part_names,
                       const std::vector<bool>& present, bool resumable);

}  // namespace modpub::storage
