// storage: the backends' contract (backend.hpp), run as one parametrized suite over every
// backend. A backend joins the suite by providing a Harness: its URL for a root directory
// and the few layout-specific operations the tests need to inspect or damage what is
// stored (for an S3 backend: keys in a test bucket instead of files).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/module.hpp"
#include "modpub/storage/athens_disk.hpp"
#include "modpub/storage/atomic_file.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/storage/open.hpp"
#include "support/temp_repo.hpp"

namespace modpub::storage {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// A real zip holding `files` (name -> contents), written with libzip.
void MakeZip(const fs::path& p, const std::map<std::string, std::string>& files) {
  int err = 0;
  fs::remove(p);
  zip_t* z = zip_open(p.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, data] : files) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    zip_int64_t idx = zip_file_add(z, name.c_str(), s, 0);
    ASSERT_GE(idx, 0);
    // A fixed time, so that the same files always give the same bytes.
    ASSERT_EQ(zip_file_set_dostime(z, static_cast<zip_uint64_t>(idx), 0, (1 << 5) | 1, 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

// Module files as modzip would hand them over; the zip is real, its sum made up (the
// storage layer only reports it).
class Fabricator {
 public:
  explicit Fabricator(const fs::path& dir) : dir_(dir) {}
  VersionFiles Make(const std::string& path, const std::string& version,
                    const std::string& flavor = "") {
    VersionFiles f;
    f.path = path;
    f.version = version;
    f.mod = "module " + path + "\n\ngo 1.19\n" + flavor;
    f.info = R"({"Version":")" + version + R"(","Time":"2024-01-02T03:04:05Z"})";
    f.zip = dir_ / (std::to_string(counter_++) + ".zip");
    MakeZip(f.zip, {{path + "@" + version + "/go.mod", f.mod},
                    {path + "@" + version + "/x.go", "package x\n// " + flavor + "\n"}});
    f.sum = "h1:fake-zip-" + version + "-" + flavor;
    f.gomod_sum = dirhash::HashGoMod(path, version, f.mod);
    return f;
  }

 private:
  fs::path dir_;
  int counter_ = 0;
};

// What the suite needs to know about one backend's layout.
class Harness {
 public:
  virtual ~Harness() = default;
  virtual std::string Name() const = 0;
  virtual std::string Url(const fs::path& root) const = 0;
  // Does an interrupted publish leave a state that re-publishing completes?
  virtual bool Resumable() const = 0;
  // The stored file of part i (0 zip, 1 mod, 2 info) of path@version.
  virtual fs::path PartFile(const fs::path& root, const std::string& path,
                            const std::string& version, int part) const = 0;
  // Every file a complete version consists of, relative to the root (locks excluded).
  virtual std::vector<std::string> ExpectedFiles(const std::string& path,
                                                 const std::string& version) const = 0;
  // Leaves exactly what a publish of `f` killed after its first `steps` writes leaves.
  virtual void SimulateCrash(const fs::path& root, const VersionFiles& f, int steps) const = 0;
  // How many write steps a publish has (for SimulateCrash).
  virtual int Steps() const = 0;
};

class FsTreeHarness : public Harness {
 public:
  std::string Name() const override { return "FsTree"; }
  std::string Url(const fs::path& root) const override { return "file://" + root.string(); }
  bool Resumable() const override { return true; }
  fs::path Dir(const fs::path& root, const std::string& path) const {
    return root / module::EscapePath(path).value() / "@v";
  }
  fs::path PartFile(const fs::path& root, const std::string& path, const std::string& version,
                    int part) const override {
    static const char* const kExt[] = {".zip", ".mod", ".info"};
    return Dir(root, path) / (module::EscapeVersion(version).value() + kExt[part]);
  }
  std::vector<std::string> ExpectedFiles(const std::string& path,
                                         const std::string& version) const override {
    std::string d = module::EscapePath(path).value() + "/@v/";
    std::string v = module::EscapeVersion(version).value();
    return {d + "list", d + v + ".info", d + v + ".mod", d + v + ".zip"};
  }
  void SimulateCrash(const fs::path& root, const VersionFiles& f, int steps) const override {
    fs::create_directories(Dir(root, f.path));
    if (steps > 0) fs::copy_file(f.zip, PartFile(root, f.path, f.version, 0));
    if (steps > 1) WriteAll(PartFile(root, f.path, f.version, 1), f.mod);
    if (steps > 2) WriteAll(PartFile(root, f.path, f.version, 2), f.info);
    // A half-written temporary of the next step.
    WriteAll(Dir(root, f.path) / ".modpub-tmp-99999-abc", "half");
  }
  int Steps() const override { return 4; }
};

class AthensHarness : public Harness {
 public:
  std::string Name() const override { return "AthensDisk"; }
  std::string Url(const fs::path& root) const override { return "athens-disk://" + root.string(); }
  bool Resumable() const override { return false; }
  fs::path PartFile(const fs::path& root, const std::string& path, const std::string& version,
                    int part) const override {
    const std::string names[] = {"source.zip", "go.mod", version + ".info"};
    return root / path / version / names[part];
  }
  std::vector<std::string> ExpectedFiles(const std::string& path,
                                         const std::string& version) const override {
    std::string d = path + "/" + version + "/";
    return {d + "go.mod", d + "source.zip", d + version + ".info"};
  }
  void SimulateCrash(const fs::path& root, const VersionFiles& f, int steps) const override {
    // modpub fills a temporary directory in the root, tagged with the first 16 hex digits
    // of the module path's sha256, and renames it: a crash leaves only that.
    std::string tag = dirhash::Hex(dirhash::Sha256::Of(f.path)).substr(0, 16);
    fs::path tmp = root / (".modpub-tmp-" + tag + "-99999-abc");
    fs::create_directories(tmp);
    if (steps > 0) fs::copy_file(f.zip, tmp / "source.zip");
    if (steps > 1) WriteAll(tmp / "go.mod", f.mod);
    if (steps > 2) WriteAll(tmp / (f.version + ".info"), f.info);
  }
  int Steps() const override { return 4; }
};

// Files under `root`, relative, sorted; modpub's lock files left out.
std::vector<std::string> Tree(const fs::path& root) {
  std::vector<std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().filename() == ".modpub.lock") continue;
    out.push_back(e.path().lexically_relative(root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class BackendTest : public ::testing::TestWithParam<std::shared_ptr<Harness>> {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "store";
    auto b = OpenBackend(h().Url(root_));
    ASSERT_TRUE(b.ok()) << b.message();
    backend_ = std::move(*b);
  }
  const Harness& h() const { return *GetParam(); }
  Backend& backend() { return *backend_; }
  PutResult MustPut(const VersionFiles& f) {
    auto r = backend().Put(f);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : PutResult{PutOutcome::kRefused, "error: " + r.message()};
  }
  std::vector<std::string> CompleteVersions(const std::string& path) {
    auto vs = backend().ListVersions(path);
    EXPECT_TRUE(vs.ok()) << vs.message();
    std::vector<std::string> out;
    if (!vs.ok()) return out;
    for (const auto& v : *vs) {
      if (v.state == VersionState::kComplete) out.push_back(v.version);
    }
    return out;
  }
  VersionState StateOf(const std::string& path, const std::string& version) {
    auto s = backend().Stat(path, version);
    EXPECT_TRUE(s.ok() && s->has_value());
    return s.ok() && s->has_value() ? (*s)->state : VersionState::kDamaged;
  }
  void ExpectStored(const VersionFiles& f) {
    EXPECT_EQ(ReadAll(h().PartFile(root_, f.path, f.version, 0)), ReadAll(f.zip));
    EXPECT_EQ(ReadAll(h().PartFile(root_, f.path, f.version, 1)), f.mod);
    EXPECT_EQ(ReadAll(h().PartFile(root_, f.path, f.version, 2)), f.info);
  }

  TempDir tmp_;
  fs::path root_;
  Fabricator fab_{tmp_.path()};
  std::unique_ptr<Backend> backend_;
};

TEST_P(BackendTest, PutIfAbsentStoresExactlyTheLayoutsFiles) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  auto r = MustPut(f);
  EXPECT_EQ(r.outcome, PutOutcome::kPublished);
  EXPECT_EQ(r.message, "");
  ExpectStored(f);
  auto expected = h().ExpectedFiles(f.path, f.version);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Tree(root_), expected);
  EXPECT_EQ(StateOf(f.path, f.version), VersionState::kComplete);
  EXPECT_THAT(CompleteVersions(f.path), ElementsAre("v1.0.0"));
  auto mods = backend().ListModules();
  ASSERT_TRUE(mods.ok()) << mods.message();
  EXPECT_THAT(*mods, ElementsAre("corp.example/lib"));
  auto absent = backend().Stat(f.path, "v1.9.9");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_P(BackendTest, FilesAreReadableByOthers) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  mode_t old = umask(022);
  MustPut(f);
  umask(old);
  for (int part = 0; part < 3; ++part) {
    struct stat st;
    ASSERT_EQ(::stat(h().PartFile(root_, f.path, f.version, part).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u) << part;
    ASSERT_EQ(::stat(h().PartFile(root_, f.path, f.version, part).parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u) << part;
  }
}

TEST_P(BackendTest, IdenticalContentIsUnchanged) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  EXPECT_EQ(MustPut(f).outcome, PutOutcome::kPublished);
  auto before = Tree(root_);
  auto again = fab_.Make("corp.example/lib", "v1.0.0");  // same bytes, another local file
  EXPECT_EQ(MustPut(again).outcome, PutOutcome::kUnchanged);
  EXPECT_EQ(Tree(root_), before);
  ExpectStored(f);
}

TEST_P(BackendTest, DifferentZipIsRefusedWithBothHashes) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  MustPut(f);
  auto other = fab_.Make("corp.example/lib", "v1.0.0", "other");
  other.mod = f.mod;  // only the zip differs
  other.gomod_sum = f.gomod_sum;
  auto r = MustPut(other);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("corp.example/lib@v1.0.0 is already stored with different"));
  EXPECT_THAT(r.message, HasSubstr("stored h1:"));
  EXPECT_THAT(r.message, HasSubstr("new " + other.sum));
  EXPECT_THAT(r.message, HasSubstr("nothing was written"));
  ExpectStored(f);
}

TEST_P(BackendTest, DifferentModOrInfoIsRefused) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  MustPut(f);
  auto mod = f;
  mod.mod += "// changed\n";
  mod.gomod_sum = dirhash::HashGoMod(mod.path, mod.version, mod.mod);
  auto r = MustPut(mod);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("stored " + f.gomod_sum + ", new " + mod.gomod_sum));
  auto info = f;
  info.info = R"({"Version":"v1.0.0","Time":"2030-01-01T00:00:00Z"})";
  r = MustPut(info);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("stored sha256:"));
  ExpectStored(f);
}

TEST_P(BackendTest, TruncatedFileIsDamagedAndNeverOverwritten) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  MustPut(f);
  fs::path zip = h().PartFile(root_, f.path, f.version, 0);
  fs::resize_file(zip, 10);
  EXPECT_EQ(StateOf(f.path, f.version), VersionState::kDamaged);
  EXPECT_THAT(CompleteVersions(f.path), IsEmpty());
  auto r = MustPut(f);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("not a readable zip"));
  EXPECT_EQ(fs::file_size(zip), 10u);
}

TEST_P(BackendTest, MissingFileIsReportedNotRepaired) {
  for (int part = 0; part < 3; ++part) {
    SCOPED_TRACE(part);
    std::string version = "v1.0." + std::to_string(part);
    auto f = fab_.Make("corp.example/lib", version);
    MustPut(f);
    fs::remove(h().PartFile(root_, f.path, version, part));
    auto before = Tree(root_);
    auto st = backend().Stat(f.path, version);
    ASSERT_TRUE(st.ok() && st->has_value());
    EXPECT_EQ((*st)->state, VersionState::kDamaged) << (*st)->detail;
    EXPECT_THAT((*st)->detail, HasSubstr("missing"));
    EXPECT_THAT(CompleteVersions(f.path), ::testing::Not(::testing::Contains(version)));
    auto r = MustPut(f);
    EXPECT_EQ(r.outcome, PutOutcome::kRefused);
    EXPECT_THAT(r.message, HasSubstr("damaged"));
    EXPECT_THAT(r.message, HasSubstr("not repaired"));
    EXPECT_EQ(Tree(root_), before);
  }
}

TEST_P(BackendTest, InterruptedPublishIsCompletedOrNeverVisible) {
  for (int steps = 0; steps < h().Steps(); ++steps) {
    SCOPED_TRACE(steps);
    std::string version = "v1.1." + std::to_string(steps);
    auto f = fab_.Make("corp.example/lib", version);
    h().SimulateCrash(root_, f, steps);
    // A reader never sees the version as complete.
    EXPECT_THAT(CompleteVersions(f.path), ::testing::Not(::testing::Contains(version)));
    auto r = MustPut(f);
    EXPECT_EQ(r.outcome, PutOutcome::kPublished) << r.message;
    if (h().Resumable() && steps > 0) {
      EXPECT_THAT(r.message, HasSubstr("interrupted publish"));
    }
    ExpectStored(f);
    EXPECT_EQ(StateOf(f.path, version), VersionState::kComplete);
    // The leftover temporary is gone.
    for (const auto& file : Tree(root_)) EXPECT_THAT(file, ::testing::Not(HasSubstr("tmp")));
  }
}

TEST_P(BackendTest, InterruptedPublishOfOtherContentIsRefused) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  h().SimulateCrash(root_, f, 2);
  auto other = fab_.Make("corp.example/lib", "v1.0.0", "other");
  auto r = MustPut(other);
  if (h().Resumable()) {
    // The zip and go.mod of the first publish are stored: the second is a conflict.
    EXPECT_EQ(r.outcome, PutOutcome::kRefused);
    EXPECT_THAT(r.message, HasSubstr("different content"));
  } else {
    // Nothing of the first publish became visible: the second one wins.
    EXPECT_EQ(r.outcome, PutOutcome::kPublished);
    ExpectStored(other);
  }
}

TEST_P(BackendTest, VersionsAreSortedBySemverWithoutDuplicates) {
  const std::vector<std::string> order = {"v1.10.0",     "v1.2.0", "v2.0.0+incompatible",
                                          "v1.2.0-rc.1", "v0.1.0", "v1.2.0",
                                          "v1.9.9",      "v1.10.0"};
  for (const auto& v : order) {
    auto r = MustPut(fab_.Make("corp.example/lib", v));
    EXPECT_NE(r.outcome, PutOutcome::kRefused) << r.message;
  }
  EXPECT_THAT(
      CompleteVersions("corp.example/lib"),
      ElementsAre("v0.1.0", "v1.2.0-rc.1", "v1.2.0", "v1.9.9", "v1.10.0", "v2.0.0+incompatible"));
}

TEST_P(BackendTest, ModulesNestAndAreListed) {
  MustPut(fab_.Make("corp.example/lib", "v1.0.0"));
  MustPut(fab_.Make("corp.example/lib/v2", "v2.0.0"));
  MustPut(fab_.Make("corp.example/lib/sub", "v0.1.0"));
  MustPut(fab_.Make("corp.example/Upper/Case", "v1.0.0-RC1"));
  auto mods = backend().ListModules();
  ASSERT_TRUE(mods.ok()) << mods.message();
  EXPECT_THAT(*mods, ElementsAre("corp.example/Upper/Case", "corp.example/lib",
                                 "corp.example/lib/sub", "corp.example/lib/v2"));
  EXPECT_THAT(CompleteVersions("corp.example/lib"), ElementsAre("v1.0.0"));
  EXPECT_THAT(CompleteVersions("corp.example/lib/v2"), ElementsAre("v2.0.0"));
  EXPECT_THAT(CompleteVersions("corp.example/Upper/Case"), ElementsAre("v1.0.0-RC1"));
  auto files = Tree(root_);
  for (const auto& f : h().ExpectedFiles("corp.example/Upper/Case", "v1.0.0-RC1")) {
    EXPECT_THAT(files, ::testing::Contains(f));
  }
}

TEST_P(BackendTest, PathsThatWouldLeaveTheRootAreRefused) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"../../etc/passwd", "v1.0.0"},
      {"/etc/passwd", "v1.0.0"},
      {"corp.example/../../../x", "v1.0.0"},
      {"corp.example/./x", "v1.0.0"},
      {"corp.example//x", "v1.0.0"},
      {"corp.example/x/", "v1.0.0"},
      {"", "v1.0.0"},
      {"corp.example/x", "../../v1.0.0"},
      {"corp.example/x", "v1.0.0/../.."},
      {"corp.example/x", "v1.0"},
      {"corp.example/x", "latest"},
      {"corp.example/x", "v1.0.0+build"},
      {"corp.example/x", "v1.0.0+incompatible"},
      {"corp.example/x/v2", "v3.0.0"},
  };
  for (const auto& [path, version] : bad) {
    SCOPED_TRACE(path + "@" + version);
    auto f = fab_.Make("corp.example/ok", "v1.0.0");
    f.path = path;
    f.version = version;
    auto r = backend().Put(f);
    EXPECT_FALSE(r.ok());
    auto st = backend().Stat(path, version);
    EXPECT_FALSE(st.ok());
  }
  EXPECT_FALSE(fs::exists(root_));
}

TEST_P(BackendTest, UnwritableTargetIsAClearError) {
  WriteAll(tmp_.path() / "file", "x");
  auto b = OpenBackend(h().Url(tmp_.path() / "file" / "store"));
  ASSERT_TRUE(b.ok());
  auto r = (*b)->Put(fab_.Make("corp.example/lib", "v1.0.0"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr((tmp_.path() / "file").string()));
  EXPECT_THAT(r.message(), HasSubstr("Not a directory"));
}

TEST_P(BackendTest, MissingLocalZipFailsAndLeavesNothing) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  fs::remove(f.zip);
  auto r = backend().Put(f);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr(f.zip.string()));
  EXPECT_THAT(Tree(root_), IsEmpty());
  EXPECT_THAT(CompleteVersions(f.path), IsEmpty());
}

TEST_P(BackendTest, ConcurrentWritersOfOneModule) {
  // Threads open the lock file separately, so flock excludes them as it would processes.
  constexpr int kThreads = 8, kPerThread = 6;
  std::vector<std::vector<VersionFiles>> work(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      work[t].push_back(
          fab_.Make("corp.example/lib", "v1." + std::to_string(t) + "." + std::to_string(i)));
    }
    work[t].push_back(fab_.Make("corp.example/lib", "v1.99.0"));  // the same for every thread
  }
  std::vector<std::vector<PutOutcome>> outcomes(kThreads);
  std::vector<std::string> errors;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto b = OpenBackend(h().Url(root_));
      for (const auto& f : work[t]) {
        auto r = (*b)->Put(f);
        outcomes[t].push_back(r.ok() ? r->outcome : PutOutcome::kRefused);
        if (!r.ok() || r->outcome == PutOutcome::kRefused) {
          std::lock_guard<std::mutex> l(mu);
          errors.push_back(r.ok() ? r->message : r.message());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(errors, IsEmpty());
  int published_dup = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(outcomes[t][i], PutOutcome::kPublished);
    if (outcomes[t][kPerThread] == PutOutcome::kPublished) ++published_dup;
    EXPECT_NE(outcomes[t][kPerThread], PutOutcome::kRefused);
  }
  EXPECT_EQ(published_dup, 1);
  EXPECT_EQ(CompleteVersions("corp.example/lib").size(), kThreads * kPerThread + 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(std::make_shared<FsTreeHarness>(),
                                           std::make_shared<AthensHarness>()),
                         [](const auto& param_info) { return param_info.param->Name(); });

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
  FsTreeHarness().SimulateCrash(tmp.path() / "t", f, 3);
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
      {"s3://bucket/prefix", "unknown scheme \"s3\""},
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

TEST(AtomicFile, UncommittedTemporaryIsRemovedAndNoReplaceKeepsTarget) {
  TempDir tmp;
  fs::path target = tmp.path() / "target";
  {
    auto f = AtomicFile::Create(tmp.path());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->Append("abc").ok());
  }
  EXPECT_THAT(Tree(tmp.path()), IsEmpty());
  WriteAll(target, "old");
  auto f = AtomicFile::Create(tmp.path());
  ASSERT_TRUE(f->Append("new").ok());
  auto c = f->CommitNoReplace(target);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_FALSE(*c);
  EXPECT_EQ(ReadAll(target), "old");
  auto g = AtomicFile::Create(tmp.path());
  ASSERT_TRUE(g->Append("new").ok());
  ASSERT_TRUE(g->CommitReplace(target).ok());
  EXPECT_EQ(ReadAll(target), "new");
  EXPECT_THAT(Tree(tmp.path()), ElementsAre("target"));
}

}  // namespace
}  // namespace modpub::storage
