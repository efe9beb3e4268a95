// Unit tests for modpub::zipcheck. The first case is x/mod's own vector
// (zip/testdata/check_files/various.txt); the others pin down each rule and the order in
// which x/mod applies them. Expected results were checked against x/mod's zip.CheckFiles
// (tests/oracle/gomod_diff_test.cpp compares the two on generated file lists).

#include "modpub/zipcheck/zipcheck.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace modpub::zipcheck {
namespace {

File Reg(std::string path, std::uint64_t size = 0) {
  return File{std::move(path), FileKind::kRegular, size};
}
File Link(std::string path) { return File{std::move(path), FileKind::kSymlink, 0}; }
File Other(std::string path) { return File{std::move(path), FileKind::kOther, 0}; }

// "path: reason" lines of one list, for compact expectations.
std::vector<std::string> Lines(const std::vector<FileError>& errors) {
  std::vector<std::string> out;
  for (const FileError& e : errors) out.push_back(e.path + ": " + e.reason);
  return out;
}

using Strings = std::vector<std::string>;

TEST(CheckFiles, XModVariousVector) {
  CheckedFiles cf = CheckFiles({Reg("valid.go"), Reg("not/../clean"), Reg("GO.MOD"),
                                Reg("invalid.go'"), Reg("vendor/x/y"), Reg("sub/go.mod"),
                                Reg(".hg_archival.txt"), Reg("valid.go", 9), Reg("valid.go", 17)});
  EXPECT_EQ(cf.valid, Strings{"valid.go"});
  EXPECT_EQ(
      Lines(cf.omitted),
      (Strings{"vendor/x/y: file is in vendor directory", "sub/go.mod: file is in another module",
               ".hg_archival.txt: file is inserted by 'hg archive' and is always omitted"}));
  // The third valid.go is in no list: a path is reported once.
  EXPECT_EQ(Lines(cf.invalid),
            (Strings{"not/../clean: file path is not clean",
                     "GO.MOD: go.mod files must have lowercase names",
                     "invalid.go': malformed file path \"invalid.go'\": invalid char '\\''",
                     "valid.go: multiple entries for file \"valid.go\""}));
  EXPECT_FALSE(cf.size_error);
  EXPECT_FALSE(cf.ok());
}

TEST(CheckFiles, EmptyListIsValid) {
  CheckedFiles cf = CheckFiles({});
  EXPECT_TRUE(cf.ok());
  EXPECT_TRUE(cf.valid.empty());
  EXPECT_TRUE(cf.Problems().empty());
}

TEST(CheckFiles, ValidFilesKeepInputOrder) {
  CheckedFiles cf = CheckFiles({Reg("z.go"), Reg("go.mod"), Reg("a/b.go"), Reg("LICENSE")});
  EXPECT_TRUE(cf.ok());
  EXPECT_EQ(cf.valid, (Strings{"z.go", "go.mod", "a/b.go", "LICENSE"}));
}

TEST(CheckFiles, PathsMustBeCleanAndRelative) {
  CheckedFiles cf = CheckFiles({Reg("./a"), Reg("a/"), Reg("a//b"), Reg("a/./b"), Reg("a/.."),
                                Reg(""), Reg("/a"), Reg("/a/../b"), Reg(".."), Reg("../x")});
  EXPECT_TRUE(cf.valid.empty());
  EXPECT_EQ(Lines(cf.invalid),
            (Strings{"./a: file path is not clean", "a/: file path is not clean",
                     "a//b: file path is not clean", "a/./b: file path is not clean",
                     "a/..: file path is not clean", ": file path is not clean",
                     "/a: file path is not relative", "/a/../b: file path is not clean",
                     "..: malformed file path \"..\": invalid path element "
                     "\"..\"",
                     "../x: malformed file path \"../x\": invalid path "
                     "element \"..\""}));
}

TEST(IsVendoredPackage, RootVendorDirectory) {
  EXPECT_TRUE(IsVendoredPackage("vendor/a/b.go"));
  EXPECT_TRUE(IsVendoredPackage("vendor/a/b/c.go"));
  EXPECT_FALSE(IsVendoredPackage("vendor/modules.txt"));  // directly in vendor/: kept
  EXPECT_FALSE(IsVendoredPackage("vendor/a"));
  EXPECT_FALSE(IsVendoredPackage("vendor"));
  EXPECT_FALSE(IsVendoredPackage("vendorx/a/b.go"));
  EXPECT_FALSE(IsVendoredPackage("Vendor/a/b.go"));
}

TEST(IsVendoredPackage, Go124RuleDropsModulesTxtAndFixesTheNestedOffset) {
  constexpr auto kNew = VendorRule::kGo124;
  EXPECT_TRUE(IsVendoredPackage("vendor/modules.txt", kNew));  // kept before go 1.24
  EXPECT_TRUE(IsVendoredPackage("vendor/a/b.go", kNew));
  EXPECT_FALSE(IsVendoredPackage("vendor/a", kNew));
  EXPECT_FALSE(IsVendoredPackage("a/vendor/b.go", kNew));  // vendored before go 1.24
  EXPECT_FALSE(IsVendoredPackage("abc/vendor/modules.txt", kNew));
  EXPECT_TRUE(IsVendoredPackage("x/vendor/a/b.go", kNew));
  EXPECT_TRUE(IsVendoredPackage("a/b/vendor/c/d.go", kNew));
  EXPECT_FALSE(IsVendoredPackage("a/vendorx/b/c.go", kNew));
}

TEST(CheckFiles, VendorRuleDecidesWhichFilesAreValid) {
  std::vector<File> files = {{"go.mod", FileKind::kRegular, 10},
                             {"vendor/modules.txt", FileKind::kRegular, 5},
                             {"pkg/vendor/v.go", FileKind::kRegular, 5},
                             {"vendor/ex.com/q/q.go", FileKind::kRegular, 5}};
  EXPECT_EQ(CheckFiles(files).valid, (std::vector<std::string>{"go.mod", "vendor/modules.txt"}));
  EXPECT_EQ(CheckFiles(files, VendorRule::kGo124).valid,
            (std::vector<std::string>{"go.mod", "pkg/vendor/v.go"}));
}

TEST(IsVendoredPackage, NestedVendorDirectoryQuirk) {
  // The offset is counted from the start of the path: files directly in a nested vendor
  // directory count as vendored (they would not if the offset were right).
  EXPECT_TRUE(IsVendoredPackage("a/vendor/b.go"));
  EXPECT_TRUE(IsVendoredPackage("x/vendor/a/b.go"));
  EXPECT_TRUE(IsVendoredPackage("abc/vendor/modules.txt"));
  // ... unless no '/' follows byte 8.
  EXPECT_FALSE(IsVendoredPackage("/vendor/x"));
  EXPECT_FALSE(IsVendoredPackage("a/vendorx/b.go"));
  EXPECT_FALSE(IsVendoredPackage("a/xvendor/b/c.go"));
  EXPECT_FALSE(IsVendoredPackage("a/vendor"));
}

TEST(CheckFiles, VendoredFilesAreOmitted) {
  CheckedFiles cf =
      CheckFiles({Reg("vendor/modules.txt"), Reg("vendor/x/y.go"), Reg("a/vendor/b.go")});
  EXPECT_EQ(cf.valid, Strings{"vendor/modules.txt"});
  EXPECT_EQ(Lines(cf.omitted), (Strings{"vendor/x/y.go: file is in vendor directory",
                                        "a/vendor/b.go: file is in vendor directory"}));
  EXPECT_TRUE(cf.ok());
}

TEST(CheckFiles, NestedModulesAreOmitted) {
  CheckedFiles cf = CheckFiles({Reg("go.mod"), Reg("a.go"), Reg("sub/go.mod"), Reg("sub/a.go"),
                                Reg("sub/deep/b.go"), Reg("subx/c.go"), Reg("other/GO.MOD"),
                                Reg("other/d.go"), Link("lnk/go.mod"), Reg("lnk/e.go")});
  EXPECT_EQ(cf.valid, (Strings{"go.mod", "a.go", "subx/c.go", "lnk/e.go"}));
  EXPECT_EQ(
      Lines(cf.omitted),
      (Strings{"sub/go.mod: file is in another module", "sub/a.go: file is in another module",
               "sub/deep/b.go: file is in another module",
               "other/GO.MOD: file is in another module", "other/d.go: file is in another module",
               "lnk/go.mod: file is a symbolic link"}));
  EXPECT_TRUE(cf.ok());
}

TEST(CheckFiles, VendorIsCheckedBeforeNestedModules) {
  // vendor is checked before nested modules; a go.mod inside vendor/x still hides
  // everything else under vendor/x from later checks.
  CheckedFiles cf = CheckFiles(
      {Reg("vendor/x/go.mod"), Reg("vendor/x.go"), Reg("m/go.mod"), Reg("m/.hg_archival.txt")});
  EXPECT_EQ(cf.valid, Strings{"vendor/x.go"});
  EXPECT_EQ(Lines(cf.omitted), (Strings{"vendor/x/go.mod: file is in vendor directory",
                                        "m/go.mod: file is in another module",
                                        "m/.hg_archival.txt: file is in another module"}));
}

TEST(CheckFiles, HgArchivalOnlyAtTheRoot) {
  CheckedFiles cf = CheckFiles({Reg(".hg_archival.txt"), Reg("a/.hg_archival.txt")});
  EXPECT_EQ(cf.valid, Strings{"a/.hg_archival.txt"});
  EXPECT_EQ(cf.omitted.size(), 1u);
}

TEST(CheckFiles, GoModMustBeLowerCaseAtTheRoot) {
  CheckedFiles cf = CheckFiles({Reg("Go.Mod"), Reg("GO.mod"), Reg("go.mod"), Reg("go.modx")});
  EXPECT_EQ(cf.valid, (Strings{"go.mod", "go.modx"}));
  EXPECT_EQ(Lines(cf.invalid), (Strings{"Go.Mod: go.mod files must have lowercase names",
                                        "GO.mod: go.mod files must have lowercase names"}));
}

TEST(CheckFiles, CaseInsensitiveCollisions) {
  CheckedFiles cf =
      CheckFiles({Reg("a.go"), Reg("A.go"), Reg("dir/x"), Reg("DIR/y"), Reg("f"), Reg("f/g")});
  EXPECT_EQ(cf.valid, (Strings{"a.go", "dir/x", "f"}));
  EXPECT_EQ(Lines(cf.invalid),
            (Strings{"A.go: case-insensitive file name collision: \"a.go\" and \"A.go\"",
                     "DIR/y: case-insensitive file name collision: \"dir\" and \"DIR\"",
                     "f/g: entry \"f\" is both a file and a directory"}));
}

TEST(CheckFiles, FileAfterDirectoryOfTheSameName) {
  CheckedFiles cf = CheckFiles({Reg("d/x"), Reg("d")});
  EXPECT_EQ(Lines(cf.invalid), Strings{"d: entry \"d\" is both a file and a directory"});
}

TEST(CheckFiles, UnicodeSimpleFoldingCollisions) {
  // U+212A KELVIN SIGN folds with K and k; U+017F LONG S with S and s; É with é.
  CheckedFiles cf = CheckFiles({Reg("k.go"), Reg("\u212A.go"), Reg("\u017F"), Reg("S"),
                                Reg("\u00C9t\u00E9"), Reg("\u00E9T\u00C9")});
  EXPECT_EQ(cf.valid, (Strings{"k.go", "\u017F", "\u00C9t\u00E9"}));
  EXPECT_EQ(Lines(cf.invalid),
            (Strings{"\u212A.go: case-insensitive file name collision: \"k.go\" and \"\u212A.go\"",
                     "S: case-insensitive file name collision: \"\u017F\" and \"S\"",
                     "\u00E9T\u00C9: case-insensitive file name collision: \"\u00C9t\u00E9\" and "
                     "\"\u00E9T\u00C9\""}));
}

TEST(CheckFiles, SymlinksCollideBeforeTheyAreOmitted) {
  CheckedFiles cf = CheckFiles({Link("A"), Reg("a"), Other("p"), Link("q")});
  EXPECT_TRUE(cf.valid.empty());
  EXPECT_EQ(Lines(cf.omitted), (Strings{"A: file is a symbolic link", "p: not a regular file",
                                        "q: file is a symbolic link"}));
  EXPECT_EQ(Lines(cf.invalid), Strings{"a: case-insensitive file name collision: \"A\" and \"a\""});
}

TEST(CheckFiles, GoModAndLicenseSizeLimits) {
  CheckedFiles ok = CheckFiles({Reg("go.mod", kMaxGoMod), Reg("LICENSE", kMaxLICENSE)});
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.valid.size(), 2u);

  CheckedFiles big = CheckFiles({Reg("go.mod", kMaxGoMod + 1), Reg("LICENSE", kMaxLICENSE + 1),
                                 Reg("sub/LICENSE", kMaxLICENSE + 1), Reg("license", 1)});
  EXPECT_EQ(big.valid, (Strings{"sub/LICENSE"}));
  EXPECT_EQ(Lines(big.invalid),
            (Strings{"go.mod: go.mod file too large (max size is 16777216 bytes)",
                     "LICENSE: LICENSE file too large (max size is 16777216 bytes)",
                     "license: case-insensitive file name collision: \"LICENSE\" and "
                     "\"license\""}));
  EXPECT_FALSE(big.size_error);
}

TEST(CheckFiles, TotalSizeLimit) {
  const std::uint64_t half = kMaxZipFile / 2;
  CheckedFiles exact = CheckFiles({Reg("a", half), Reg("b", half), Reg("c", 0)});
  EXPECT_TRUE(exact.ok());

  CheckedFiles over = CheckFiles({Reg("a", half), Reg("b", half), Reg("c", 1), Reg("d", 1)});
  ASSERT_TRUE(over.size_error);
  EXPECT_EQ(*over.size_error, "module source tree too large (max size is 524288000 bytes)");
  // The files themselves stay valid; only the tree is too large.
  EXPECT_EQ(over.valid.size(), 4u);
  EXPECT_FALSE(over.ok());

  // Omitted files do not count; a go.mod that is too large still counts.
  CheckedFiles omitted = CheckFiles({Reg("vendor/a/b", kMaxZipFile), Reg("a", kMaxZipFile)});
  EXPECT_TRUE(omitted.ok());
  CheckedFiles gomod = CheckFiles({Reg("go.mod", kMaxGoMod + 1), Reg("a", kMaxZipFile)});
  EXPECT_TRUE(gomod.size_error);
}

TEST(CheckFiles, ProblemsListsInvalidThenSize) {
  CheckedFiles cf = CheckFiles({Reg("a", kMaxZipFile + 1), Reg("A"), Reg("vendor/x/y")});
  EXPECT_EQ(cf.Problems(), (Strings{"A: case-insensitive file name collision: \"a\" and \"A\"",
                                    "module source tree too large (max size is 524288000 bytes)"}));
}

}  // namespace
}  // namespace modpub::zipcheck
