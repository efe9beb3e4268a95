// Module, import and file paths, escaping and major-version suffixes, mirroring
// golang.org/x/mod/module v0.7.0. See module.hpp.
//
// Errors are built in two layers as in x/mod: the rule checks below produce a bare
// reason ("leading dot in path element") and the public functions wrap it with what was
// being checked (`malformed module path "x/.y": ...`).

#include "modpub/module/module.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "modpub/module/gotext.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::module {
namespace {

enum class PathKind { kModule, kImport, kFile };

const char* KindName(PathKind kind) {
  switch (kind) {
    case PathKind::kModule:
      return "module";
    case PathKind::kImport:
      return "import";
    case PathKind::kFile:
      return "file";
  }
  return "";
}

bool IsAsciiDigit(char32_t r) { return r >= '0' && r <= '9'; }
bool IsAsciiLower(char32_t r) { return r >= 'a' && r <= 'z'; }
bool IsAsciiUpper(char32_t r) { return r >= 'A' && r <= 'Z'; }
bool IsAsciiAlnum(char32_t r) { return IsAsciiDigit(r) || IsAsciiLower(r) || IsAsciiUpper(r); }

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAsciiDigit(c); });
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The first element of a module path is, by convention, a domain name; to avoid case
// ambiguity it must be lower case.
bool FirstPathOK(char32_t r) { return r == '-' || r == '.' || IsAsciiDigit(r) || IsAsciiLower(r); }

// Module paths keep to characters that mean the same thing everywhere a path appears
// (URLs, file systems, shells): no '%', '+' or anything else that changes meaning in a URL,
// and no Unicode until case folding and normalization of paths are settled.
bool ModPathOK(char32_t r) {
  return IsAsciiAlnum(r) || r == '-' || r == '.' || r == '_' || r == '~';
}

// Import paths also allow '+', historically used in binary names such as "g++".
bool ImportPathOK(char32_t r) { return ModPathOK(r) || r == '+'; }

// File names allow all Unicode letters, space, and the ASCII punctuation that no common
// shell or file system treats specially; '"' '\'' '*' '<' '>' '?' '`' '|' are shell
// metacharacters and '/' ':' '\\' are path separators somewhere.
bool FileNameOK(char32_t r) {
  if (r < 0x80) {
    static constexpr std::string_view kAllowed = "!#$%&()+,-.=@[]^_{}~ ";
    return IsAsciiAlnum(r) || kAllowed.find(static_cast<char>(r)) != std::string_view::npos;
  }
  return IsLetter(r);
}

bool RuneOK(char32_t r, PathKind kind) {
  switch (kind) {
    case PathKind::kModule:
      return ModPathOK(r);
    case PathKind::kImport:
      return ImportPathOK(r);
    case PathKind::kFile:
      return FileNameOK(r);
  }
  return false;
}

// Names Windows reserves in every directory, with or without an extension.
constexpr std::array<std::string_view, 22> kBadWindowsNames = {
    "CON",  "PRN",  "AUX",  "NUL",  "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"};

// x/mod compares with strings.EqualFold, i.e. under Unicode simple case folding. The only
// non-ASCII runes that fold to ASCII letters are U+017F (s) and U+212A (k), and neither
// letter occurs in a reserved name, so an ASCII case-insensitive comparison is exact.
bool IsBadWindowsName(std::string_view name) {
  auto lower = [](char c) { return IsAsciiUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::any_of(kBadWindowsNames.begin(), kBadWindowsNames.end(), [&](std::string_view bad) {
    return bad.size() == name.size() &&
           std::equal(bad.begin(), bad.end(), name.begin(),
                      [&](char a, char b) { return lower(a) == lower(b); });
  });
}

// x/mod's checkElem: the reason one path element is not valid for `kind`, or nothing.
// Runes are decoded as Go ranges over a string (a bad byte is U+FFFD); callers other
// than EscapeVersion have already refused invalid UTF-8.
std::optional<std::string> ElemProblem(std::string_view elem, PathKind kind) {
  if (elem.empty()) return "empty path element";
  if (elem.find_first_not_of('.') == std::string_view::npos) {
    return "invalid path element " + Quote(elem);
  }
  if (elem.front() == '.' && kind == PathKind::kModule) return "leading dot in path element";
  if (elem.back() == '.') return "trailing dot in path element";
  for (std::string_view rest = elem; !rest.empty();) {
    DecodedRune d = DecodeRune(rest);
    if (!RuneOK(d.rune, kind)) return "invalid char " + QuoteRune(d.rune);
    rest.remove_prefix(d.width);
  }

  // Windows refuses the reserved names whatever extension follows them.
  std::string_view short_name = elem.substr(0, elem.find('.'));
  if (IsBadWindowsName(short_name)) {
    return Quote(short_name) + " disallowed as path element component on Windows";
  }

  // An element like "GOOGLE~1" could be the Windows short name of another element and
  // so alias it. This only matters for import paths (and module paths), which name
  // directories that may coexist; file names inside one module zip are left alone.
  if (kind == PathKind::kFile) return std::nullopt;
  size_t tilde = short_name.rfind('~');
  if (tilde != std::string_view::npos && tilde + 1 < short_name.size() &&
      AllDigits(short_name.substr(tilde + 1))) {
    return "trailing tilde and digits in path element";
  }
  return std::nullopt;
}

// x/mod's checkPath: the reason `path` is not a valid path of `kind`, or nothing.
std::optional<std::string> PathProblem(std::string_view path, PathKind kind) {
  if (!IsValidUTF8(path)) return "invalid UTF-8";
  if (path.empty()) return "empty string";
  if (path.front() == '-' && kind != PathKind::kFile) return "leading dash";
  if (path.find("//") != std::string_view::npos) return "double slash";
  if (path.back() == '/') return "trailing slash";
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (auto problem = ElemProblem(path.substr(start, slash - start), kind)) return problem;
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
  }
}

// The extra rules CheckPath adds for module paths, after PathProblem.
std::optional<std::string> ModulePathProblem(std::string_view path) {
  if (auto problem = PathProblem(path, PathKind::kModule)) return problem;
  std::string_view first = path.substr(0, path.find('/'));
  // The next two cannot trigger after PathProblem's checks; kept in x/mod's order.
  if (first.empty()) return "leading slash";
  if (first.find('.') == std::string_view::npos) return "missing dot in first path element";
  if (path.front() == '-') return "leading dash in first path element";
  for (std::string_view rest = first; !rest.empty();) {
    DecodedRune d = DecodeRune(rest);
    if (!FirstPathOK(d.rune)) return "invalid char " + QuoteRune(d.rune) + " in first path element";
    rest.remove_prefix(d.width);
  }
  if (!SplitPathVersion(path).ok) return "invalid version";
  return std::nullopt;
}

Error Malformed(PathKind kind, std::string_view path, const std::string& reason) {
  return Fail(std::string("malformed ") + KindName(kind) + " path " + Quote(path) + ": " + reason);
}

// x/mod's InvalidVersionError text.
Error InvalidVersion(std::string_view version, const std::string& reason) {
  return Fail("version " + Quote(version) + " invalid: " + reason);
}

// The reason `v` does not fit `path_major` ("should be v2, not v1"), or nothing.
std::optional<std::string> PathMajorMismatch(std::string_view v, std::string_view path_major) {
  if (StartsWith(path_major, ".v") && EndsWith(path_major, "-unstable")) {
    path_major.remove_suffix(std::string_view("-unstable").size());
  }
  // gopkg.in/yaml.v2@v2.2.1's go.mod requires gopkg.in/check.v1 at a v0.0.0- pseudo-
  // version, generated by an old go command bug; x/mod keeps accepting those.
  if (StartsWith(v, "v0.0.0-") && path_major == ".v1") return std::nullopt;
  std::string major = semver::Major(v);
  std::string want(path_major);
  if (path_major.empty()) {
    if (major == "v0" || major == "v1" || semver::Build(v) == "+incompatible") {
      return std::nullopt;
    }
    want = "v0 or v1";
  } else if (path_major.front() == '/' || path_major.front() == '.') {
    if (major == path_major.substr(1)) return std::nullopt;
    want = path_major.substr(1);
  }
  return "should be " + want + ", not " + major;
}

// Replaces each upper-case ASCII letter by '!' and its lower-case form. The callers have
// validated `s`, which guarantees it holds neither '!' nor non-ASCII bytes; the encoding
// would be ambiguous otherwise, so it is checked again (x/mod does the same).
Result<std::string> EscapeString(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '!' || static_cast<unsigned char>(c) >= 0x80) {
      return Fail("internal error: inconsistency in EscapePath");
    }
    if (IsAsciiUpper(c)) {
      out += '!';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

// Inverse of EscapeString; nothing if `escaped` is not a possible output of it.
std::optional<std::string> UnescapeString(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  bool bang = false;
  for (char c : escaped) {
    if (static_cast<unsigned char>(c) >= 0x80 || IsAsciiUpper(c)) return std::nullopt;
    if (bang) {
      if (!IsAsciiLower(c)) return std::nullopt;
      out += static_cast<char>(c - 'a' + 'A');
      bang = false;
    } else if (c == '!') {
      bang = true;
    } else {
      out += c;
    }
  }
  if (bang) return std::nullopt;
  return out;
}

// gopkg.in paths carry their major version as ".vN" (any N, "v0" included) on the last
// element, optionally followed by "-unstable", and must have one.
PathVersion SplitGopkgIn(std::string_view path) {
  PathVersion malformed{std::string(path), "", false};
  size_t i = path.size();
  if (EndsWith(path, "-unstable")) i -= std::string_view("-unstable").size();
  while (i > 0 && IsAsciiDigit(path[i - 1])) --i;
  if (i <= 1 || path[i - 1] != 'v' || path[i - 2] != '.') return malformed;
  std::string_view major = path.substr(i - 2);
  if (major.size() <= 2 || (major[2] == '0' && major != ".v0")) return malformed;
  return {std::string(path.substr(0, i - 2)), std::string(major), true};
}

}  // namespace

Status CheckPath(std::string_view path) {
  if (auto problem = ModulePathProblem(path)) return Malformed(PathKind::kModule, path, *problem);
  return Ok();
}

Status CheckImportPath(std::string_view path) {
  if (auto problem = PathProblem(path, PathKind::kImport)) {
    return Malformed(PathKind::kImport, path, *problem);
  }
  return Ok();
}

Status CheckFilePath(std::string_view path) {
  if (auto problem = PathProblem(path, PathKind::kFile)) {
    return Malformed(PathKind::kFile, path, *problem);
  }
  return Ok();
}

Status Check(std::string_view path, std::string_view version) {
  if (Status s = CheckPath(path); !s.ok()) return s;
  // x/mod's ModuleError around an InvalidVersionError: "<path>@<version>: invalid version:".
  std::string where = std::string(path) + "@" + std::string(version) + ": invalid version: ";
  if (!semver::IsValid(version)) return Fail(where + "not a semantic version");
  if (auto mismatch = PathMajorMismatch(version, SplitPathVersion(path).path_major)) {
    return Fail(where + *mismatch);
  }
  return Ok();
}

Result<std::string> EscapePath(std::string_view path) {
  if (Status s = CheckPath(path); !s.ok()) return s.error();
  return EscapeString(path);
}

Result<std::string> EscapeVersion(std::string_view version) {
  // Versions need not be semver, but they become file names and "!" would make the
  // encoding ambiguous.
  if (ElemProblem(version, PathKind::kFile) || version.find('!') != std::string_view::npos) {
    return InvalidVersion(version, "disallowed version string");
  }
  return EscapeString(version);
}

Result<std::string> UnescapePath(std::string_view escaped) {
  std::optional<std::string> path = UnescapeString(escaped);
  if (!path) return Fail("invalid escaped module path " + Quote(escaped));
  if (Status s = CheckPath(*path); !s.ok()) {
    return Fail("invalid escaped module path " + Quote(escaped) + ": " + s.message());
  }
  return std::move(*path);
}

Result<std::string> UnescapeVersion(std::string_view escaped) {
  std::optional<std::string> version = UnescapeString(escaped);
  if (!version) return Fail("invalid escaped version " + Quote(escaped));
  if (auto problem = ElemProblem(*version, PathKind::kFile)) {
    return Fail("invalid escaped version " + Quote(*version) + ": " + *problem);
  }
  return std::move(*version);
}

PathVersion SplitPathVersion(std::string_view path) {
  if (StartsWith(path, "gopkg.in/")) return SplitGopkgIn(path);

  // Scan back over the trailing run of digits and dots: the candidate "N" of "/vN".
  size_t i = path.size();
  bool dot = false;
  while (i > 0 && (IsAsciiDigit(path[i - 1]) || path[i - 1] == '.')) {
    dot = dot || path[i - 1] == '.';
    --i;
  }
  if (i <= 1 || i == path.size() || path[i - 1] != 'v' || path[i - 2] != '/') {
    return {std::string(path), "", true};  // no "/vN" suffix at all
  }
  std::string_view major = path.substr(i - 2);
  if (dot || major.size() <= 2 || major[2] == '0' || major == "/v1") {
    return {std::string(path), "", false};  // "/v1", "/v0", "/v02", "/v2.1": malformed
  }
  return {std::string(path.substr(0, i - 2)), std::string(major), true};
}

bool MatchPathMajor(std::string_view v, std::string_view path_major) {
  return !PathMajorMismatch(v, path_major);
}

Status CheckPathMajor(std::string_view v, std::string_view path_major) {
  if (auto mismatch = PathMajorMismatch(v, path_major)) return InvalidVersion(v, *mismatch);
  return Ok();
}

std::string PathMajorPrefix(std::string_view path_major) {
  if (path_major.empty()) return "";
  if (path_major.front() != '/' && path_major.front() != '.') return "";  // x/mod panics
  if (StartsWith(path_major, ".v") && EndsWith(path_major, "-unstable")) {
    path_major.remove_suffix(std::string_view("-unstable").size());
  }
  std::string_view m = path_major.substr(1);
  if (m != semver::Major(m)) return "";  // x/mod panics
  return std::string(m);
}

bool IsPseudoVersion(std::string_view v) {
  if (std::count(v.begin(), v.end(), '-') < 2 || !semver::IsValid(v)) return false;
  // What remains is x/mod's regular expression
  //   ^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$
  // on a valid semantic version, where its structure is fixed: "vMAJOR.MINOR.PATCH",
  // then a prerelease (required: the first '-' before any '+'), then an optional
  // build suffix, which is always well-formed. So the question is about the prerelease
  // P (without its '-'): it must end in "-REV" (REV alphanumeric, so this '-' is P's
  // last), preceded by a 14-digit timestamp, preceded by either
  //   * nothing, with MINOR.PATCH = "0.0"             (form vX.0.0-yyyymmddhhmmss-rev), or
  //   * "0." at the start of P or after a '.'        (vX.Y.Z-[pre.]0.yyyymmddhhmmss-rev).
  std::string_view without_build = v.substr(0, v.find('+'));
  size_t dash = without_build.find('-');
  if (dash == std::string_view::npos) return false;       // no prerelease ('-'s in the build)
  std::string_view core = without_build.substr(0, dash);  // "vMAJOR.MINOR.PATCH"
  std::string_view pre = without_build.substr(dash + 1);  // P
  std::string_view minor_patch = core.substr(core.find('.') + 1);

  size_t rev_dash = pre.rfind('-');
  if (rev_dash == std::string_view::npos) return false;
  std::string_view rev = pre.substr(rev_dash + 1);
  if (rev.empty() || !std::all_of(rev.begin(), rev.end(), [](char c) { return IsAsciiAlnum(c); })) {
    return false;
  }
  std::string_view head = pre.substr(0, rev_dash);  // "...0.yyyymmddhhmmss" or the timestamp
  constexpr size_t kStamp = 14;
  if (head.size() < kStamp || !AllDigits(head.substr(head.size() - kStamp))) return false;
  if (head.size() == kStamp) return minor_patch == "0.0";
  std::string_view before = head.substr(0, head.size() - kStamp);
  if (!EndsWith(before, "0.")) return false;
  return before.size() == 2 || before[before.size() - 3] == '.';
}

}  // namespace modpub::module
