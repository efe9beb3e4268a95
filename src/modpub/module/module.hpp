// Package module: module paths, import paths, file paths inside a module zip, the
// case-encoding ("!"-escaping) used in proxy URLs and cache paths, and the rules that
// tie a module path's major-version suffix to a version.
//
// Mirrors golang.org/x/mod/module (v0.7.0); the differential tests compare every function
// here with the real package on generated inputs. Error messages follow x/mod's wording
// (e.g. `malformed module path "x/.y": leading dot in path element`) so that users see
// what they would see from the go command.
#pragma once

#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::module {

// CheckPath: is `path` a valid module path? (module.CheckPath)
Status CheckPath(std::string_view path);
// CheckImportPath: is `path` a valid package import path? (module.CheckImportPath)
Status CheckImportPath(std::string_view path);
// CheckFilePath: may `path` name a file inside a module zip? (module.CheckFilePath)
Status CheckFilePath(std::string_view path);
// Check: is (path, version) a valid module version? (module.Check): path valid, version
// valid and canonical, and its major version allowed by the path's suffix.
Status Check(std::string_view path, std::string_view version);

// Case-encoding: each upper-case ASCII letter becomes "!" + its lower-case form.
// EscapePath fails if the path is not a valid module path; EscapeVersion fails if the
// version contains a character not allowed in a file name. Unescape* fail on a malformed
// encoding (upper-case letter, "!" not followed by a lower-case letter) and, for paths,
// if the result is not a valid module path.
Result<std::string> EscapePath(std::string_view path);
Result<std::string> UnescapePath(std::string_view escaped);
Result<std::string> EscapeVersion(std::string_view version);
Result<std::string> UnescapeVersion(std::string_view escaped);

// SplitPathVersion: "example.com/a/v2" -> {"example.com/a", "/v2", true};
// "gopkg.in/yaml.v2" -> {"gopkg.in/yaml", ".v2", true}; "example.com/a" -> {path, "", true};
// ok=false when the path has a malformed version suffix (e.g. "/v1", "/v02", "gopkg.in/x").
struct PathVersion {
  std::string prefix;
  std::string path_major;
  bool ok = false;
};
PathVersion SplitPathVersion(std::string_view path);

// MatchPathMajor: may version `v` be used with path suffix `path_major`?
// ("" allows v0/v1 and +incompatible; "/vN" allows vN; gopkg.in ".vN" allows vN, and
// ".v0" also allows v1 pseudo-versions as x/mod does.)
bool MatchPathMajor(std::string_view v, std::string_view path_major);
// CheckPathMajor: like MatchPathMajor but explains a mismatch.
Status CheckPathMajor(std::string_view v, std::string_view path_major);
// PathMajorPrefix: "/v2" -> "v2", ".v2" -> "v2", "" -> "". Empty when malformed.
std::string PathMajorPrefix(std::string_view path_major);

// IsPseudoVersion: is v a pseudo-version (vX.Y.Z-yyyymmddhhmmss-abcdefabcdef form)?
bool IsPseudoVersion(std::string_view v);

}  // namespace modpub::module
