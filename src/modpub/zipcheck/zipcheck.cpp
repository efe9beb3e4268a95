// Which files of a module tree go into its zip: x/mod zip's checkFiles, as zip.Create
// runs it for the go command. See zipcheck.hpp.
//
// The order of the checks matters and follows x/mod exactly: a file is classified by the
// first rule it breaks, and a path that was already reported once (omitted or invalid)
// is not reported again -- so a third copy of a duplicated file appears in no list at
// all, as in x/mod's testdata/check_files/various.txt.

#include "modpub/zipcheck/zipcheck.hpp"

#include <cstddef>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "modpub/module/gotext.hpp"
#include "modpub/module/module.hpp"

namespace modpub::zipcheck {
namespace {

// Errors, in x/mod's wording.
constexpr const char* kPathNotClean = "file path is not clean";
constexpr const char* kPathNotRelative = "file path is not relative";
constexpr const char* kGoModCase = "go.mod files must have lowercase names";
constexpr const char* kVendored = "file is in vendor directory";
constexpr const char* kSubmoduleFile = "file is in another module";
constexpr const char* kHgArchivalTxt = "file is inserted by 'hg archive' and is always omitted";
constexpr const char* kSymlink = "file is a symbolic link";
constexpr const char* kNotRegular = "not a regular file";

std::string GoModSizeError() {
  return "go.mod file too large (max size is " + std::to_string(kMaxGoMod) + " bytes)";
}
std::string LicenseSizeError() {
  return "LICENSE file too large (max size is " + std::to_string(kMaxLICENSE) + " bytes)";
}
std::string TreeSizeError() {
  return "module source tree too large (max size is " + std::to_string(kMaxZipFile) + " bytes)";
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Is `name` "go.mod" in any case? x/mod asks strings.EqualFold(base, "go.mod") (and, for
// the root, strings.ToLower(p) == "go.mod"). Under Go's simple case folding the runes
// g, o, '.', m, d are equivalent only to their ASCII case partners, and no non-ASCII rune
// lowers to one of them (only U+0130 -> 'i' and U+212A -> 'k' lower to ASCII), so an
// ASCII comparison of exactly six bytes gives the same answer for every input.
bool IsGoModAnyCase(std::string_view name) {
  static constexpr std::string_view kGoMod = "go.mod";
  if (name.size() != kGoMod.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (AsciiLower(name[i]) != kGoMod[i]) return false;
  }
  return true;
}

// path.Clean: the shortest lexically equivalent path ("" -> ".", "a/./b/../c" -> "a/c",
// "/.." -> "/", "../a" stays).
std::string CleanPath(std::string_view p) {
  const bool rooted = !p.empty() && p[0] == '/';
  std::vector<std::string_view> elems;
  std::size_t i = 0;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view elem = p.substr(i, j - i);
    i = j + 1;
    if (elem.empty() || elem == ".") continue;
    if (elem == "..") {
      if (!elems.empty() && elems.back() != "..") {
        elems.pop_back();
      } else if (!rooted) {
        elems.push_back(elem);  // a relative path may climb above its start
      }
      continue;
    }
    elems.push_back(elem);
  }
  std::string out = rooted ? "/" : "";
  for (std::size_t k = 0; k < elems.size(); ++k) {
    if (k > 0) out += '/';
    out += elems[k];
  }
  return out.empty() ? "." : out;
}

// path.Split's directory part: everything up to and including the last '/'.
std::string_view SplitDir(std::string_view p) {
  std::size_t i = p.rfind('/');
  return i == std::string_view::npos ? std::string_view() : p.substr(0, i + 1);
}
std::string_view SplitBase(std::string_view p) {
  std::size_t i = p.rfind('/');
  return i == std::string_view::npos ? p : p.substr(i + 1);
}

// ---------------------------------------------------------------------------------------
// Case folding as x/mod's strToFold: every rune becomes the smallest rune of its
// unicode.SimpleFold orbit, then A-Z become a-z. Equal folds <=> strings.EqualFold.

struct FoldRun {
  char32_t lo, hi;
  int stride;
  int delta;
};

#include "modpub/zipcheck/fold_table.inc"

char32_t FoldRune(char32_t r) {
  // Binary search for the last run starting at or below r; runs are sorted and disjoint.
  std::size_t lo = 0, hi = std::size(kFoldRuns);
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (kFoldRuns[mid].lo <= r) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo > 0) {
    const FoldRun& run = kFoldRuns[lo - 1];
    if (r <= run.hi && (r - run.lo) % static_cast<char32_t>(run.stride) == 0) {
      r = static_cast<char32_t>(static_cast<std::int64_t>(r) + run.delta);
    }
  }
  if (r >= 'A' && r <= 'Z') r += 'a' - 'A';
  return r;
}

std::string FoldPath(std::string_view s) {
  bool simple = true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80 || (c >= 'A' && c <= 'Z')) {
      simple = false;
      break;
    }
  }
  if (simple) return std::string(s);
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    // Invalid UTF-8 decodes to U+FFFD, one byte at a time, as Go's range loop does.
    module::DecodedRune d = module::DecodeRune(s);
    module::AppendUTF8(out, FoldRune(d.rune));
    s.remove_prefix(d.width);
  }
  return out;
}

// x/mod's collisionChecker: paths equal under case folding, and a path used both as a
// file and as a directory. Each path also registers its parent directories.
class CollisionChecker {
 public:
  // Error text, or "" if `p` (clean, relative) may be added.
  std::string Check(std::string_view p, bool is_dir) {
    std::string fold = FoldPath(p);
    auto it = seen_.find(fold);
    if (it != seen_.end()) {
      const Entry& other = it->second;
      if (p != other.path) {
        return "case-insensitive file name collision: " + module::Quote(other.path) + " and " +
               module::Quote(p);
      }
      if (is_dir != other.is_dir)
        return "entry " + module::Quote(p) + " is both a file and a directory";
      if (!is_dir) return "multiple entries for file " + module::Quote(p);
      // The same directory again: fine, every file under it registers it.
    } else {
      seen_.emplace(std::move(fold), Entry{std::string(p), is_dir});
    }
    // path.Dir of a clean relative path: all before the last '/', or "." for none.
    std::size_t slash = p.rfind('/');
    if (slash == std::string_view::npos) return "";
    return Check(p.substr(0, slash), true);
  }

 private:
  struct Entry {
    std::string path;
    bool is_dir;
  };
  std::unordered_map<std::string, Entry> seen_;
};

}  // namespace

bool IsVendoredPackage(std::string_view path, VendorRule rule) {
  const bool go124 = rule == VendorRule::kGo124;
  if (go124 && path == "vendor/modules.txt") return true;
  std::size_t i;
  if (StartsWith(path, "vendor/")) {
    i = std::string_view("vendor/").size();
  } else if (std::size_t j = path.find("/vendor/"); j != std::string_view::npos) {
    // The quirk (golang.org/issue/31562, /37397): before go 1.24 the offset is counted
    // from the start of the path rather than from the "/vendor/" found, so files directly
    // inside a nested vendor directory (and of packages whose path ends in "vendor")
    // count as vendored. x/mod fixed it only for modules declaring go 1.24 or later, so
    // that existing checksums stay valid.
    i = std::string_view("/vendor/").size() + (go124 ? j : 0);
  } else {
    return false;
  }
  return path.substr(i).find('/') != std::string_view::npos;
}

std::vector<std::string> CheckedFiles::Problems() const {
  std::vector<std::string> out;
  out.reserve(invalid.size() + 1);
  for (const FileError& e : invalid) out.push_back(e.path + ": " + e.reason);
  if (size_error) out.push_back(*size_error);
  return out;
}

CheckedFiles CheckFiles(const std::vector<File>& files, VendorRule rule) {
  CheckedFiles cf;
  std::unordered_set<std::string> reported;  // each path is reported at most once
  auto report = [&](const std::string& p, bool omitted, std::string reason) {
    if (!reported.insert(p).second) return;
    (omitted ? cf.omitted : cf.invalid).push_back(FileError{p, std::move(reason)});
  };

  // Directories holding a go.mod (a regular file, any case) other than the root are
  // nested modules: every file under them is left out. Keys end in '/', like path.Split.
  std::unordered_set<std::string> nested_roots;
  for (const File& f : files) {
    if (IsGoModAnyCase(SplitBase(f.path)) && f.kind == FileKind::kRegular) {
      nested_roots.emplace(SplitDir(f.path));
    }
  }
  auto in_nested_module = [&](std::string_view p) {
    for (;;) {
      std::string_view dir = SplitDir(p);
      if (dir.empty()) return false;  // the root's own go.mod does not count
      if (nested_roots.count(std::string(dir)) != 0) return true;
      p = dir.substr(0, dir.size() - 1);
    }
  };

  CollisionChecker collisions;
  // x/mod keeps sizes as int64 and subtracts from the remaining budget.
  std::int64_t budget = static_cast<std::int64_t>(kMaxZipFile);
  for (const File& f : files) {
    const std::string& p = f.path;
    if (p != CleanPath(p)) {
      report(p, false, kPathNotClean);
      continue;
    }
    if (StartsWith(p, "/")) {
      report(p, false, kPathNotRelative);
      continue;
    }
    if (IsVendoredPackage(p, rule)) {
      report(p, true, kVendored);
      continue;
    }
    if (in_nested_module(p)) {
      report(p, true, kSubmoduleFile);
      continue;
    }
    if (p == ".hg_archival.txt") {  // dropped whatever the VCS, as the go command does
      report(p, true, kHgArchivalTxt);
      continue;
    }
    if (Status s = module::CheckFilePath(p); !s.ok()) {
      report(p, false, s.message());
      continue;
    }
    if (IsGoModAnyCase(p) && p != "go.mod") {
      report(p, false, kGoModCase);
      continue;
    }
    // Entries given to zip.Create are never directories (the go command drops the
    // directory entries of `git archive` first). Note that a symbolic link takes part in
    // collision checking before it is omitted, as in x/mod.
    if (std::string err = collisions.Check(p, /*is_dir=*/false); !err.empty()) {
      report(p, false, std::move(err));
      continue;
    }
    if (f.kind == FileKind::kSymlink) {
      report(p, true, kSymlink);
      continue;
    }
    if (f.kind != FileKind::kRegular) {
      report(p, true, kNotRegular);
      continue;
    }
    const auto size = static_cast<std::int64_t>(f.size);
    if (size >= 0 && size <= budget) {
      budget -= size;
    } else if (!cf.size_error) {
      cf.size_error = TreeSizeError();
    }
    if (p == "go.mod" && size > static_cast<std::int64_t>(kMaxGoMod)) {
      report(p, false, GoModSizeError());
      continue;
    }
    if (p == "LICENSE" && size > static_cast<std::int64_t>(kMaxLICENSE)) {
      report(p, false, LicenseSizeError());
      continue;
    }
    cf.valid.push_back(p);
  }
  return cf;
}

}  // namespace modpub::zipcheck
