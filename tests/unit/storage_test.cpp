// storage: layout-specific cases of the disk backends, URL parsing, and the immutability
// rule itself. What every backend must do is in storage_conformance_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/module.hpp"
#include "modpub/storage/athens_disk.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/storage/open.hpp"
#include "support/storage_fixtures.hpp"
#include "support/temp_repo.hpp"

namespace modpub::storage {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::Fabricator;
using ::modpub::testing::ReadAll;
using ::modpub::testing::TempDir;
using ::modpub::testing::Tree;
using ::modpub::testing::WriteAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Files are created like any other file (0666/0777 minus the umask), so that a web server
// or an Athens running as another user can read them.
TEST(DiskBackends, FilesAreReadableByOthers) {
  for (const std::string scheme : {"file://", "athens-disk://"}) {
    SCOPED_TRACE(scheme);
    TempDir tmp;
    Fabricator fab(tmp.path());
    auto b = OpenBackend(scheme + (tmp.path() / "t").string()).value();
    auto f = fab.Make("corp.example/lib", "v1.0.0");
    mode_t old = umask(022);
    auto r = b->Put(f);
    umask(old);
    ASSERT_TRUE(r.ok()) << r.message();
    const std::vector<fs::path> files =
        scheme == "file://" ? std::vector<fs::path>{"corp.example/lib/@v/v1.0.0.zip",
                                                    "corp.example/lib/@v/v1.0.0.mod",
                                                    "corp.example/lib/@v/v1.0.0.info"}
                            : std::vector<fs::path>{"corp.example/lib/v1.0.0/source.zip",
                                                    "corp.example/lib/v1.0.0/go.mod",
                                                    "corp.example/lib/v1.0.0/v1.0.0.info"};
    for (const auto& rel : files) {
      struct stat st;
      ASSERT_EQ(::stat((tmp.path() / "t" / rel).c_str(), &st), 0) << rel;
      EXPECT_EQ(st.st_mode & 0777, 0644u) << rel;
      ASSERT_EQ(::stat((tmp.path() / "t" / rel).parent_path().c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 0777, 0755u) << rel;
    }
  }
}

// --- layout-specific ----------------------------------------------------------------------

TEST(FsTree, ListFileIsSortedAndDeduplicated) {
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto b = OpenBackend("file://" + (tmp.path() / "t").string()).value();
  for (const auto& v : {"v1.10.0", "v1.2.0", "v1.2.0", "v1.2.0-pre", "v1.10.0"}) {
    ASSERT_TRUE(b->Put(fab.Make("corp.example/lib", v)).ok());
  }
  EXPECT_EQ(ReadAll(tmp.path() / "t/corp.example/lib/@v/list"), "v1.2.0-pre\nv1.2.0\nv1.10.0\n");
}

TEST(FsTree, EscapesPathAndVersion) {
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto b = OpenBackend("file://" + (tmp.path() / "t").string()).value();
  ASSERT_TRUE(b->Put(fab.Make("corp.example/Corp/Lib", "v1.0.0-RC1")).ok());
  EXPECT_TRUE(fs::exists(tmp.path() / "t/corp.example/!corp/!lib/@v/v1.0.0-!r!c1.zip"));
  EXPECT_EQ(ReadAll(tmp.path() / "t/corp.example/!corp/!lib/@v/list"), "v1.0.0-RC1\n");
}

TEST(FsTree, ListedWithoutFilesIsDamaged) {
  TempDir tmp;
  auto b = OpenBackend("file://" + (tmp.path() / "t").string()).value();
  WriteAll(tmp.path() / "t/corp.example/lib/@v/list", "v1.0.0\n");
  auto st = b->Stat("corp.example/lib", "v1.0.0");
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ((*st)->state, VersionState::kDamaged);
  Fabricator fab(tmp.path());
  auto r = b->Put(fab.Make("corp.example/lib", "v1.0.0"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kRefused);
  EXPECT_FALSE(fs::exists(tmp.path() / "t/corp.example/lib/@v/v1.0.0.zip"));
}

TEST(FsTree, FilesWithoutListEntryAreIncomplete) {
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto f = fab.Make("corp.example/lib", "v1.0.0");
  // What a publish killed before its list update leaves.
  const fs::path dir = tmp.path() / "t/corp.example/lib/@v";
  fs::create_directories(dir);
  fs::copy_file(f.zip, dir / "v1.0.0.zip");
  WriteAll(dir / "v1.0.0.mod", f.mod);
  WriteAll(dir / "v1.0.0.info", f.info);
  auto b = OpenBackend("file://" + (tmp.path() / "t").string()).value();
  auto vs = b->ListVersions("corp.example/lib");
  ASSERT_TRUE(vs.ok());
  ASSERT_EQ(vs->size(), 1u);
  EXPECT_EQ((*vs)[0].state, VersionState::kIncomplete);
  EXPECT_THAT((*vs)[0].detail, HasSubstr("list entry missing"));
}

TEST(AthensDisk, ExtraFileOrEmptyDirectoryIsDamaged) {
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto b = OpenBackend("athens-disk://" + (tmp.path() / "a").string()).value();
  auto f = fab.Make("corp.example/lib", "v1.0.0");
  ASSERT_TRUE(b->Put(f).ok());
  WriteAll(tmp.path() / "a/corp.example/lib/v1.0.0/extra", "x");
  auto st = b->Stat(f.path, f.version);
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ((*st)->state, VersionState::kDamaged);
  EXPECT_THAT((*st)->detail, HasSubstr("unexpected entry extra"));
  auto r = b->Put(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kRefused);
  EXPECT_TRUE(fs::exists(tmp.path() / "a/corp.example/lib/v1.0.0/extra"));

  fs::create_directories(tmp.path() / "a/corp.example/lib/v1.1.0");
  auto g = fab.Make("corp.example/lib", "v1.1.0");
  r = b->Put(g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kRefused);
  EXPECT_THAT(r->message, HasSubstr("empty version directory"));
}

// Athens lists every subdirectory of a module directory as a version, so modpub stages in
// the root; a writer removes only its own module's leftovers (other modules' writers hold
// other locks and may be staging right now).
TEST(AthensDisk, StagesInTheRootAndRemovesOnlyItsOwnModulesLeftovers) {
  TempDir tmp;
  Fabricator fab(tmp.path());
  const fs::path root = tmp.path() / "a";
  auto b = OpenBackend("athens-disk://" + root.string()).value();
  auto tag = [](const std::string& path) {
    return dirhash::Hex(dirhash::Sha256::Of(path)).substr(0, 16);
  };
  const fs::path own = root / (".modpub-tmp-" + tag("corp.example/lib") + "-1-a");
  const fs::path other = root / (".modpub-tmp-" + tag("corp.example/other") + "-1-b");
  fs::create_directories(own);
  fs::create_directories(other);
  auto f = fab.Make("corp.example/lib", "v1.0.0");
  auto r = b->Put(f);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->outcome, PutOutcome::kPublished);
  EXPECT_FALSE(fs::exists(own));
  EXPECT_TRUE(fs::exists(other));
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(root / "corp.example/lib")) {
    entries.push_back(e.path().filename().string());
  }
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ElementsAre(".modpub.lock", "v1.0.0"));
}

TEST(AthensDisk, VersionDirectoryNamesFollowAthens) {
  EXPECT_TRUE(AthensDisk::IsVersionDirName("v1.0.0"));
  EXPECT_TRUE(AthensDisk::IsVersionDirName("v2.0.0+incompatible"));
  EXPECT_TRUE(AthensDisk::IsVersionDirName("v1.0.0-rc.1"));
  EXPECT_FALSE(AthensDisk::IsVersionDirName("v2"));  // a /v2 module directory
  EXPECT_FALSE(AthensDisk::IsVersionDirName(".modpub-tmp-1-2"));
  EXPECT_FALSE(AthensDisk::IsVersionDirName("lib"));
}

// --- URLs -------------------------------------------------------------------------------

TEST(OpenBackend, AcceptsAbsoluteFileAndAthensUrls) {
  auto a = OpenBackend("file:///srv/goproxy/");
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ((*a)->Name(), "file:///srv/goproxy/");
  EXPECT_TRUE(OpenBackend("file://localhost/srv/goproxy").ok());
  EXPECT_TRUE(OpenBackend("athens-disk:///var/lib/athens").ok());
  EXPECT_TRUE(OpenBackend("file:///srv/go%20proxy").ok());
}

TEST(OpenBackend, RefusesBadUrls) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"ftp://host/prefix", "unknown scheme \"ftp\""},
      {"http://example.com/x", "unknown scheme \"http\""},
      {"/srv/goproxy", "has no scheme"},
      {"file://relative/dir", "must be absolute"},
      {"file://", "must be absolute"},
      {"file:relative", "has no scheme"},
      {"athens-disk://rel", "must be absolute"},
      {"file:///srv/../etc", "\"..\" are not allowed"},
      {"file:///srv/x?y=1", "query"},
      {"file:///srv/%zz", "malformed %-escape"},
  };
  for (const auto& [url, why] : bad) {
    auto b = OpenBackend(url);
    ASSERT_FALSE(b.ok()) << url;
    EXPECT_THAT(b.message(), HasSubstr(why)) << url;
    EXPECT_THAT(b.message(), HasSubstr(url)) << url;
  }
}

// --- the rule itself ----------------------------------------------------------------------

std::vector<StoredPart> Parts(const std::string& states) {
  std::vector<StoredPart> out;
  for (char c : states) {
    StoredPart p;
    p.name = std::string("p") + static_cast<char>('0' + out.size());
    p.state = c == 'S' ? PartState::kSame : c == 'D' ? PartState::kDifferent : PartState::kAbsent;
    p.difference = "stored X, new Y";
    out.push_back(p);
  }
  return out;
}

TEST(Decide, ImmutabilityRule) {
  EXPECT_EQ(Decide("m@v", Parts("AAAA"), true).kind, Decision::kWrite);
  EXPECT_EQ(Decide("m@v", Parts("AAAA"), false).kind, Decision::kWrite);
  EXPECT_EQ(Decide("m@v", Parts("SSSS"), true).kind, Decision::kUnchanged);
  auto d = Decide("m@v", Parts("SSAA"), true);
  EXPECT_EQ(d.kind, Decision::kWrite);
  EXPECT_EQ(d.first_absent, 2u);
  EXPECT_THAT(d.message, HasSubstr("p0, p1 already stored"));
  EXPECT_EQ(Decide("m@v", Parts("SSAA"), false).kind, Decision::kDamaged);
  EXPECT_EQ(Decide("m@v", Parts("SASS"), true).kind, Decision::kDamaged);
  EXPECT_EQ(Decide("m@v", Parts("AAAS"), true).kind, Decision::kDamaged);
  d = Decide("m@v", Parts("SDAD"), true);
  EXPECT_EQ(d.kind, Decision::kConflict);
  EXPECT_THAT(d.message, HasSubstr("p1: stored X, new Y; p3: stored X, new Y"));
  // A difference wins over damage: the user must learn that content differs.
  EXPECT_EQ(Decide("m@v", Parts("ADSA"), true).kind, Decision::kConflict);
}

// The list merge every layout with an @v/list uses.
TEST(VersionList, AddsAVersionInSemverOrderOnce) {
  EXPECT_EQ(VersionListWith({}, "v1.0.0"), "v1.0.0\n");
  EXPECT_EQ(VersionListWith({"v1.10.0", "v1.2.0"}, "v1.2.0-pre"), "v1.2.0-pre\nv1.2.0\nv1.10.0\n");
  EXPECT_EQ(VersionListWith({"v1.0.0", "v1.1.0"}, "v1.1.0"), "v1.0.0\nv1.1.0\n");
  EXPECT_TRUE(Listed({"v1.0.0", "v1.1.0"}, "v1.1.0"));
  EXPECT_FALSE(Listed({"v1.0.0"}, "v1.1.0"));
}

// How every backend ends a Put with the optional signature (backend.hpp, "Signatures").
TEST(FinishPut, StoresTheSignatureOnlyForACompleteVersion) {
  VersionFiles f;
  f.path = "corp.example/lib";
  f.version = "v1.0.0";
  f.sig = "a signature";
  int calls = 0;
  auto store = [&](SignatureWrite w) {
    return [&calls, w]() -> Result<SignatureWrite> {
      ++calls;
      return w;
    };
  };
  const PutResult refused{PutOutcome::kRefused, "damaged"};
  auto r = FinishPut(f, refused, "v1.0.0.sig", store({SignatureWrite::kWritten, ""}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kRefused);
  EXPECT_EQ(calls, 0);

  r = FinishPut(f, {PutOutcome::kUnchanged, ""}, "v1.0.0.sig",
                store({SignatureWrite::kWritten, ""}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kPublished);
  EXPECT_EQ(r->message, "added its signature");
  r = FinishPut(f, {PutOutcome::kUnchanged, ""}, "v1.0.0.sig",
                store({SignatureWrite::kAlreadyStored, ""}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kUnchanged);
  r = FinishPut(f, {PutOutcome::kPublished, ""}, "v1.0.0.sig",
                store({SignatureWrite::kDifferent, "stored X, new Y"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kRefused);
  EXPECT_THAT(r->message, HasSubstr("corp.example/lib@v1.0.0: its stored signature v1.0.0.sig "
                                    "differs from the new one"));
  EXPECT_THAT(r->message, HasSubstr("(stored X, new Y)"));
  EXPECT_EQ(calls, 3);

  f.sig.clear();  // no signature: nothing to store
  r = FinishPut(f, {PutOutcome::kUnchanged, ""}, "v1.0.0.sig",
                store({SignatureWrite::kWritten, ""}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, PutOutcome::kUnchanged);
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace modpub::storage
