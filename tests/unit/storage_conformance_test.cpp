// storage: the backends' contract (backend.hpp), run as one parametrized suite over every
// backend: file:// (GOPROXY tree), athens-disk://, and s3:// in both layouts against
// ../shared/s3-test-server (skipped when it or python is absent). A backend joins the suite
// by providing a Harness: its URL for a fresh store and the few layout-specific operations
// the tests need to inspect or damage what is stored (files on disk, keys in a bucket).
// Layout-specific cases stay in storage_test.cpp and s3_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/module.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/s3_client.hpp"
#include "support/s3_server.hpp"
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

// What the suite needs to know about one backend's layout. `root` is a fresh, unique
// local directory per test (disk backends store there; S3 uses its name as the prefix).
class Harness {
 public:
  virtual ~Harness() = default;
  virtual std::string Name() const = 0;
  // Why this backend cannot be tested here ("" if it can).
  virtual std::string Unavailable() const { return ""; }
  virtual std::string Url(const fs::path& root) const = 0;
  // The bytes of part i (0 zip, 1 mod, 2 info) of path@version, or nullopt if absent.
  virtual std::optional<std::string> ReadPart(const fs::path& root, const std::string& path,
                                              const std::string& version, int part) const = 0;
  virtual void TruncatePart(const fs::path& root, const std::string& path,
                            const std::string& version, int part, std::size_t size) const = 0;
  virtual void RemovePart(const fs::path& root, const std::string& path, const std::string& version,
                          int part) const = 0;
  // Every stored file or object, relative to the root, sorted (locks excluded).
  virtual std::vector<std::string> Stored(const fs::path& root) const = 0;
  // What a complete version consists of, relative to the root.
  virtual std::vector<std::string> ExpectedFiles(const std::string& path,
                                                 const std::string& version) const = 0;
  // Where path@version's detached signature is stored, relative to the root.
  virtual std::string SigFile(const std::string& path, const std::string& version) const = 0;
  // Does an interrupted publish leave a state that re-publishing completes?
  virtual bool Resumable() const = 0;
  // Is a version with part i removed damaged (true) or merely incomplete (a prefix of
  // the write order that an interrupted publish leaves)?
  virtual bool MissingPartIsDamage(int part) const = 0;
  // Leaves exactly what a publish of `f` killed after its first `steps` writes leaves.
  virtual void SimulateCrash(const fs::path& root, const VersionFiles& f, int steps) const = 0;
  virtual int Steps() const = 0;
  // Layouts with a version list object (@v/list): its bytes, or nullopt if absent; and
  // writing them as a hand (or another tool) would. Layouts without one (Athens: versions
  // are directories or keys) return nullopt and ignore the write.
  virtual std::optional<std::string> ReadList(const fs::path& root,
                                              const std::string& path) const = 0;
  virtual void WriteList(const fs::path& root, const std::string& path,
                         const std::string& data) const = 0;
  // A store that cannot be written, and what the error must say.
  virtual std::pair<std::string, std::vector<std::string>> UnusableUrl(
      const fs::path& tmp) const = 0;
};

// --- disk backends ------------------------------------------------------------------------

class DiskHarness : public Harness {
 public:
  virtual fs::path PartFile(const fs::path& root, const std::string& path,
                            const std::string& version, int part) const = 0;
  std::optional<std::string> ReadPart(const fs::path& root, const std::string& path,
                                      const std::string& version, int part) const override {
    fs::path p = PartFile(root, path, version, part);
    if (!fs::exists(p)) return std::nullopt;
    return ReadAll(p);
  }
  void TruncatePart(const fs::path& root, const std::string& path, const std::string& version,
                    int part, std::size_t size) const override {
    fs::resize_file(PartFile(root, path, version, part), size);
  }
  void RemovePart(const fs::path& root, const std::string& path, const std::string& version,
                  int part) const override {
    fs::remove(PartFile(root, path, version, part));
  }
  std::vector<std::string> Stored(const fs::path& root) const override { return Tree(root); }
  std::pair<std::string, std::vector<std::string>> UnusableUrl(const fs::path& tmp) const override {
    WriteAll(tmp / "file", "x");
    return {Url(tmp / "file" / "store"), {(tmp / "file").string(), "Not a directory"}};
  }
};

class FsTreeHarness : public DiskHarness {
 public:
  std::string Name() const override { return "FsTree"; }
  std::string Url(const fs::path& root) const override { return "file://" + root.string(); }
  bool Resumable() const override { return true; }
  bool MissingPartIsDamage(int) const override { return true; }  // the list entry follows
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
  std::string SigFile(const std::string& path, const std::string& version) const override {
    return module::EscapePath(path).value() + "/@v/" + module::EscapeVersion(version).value() +
           ".sig";
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
  std::optional<std::string> ReadList(const fs::path& root,
                                      const std::string& path) const override {
    if (!fs::exists(Dir(root, path) / "list")) return std::nullopt;
    return ReadAll(Dir(root, path) / "list");
  }
  void WriteList(const fs::path& root, const std::string& path,
                 const std::string& data) const override {
    WriteAll(Dir(root, path) / "list", data);
  }
};

class AthensHarness : public DiskHarness {
 public:
  std::string Name() const override { return "AthensDisk"; }
  std::string Url(const fs::path& root) const override { return "athens-disk://" + root.string(); }
  bool Resumable() const override { return false; }
  bool MissingPartIsDamage(int) const override { return true; }
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
  std::string SigFile(const std::string& path, const std::string& version) const override {
    return ".modpub-sig/" + path + "/" + version + ".sig";
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
  std::optional<std::string> ReadList(const fs::path&, const std::string&) const override {
    return std::nullopt;
  }
  void WriteList(const fs::path&, const std::string&, const std::string&) const override {}
};

// --- S3 -----------------------------------------------------------------------------------

// One strict S3 server for the whole test binary, started on first use.
testing::S3TestServer& SharedS3Server() {
  static auto* server = new testing::S3TestServer();
  return *server;
}
// Stops it when the tests are done (gtest_main returns; static destructors run).
struct S3ServerStopper {
  ~S3ServerStopper() {
    // Only if it was started: SharedS3Server() would start it.
    if (started) delete &SharedS3Server();
  }
  bool started = false;
} g_s3_stopper;

class S3Harness : public Harness {
 public:
  explicit S3Harness(bool goproxy) : goproxy_(goproxy) {}
  std::string Name() const override { return goproxy_ ? "S3Goproxy" : "S3Athens"; }
  std::string Unavailable() const override {
    std::string why = testing::S3Unavailable();
    if (!why.empty()) return why;
    g_s3_stopper.started = true;
    if (!SharedS3Server().running()) return "the S3 test server did not start";
    testing::S3TestServer::UseTestCredentials();
    return "";
  }
  static std::string Prefix(const fs::path& root) {
    return root.parent_path().filename().string() + "/" + root.filename().string();
  }
  std::string Url(const fs::path& root) const override {
    return "s3://" + std::string(testing::kS3Bucket) + "/" + Prefix(root) +
           "?endpoint=" + SharedS3Server().endpoint() +
           "&region=us-east-1&layout=" + (goproxy_ ? "goproxy" : "athens");
  }
  s3::Client& Client() const {
    static s3::Client* client = [] {
      s3::ClientConfig c;
      c.endpoint = SharedS3Server().endpoint();
      c.bucket = testing::kS3Bucket;
      c.credentials = {testing::kS3AccessKey, testing::kS3SecretKey, ""};
      return new s3::Client(c);
    }();
    return *client;
  }
  std::string Rel(const std::string& path, const std::string& version, int part) const {
    static const char* const kExt[] = {".zip", ".mod", ".info"};
    if (!goproxy_) return path + "/@v/" + version + kExt[part];
    return module::EscapePath(path).value() + "/@v/" + module::EscapeVersion(version).value() +
           kExt[part];
  }
  std::string Key(const fs::path& root, const std::string& rel) const {
    return Prefix(root) + "/" + rel;
  }
  std::optional<std::string> ReadPart(const fs::path& root, const std::string& path,
                                      const std::string& version, int part) const override {
    auto r = Client().Get(Key(root, Rel(path, version, part)), 64u << 20);
    EXPECT_TRUE(r.ok()) << r.message();
    if (!r.ok() || r->status == 404) return std::nullopt;
    return r->body;
  }
  void Overwrite(const fs::path& root, const std::string& rel, const std::string& data) const {
    auto r = Client().Put(Key(root, rel), data, {}, "");
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->status, 200);
  }
  void TruncatePart(const fs::path& root, const std::string& path, const std::string& version,
                    int part, std::size_t size) const override {
    auto data = ReadPart(root, path, version, part);
    ASSERT_TRUE(data.has_value());
    Overwrite(root, Rel(path, version, part), data->substr(0, size));
  }
  void RemovePart(const fs::path& root, const std::string& path, const std::string& version,
                  int part) const override {
    ASSERT_TRUE(Client().Delete(Key(root, Rel(path, version, part))).ok());
  }
  std::vector<std::string> Stored(const fs::path& root) const override {
    auto objects = Client().List(Prefix(root) + "/");
    EXPECT_TRUE(objects.ok()) << objects.message();
    std::vector<std::string> out;
    if (!objects.ok()) return out;
    for (const auto& o : *objects) out.push_back(o.key.substr(Prefix(root).size() + 1));
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> ExpectedFiles(const std::string& path,
                                         const std::string& version) const override {
    std::vector<std::string> out = {Rel(path, version, 0), Rel(path, version, 1),
                                    Rel(path, version, 2)};
    if (goproxy_) out.push_back(module::EscapePath(path).value() + "/@v/list");
    return out;
  }
  // goproxy: beside the parts; athens: outside <path>/@v/, whose keys Athens lists.
  std::string SigFile(const std::string& path, const std::string& version) const override {
    if (!goproxy_) return ".modpub-sig/" + path + "/" + version + ".sig";
    return module::EscapePath(path).value() + "/@v/" + module::EscapeVersion(version).value() +
           ".sig";
  }
  bool Resumable() const override { return true; }
  // Athens keys: zip, mod, info with no list after them; without the .info the version
  // is exactly what an interrupted publish leaves.
  bool MissingPartIsDamage(int part) const override { return goproxy_ || part != 2; }
  void SimulateCrash(const fs::path& root, const VersionFiles& f, int steps) const override {
    // Objects appear whole or not at all: a crash leaves a prefix of the parts.
    if (steps > 0) Overwrite(root, Rel(f.path, f.version, 0), ReadAll(f.zip));
    if (steps > 1) Overwrite(root, Rel(f.path, f.version, 1), f.mod);
    if (steps > 2) Overwrite(root, Rel(f.path, f.version, 2), f.info);
  }
  int Steps() const override { return goproxy_ ? 4 : 3; }
  std::string ListRel(const std::string& path) const {
    return module::EscapePath(path).value() + "/@v/list";
  }
  std::optional<std::string> ReadList(const fs::path& root,
                                      const std::string& path) const override {
    if (!goproxy_) return std::nullopt;
    auto r = Client().Get(Key(root, ListRel(path)), 64u << 20);
    EXPECT_TRUE(r.ok()) << r.message();
    if (!r.ok() || r->status == 404) return std::nullopt;
    return r->body;
  }
  void WriteList(const fs::path& root, const std::string& path,
                 const std::string& data) const override {
    if (goproxy_) Overwrite(root, ListRel(path), data);
  }
  std::pair<std::string, std::vector<std::string>> UnusableUrl(const fs::path&) const override {
    return {"s3://no-such-bucket/x?endpoint=" + SharedS3Server().endpoint(),
            {"no-such-bucket", "NoSuchBucket"}};
  }

 private:
  bool goproxy_;
};

class BackendTest : public ::testing::TestWithParam<std::shared_ptr<Harness>> {
 protected:
  void SetUp() override {
    if (auto why = h().Unavailable(); !why.empty()) GTEST_SKIP() << why;
    root_ = tmp_.path() / "store";
    auto b = OpenBackend(h().Url(root_));
    ASSERT_TRUE(b.ok()) << b.message();
    backend_ = std::move(*b);
  }
  const Harness& h() const { return *GetParam(); }
  Backend& backend() { return *backend_; }
  std::vector<std::string> Stored() { return h().Stored(root_); }
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
    EXPECT_EQ(h().ReadPart(root_, f.path, f.version, 0), ReadAll(f.zip));
    EXPECT_EQ(h().ReadPart(root_, f.path, f.version, 1), f.mod);
    EXPECT_EQ(h().ReadPart(root_, f.path, f.version, 2), f.info);
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
  EXPECT_EQ(Stored(), expected);
  EXPECT_EQ(StateOf(f.path, f.version), VersionState::kComplete);
  EXPECT_THAT(CompleteVersions(f.path), ElementsAre("v1.0.0"));
  auto mods = backend().ListModules();
  ASSERT_TRUE(mods.ok()) << mods.message();
  EXPECT_THAT(*mods, ElementsAre("corp.example/lib"));
  auto absent = backend().Stat(f.path, "v1.9.9");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_P(BackendTest, IdenticalContentIsUnchanged) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  EXPECT_EQ(MustPut(f).outcome, PutOutcome::kPublished);
  auto before = Stored();
  auto again = fab_.Make("corp.example/lib", "v1.0.0");  // same bytes, another local file
  EXPECT_EQ(MustPut(again).outcome, PutOutcome::kUnchanged);
  EXPECT_EQ(Stored(), before);
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
  h().TruncatePart(root_, f.path, f.version, 0, 10);
  EXPECT_EQ(StateOf(f.path, f.version), VersionState::kDamaged);
  EXPECT_THAT(CompleteVersions(f.path), IsEmpty());
  auto r = MustPut(f);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("not a readable zip"));
  auto stored = h().ReadPart(root_, f.path, f.version, 0);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->size(), 10u);
}

TEST_P(BackendTest, MissingFileIsReportedNotRepaired) {
  for (int part = 0; part < 3; ++part) {
    SCOPED_TRACE(part);
    std::string version = "v1.0." + std::to_string(part);
    auto f = fab_.Make("corp.example/lib", version);
    MustPut(f);
    h().RemovePart(root_, f.path, version, part);
    auto before = Stored();
    auto st = backend().Stat(f.path, version);
    ASSERT_TRUE(st.ok() && st->has_value());
    EXPECT_THAT((*st)->detail, HasSubstr("missing"));
    EXPECT_THAT(CompleteVersions(f.path), ::testing::Not(::testing::Contains(version)));
    if (!h().MissingPartIsDamage(part)) {
      // Indistinguishable from an interrupted publish: completed by publishing again.
      EXPECT_EQ((*st)->state, VersionState::kIncomplete) << (*st)->detail;
      auto r = MustPut(f);
      EXPECT_EQ(r.outcome, PutOutcome::kPublished);
      EXPECT_THAT(r.message, HasSubstr("interrupted publish"));
      ExpectStored(f);
      continue;
    }
    EXPECT_EQ((*st)->state, VersionState::kDamaged) << (*st)->detail;
    auto r = MustPut(f);
    EXPECT_EQ(r.outcome, PutOutcome::kRefused);
    EXPECT_THAT(r.message, HasSubstr("damaged"));
    EXPECT_THAT(r.message, HasSubstr("not repaired"));
    EXPECT_EQ(Stored(), before);
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
    for (const auto& file : Stored()) EXPECT_THAT(file, ::testing::Not(HasSubstr("tmp")));
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
  auto files = Stored();
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
      {"corp.example/x@v1", "v1.0.0"},
      {"corp.example/x?y", "v1.0.0"},
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
  EXPECT_FALSE(backend().ListVersions("../../etc").ok());
  EXPECT_THAT(Stored(), IsEmpty());
}

TEST_P(BackendTest, UnusableTargetIsAClearError) {
  auto [url, why] = h().UnusableUrl(tmp_.path());
  auto b = OpenBackend(url);
  ASSERT_TRUE(b.ok()) << b.message();
  auto r = (*b)->Put(fab_.Make("corp.example/lib", "v1.0.0"));
  ASSERT_FALSE(r.ok());
  for (const auto& w : why) EXPECT_THAT(r.message(), HasSubstr(w));
}

TEST_P(BackendTest, MissingLocalZipFailsAndLeavesNothing) {
  auto f = fab_.Make("corp.example/lib", "v1.0.0");
  fs::remove(f.zip);
  auto r = backend().Put(f);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr(f.zip.string()));
  EXPECT_THAT(Stored(), IsEmpty());
  EXPECT_THAT(CompleteVersions(f.path), IsEmpty());
}

TEST_P(BackendTest, ConcurrentWritersOfOneModule) {
  // Each thread opens its own backend, as separate processes would (disk backends: their
  // own lock file descriptors; S3: their own connections and no lock at all).
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
  auto complete = CompleteVersions("corp.example/lib");
  EXPECT_EQ(complete.size(), kThreads * kPerThread + 1u);
  // Sorted and without duplicates.
  auto sorted = complete;
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(sorted, complete);
}

// The detached signature (backend.hpp): stored once the version is complete, where the
// layout keeps it, never overwritten; the version itself is unaffected.
TEST_P(BackendTest, SignatureIsStoredOnceAndNeverOverwritten) {
  const std::string path = "corp.example/Lib", version = "v1.0.0";
  auto expected = h().ExpectedFiles(path, version);
  expected.push_back(h().SigFile(path, version));
  std::sort(expected.begin(), expected.end());
  auto read_sig = [&]() -> std::optional<std::string> {
    auto f = backend().LocalFile(path, version, VersionPart::kSig);
    EXPECT_TRUE(f.ok()) << f.message();
    if (!f.ok() || !f->has_value()) return std::nullopt;
    return ReadAll(**f);
  };

  // An older publish without a signature, then the same version signed: added.
  auto plain = fab_.Make(path, version);
  EXPECT_EQ(MustPut(plain).outcome, PutOutcome::kPublished);
  EXPECT_EQ(read_sig(), std::nullopt);
  auto signed1 = fab_.Make(path, version);
  signed1.sig = "corp.example/Lib v1.0.0 h1:…\n\n— key SIG1\n";
  auto r = MustPut(signed1);
  EXPECT_EQ(r.outcome, PutOutcome::kPublished);
  EXPECT_EQ(r.message, "added its signature");
  EXPECT_EQ(Stored(), expected);
  EXPECT_EQ(read_sig(), signed1.sig);

  // The same signature again: unchanged; another one: refused, the stored one kept.
  EXPECT_EQ(MustPut(signed1).outcome, PutOutcome::kUnchanged);
  auto signed2 = fab_.Make(path, version);
  signed2.sig = "corp.example/Lib v1.0.0 h1:…\n\n— key SIG2\n";
  r = MustPut(signed2);
  EXPECT_EQ(r.outcome, PutOutcome::kRefused);
  EXPECT_THAT(r.message, HasSubstr("signature"));
  EXPECT_THAT(r.message, HasSubstr("not overwritten"));
  EXPECT_EQ(read_sig(), signed1.sig);
  EXPECT_EQ(Stored(), expected);

  // The version is complete and listed as before; the signature is no module or version.
  EXPECT_EQ(StateOf(path, version), VersionState::kComplete);
  EXPECT_THAT(CompleteVersions(path), ElementsAre(version));
  auto mods = backend().ListModules();
  ASSERT_TRUE(mods.ok()) << mods.message();
  EXPECT_THAT(*mods, ElementsAre(path));
  ExpectStored(plain);

  // A first publish that carries its signature stores everything at once.
  auto fresh = fab_.Make(path, "v1.1.0");
  fresh.sig = "SIG3\n";
  r = MustPut(fresh);
  EXPECT_EQ(r.outcome, PutOutcome::kPublished);
  EXPECT_EQ(r.message, "");
  auto sig = backend().LocalFile(path, "v1.1.0", VersionPart::kSig);
  ASSERT_TRUE(sig.ok() && sig->has_value()) << sig.message();
  EXPECT_EQ(ReadAll(**sig), "SIG3\n");
  EXPECT_THAT(Stored(), ::testing::Contains(h().SigFile(path, "v1.1.0")));
}

// Serving: every part of a stored version is a local file with the stored bytes; absent
// versions and parts are nullopt, invalid names an error.
TEST_P(BackendTest, LocalFileServesEveryPart) {
  auto f = fab_.Make("corp.example/lib", "v1.2.3");
  MustPut(f);
  const std::pair<VersionPart, std::string> parts[] = {{VersionPart::kZip, ReadAll(f.zip)},
                                                       {VersionPart::kMod, f.mod},
                                                       {VersionPart::kInfo, f.info}};
  for (int round = 0; round < 2; ++round) {  // the second one may come from a cache
    for (const auto& [part, bytes] : parts) {
      auto file = backend().LocalFile(f.path, f.version, part);
      ASSERT_TRUE(file.ok()) << file.message();
      ASSERT_TRUE(file->has_value());
      EXPECT_EQ(ReadAll(**file), bytes);
    }
  }
  auto absent = backend().LocalFile(f.path, "v1.9.9", VersionPart::kInfo);
  ASSERT_TRUE(absent.ok()) << absent.message();
  EXPECT_FALSE(absent->has_value());
  auto nosig = backend().LocalFile(f.path, f.version, VersionPart::kSig);
  ASSERT_TRUE(nosig.ok()) << nosig.message();
  EXPECT_FALSE(nosig->has_value());
  EXPECT_FALSE(backend().LocalFile("../../etc", "v1.0.0", VersionPart::kInfo).ok());
  EXPECT_FALSE(backend().LocalFile(f.path, "../v1.0.0", VersionPart::kZip).ok());
}

// Junk in a stored version list. What the go command does with such lines, seen by
// experiment with GOPROXY=file:// and `go list -m corp.example/lib@latest` and `go list -m
// -versions`, both with go 1.26.8 and go 1.19.8 (the same each time), on a list holding
// v1.0.0 and v1.1.0 (both with .info and .mod) plus one of:
//   "v9.9.9 junk", "v2.0.0", "v1.2", "v1.5.0+meta": go takes the line's first word as a
//       version (semver.IsValid), it becomes @latest and both commands fail ("reading
//       …/@v/v9.9.9.info: no such file or directory", "loading module retractions");
//   "v1.0", "v1.0.0+meta": listed by -versions as they are, @latest still v1.1.0;
//   "../../etc", bytes that are not UTF-8: ignored (not valid semver).
// (cmd/go/internal/modfetch/proxy.go, Versions and latestFromList, in both gos.) So every
// line that is not exactly a canonical version of the module is dropped when read and
// reported as damage, and the next publish writes the list without it.
TEST_P(BackendTest, JunkListLinesAreDroppedReportedAndNotWrittenBack) {
  const std::string path = "corp.example/lib";
  MustPut(fab_.Make(path, "v1.0.0"));
  MustPut(fab_.Make(path, "v1.1.0"));
  auto before = h().ReadList(root_, path);
  if (!before) GTEST_SKIP() << h().Name() << " keeps no version list (Athens lists versions)";
  ASSERT_EQ(*before, "v1.0.0\nv1.1.0\n");
  // v1.5.0 is canonical but has no files: damaged, yet never dropped from the list.
  h().WriteList(root_, path,
                "v1.0.0\nv9.9.9 junk\n../../etc\n\xff\xfe\nv1.0\nv1.1.0\nv1.0.0+meta\n"
                "v2.0.0\nv1.5.0\n");

  std::ostringstream logged;
  auto old_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(logged)));
  auto listed = backend().ListVersions(path);
  spdlog::set_default_logger(old_logger);
  ASSERT_TRUE(listed.ok()) << listed.message();

  std::vector<std::string> complete, damaged, details;
  for (const auto& v : *listed) {
    (v.state == VersionState::kComplete ? complete : damaged).push_back(v.version);
    if (v.state == VersionState::kDamaged) details.push_back(v.detail);
  }
  EXPECT_THAT(complete, ElementsAre("v1.0.0", "v1.1.0"));
  EXPECT_THAT(damaged, ElementsAre("v1.5.0", "\"v9.9.9 junk\"", "\"../../etc\"", "\"\\xff\\xfe\"",
                                   "\"v1.0\"", "\"v1.0.0+meta\"", "\"v2.0.0\""));
  EXPECT_THAT(details[1], HasSubstr("@v/list line 2: not a version of corp.example/lib"));
  EXPECT_THAT(details[3], HasSubstr("@v/list line 4: "));
  EXPECT_THAT(details[6], HasSubstr("@v/list line 8: "));
  EXPECT_THAT(logged.str(), HasSubstr("corp.example/lib: @v/list line 2 \"v9.9.9 junk\" dropped"));
  EXPECT_THAT(logged.str(), HasSubstr("corp.example/lib: @v/list line 5 \"v1.0\" dropped"));
  EXPECT_EQ(StateOf(path, "v1.0.0"), VersionState::kComplete);
  EXPECT_EQ(StateOf(path, "v1.1.0"), VersionState::kComplete);

  // The next publish writes the list back without the junk, keeping every version.
  EXPECT_EQ(MustPut(fab_.Make(path, "v1.2.0")).outcome, PutOutcome::kPublished);
  EXPECT_EQ(h().ReadList(root_, path), "v1.0.0\nv1.1.0\nv1.2.0\nv1.5.0\n");
  auto after = backend().ListVersions(path);
  ASSERT_TRUE(after.ok()) << after.message();
  std::vector<std::string> now;
  for (const auto& v : *after) now.push_back(v.version + ":" + std::string(StateName(v.state)));
  EXPECT_THAT(
      now, ElementsAre("v1.0.0:complete", "v1.1.0:complete", "v1.2.0:complete", "v1.5.0:damaged"));
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(std::make_shared<FsTreeHarness>(),
                                           std::make_shared<AthensHarness>(),
                                           std::make_shared<S3Harness>(true),
                                           std::make_shared<S3Harness>(false)),
                         [](const auto& param_info) { return param_info.param->Name(); });

}  // namespace
}  // namespace modpub::storage
