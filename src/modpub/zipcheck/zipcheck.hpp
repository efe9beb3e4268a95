// Package zipcheck: which files of a module tree go into its zip, and whether the
// tree can become a valid module zip at all.
//
// Mirrors the file checks of golang.org/x/mod/zip (checkFiles used by zip.Create, as the
// go command runs it on the files `git archive` produced). For each file, in order:
//  * omitted silently (recorded in `omitted`): files of vendored packages
//    (IsVendoredPackage), files in a subdirectory holding its own go.mod (a nested
//    module; "go.mod" matched case-insensitively, regular files only), ".hg_archival.txt",
//    symbolic links and other non-regular files;
//  * invalid (recorded in `invalid`, the tree cannot be zipped): a path that is not clean
//    or is absolute, a path failing module::CheckFilePath, a "go.mod" in another case at
//    the root, two paths equal under Unicode case folding (file/file or file/directory),
//    go.mod over MaxGoMod or LICENSE over MaxLICENSE bytes;
//  * a total size of regular files over MaxZipFile sets `size_error`.
// Every problem is reported, not just the first.
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
  std::vector<std::string> valid;     // paths that go into the zip, input order
  std::vector<FileError> omitted;     // dropped silently by the go command
  std::vector<FileError> invalid;     // make the zip impossible
  std::optional<std::string> size_error;

  bool ok() const { return invalid.empty() && !size_error; }
  // One human-readable line per problem ("<path>: <reason>", then the size error).
  std::vector<std::string> Problems() const;
};

CheckedFiles CheckFiles(const std::vector<File>& files);

// x/mod zip.isVendoredPackage, including its historical quirk for paths under
// "vendor/" at the root versus nested "/vendor/" directories.
bool IsVendoredPackage(std::string_view path);

}  // namespace modpub::zipcheck
