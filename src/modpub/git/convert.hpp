// The two export conversions of `git archive` that libgit2 does not do the way git does,
// as pure functions over bytes (git's convert.c, to-worktree direction):
//  * `ident`: git replaces EVERY "$Id$" and "$Id:<text>$" (no newline in <text>, no space
//    inside it except the one before the closing "$") with "$Id: <blob id> $", binary
//    files included. libgit2 1.5 expands only the first one and skips binary files.
//  * `working-tree-encoding`: git re-encodes the (UTF-8) blob into the named encoding
//    with iconv after the end-of-line conversion; libgit2 ignores the attribute.
// The end-of-line conversion itself is left to libgit2's crlf filter, which agrees with
// git (checked against `git archive` in tests/e2e/test_zip_vs_go.py).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::git {

// How many keywords ExpandIdent would replace (git's count_ident).
std::size_t CountIdent(std::string_view data);

// git's ident_to_worktree: nullopt when nothing is replaced.
std::optional<std::string> ExpandIdent(std::string_view data, std::string_view blob_hex);

// The encoding that git's working-tree-encoding attribute value `value` names, as git
// reads it: nullopt for unset/empty values and any spelling of UTF-8 (no conversion),
// otherwise the name in upper case. Fails for "true"/"false", on which git dies (so
// `git archive`, and the go command with it, fail).
Result<std::optional<std::string>> WorkingTreeEncoding(const char* value);

// git's encode_to_worktree: `utf8` converted to `encoding` (as returned by
// WorkingTreeEncoding). nullopt when git leaves the content as is: empty content, an
// encoding iconv does not know, or content that is not valid in the conversion.
std::optional<std::string> EncodeToWorktree(std::string_view utf8, const std::string& encoding);

}  // namespace modpub::git
