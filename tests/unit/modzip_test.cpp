// modzip: which modules a tag publishes, what goes into the zip, and what is refused.
// The hashes themselves are checked against the real go command in tests/e2e.
#include "modpub/modzip/modzip.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <zip.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "modpub/dirhash/dirhash.hpp"
#include "support/temp_repo.hpp"

namespace modpub::modzip {
namespace {

using ::modpub::testing::TempDir;
using ::modpub::testing::TempRepo;
using ::testing::HasSubstr;

constexpr char kRoot[] = "corp.example/lib";

struct Fixture : ::testing::Test {
  TempRepo repo;
  TempDir out;

  git::Repository Open() {
    auto r = git::Repository::Open(repo.path());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return std::move(r.value());
  }
  Result<std::vector<ModuleVersion>> ResolveTag(const std::string& tag) {
    auto r = Open();
    return Resolve(r, kRoot, tag);
  }
  std::vector<std::string> Paths(const Result<std::vector<ModuleVersion>>& r) {
    std::vector<std::string> out_paths;
    if (!r) return {"error: " + r.message()};
    for (const auto& mv : *r) out_paths.push_back(mv.path + "@" + mv.version + " dir=" + mv.dir);
    return out_paths;
  }
  std::string ZipBytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

TEST_F(Fixture, RootModuleFromLightweightAndAnnotatedTags) {
  repo.Write("go.mod", "module corp.example/lib\n\ngo 1.19\n");
  repo.Write("lib.go", "package lib\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("v1.0.1", /*annotated=*/true);
  EXPECT_THAT(Paths(ResolveTag("v1.0.0")), ::testing::ElementsAre("corp.example/lib@v1.0.0 dir="));
  auto r = ResolveTag("v1.0.1");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ((*r)[0].mod, "module corp.example/lib\n\ngo 1.19\n");
  EXPECT_EQ((*r)[0].info, R"({"Version":"v1.0.1","Time":"2024-01-02T03:04:05Z"})");
}

TEST_F(Fixture, NonCanonicalAndNonSemverTagsAreRefused) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  for (const char* tag : {"v1.2", "v1.0.0+build", "1.0.0", "v01.0.0", "release-1", "v1"}) {
    repo.Tag(tag);
    auto r = ResolveTag(tag);
    ASSERT_FALSE(r.ok()) << tag;
    EXPECT_THAT(r.message(), HasSubstr(std::string(tag) + ": ")) << tag;
  }
  auto r = ResolveTag("v1.0.0+build");
  EXPECT_THAT(r.message(), HasSubstr("build metadata"));
}

TEST_F(Fixture, PseudoVersionTagIsRefused) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  repo.Tag("v0.0.0-20240102030405-abcdefabcdef");
  auto r = ResolveTag("v0.0.0-20240102030405-abcdefabcdef");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("pseudo-version"));
}

TEST_F(Fixture, SubdirectoryModuleNeedsItsOwnGoMod) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("a/b/go.mod", "module corp.example/lib/a/b\n");
  repo.Write("c/c.go", "package c\n");
  repo.Commit();
  repo.Tag("a/b/v1.2.3");
  repo.Tag("c/v1.0.0");
  EXPECT_THAT(Paths(ResolveTag("a/b/v1.2.3")),
              ::testing::ElementsAre("corp.example/lib/a/b@v1.2.3 dir=a/b"));
  auto r = ResolveTag("c/v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("c/v1.0.0: missing c/go.mod"));
}

TEST_F(Fixture, MajorVersionFromRootGoModOrMajorSubdirectory) {
  repo.Write("go.mod", "module corp.example/lib/v2\n");
  repo.Commit();
  repo.Tag("v2.0.0");
  EXPECT_THAT(Paths(ResolveTag("v2.0.0")),
              ::testing::ElementsAre("corp.example/lib/v2@v2.0.0 dir="));

  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("v3/go.mod", "module corp.example/lib/v3\n");
  repo.Commit();
  repo.Tag("v3.1.0");
  EXPECT_THAT(Paths(ResolveTag("v3.1.0")),
              ::testing::ElementsAre("corp.example/lib/v3@v3.1.0 dir=v3"));
}

TEST_F(Fixture, BothRootAndSubdirectoryClaimingTheMajorIsRefused) {
  repo.Write("go.mod", "module corp.example/lib/v2\n");
  repo.Write("v2/go.mod", "module corp.example/lib/v2\n");
  repo.Commit();
  repo.Tag("v2.0.0");
  auto r = ResolveTag("v2.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("both declare"));
}

TEST_F(Fixture, MajorTagWithoutSuffixIsRefusedWhenGoModExists) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  repo.Tag("v2.0.0");
  auto r = ResolveTag("v2.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(),
              HasSubstr("v2.0.0: go.mod has non-.../v2 module path \"corp.example/lib\""));
}

TEST_F(Fixture, IncompatibleWithoutGoModAndBesideMajorSubdirectory) {
  repo.Write("lib.go", "package lib\n");
  repo.Commit();
  repo.Tag("v2.0.0");
  EXPECT_THAT(Paths(ResolveTag("v2.0.0")),
              ::testing::ElementsAre("corp.example/lib@v2.0.0+incompatible dir="));
  auto r = ResolveTag("v2.0.0");
  EXPECT_EQ((*r)[0].mod, "module corp.example/lib\n");

  repo.Write("v3/go.mod", "module corp.example/lib/v3\n");
  repo.Commit();
  repo.Tag("v3.0.0");
  EXPECT_THAT(Paths(ResolveTag("v3.0.0")),
              ::testing::ElementsAre("corp.example/lib@v3.0.0+incompatible dir=",
                                     "corp.example/lib/v3@v3.0.0 dir=v3"));
}

TEST_F(Fixture, GoModDeclaringAnotherPathIsRefused) {
  repo.Write("go.mod", "module other.example/lib\n");
  repo.Write("sub/go.mod", "module corp.example/lib/elsewhere\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("sub/v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("v1.0.0: go.mod: declares module path \"other.example/lib\""));
  r = ResolveTag("sub/v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("\"corp.example/lib/sub\""));
}

TEST_F(Fixture, GoLineNewerThanTheNewestSupportedGoIsRefused) {
  repo.Write("go.mod", "module corp.example/lib\n\ngo 1.99\n");
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n\ngo 1.26.0\ntoolchain go1.26.8\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("sub/v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("v1.0.0: go.mod: go 1.99 is newer than go 1.26.8"));
  EXPECT_THAT(r.message(), HasSubstr("go 1.26.8 refuses to download it"));
  r = ResolveTag("sub/v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ((*r)[0].go_version, "1.26.0");
}

// For a module whose go line says 1.24 or later, go 1.24+ and go 1.19-1.23 decide
// differently what is vendored; a tree where that changes the zip is refused, file by file.
TEST_F(Fixture, FilesTheVendorRulesDisagreeOnAreRefusedFromGo124) {
  repo.Write("go.mod", "module corp.example/lib\n\ngo 1.24\n");
  repo.Write("a.go", "package lib\n");
  repo.Write("vendor/modules.txt", "# ex.com/q v1.0.0\n");
  repo.Write("vendor/ex.com/q/q.go", "package q\n");  // vendored under both rules
  repo.Write("pkg/vendor/v.go", "package vendor\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  auto g = Open();
  Status st = Check(g, (*r)[0]);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("v1.0.0: pkg/vendor/v.go: go 1.24 and later put this file "
                                      "into the zip, go 1.19 to 1.23 leave it out"));
  EXPECT_THAT(st.message(), HasSubstr("v1.0.0: vendor/modules.txt: go 1.19 to 1.23 put this "
                                      "file into the zip, go 1.24 and later leave it out"));
  EXPECT_THAT(st.message(), ::testing::Not(HasSubstr("q.go")));
}

TEST_F(Fixture, VendorFilesBothRulesAgreeOnArePublished) {
  repo.Write("go.mod", "module corp.example/lib\n\ngo 1.23\n");  // old rule for every go
  repo.Write("vendor/modules.txt", "# ex.com/q v1.0.0\n");
  repo.Write("vendor/ex.com/q/q.go", "package q\n");
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n\ngo 1.24\n");
  repo.Write("sub/vendor/ex.com/q/q.go", "package q\n");  // omitted by both rules
  repo.Write("sub/s.go", "package sub\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("sub/v1.0.0");
  for (const char* tag : {"v1.0.0", "sub/v1.0.0"}) {
    auto r = ResolveTag(tag);
    ASSERT_TRUE(r.ok()) << r.message();
    auto g = Open();
    EXPECT_TRUE(Check(g, (*r)[0]).ok()) << tag;
  }
}

TEST_F(Fixture, GoModWithoutModuleLineIsRefused) {
  repo.Write("go.mod", "go 1.19\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("missing module path"));
}

TEST_F(Fixture, TagOnTreeOrBlobOrMissingIsRefused) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  repo.Git("tag v1.0.0 HEAD^{tree}");
  repo.Git("tag v1.0.1 HEAD:go.mod");
  EXPECT_THAT(ResolveTag("v1.0.0").message(), HasSubstr("points at a tree, not a commit"));
  EXPECT_THAT(ResolveTag("v1.0.1").message(), HasSubstr("points at a blob, not a commit"));
  EXPECT_THAT(ResolveTag("v9.9.9").message(), HasSubstr("tag v9.9.9 does not exist"));
}

TEST_F(Fixture, NotARepository) {
  auto r = git::Repository::Open(out.path() / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("not a git repository"));
  r = git::Repository::Open(out.path());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("not a git repository"));
}

TEST_F(Fixture, BuildIsDeterministicAndCopiesRootLicense) {
  repo.Write("LICENSE", "root license\n");
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n");
  repo.Write("sub/x.go", "package sub\n");
  repo.Commit();
  repo.Tag("sub/v1.0.0");
  auto r = ResolveTag("sub/v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  auto g = Open();
  auto a = Build(g, (*r)[0], out.path() / "a.zip");
  auto b = Build(g, (*r)[0], out.path() / "b.zip");
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_EQ(a->sum, b->sum);
  EXPECT_EQ(ZipBytes(a->zip), ZipBytes(b->zip));
  EXPECT_THAT(a->sum, ::testing::StartsWith("h1:"));
  // The SHA-256 of the file's bytes, as S3's signed PUT needs it.
  EXPECT_EQ(a->zip_sha256, dirhash::Hex(dirhash::Sha256::Of(ZipBytes(a->zip))));
  EXPECT_EQ(a->zip_sha256, b->zip_sha256);
  // The names in the zip: sorted, prefixed, LICENSE copied from the root.
  std::string bytes = ZipBytes(a->zip);
  EXPECT_THAT(bytes, HasSubstr("corp.example/lib/sub@v1.0.0/LICENSE"));
  EXPECT_THAT(bytes, HasSubstr("corp.example/lib/sub@v1.0.0/x.go"));
  EXPECT_FALSE(std::filesystem::exists(out.path() / "a.zip.tmp"));
}

TEST_F(Fixture, CheckReportsEveryProblem) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("a.go", "package lib\n");
  repo.Write("A.go", "package lib\n");
  repo.Write("x/b.go", "package x\n");
  repo.Write("X/c.go", "package x\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  auto g = Open();
  Status st = Check(g, (*r)[0]);
  ASSERT_FALSE(st.ok());
  // One line per problem, each naming the tag.
  std::istringstream lines(st.message());
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_THAT(line, ::testing::StartsWith("v1.0.0: ")) << line;
  }
  EXPECT_EQ(n, 2) << st.message();
  auto built = Build(g, (*r)[0], out.path() / "c.zip");
  EXPECT_FALSE(built.ok());
  EXPECT_FALSE(std::filesystem::exists(out.path() / "c.zip"));
}

TEST_F(Fixture, NestedModuleIsDropped) {
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n");
  repo.Write("sub/inner/go.mod", "module corp.example/lib/sub/inner\n");
  repo.Write("sub/inner/x.go", "package inner\n");
  repo.Commit();
  repo.Tag("sub/v1.0.0");
  auto r = ResolveTag("sub/v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  auto g = Open();
  auto built = Build(g, (*r)[0], out.path() / "e.zip");
  ASSERT_TRUE(built.ok()) << built.message();
  // Only go.mod remains: the nested module is dropped.
  EXPECT_THAT(ZipBytes(built->zip), HasSubstr("sub@v1.0.0/go.mod"));
  EXPECT_THAT(ZipBytes(built->zip), ::testing::Not(HasSubstr("inner")));
}

TEST_F(Fixture, EmptyTreeGivesAnEmptyZip) {
  repo.Commit("empty");
  repo.Tag("v0.1.0");
  auto r = ResolveTag("v0.1.0");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ((*r)[0].mod, "module corp.example/lib\n");
  auto g = Open();
  auto built = Build(g, (*r)[0], out.path() / "empty.zip");
  ASSERT_TRUE(built.ok()) << built.message();
  std::string bytes = ZipBytes(built->zip);
  ASSERT_EQ(bytes.size(), 22u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("PK\x05\x06", 4));
  // h1 over no files is the hash of the empty string.
  EXPECT_EQ(built->sum, "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_EQ(built->zip_sha256, dirhash::Hex(dirhash::Sha256::Of(bytes)));
}

// Source-like text of `size` bytes, different for each seed.
std::string Text(std::size_t size, std::uint32_t seed) {
  static const char* const kWords[] = {"func",  "return", "err",   "nil",   "if",     "for",
                                       "range", "struct", "value", "index", "buffer", "module"};
  std::string s;
  std::uint32_t x = seed * 2654435761u + 1;
  while (s.size() < size) {
    x = x * 1664525u + 1013904223u;
    s += kWords[(x >> 16) % 12];
    s += (x >> 8) % 7 == 0 ? "\n" : " ";
    if ((x >> 4) % 13 == 0) s += std::to_string(x % 100000);
  }
  s.resize(size);
  return s;
}

// The zip libzip makes on its own from the same files (its own deflate for every entry),
// with the entry settings modzip documents: the reference for modzip's bytes.
std::string LibzipOnlyZip(const std::filesystem::path& path,
                          const std::map<std::string, std::string>& files) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  if (!z) return "zip_open failed";
  for (const auto& [name, data] : files) {
    zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
    zip_int64_t i = zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (i < 0) return "zip_file_add failed";
    auto e = static_cast<zip_uint64_t>(i);
    zip_set_file_compression(z, e, ZIP_CM_DEFLATE, 6);
    zip_file_set_dostime(z, e, 0, (1 << 5) | 1, 0);
    zip_file_set_external_attributes(z, e, 0, ZIP_OPSYS_UNIX, 0100644u << 16);
  }
  if (zip_close(z) != 0) return "zip_close failed";
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// modzip deflates files ahead of libzip on a second thread, except empty files and files
// too large for its memory budget, which libzip deflates itself: every entry must come
// out byte for byte as libzip alone would write it, whoever deflated it.
TEST_F(Fixture, ZipBytesEqualLibzipAlone) {
  std::map<std::string, std::string> files;
  files["go.mod"] = "module corp.example/lib\n";
  files["empty.go"] = "";
  files["big/large.txt"] = Text(9u << 20, 1);  // over half the worker's budget
  files["big/medium.txt"] = Text(3u << 20, 2);
  for (int i = 0; i < 60; ++i) {
    files["pkg/f" + std::to_string(i) + ".go"] = Text(1000u + 7919u * i, 10 + i);
  }
  for (const auto& [name, data] : files) repo.Write(name, data);
  repo.Commit();
  repo.Tag("v1.0.0");
  auto r = ResolveTag("v1.0.0");
  ASSERT_TRUE(r.ok()) << r.message();
  auto g = Open();
  auto built = Build(g, (*r)[0], out.path() / "m.zip");
  ASSERT_TRUE(built.ok()) << built.message();

  std::map<std::string, std::string> named;
  for (const auto& [name, data] : files) named["corp.example/lib@v1.0.0/" + name] = data;
  std::string want = LibzipOnlyZip(out.path() / "ref.zip", named);
  std::string got = ZipBytes(built->zip);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "modzip's zip differs from libzip's own";
}

}  // namespace
}  // namespace modpub::modzip
