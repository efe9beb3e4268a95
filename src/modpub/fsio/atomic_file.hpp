// Local-filesystem primitives: atomic file and directory creation, directory fsync, and an
// flock-based writer lock. Used by the disk backends (GOPROXY tree, Athens disk), the
// checksum database's log and the job spool; a concept of its own, below all of them, so
// that none depends on another for them.
//
// The contract every disk backend builds on:
//  * A file or directory appears under its final name only complete and durable: it is
//    written under a temporary name in a directory on the same filesystem, fsynced,
//    renamed, and the directory that received it is fsynced. A crash at any point leaves
//    either nothing or the complete object under the final name, plus perhaps a leftover
//    temporary (named kTempPrefix + random suffix).
//  * "No replace" commits use renameat2(RENAME_NOREPLACE) (link(2) where the filesystem
//    lacks it): the kernel refuses to replace an existing name, so a stored version can
//    never be overwritten, even by a writer that does not take our lock.
//  * Files are created with mode 0666 and directories 0777, minus the umask, like any
//    other file: a web server or an Athens running as another user can read them.
// Leftover temporaries may only be deleted by a writer holding the FileLock that every
// writer creating them holds (see RemoveStaleTemporaries). Temporaries may carry an owner
// tag in their name (kTempPrefix + tag + "-" + unique part) so that writers serialized by
// different locks can share one directory, each cleaning up only its own kind.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "modpub/base/result.hpp"

namespace modpub::fsio {

// Prefix of every temporary file or directory the disk backends create.
inline constexpr std::string_view kTempPrefix = ".modpub-tmp-";

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);
  // Closes the descriptor and reports a close error (NFS reports write errors there).
  Status Close(const std::filesystem::path& what);

 private:
  int fd_ = -1;
};

// An exclusive flock(2) on `path` (created if missing, never removed: removing it would
// let two writers lock two different inodes), held until the object is destroyed. The
// kernel drops it when the process dies, so a killed writer never blocks the next one.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::filesystem::path& path);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A regular file written under a temporary name in `dir`, then moved to its final name.
// Until a Commit succeeds, nothing under the final name has been created or changed; an
// object destroyed uncommitted removes its temporary file.
class AtomicFile {
 public:
  static Result<AtomicFile> Create(const std::filesystem::path& dir);
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  Status Append(std::string_view data);
  // Appends the whole contents of the local file `src`.
  Status AppendFile(const std::filesystem::path& src);

  // fsyncs and closes the file, renames it to `target` unless `target` exists, then
  // fsyncs target's directory. Returns false, leaving `target` untouched and removing the
  // temporary, when `target` already exists.
  Result<bool> CommitNoReplace(const std::filesystem::path& target);
  // Same, but atomically replaces an existing `target` (for files that are meant to
  // change, such as a GOPROXY list).
  Status CommitReplace(const std::filesystem::path& target);

  const std::filesystem::path& temp_path() const { return path_; }

 private:
  AtomicFile(UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  Status SyncAndClose();

  UniqueFd fd_;
  std::filesystem::path path_;  // empty once committed or removed
};

// A directory created under a temporary name in `parent` (tagged with `tag`, see above),
// filled, then renamed to its final name in one step, which may be in another directory of
// the same filesystem. The same promises as AtomicFile, for a directory.
class AtomicDir {
 public:
  static Result<AtomicDir> Create(const std::filesystem::path& parent, std::string_view tag = {});
  AtomicDir(AtomicDir&&) noexcept;
  AtomicDir& operator=(AtomicDir&&) = delete;
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;
  ~AtomicDir();

  const std::filesystem::path& path() const { return path_; }
  // Renames the directory to `target` unless `target` exists (a non-empty directory, a
  // file, or even an empty directory), then fsyncs target's parent. The caller must have
  // committed (or fsynced) every file inside it and fsynced it. False when `target` exists.
  Result<bool> CommitNoReplace(const std::filesystem::path& target);

 private:
  explicit AtomicDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;  // empty once committed or removed
};

// fsyncs a directory, making the entries created, renamed or removed in it durable.
Status SyncDir(const std::filesystem::path& dir);

// Creates directory `dir` and every missing ancestor, fsyncing the parent of each one
// created so that the new entries survive a crash.
Status MakeDirs(const std::filesystem::path& dir);

// Removes every entry of `dir` that is a temporary with owner tag `tag` (any untagged or
// tagged temporary when `tag` is empty): the leftovers of writers that crashed. Only safe
// while holding the FileLock that every writer creating such temporaries holds.
Status RemoveStaleTemporaries(const std::filesystem::path& dir, std::string_view tag = {});

}  // namespace modpub::fsio
