#include "modpub/git/git.hpp"

#include <git2/sys/repository.h>

#include <algorithm>
#include <mutex>

#include "modpub/git/convert.hpp"

namespace modpub::git {
namespace {

// libgit2 is initialised once per process and never shut down (its global state is
// shared by every Repository). The configuration search paths are emptied so that no
// system, global or XDG configuration or attributes file changes what modpub reads: the
// go command's own archive is made in a cache repository of its own, and a publisher's
// output must not depend on the account it runs under.
void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    for (int level : {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                      GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
    // Bound the memory libgit2 maps for pack files: large blobs are read one at a time
    // and peak memory should track the largest file, not the repository. The limit counts
    // whole windows (1 GiB each by default on 64-bit, so a pack is one window and the limit
    // never bites); small windows let libgit2 unmap the parts of a pack it has read. The
    // limit is shared by every Repository of the process (modzip reads with two).
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, static_cast<size_t>(4) << 20);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, static_cast<size_t>(16) << 20);
  });
}

Error GitFail(std::string what) { return Fail(what + ": " + LastError()); }

EntryKind KindOf(git_filemode_t mode) {
  switch (mode) {
    case GIT_FILEMODE_BLOB_EXECUTABLE:
      return EntryKind::kExecutable;
    case GIT_FILEMODE_LINK:
      return EntryKind::kSymlink;
    case GIT_FILEMODE_COMMIT:
      return EntryKind::kGitlink;
    case GIT_FILEMODE_TREE:
      return EntryKind::kTree;
    default:
      return EntryKind::kBlob;
  }
}

Result<TreeHandle> LookupTree(git_repository* repo, const Oid& id) {
  TreeHandle tree;
  if (git_tree_lookup(tree.out(), repo, &id.raw) != 0) {
    return GitFail("reading tree " + id.Hex());
  }
  return tree;
}

// libgit2's export filters for `path`, with the attributes of `commit` only. Loaded
// without a blob on purpose: with no blob id, libgit2's ident filter passes content
// through, leaving only its end-of-line conversion (ident is done as git does it).
Result<FilterListHandle> LoadFilters(git_repository* repo, std::string_view path,
                                     const Oid& commit) {
  // What GIT_FILTER_OPTIONS_INIT sets, spelled out: the macro names only the first field,
  // which clang's -Wmissing-field-initializers refuses.
  git_filter_options opts{};
  opts.version = GIT_FILTER_OPTIONS_VERSION;
  opts.flags = GIT_FILTER_NO_SYSTEM_ATTRIBUTES | GIT_FILTER_ATTRIBUTES_FROM_COMMIT;
  opts.attr_commit_id = commit.raw;
  FilterListHandle filters;
  std::string p(path);
  if (git_filter_list_load_ext(filters.out(), repo, nullptr, p.c_str(), GIT_FILTER_TO_WORKTREE,
                               &opts) != 0) {
    return GitFail("loading git attributes for " + p);
  }
  return filters;
}

// The attributes of `path` that git converts by itself (see convert.hpp).
struct OwnConversions {
  bool ident = false;
  std::optional<std::string> encoding;
  bool any() const { return ident || encoding.has_value(); }
};

Result<OwnConversions> LoadOwnConversions(git_repository* repo, std::string_view path,
                                          const Oid& commit) {
  git_attr_options opts{};  // GIT_ATTR_OPTIONS_INIT, spelled out (see LoadFilters)
  opts.version = GIT_ATTR_OPTIONS_VERSION;
  opts.flags = GIT_ATTR_CHECK_NO_SYSTEM | GIT_ATTR_CHECK_INCLUDE_COMMIT;
  opts.attr_commit_id = commit.raw;
  const char* names[] = {"ident", "working-tree-encoding"};
  const char* values[2] = {nullptr, nullptr};
  std::string p(path);
  if (git_attr_get_many_ext(values, repo, &opts, p.c_str(), 2, names) != 0) {
    return GitFail("reading git attributes of " + p);
  }
  OwnConversions out;
  out.ident = git_attr_value(values[0]) == GIT_ATTR_VALUE_TRUE;
  auto enc = WorkingTreeEncoding(values[1]);
  if (!enc) return Fail(p + ": " + enc.message());
  out.encoding = std::move(*enc);
  return out;
}

}  // namespace

std::string LastError() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

bool IsValidRefName(std::string_view refname) {
  InitOnce();
  if (refname.find('\0') != std::string_view::npos) return false;
  int valid = 0;
  return git_reference_name_is_valid(&valid, std::string(refname).c_str()) == 0 && valid;
}

std::string Oid::Hex() const {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &raw);
  return buf;
}

std::string_view FilteredBlob::data() const {
  switch (stage_) {
    case Stage::kFiltered:
      return filtered_.view();
    case Stage::kConverted:
      return converted_;
    case Stage::kRaw:
      break;
  }
  const void* p = git_blob_rawcontent(blob_.get());
  auto n = static_cast<std::size_t>(git_blob_rawsize(blob_.get()));
  return {static_cast<const char*>(p), n};
}

Result<Repository> Repository::Wrap(RepoHandle repo) {
  // An empty configuration: see InitOnce. Without core.autocrlf and with core.eol at its
  // default (lf), export filters behave as under `-c core.autocrlf=input -c core.eol=lf`.
  ConfigHandle cfg;
  if (git_config_new(cfg.out()) != 0 || git_repository_set_config(repo.get(), cfg.get()) != 0) {
    return GitFail("configuring repository");
  }
  // The attribute repository (see git.hpp): the repository's object database (with the
  // environment's quarantine and alternates when opened from it), nothing else. Its
  // config and index are set explicitly so libgit2 never looks for files of its own.
  OdbHandle odb;
  RepoHandle attrs;
  ConfigHandle attrs_cfg;
  IndexHandle index;
  if (git_repository_odb(odb.out(), repo.get()) != 0 ||
      git_repository_wrap_odb(attrs.out(), odb.get()) != 0 ||
      git_config_new(attrs_cfg.out()) != 0 ||
      git_repository_set_config(attrs.get(), attrs_cfg.get()) != 0 ||
      git_index_new(index.out()) != 0 || git_repository_set_index(attrs.get(), index.get()) != 0) {
    return GitFail("preparing attribute lookups");
  }
  return Repository(std::move(repo), std::move(attrs));
}

Result<Repository> Repository::Open(const std::filesystem::path& path) {
  InitOnce();
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    return Fail(path.string() + ": not a git repository (no such directory)");
  }
  RepoHandle repo;
  if (git_repository_open_ext(repo.out(), path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) !=
      0) {
    return Fail(path.string() + ": not a git repository: " + LastError());
  }
  return Wrap(std::move(repo));
}

Result<Repository> Repository::OpenFromEnv() {
  InitOnce();
  RepoHandle repo;
  if (git_repository_open_ext(repo.out(), nullptr, GIT_REPOSITORY_OPEN_FROM_ENV, nullptr) != 0) {
    return GitFail("opening the repository from the environment");
  }
  auto out = Wrap(std::move(repo));
  if (out) out->from_env_ = true;
  return out;
}

Result<Repository> Repository::Reopen() const { return from_env_ ? OpenFromEnv() : Open(GitDir()); }

std::filesystem::path Repository::GitDir() const { return git_repository_path(repo_.get()); }

Result<std::vector<std::string>> Repository::TagNames() {
  git_strarray names{};
  if (git_tag_list(&names, repo_.get()) != 0) return GitFail("listing tags");
  std::vector<std::string> out(names.strings, names.strings + names.count);
  git_strarray_dispose(&names);
  std::sort(out.begin(), out.end());
  return out;
}

Result<TaggedCommit> Repository::ResolveCommit(const Oid& id, std::string_view what) {
  ObjectHandle obj;
  if (git_object_lookup(obj.out(), repo_.get(), &id.raw, GIT_OBJECT_ANY) != 0) {
    return GitFail(std::string(what) + ": object " + id.Hex() + " not found");
  }
  // Peel annotated tags (possibly nested) down to what they finally name.
  while (git_object_type(obj.get()) == GIT_OBJECT_TAG) {
    ObjectHandle target;
    if (git_tag_target(target.out(), reinterpret_cast<git_tag*>(obj.get())) != 0) {
      return GitFail(std::string(what) + ": reading annotated tag");
    }
    obj = std::move(target);
  }
  git_object_t type = git_object_type(obj.get());
  if (type != GIT_OBJECT_COMMIT) {
    return Fail(std::string(what) + " points at a " + git_object_type2string(type) +
                ", not a commit");
  }
  auto* commit = reinterpret_cast<git_commit*>(obj.get());
  TaggedCommit out;
  git_oid_cpy(&out.commit.raw, git_commit_id(commit));
  git_oid_cpy(&out.tree.raw, git_commit_tree_id(commit));
  out.time = static_cast<std::int64_t>(git_commit_time(commit));
  return out;
}

Result<TaggedCommit> Repository::ResolveTag(std::string_view name) {
  std::string ref = "refs/tags/" + std::string(name);
  git_oid id;
  if (git_reference_name_to_id(&id, repo_.get(), ref.c_str()) != 0) {
    return Fail("tag " + std::string(name) + " does not exist");
  }
  return ResolveCommit(Oid{id}, "tag " + std::string(name));
}

Result<std::optional<Entry>> Repository::EntryAt(const Oid& tree_id, std::string_view path) {
  auto tree = LookupTree(repo_.get(), tree_id);
  if (!tree) return tree.error();
  TreeEntryHandle entry;
  std::string p(path);
  int rc = git_tree_entry_bypath(entry.out(), tree->get(), p.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<Entry>();
  if (rc != 0) return GitFail("looking up " + p);
  Entry e{p, KindOf(git_tree_entry_filemode(entry.get())), Oid{*git_tree_entry_id(entry.get())}};
  return std::optional<Entry>(std::move(e));
}

Result<std::optional<std::string>> Repository::ReadFile(const Oid& tree, std::string_view path) {
  auto entry = EntryAt(tree, path);
  if (!entry) return entry.error();
  // Like `git cat-file blob`: any blob (regular, executable or symlink) is read; a tree
  // or a gitlink (whose id names a commit in another repository) is "not found".
  if (!*entry || (*entry)->kind == EntryKind::kTree || (*entry)->kind == EntryKind::kGitlink) {
    return std::optional<std::string>();
  }
  BlobHandle blob;
  if (git_blob_lookup(blob.out(), repo_.get(), &(*entry)->oid.raw) != 0) {
    return GitFail("reading " + std::string(path));
  }
  std::string data(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                   static_cast<std::size_t>(git_blob_rawsize(blob.get())));
  return std::optional<std::string>(std::move(data));
}

Result<std::vector<Entry>> Repository::ListFiles(const Oid& root, std::string_view dir) {
  std::vector<Entry> out;
  Oid start = root;
  if (!dir.empty()) {
    auto entry = EntryAt(root, dir);
    if (!entry) return entry.error();
    if (!*entry || (*entry)->kind != EntryKind::kTree) return out;
    start = (*entry)->oid;
  }
  // Depth-first in git's tree order, as `git archive` visits the tree.
  struct Frame {
    TreeHandle tree;
    std::string prefix;
    std::size_t next = 0;
  };
  std::vector<Frame> stack;
  auto first = LookupTree(repo_.get(), start);
  if (!first) return first.error();
  stack.push_back({std::move(first.value()), dir.empty() ? "" : std::string(dir) + "/", 0});
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next >= git_tree_entrycount(f.tree.get())) {
      stack.pop_back();
      continue;
    }
    const git_tree_entry* e = git_tree_entry_byindex(f.tree.get(), f.next++);
    std::string path = f.prefix + git_tree_entry_name(e);
    EntryKind kind = KindOf(git_tree_entry_filemode(e));
    if (kind == EntryKind::kTree) {
      auto sub = LookupTree(repo_.get(), Oid{*git_tree_entry_id(e)});
      if (!sub) return sub.error();
      stack.push_back({std::move(sub.value()), path + "/", 0});  // invalidates f
      continue;
    }
    out.push_back({std::move(path), kind, Oid{*git_tree_entry_id(e)}});
  }
  return out;
}

Result<std::uint64_t> Repository::BlobSize(const Oid& blob) {
  OdbHandle odb;
  if (git_repository_odb(odb.out(), repo_.get()) != 0) return GitFail("opening object database");
  size_t len = 0;
  git_object_t type;
  if (git_odb_read_header(&len, &type, odb.get(), &blob.raw) != 0) {
    return GitFail("reading object " + blob.Hex());
  }
  return static_cast<std::uint64_t>(len);
}

Result<bool> Repository::MayHaveAttributes(std::string_view path, const Oid& commit) {
  if (!attr_root_ || !(attr_commit_ == commit)) {
    attr_root_.reset();
    attr_dirs_.clear();
    CommitHandle c;
    TreeHandle root;
    if (git_commit_lookup(c.out(), repo_.get(), &commit.raw) != 0 ||
        git_commit_tree(root.out(), c.get()) != 0) {
      return GitFail("reading commit " + commit.Hex());
    }
    attr_root_ = std::move(root);
    attr_commit_ = commit;
  }
  // Every directory on the way: "", "a", "a/b" for "a/b/c.go".
  for (std::size_t next = 0;;) {  // the directory is path[0, next) without its last '/'
    std::string dir(path.substr(0, next == 0 ? 0 : next - 1));
    auto [it, fresh] = attr_dirs_.try_emplace(dir, false);
    if (fresh) {
      std::string file = dir.empty() ? ".gitattributes" : dir + "/.gitattributes";
      TreeEntryHandle entry;
      int rc = git_tree_entry_bypath(entry.out(), attr_root_.get(), file.c_str());
      if (rc != 0 && rc != GIT_ENOTFOUND) return GitFail("looking up " + file);
      it->second = rc == 0;  // any kind of entry: when in doubt, ask libgit2
    }
    if (it->second) return true;
    std::size_t slash = path.find('/', next);
    if (slash == std::string_view::npos) break;
    next = slash + 1;
  }
  return false;
}

Result<bool> Repository::HasFilter(std::string_view path, const Oid& commit) {
  auto may = MayHaveAttributes(path, commit);
  if (!may) return may.error();
  if (!*may) return false;
  // Decided by attributes alone: no blob is loaded, so sizing a tree stays cheap.
  auto own = LoadOwnConversions(attrs_.get(), path, commit);
  if (!own) return own.error();
  if (own->any()) return true;
  auto filters = LoadFilters(attrs_.get(), path, commit);
  if (!filters) return filters.error();
  return static_cast<bool>(*filters);
}

Result<FilteredBlob> Repository::ReadFiltered(const Oid& blob_id, std::string_view path,
                                              const Oid& commit) {
  FilteredBlob out;
  if (git_blob_lookup(out.blob_.out(), repo_.get(), &blob_id.raw) != 0) {
    return GitFail("reading " + std::string(path));
  }
  auto may = MayHaveAttributes(path, commit);
  if (!may) return may.error();
  if (!*may) return out;  // no attributes: the raw blob
  auto own = LoadOwnConversions(attrs_.get(), path, commit);
  if (!own) return own.error();
  auto filters = LoadFilters(attrs_.get(), path, commit);
  if (!filters) return filters.error();

  // git's order (convert.c, to worktree): ident, end of line, working-tree-encoding.
  if (own->ident) {
    if (auto expanded = ExpandIdent(out.data(), blob_id.Hex())) {
      out.converted_ = std::move(*expanded);
      out.stage_ = FilteredBlob::Stage::kConverted;
    }
  }
  if (*filters) {
    std::string_view in = out.data();
    if (git_filter_list_apply_to_buffer(out.filtered_.get(), filters->get(), in.data(),
                                        in.size()) != 0) {
      return GitFail("applying git attributes to " + std::string(path));
    }
    out.stage_ = FilteredBlob::Stage::kFiltered;
  }
  if (own->encoding) {
    if (auto encoded = EncodeToWorktree(out.data(), *own->encoding)) {
      out.converted_ = std::move(*encoded);
      out.stage_ = FilteredBlob::Stage::kConverted;
    }
  }
  if (out.stage_ != FilteredBlob::Stage::kRaw) out.blob_.reset();  // not needed any more
  return out;
}

}  // namespace modpub::git
