// publish: the pipeline's promises (publish.hpp) with scripted backends: built once, handed
// to every backend even when one fails or refuses, invalid tags touch no backend; the
// order a backfill publishes tags in, its observer, and its dry run (backfill.hpp).
#include "modpub/publish/publish.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>
#include <vector>

#include "modpub/publish/backfill.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/sumdb/log.hpp"
#include "support/temp_repo.hpp"

namespace modpub::publish {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using ::modpub::testing::TempRepo;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A backend whose Put answers as scripted, recording what it was given.
class ScriptedBackend : public storage::Backend {
 public:
  enum class Answer { kPublish, kUnchanged, kRefuse, kFail };
  ScriptedBackend(std::string name, Answer answer) : name_(std::move(name)), answer_(answer) {}

  const std::string& Name() const override { return name_; }
  Result<storage::PutResult> Put(const storage::VersionFiles& f) override {
    // The zip handed over exists and is a zip (end-of-central-directory signature).
    EXPECT_TRUE(fs::is_regular_file(f.zip)) << f.zip;
    EXPECT_GT(fs::file_size(f.zip), 22u);
    puts.push_back(f.path + "@" + f.version);
    switch (answer_) {
      case Answer::kPublish:
        return storage::PutResult{storage::PutOutcome::kPublished, ""};
      case Answer::kUnchanged:
        return storage::PutResult{storage::PutOutcome::kUnchanged, ""};
      case Answer::kRefuse:
        return storage::PutResult{storage::PutOutcome::kRefused, "stored h1:a, new h1:b"};
      case Answer::kFail:
        return Fail(name_ + ": No space left on device");
    }
    throw std::logic_error("bad answer");
  }
  Result<std::optional<storage::StoredVersion>> Stat(const std::string&,
                                                     const std::string&) override {
    return std::optional<storage::StoredVersion>();
  }
  Result<std::vector<storage::StoredVersion>> ListVersions(const std::string&) override {
    return std::vector<storage::StoredVersion>();
  }
  Result<std::vector<std::string>> ListModules() override { return std::vector<std::string>(); }

  std::vector<std::string> puts;

 private:
  std::string name_;
  Answer answer_;
};

struct PublishTagTest : ::testing::Test {
  TempRepo repo;
  git::Repository Open() {
    auto r = git::Repository::Open(repo.path());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return std::move(r.value());
  }
};

std::vector<std::string> Summary(const TagResult& r) {
  std::vector<std::string> out;
  for (const auto& rep : r.reports) {
    out.push_back(rep.path + "@" + rep.version + " " + rep.backend + " " +
                  std::string(OutcomeName(rep.outcome)));
  }
  return out;
}

TEST_F(PublishTagTest, EveryBackendGetsEveryModuleEvenWhenOneFails) {
  // No go.mod at the root, a v2/ major subdirectory: tag v2.0.0 publishes two modules.
  repo.Write("x.go", "package x\n");
  repo.Write("v2/go.mod", "module corp.example/lib/v2\n");
  repo.Write("v2/x.go", "package x\n");
  repo.Commit();
  repo.Tag("v2.0.0");
  ScriptedBackend fail("fail", ScriptedBackend::Answer::kFail);
  ScriptedBackend refuse("refuse", ScriptedBackend::Answer::kRefuse);
  ScriptedBackend ok("ok", ScriptedBackend::Answer::kPublish);
  auto git = Open();
  auto r = PublishTag(git, "corp.example/lib", "v2.0.0", {&fail, &refuse, &ok});
  ASSERT_EQ(r.kind, TagResult::kDone) << r.error;
  EXPECT_THAT(Summary(r), ElementsAre("corp.example/lib@v2.0.0+incompatible fail failed",
                                      "corp.example/lib@v2.0.0+incompatible refuse refused",
                                      "corp.example/lib@v2.0.0+incompatible ok published",
                                      "corp.example/lib/v2@v2.0.0 fail failed",
                                      "corp.example/lib/v2@v2.0.0 refuse refused",
                                      "corp.example/lib/v2@v2.0.0 ok published"));
  EXPECT_THAT(r.reports[0].message, HasSubstr("No space left"));
  EXPECT_THAT(r.reports[1].message, HasSubstr("stored h1:a, new h1:b"));
  for (const auto& rep : r.reports) EXPECT_THAT(rep.sum, ::testing::StartsWith("h1:"));
  EXPECT_EQ(ok.puts.size(), 2u);
}

// A sweep (another publish starting, the daemon starting) runs while builds are being set
// up: it must never take a directory being created for a dead process's. The owner file's
// lock used to be taken just after the file appeared; a sweep in that window removed the
// directory and the publish failed writing its zip.
TEST_F(PublishTagTest, ConcurrentSweepsNeverRemoveALiveBuildDirectory) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("x.go", "package x\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  TempDir root;
  std::atomic<bool> stop{false};
  std::atomic<int> sweeps{0};
  std::vector<std::thread> sweepers;
  for (int i = 0; i < 3; ++i) {
    sweepers.emplace_back([&] {
      while (!stop) {
        SweepBuildDirs(root.path());
        ++sweeps;
      }
    });
  }
  auto git = Open();
  Options options;
  options.build_root = root.path();
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    ScriptedBackend ok("ok", ScriptedBackend::Answer::kPublish);
    auto r = PublishTag(git, "corp.example/lib", "v1.0.0", {&ok}, options);
    if (r.kind != TagResult::kDone || ok.puts.size() != 1) {
      ++failed;
      ADD_FAILURE() << "publish " << i << ": " << r.error;
    }
  }
  stop = true;
  for (auto& t : sweepers) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(sweeps.load(), 200);
}

TEST_F(PublishTagTest, UnchangedSaysAlreadyPublished) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  ScriptedBackend same("same", ScriptedBackend::Answer::kUnchanged);
  auto git = Open();
  auto r = PublishTag(git, "corp.example/lib", "v1.0.0", {&same});
  ASSERT_EQ(r.kind, TagResult::kDone) << r.error;
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].outcome, Outcome::kUnchanged);
  EXPECT_EQ(r.reports[0].message, "already published");
}

TEST_F(PublishTagTest, InvalidTagTouchesNoBackend) {
  repo.Write("go.mod", "module corp.example/other\n");  // not the path the tag implies
  repo.Commit();
  repo.Tag("v1.0.0");
  repo.Tag("v1.0");
  ScriptedBackend ok("ok", ScriptedBackend::Answer::kPublish);
  auto git = Open();
  for (const char* tag : {"v1.0.0", "v1.0", "v9.9.9"}) {
    auto r = PublishTag(git, "corp.example/lib", tag, {&ok});
    EXPECT_EQ(r.kind, TagResult::kInvalid) << tag;
    EXPECT_THAT(r.error, HasSubstr(tag));
    EXPECT_TRUE(r.reports.empty());
  }
  EXPECT_TRUE(ok.puts.empty());
}

// A tree go could never fetch as a module (here: two files equal but for case) is refused
// for good; a zip this machine cannot write (here: the file size limit) is a failure to
// try again, not a verdict on the tag.
TEST_F(PublishTagTest, TreeProblemsAreInvalidWriteFailuresAreRetried) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("a.go", "package lib\n");
  repo.Write("A.go", "package lib\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  std::string noise;
  for (std::uint32_t x = 1; noise.size() < 64 * 1024;) {
    x = x * 1103515245u + 12345u;
    noise += static_cast<char>('!' + (x >> 16) % 90);
  }
  repo.Write("data.txt", noise);
  fs::remove(repo.path() / "A.go");
  repo.Commit();
  repo.Tag("v1.1.0");
  ScriptedBackend ok("ok", ScriptedBackend::Answer::kPublish);
  auto git = Open();
  auto bad = PublishTag(git, "corp.example/lib", "v1.0.0", {&ok});
  EXPECT_EQ(bad.kind, TagResult::kInvalid) << bad.error;
  EXPECT_THAT(bad.error, HasSubstr("A.go"));

  // Files over 16 KiB cannot be written (EFBIG: SIGXFSZ ignored) while v1.1.0 is built.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit tiny = old;
  tiny.rlim_cur = 16 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tiny), 0);
  auto full = PublishTag(git, "corp.example/lib", "v1.1.0", {&ok});
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(full.kind, TagResult::kFailed) << full.error;
  EXPECT_FALSE(full.error.empty());
  EXPECT_TRUE(ok.puts.empty());

  // With room again, the same tag publishes.
  auto again = PublishTag(git, "corp.example/lib", "v1.1.0", {&ok});
  EXPECT_EQ(again.kind, TagResult::kDone) << again.error;
  EXPECT_THAT(ok.puts, ElementsAre("corp.example/lib@v1.1.0"));
}

TEST_F(PublishTagTest, PublishesIntoRealBackends) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Commit();
  repo.Tag("v1.0.0");
  TempDir store;
  auto tree = storage::OpenBackend("file://" + (store.path() / "t").string());
  auto athens = storage::OpenBackend("athens-disk://" + (store.path() / "a").string());
  ASSERT_TRUE(tree.ok() && athens.ok());
  auto git = Open();
  for (const char* want : {"published", "unchanged"}) {
    auto r = PublishTag(git, "corp.example/lib", "v1.0.0", {tree->get(), athens->get()});
    ASSERT_EQ(r.kind, TagResult::kDone) << r.error;
    ASSERT_EQ(r.reports.size(), 2u);
    for (const auto& rep : r.reports) EXPECT_EQ(OutcomeName(rep.outcome), want) << rep.message;
  }
  EXPECT_TRUE(fs::is_regular_file(store.path() / "t/corp.example/lib/@v/v1.0.0.zip"));
  EXPECT_TRUE(fs::is_regular_file(store.path() / "a/corp.example/lib/v1.0.0/source.zip"));
}

TEST(OrderVersionTags, OldestFirstBySemverThenName) {
  // "v1.2" is valid (shorthand) semver equal to v1.2.0: a tie, broken by name; it is
  // reported as invalid when published. "v1.2.3.4" is no semver at all: first.
  auto o =
      OrderVersionTags({"v1.10.0", "release", "sub/v1.2.0", "v1.2.0", "v1.2", "latest",
                        "v0.1.0-rc.1", "v0.1.0", "v2.0.0+incompatible", "x/y/v0.0.1", "v1.2.3.4"});
  EXPECT_THAT(o.versions,
              ElementsAre("v1.2.3.4", "x/y/v0.0.1", "v0.1.0-rc.1", "v0.1.0", "sub/v1.2.0", "v1.2",
                          "v1.2.0", "v1.10.0", "v2.0.0+incompatible"));
  EXPECT_THAT(o.other, ElementsAre("release", "latest"));
}

// Every file below `root` (relative path -> size and bytes), to show a dry run wrote nothing.
std::map<std::string, std::string> Files(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) {
      out[e.path().lexically_relative(root).string()] = "<dir>";
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().lexically_relative(root).string()] =
        std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

struct BackfillTest : PublishTagTest {
  TempDir store;
  void Tags() {
    repo.Write("go.mod", "module corp.example/lib\n");
    repo.Write("x.go", "package x\n");
    repo.Commit();
    repo.Tag("v1.0.0");
    repo.Tag("v1.2");  // not canonical: invalid, reported, the rest goes on
    repo.Write("y.go", "package x\n");
    repo.Commit();
    repo.Tag("v1.1.0");
    repo.Tag("release");
  }
  std::unique_ptr<storage::Backend> Tree(const std::string& name = "t") {
    auto b = storage::OpenBackend("file://" + (store.path() / name).string());
    EXPECT_TRUE(b.ok());
    return std::move(b.value());
  }
  // tag -> "<outcome>..." per report, or "invalid" / "failed", as the observer saw them.
  std::vector<std::string> seen;
  BackfillObserver Recorder(std::vector<std::string>* planned) {
    BackfillObserver o;
    o.planned = [planned](const std::vector<std::string>& tags) { *planned = tags; };
    o.finished = [this](const std::string& tag, const TagResult& r) {
      std::string line = tag;
      if (r.kind == TagResult::kInvalid) line += " invalid";
      if (r.kind == TagResult::kFailed) line += " failed";
      for (const auto& rep : r.reports) line += " " + std::string(OutcomeName(rep.outcome));
      seen.push_back(line);
    };
    return o;
  }
};

TEST_F(BackfillTest, ReportsEveryTagInOrderAndCountsPerBackend) {
  Tags();
  auto tree = Tree();
  auto git = Open();
  std::vector<std::string> planned;
  auto sum = Backfill(git, "corp.example/lib", {tree.get()}, {}, Recorder(&planned));
  ASSERT_TRUE(sum.ok()) << sum.message();
  EXPECT_THAT(planned, ElementsAre("v1.0.0", "v1.1.0", "v1.2"));
  EXPECT_THAT(seen, ElementsAre("v1.0.0 published", "v1.1.0 published", "v1.2 invalid"));
  EXPECT_EQ(sum->version_tags, 3u);
  EXPECT_THAT(sum->invalid, ElementsAre("v1.2"));
  EXPECT_THAT(sum->skipped, ElementsAre("release"));
  EXPECT_EQ(sum->backends.at(tree->Name()).published, 2);
}

TEST_F(BackfillTest, DryRunSaysWhatAPublishWouldDoAndWritesNothing) {
  Tags();
  auto tree = Tree();
  auto git = Open();
  std::vector<std::string> planned;
  // Nothing stored yet: every version would be published; the storage is not even created.
  auto dry = Backfill(git, "corp.example/lib", {tree.get()}, {}, Recorder(&planned),
                      BackfillMode::kDryRun);
  ASSERT_TRUE(dry.ok()) << dry.message();
  EXPECT_THAT(seen, ElementsAre("v1.0.0 published", "v1.1.0 published", "v1.2 invalid"));
  EXPECT_EQ(dry->backends.at(tree->Name()).published, 2);
  EXPECT_FALSE(fs::exists(store.path() / "t"));

  // v1.0.0 stored for real: the dry run finds it unchanged, v1.1.0 still to publish.
  ASSERT_EQ(PublishTag(git, "corp.example/lib", "v1.0.0", {tree.get()}).kind, TagResult::kDone);
  const auto before = Files(store.path());
  seen.clear();
  ASSERT_TRUE(
      Backfill(git, "corp.example/lib", {tree.get()}, {}, Recorder(&planned), BackfillMode::kDryRun)
          .ok());
  EXPECT_THAT(seen, ElementsAre("v1.0.0 unchanged", "v1.1.0 published", "v1.2 invalid"));
  EXPECT_EQ(Files(store.path()), before);
}

TEST_F(BackfillTest, DryRunRefusesOtherContentDamageAndLogConflictsAsPutWould) {
  Tags();
  auto tree = Tree();
  auto git = Open();
  // Another repository's v1.0.0 of the same module, stored first: other bytes.
  TempRepo other;
  other.Write("go.mod", "module corp.example/lib\n");
  other.Write("other.go", "package x\n");
  other.Commit();
  other.Tag("v1.0.0");
  auto other_git = git::Repository::Open(other.path());
  ASSERT_TRUE(other_git.ok());
  ASSERT_EQ(PublishTag(*other_git, "corp.example/lib", "v1.0.0", {tree.get()}).kind,
            TagResult::kDone);
  auto dry = DryRunBackend(*tree, nullptr);
  auto r = PublishTag(git, "corp.example/lib", "v1.0.0", {dry.get()});
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].outcome, Outcome::kRefused);
  EXPECT_THAT(r.reports[0].message, HasSubstr("stored h1:"));

  // Damaged: the .mod of the stored version removed (the list still names it).
  fs::remove(store.path() / "t/corp.example/lib/@v/v1.0.0.mod");
  r = PublishTag(git, "corp.example/lib", "v1.0.0", {dry.get()});
  EXPECT_EQ(r.reports[0].outcome, Outcome::kRefused);
  EXPECT_THAT(r.reports[0].message, HasSubstr("damaged"));

  // The checksum database holds other hashes for v1.1.0: refused before any storage.
  TempDir state;
  auto log = sumdb::Log::Open(state.path() / "sumdb");
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->AppendModule("corp.example/lib", "v1.1.0", "h1:A=", "h1:a=").ok());
  const auto logged = Files(state.path());
  auto logged_dry = DryRunBackend(*tree, &*log);
  r = PublishTag(git, "corp.example/lib", "v1.1.0", {logged_dry.get()});
  EXPECT_EQ(r.reports[0].outcome, Outcome::kRefused);
  EXPECT_THAT(r.reports[0].message, HasSubstr("checksum database"));
  // A version the log lacks would be appended by a publish: the dry run leaves the log be.
  r = PublishTag(git, "corp.example/lib", "v1.0.0", {logged_dry.get()});
  EXPECT_THAT(r.reports[0].message, HasSubstr("damaged"));
  EXPECT_EQ(Files(state.path()), logged);
}

TEST_F(BackfillTest, DryRunNamesAMissingSignature) {
  Tags();
  auto tree = Tree();
  auto git = Open();
  ASSERT_EQ(PublishTag(git, "corp.example/lib", "v1.0.0", {tree.get()}).kind, TagResult::kDone);
  auto keys = sign::GenerateKey("sum.corp.example");
  ASSERT_TRUE(keys.ok());
  auto signer = sign::Signer::Parse(keys->signer);
  ASSERT_TRUE(signer.ok());
  Options options;
  options.signer = &*signer;
  auto dry = DryRunBackend(*tree, nullptr);
  auto r = PublishTag(git, "corp.example/lib", "v1.0.0", {dry.get()}, options);
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].outcome, Outcome::kPublished);
  EXPECT_EQ(r.reports[0].message, "would add its signature");
  ASSERT_EQ(PublishTag(git, "corp.example/lib", "v1.0.0", {tree.get()}, options).kind,
            TagResult::kDone);
  r = PublishTag(git, "corp.example/lib", "v1.0.0", {dry.get()}, options);
  EXPECT_EQ(r.reports[0].outcome, Outcome::kUnchanged) << r.reports[0].message;
}

}  // namespace
}  // namespace modpub::publish
