// Package git: the few things modpub needs from a git repository, as RAII wrappers over
// libgit2. Every libgit2 handle is owned by exactly one C++ object and freed with it.
//
// Reading follows what the go command sees when it fetches a module from git:
//  * ReadFile is `git cat-file blob <rev>:<path>`: the raw blob bytes of a regular file
//    or a symlink (its target text); a tree or a gitlink is "not found".
//  * FilteredBlob is the file as `git archive` writes it, with the export conversions of
//    the tagged commit's own .gitattributes applied in git's order -- ident, end of line,
//    working-tree-encoding -- and nothing from the system, global or repository
//    configuration: the go command archives from a cache repository of its own with
//    `-c core.autocrlf=input -c core.eol=lf`. libgit2's crlf filter does the end-of-line
//    step; ident and working-tree-encoding are git's own (convert.hpp), since libgit2
//    expands only the first $Id$ and ignores working-tree-encoding.
//    Only the tagged commit's own .gitattributes count. libgit2 would also read the
//    repository's `$GIT_DIR/info/attributes`, its index and (non-bare) its work tree; the
//    go command never sees any of these (it fetches into a cache repository whose
//    info/attributes holds only `* -export-subst -export-ignore`), so a server-side
//    `info/attributes` with, say, `*.go text eol=crlf` would change modpub's zip and not
//    go's: different hashes. Attribute and filter lookups therefore run on a second
//    libgit2 repository wrapping the same object database (git_repository_wrap_odb):
//    no gitdir (so no info/attributes), no work tree, an empty in-memory index and an
//    empty configuration. That also spares the several stat() calls per file libgit2
//    makes on info/attributes, and makes a further shortcut exact: a file none of whose
//    directories (root included) holds a .gitattributes entry has no attributes at all,
//    so its blob is read raw without asking libgit2.
// Repositories opened with OpenFromEnv honour GIT_DIR, GIT_OBJECT_DIRECTORY and
// GIT_ALTERNATE_OBJECT_DIRECTORIES, so a pre-receive hook sees the quarantined objects
// (the attribute repository shares that object database, quarantine included).
#pragma once

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::git {

// Owns a libgit2 object of type T, freed with Free.
template <class T, void (*Free)(T*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T* p) : p_(p) {}
  Handle(Handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  T* get() const { return p_; }
  T** out() {
    reset();
    return &p_;
  }
  explicit operator bool() const { return p_ != nullptr; }
  void reset() {
    if (p_) Free(p_);
    p_ = nullptr;
  }

 private:
  T* p_ = nullptr;
};

using RepoHandle = Handle<git_repository, git_repository_free>;
using ObjectHandle = Handle<git_object, git_object_free>;
using CommitHandle = Handle<git_commit, git_commit_free>;
using TreeHandle = Handle<git_tree, git_tree_free>;
using TreeEntryHandle = Handle<git_tree_entry, git_tree_entry_free>;
using BlobHandle = Handle<git_blob, git_blob_free>;
using ReferenceHandle = Handle<git_reference, git_reference_free>;
using OdbHandle = Handle<git_odb, git_odb_free>;
using OdbObjectHandle = Handle<git_odb_object, git_odb_object_free>;
using ConfigHandle = Handle<git_config, git_config_free>;
using FilterListHandle = Handle<git_filter_list, git_filter_list_free>;
using IndexHandle = Handle<git_index, git_index_free>;

// Frees a git_buf's memory on scope exit.
class Buf {
 public:
  Buf() = default;
  ~Buf() { git_buf_dispose(&buf_); }
  Buf(Buf&& o) noexcept : buf_(o.buf_) { o.buf_ = GIT_BUF_INIT; }
  Buf& operator=(Buf&&) = delete;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  git_buf* get() { return &buf_; }
  std::string_view view() const { return {buf_.ptr ? buf_.ptr : "", buf_.size}; }

 private:
  git_buf buf_ = GIT_BUF_INIT;
};

struct Oid {
  git_oid raw{};
  std::string Hex() const;
  bool operator==(const Oid& o) const { return git_oid_equal(&raw, &o.raw) != 0; }
};

enum class EntryKind { kBlob, kExecutable, kSymlink, kGitlink, kTree };

struct Entry {
  std::string path;  // full slash-separated path from the repository root
  EntryKind kind;
  Oid oid;
};

// The commit a tag names, after peeling annotated tags.
struct TaggedCommit {
  Oid commit;
  Oid tree;
  std::int64_t time = 0;  // committer time, seconds since the epoch
};

// A blob's content as `git archive` writes it. Either borrowed from the loaded blob
// (no conversion applies) or owned (converted), never copied needlessly.
class FilteredBlob {
 public:
  std::string_view data() const;

 private:
  friend class Repository;
  BlobHandle blob_;
  Buf filtered_;           // libgit2's end-of-line conversion
  std::string converted_;  // ident / working-tree-encoding
  enum class Stage { kRaw, kFiltered, kConverted } stage_ = Stage::kRaw;
};

class Repository {
 public:
  // Opens a bare or non-bare repository at `path` (no discovery upwards).
  static Result<Repository> Open(const std::filesystem::path& path);
  // Opens the repository described by the environment (inside git hooks).
  static Result<Repository> OpenFromEnv();

  // The same repository opened again, the same way (path or environment), as a handle of
  // its own: libgit2 objects may be used by one thread at a time, so a second thread
  // reads through its own Repository.
  Result<Repository> Reopen() const;

  git_repository* raw() const { return repo_.get(); }
  std::filesystem::path GitDir() const;

  // Names of all tags ("v1.0.0", "sub/v1.2.3"), sorted.
  Result<std::vector<std::string>> TagNames();
  // Resolves tag `name` (without "refs/tags/") to its commit. Fails when the tag does not
  // exist or points (possibly through annotated tags) at a tree or a blob.
  Result<TaggedCommit> ResolveTag(std::string_view name);
  // Resolves an object id that must be (or peel to) a commit.
  Result<TaggedCommit> ResolveCommit(const Oid& id, std::string_view what);

  // `git cat-file blob <commit>:<path>`: nullopt when there is no blob at that path.
  Result<std::optional<std::string>> ReadFile(const Oid& tree, std::string_view path);
  // The entry at `path` in `tree`, or nullopt.
  Result<std::optional<Entry>> EntryAt(const Oid& tree, std::string_view path);
  // Every entry (files, symlinks, gitlinks; not trees) below `dir` ("" = whole tree), in
  // git's tree order, recursively. Entry paths are full paths from the root.
  Result<std::vector<Entry>> ListFiles(const Oid& tree, std::string_view dir);

  // The size of a blob without loading it.
  Result<std::uint64_t> BlobSize(const Oid& blob);
  // May an export conversion change the file at `path` of `commit`? (Attributes only: a
  // text=auto file may still come out unchanged.) Fails where `git archive` would.
  Result<bool> HasFilter(std::string_view path, const Oid& commit);
  // The blob as `git archive` of `commit` writes it at `path`.
  Result<FilteredBlob> ReadFiltered(const Oid& blob, std::string_view path, const Oid& commit);

 private:
  Repository(RepoHandle repo, RepoHandle attrs)
      : repo_(std::move(repo)), attrs_(std::move(attrs)) {}
  static Result<Repository> Wrap(RepoHandle repo);
  // May `path` of `commit` have any attribute? False only when no directory on its way
  // from the root holds a .gitattributes entry (exact: see the file comment).
  Result<bool> MayHaveAttributes(std::string_view path, const Oid& commit);

  RepoHandle repo_;
  // The same object database without gitdir, work tree, index or configuration: every
  // attribute and filter lookup goes here, so only the commit's .gitattributes count.
  RepoHandle attrs_;
  // Per commit (the last one asked about): directory ("" = root) -> holds .gitattributes.
  Oid attr_commit_;
  TreeHandle attr_root_;
  std::unordered_map<std::string, bool> attr_dirs_;
  bool from_env_ = false;  // opened by OpenFromEnv (else by Open(GitDir()))
};

// The last libgit2 error, for messages.
std::string LastError();

// Is `refname` ("refs/tags/v1.0.0") a name git could hold (git check-ref-format: no "..",
// no control characters, no component beginning with "." or ending with ".lock", ...)?
// A name git refuses can never arrive in a push; from a webhook it is forged.
bool IsValidRefName(std::string_view refname);

}  // namespace modpub::git
