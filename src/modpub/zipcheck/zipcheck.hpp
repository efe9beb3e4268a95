// Package zipcheck: which files of a module tree go into its zip, and whether the
// tree can become a valid module zip at all.
//
// Mirrors the file checks of golang.org/x/mod/zip (checkFiles, as zip.Create runs it for
// the go command on the files `git archive` produced). One rule depends on the go version
// of the module's go.mod since x/mod 0.23 (go 1.24): which files count as vendored
// (IsVendoredPackage). go 1.19 to 1.23 apply the old rule to every module, so for a module
// whose go line says 1.24 or later the two can build different zips from one tree: the
// caller checks both (docs/go-versions.md). Each file is classified by the FIRST rule it
// meets, in this order:
//  1. invalid: path not clean (path.Clean; "" included) -- "file path is not clean";
//  2. invalid: absolute path -- "file path is not relative";
//  3. omitted: in a vendored package (IsVendoredPackage, by the rule given) -- "file is in
//     vendor directory";
//  4. omitted: under a directory other than the root holding a regular file named
//     "go.mod" in any case (a nested module; the go.mod itself included) -- "file is in
//     another module";
//  5. omitted: ".hg_archival.txt" at the root -- "file is inserted by 'hg archive' and is
//     always omitted";
//  6. invalid: module::CheckFilePath fails -- its message;
//  7. invalid: "go.mod" in another case at the root -- "go.mod files must have lowercase
//     names";
//  8. invalid: equal under Unicode simple case folding to an earlier path, or a file
//     where an earlier path has a directory or the reverse (x/mod's collisionChecker;
//     symbolic links and other files take part too, before they are omitted);
//  9. omitted: symbolic link -- "file is a symbolic link"; other non-regular file -- "not
//     a regular file";
// 10. the size of every file reaching this point counts towards kMaxZipFile
//     (`size_error` once exceeded), then invalid: root "go.mod" over kMaxGoMod or root
//     "LICENSE" over kMaxLICENSE bytes.
// A path already reported (omitted or invalid) is not reported again: a third copy of a
// duplicated file appears in no list.
//
// Not dropped here, as in the go command: directories named .git, .hg, .svn or .bzr. Only
// zip.CreateFromDir skips those (in its directory walk, x/mod zip.go:885, listFilesInDir);
// zip.Create / checkFiles, which the go command uses for VCS downloads, keep them.
// Entries are files; the go command drops `git archive`'s directory entries before the
// check, so no entry here is a directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modpub::zipcheck {

inline constexpr std::uint64_t kMaxZipFile = 500ull << 20;  // zip and unpacked size
inline constexpr std::uint64_t kMaxGoMod = 16ull << 20;
inline constexpr std::uint64_t kMaxLICENSE = 16ull << 20;

enum class FileKind { kRegular, kSymlink, kOther };

struct File {
  std::string path;  // slash-separated, relative to the module root
  FileKind kind = FileKind::kRegular;
  std::uint64_t size = 0;
};

struct FileError {
  std::string path;
  std::string reason;  // x/mod wording, e.g. "file is in another module"
};

struct CheckedFiles {
  std::vector<std::string> valid;  // paths that go into the zip, input order
  std::vector<FileError> omitted;  // dropped silently by the go command
  std::vector<FileError> invalid;  // make the zip impossible
  std::optional<std::string> size_error;

  bool ok() const { return invalid.empty() && !size_error; }
  // One human-readable line per problem ("<path>: <reason>", then the size error).
  std::vector<std::string> Problems() const;
};

// Which rule decides what is vendored: the old one (x/mod before 0.23, every go before
// 1.24, and current go for modules whose go line is older than 1.24 or absent), or the
// one current go applies to modules whose go line says 1.24 or later.
enum class VendorRule { kBeforeGo124, kGo124 };

CheckedFiles CheckFiles(const std::vector<File>& files, VendorRule rule = VendorRule::kBeforeGo124);

// x/mod zip.isVendoredPackage. kBeforeGo124 keeps its historical quirk: a nested
// "x/vendor/" is skipped by the length of "/vendor/" counted from the start of the path,
// so files directly inside a nested vendor directory count as vendored. kGo124 fixes
// that, and also drops "vendor/modules.txt", which the old rule keeps.
bool IsVendoredPackage(std::string_view path, VendorRule rule = VendorRule::kBeforeGo124);

}  // namespace modpub::zipcheck
