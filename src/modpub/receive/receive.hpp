// Package receive: what a git server decides about a push, before (pre-receive) and after
// (post-receive) its refs are updated.
//
// git hands a receive hook one line per ref update, "<old> <new> <ref>", where an all-zero
// id means "absent" (old = 0: the ref is created; new = 0: it is deleted). In pre-receive
// the pushed objects are in git's quarantine and no ref is updated yet, so tags are
// resolved from the pushed ids (modzip::ResolveAt), never by name.
//
// The rules, per update (Review):
//  * Only refs/tags/* that are VERSION tags are checked: the last element of the tag
//    starts with "v" and a digit ("v1.2", "sub/dir/v2.0.0"; the rule publish::
//    OrderVersionTags uses). Branches, other refs and other tags ("release") pass.
//  * A created or moved version tag must name module versions the go command can fetch:
//    modzip::ResolveAt (canonical semver, go.mod module line and path, /vN, tag prefix
//    for a subdirectory module) and modzip::Check on each (file names, case-fold
//    collisions, sizes) -- the checks of `modpub zip` and with its messages, nothing
//    written. Each module path must be allowed by the repository's configuration
//    (config::RepoConfig::AllowsModule: under one of its allowed_prefixes).
//  * A version tag may not be moved or deleted while any module version it may name
//    (path and path/vN; vX.Y.Z and vX.Y.Z+incompatible) is stored, completely or in part,
//    in any of `published_in`; a backend that cannot be read counts as "maybe published":
//    the update is refused (fail closed, the tag can be pushed again later).
//  * With `immutable_tags`, no tag whose last element is a valid semver may be moved or
//    deleted at all.
// Every problem of every update is reported; one line per problem, each beginning with
// the tag name: "<tag>: <rule and the file it concerns>". Any problem refuses the whole
// push (git's pre-receive is all or nothing).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"
#include "modpub/git/git.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::receive {

// One line of a receive hook's standard input.
struct RefUpdate {
  git::Oid old_id;  // zero: the ref is created
  git::Oid new_id;  // zero: the ref is deleted
  std::string ref;  // full name, e.g. "refs/tags/v1.0.0"

  bool Creates() const;
  bool Deletes() const;
  // The tag name ("v1.0.0", "sub/v1.0.0") if `ref` is under refs/tags/, else "".
  std::string Tag() const;
};

// Parses a hook's standard input: lines "<old hex> <new hex> <ref>" (40-digit SHA-1 ids,
// as libgit2 1.5 knows no other). Fails, naming the line, on anything else. Blank lines
// are ignored.
Result<std::vector<RefUpdate>> ParseUpdates(std::string_view input);

// Is `tag` (without refs/tags/) a version tag in the sense above?
bool IsVersionTag(std::string_view tag);

// For a tag that arrives with no push to refuse (a webhook delivery): can it ever name a
// version the go command fetches from the repository of module `import_path`? Judged from
// the name alone, before anything is fetched or queued, so that a forged or hopeless tag
// is answered at once instead of being retried as if its failure were temporary.
struct TagVerdict {
  enum Kind {
    kMaybe,       // a version tag that may resolve: fetch and check it (Review's rules)
    kNotVersion,  // not a version tag (IsVersionTag): nothing to publish
    kNever,       // a version tag no module version can ever have (why)
    kNotAGitRef,  // refs/tags/<tag> is a name git refuses: no git server sent it (why)
  } kind = kMaybe;
  std::string why;  // kNever, kNotAGitRef: the rule broken, naming the tag
};
// kNever: the version (last element) is not canonical semver (vMAJOR.MINOR.PATCH[-pre]),
// or the tag's directory would give a malformed module path (module::CheckPath of
// import_path/dir: "..", non-ASCII, "=", a leading "-" ...).
TagVerdict JudgeTagName(std::string_view import_path, std::string_view tag);

// What a repository's pushes must respect.
struct Policy {
  config::RepoConfig repo;  // import_path, allowed_prefixes, immutable_tags are used
  std::vector<storage::Backend*> published_in;  // where published versions are looked up
};

// A module version a version tag publishes.
struct Accepted {
  std::string tag;
  std::string path;
  std::string version;
  git::Oid commit;  // the commit the tag names
};

struct Verdict {
  std::vector<std::string> problems;  // "<tag>: <rule and file>", one per problem
  std::vector<Accepted> accepted;     // module versions of the created or moved tags
                                      // that have no problem
  bool ok() const { return problems.empty(); }
};

// The pre-receive decision over all of a push's updates (see the rules above).
Verdict Review(git::Repository& repo, const Policy& policy, const std::vector<RefUpdate>& updates);

// Post-receive: the module versions that the created or moved version tags of `updates`
// publish, resolved (go.mod only, nothing else read) from the pushed ids. A tag that no
// longer resolves (the push was accepted by an older hook, or without checks) is reported
// in `problems` and skipped; policy rules are not re-checked.
Verdict Published(git::Repository& repo, const std::string& import_path,
                  const std::vector<RefUpdate>& updates);

}  // namespace modpub::receive
