// Package module: module paths, import paths, file paths inside a module zip, the
// case-encoding ("!"-escaping) used in proxy URLs and cache paths, and the rules that
// tie a module path's major-version suffix to a version.
//
// Mirrors golang.org/x/mod/module (v0.7.0); the differential tests compare every function
// here with the real package on generated inputs, verdicts and error messages alike.
// Error messages follow x/mod's wording byte for byte (e.g.
// `malformed module path "x/.y": leading dot in path element`, with Go's %q quoting) so
// that users see what they would see from the go command.
//
// The path rules, in short (see x/mod for the reasons behind each):
//  * every kind of path: valid UTF-8, non-empty, no "//", no leading or trailing "/";
//    each element non-empty, not all dots, no trailing dot, and its part before the
//    first dot not a Windows reserved name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, any case);
//  * import paths: no leading "-"; elements of ASCII letters, digits and "-._~+", and not
//    ending in "~" followed by digits (Windows short names);
//  * module paths: as import paths without "+", no element starting with ".", a first
//    element of [a-z0-9.-] holding a dot, and a well-formed major-version suffix;
//  * file paths: elements may also hold any Unicode letter, space and "!#$%&()+,=@[]^{}",
//    may start with "-" or "."; tilde+digits is allowed.
//
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::module {

// CheckPath: is `path` a valid module path? (module.CheckPath)
// Error: `malformed module path "<path>": <reason>`.
Status CheckPath(std::string_view path);
// CheckImportPath: is `path` a valid package import path? (module.CheckImportPath)
// Error: `malformed import path "<path>": <reason>`.
Status CheckImportPath(std::string_view path);
// CheckFilePath: may `path` name a file inside a module zip? (module.CheckFilePath)
// Error: `malformed file path "<path>": <reason>`.
Status CheckFilePath(std::string_view path);
// Check: is (path, version) a valid module version? (module.Check): the path is a valid
// module path, the version valid semver (not necessarily canonical: "v1.2" passes), and
// its major version allowed by the path's suffix (CheckPathMajor).
// Errors: CheckPath's, or `<path>@<version>: invalid version: <reason>`.
Status Check(std::string_view path, std::string_view version);

// Case-encoding: each upper-case ASCII letter becomes "!" + its lower-case form.
// EscapePath fails if the path is not a valid module path (CheckPath's error).
// EscapeVersion fails if the version is not a valid file name element or contains "!"
// (`version "<v>" invalid: disallowed version string`), or, as x/mod does, with
// "internal error: inconsistency in EscapePath" if it holds non-ASCII letters.
// Unescape* fail on a malformed encoding (non-ASCII, an upper-case letter, "!" not
// followed by a lower-case letter): `invalid escaped module path "<escaped>"` /
// `invalid escaped version "<escaped>"`; and if the result is not a valid module path /
// file name element: the same followed by ": <reason>" (for versions the quoted string
// is then the unescaped one, as in x/mod).
Result<std::string> EscapePath(std::string_view path);
Result<std::string> UnescapePath(std::string_view escaped);
Result<std::string> EscapeVersion(std::string_view version);
Result<std::string> UnescapeVersion(std::string_view escaped);

// SplitPathVersion: "example.com/a/v2" -> {"example.com/a", "/v2", true};
// "gopkg.in/yaml.v2" -> {"gopkg.in/yaml", ".v2", true} (gopkg.in paths always need a
// ".vN", any N including 0, optionally followed by "-unstable");
// "example.com/a" -> {path, "", true}.
// ok=false, with {path, ""}, when the path has a malformed version suffix ("/v1", "/v02",
// "/v2.1", "gopkg.in/x", "gopkg.in/x.v01"). Only the suffix is looked at.
struct PathVersion {
  std::string prefix;
  std::string path_major;
  bool ok = false;
};
PathVersion SplitPathVersion(std::string_view path);

// MatchPathMajor: may version `v` be used with path suffix `path_major`?
// "" allows v0, v1 and any +incompatible version; "/vN" and ".vN" allow vN (a gopkg.in
// "-unstable" suffix is ignored); ".v1" also allows "v0.0.0-..." pseudo-versions, an old
// go command bug x/mod still accepts. True iff CheckPathMajor succeeds.
bool MatchPathMajor(std::string_view v, std::string_view path_major);
// CheckPathMajor: like MatchPathMajor but explains a mismatch:
// `version "<v>" invalid: should be <major or "v0 or v1">, not <semver::Major(v)>`.
// Like x/mod it does not validate its inputs (e.g. path_major "/" accepts any invalid v).
Status CheckPathMajor(std::string_view v, std::string_view path_major);
// PathMajorPrefix: "/v2" -> "v2", ".v2" -> "v2", ".v2-unstable" -> "v2", "" -> "".
// x/mod panics when path_major lacks the "/" or "." separator or is not followed by a
// bare major version ("/v2.1", "/x"); this returns "" for those.
std::string PathMajorPrefix(std::string_view path_major);

// IsPseudoVersion: is v a pseudo-version (vX.0.0-yyyymmddhhmmss-abcdefabcdef,
// vX.Y.Z-0.yyyymmddhhmmss-abcdef..., vX.Y.Z-pre.0.yyyymmddhhmmss-abcdef..., each with an
// optional build suffix such as +incompatible)? The timestamp is not validated.
bool IsPseudoVersion(std::string_view v);

}  // namespace modpub::module
