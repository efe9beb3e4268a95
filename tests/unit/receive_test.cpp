// receive: the pre-receive decision (receive.hpp) over real repositories built with the git
// CLI. Pushes through real git (quarantine, hooks run by git) are in tests/e2e/test_hooks.py.
#include "modpub/receive/receive.hpp"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "modpub/modzip/modzip.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/receive/handoff.hpp"
#include "modpub/receive/install.hpp"
#include "modpub/receive/settings.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "support/temp_repo.hpp"

namespace modpub::receive {
namespace {

using ::modpub::testing::Capture;
using ::modpub::testing::Quoted;
using ::modpub::testing::TempDir;
using ::modpub::testing::TempRepo;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kRoot[] = "corp.example/lib";
const std::string kZero(40, '0');

// A backend whose Stat cannot read its storage.
class UnreadableBackend : public storage::Backend {
 public:
  const std::string& Name() const override { return name_; }
  Result<storage::PutResult> Put(const storage::VersionFiles&) override { return Fail("not used"); }
  Result<std::optional<storage::StoredVersion>> Stat(const std::string&,
                                                     const std::string&) override {
    return Fail("/srv/goproxy: Permission denied");
  }
  Result<std::vector<storage::StoredVersion>> ListVersions(const std::string&) override {
    return Fail("not used");
  }
  Result<std::vector<std::string>> ListModules() override { return Fail("not used"); }

 private:
  std::string name_ = "file:///srv/goproxy";
};

struct ReceiveTest : ::testing::Test {
  TempRepo repo;
  TempDir store;
  storage::FsTree tree{"file://" + store.path().string(), store.path()};
  Policy policy{Repo(), {&tree}};

  static config::RepoConfig Repo() {
    config::RepoConfig r;
    r.import_path = kRoot;
    r.allowed_prefixes = {kRoot};
    return r;
  }

  std::string Rev(const std::string& rev) {
    std::string out = Capture("git -C " + Quoted(repo.path()) + " rev-parse " + rev);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // Commits what was written and returns the commit id (no ref points at it but HEAD).
  std::string CommitNow() {
    repo.Commit();
    return Rev("HEAD");
  }
  Verdict Push(const std::string& lines) {
    auto updates = ParseUpdates(lines);
    EXPECT_TRUE(updates.ok()) << (updates.ok() ? "" : updates.message());
    auto r = git::Repository::Open(repo.path());
    EXPECT_TRUE(r.ok());
    return Review(*r, policy, *updates);
  }
  std::string Create(const std::string& ref, const std::string& id) {
    return kZero + " " + id + " " + ref + "\n";
  }
  void PublishTag(const std::string& tag) {
    repo.Tag(tag);
    auto r = git::Repository::Open(repo.path());
    ASSERT_TRUE(r.ok());
    auto result = publish::PublishTag(*r, kRoot, tag, {&tree});
    ASSERT_EQ(result.kind, publish::TagResult::kDone) << result.error;
  }
  std::vector<std::string> Accepted(const Verdict& v) {
    std::vector<std::string> out;
    for (const auto& a : v.accepted) out.push_back(a.tag + " " + a.path + "@" + a.version);
    return out;
  }
};

TEST(ParseUpdates, ReadsGitsLines) {
  std::string a(40, 'a'), b(40, 'b');
  auto u = ParseUpdates(a + " " + b + " refs/tags/v1.0.0\n\n" + kZero + " " + b +
                        " refs/heads/main\r\n" + a + " " + kZero + " refs/tags/sub/v2.0.0");
  ASSERT_TRUE(u.ok()) << u.message();
  ASSERT_EQ(u->size(), 3u);
  EXPECT_EQ((*u)[0].ref, "refs/tags/v1.0.0");
  EXPECT_EQ((*u)[0].old_id.Hex(), a);
  EXPECT_EQ((*u)[0].new_id.Hex(), b);
  EXPECT_FALSE((*u)[0].Creates());
  EXPECT_FALSE((*u)[0].Deletes());
  EXPECT_EQ((*u)[0].Tag(), "v1.0.0");
  EXPECT_TRUE((*u)[1].Creates());
  EXPECT_EQ((*u)[1].Tag(), "");
  EXPECT_EQ((*u)[1].ref, "refs/heads/main");
  EXPECT_TRUE((*u)[2].Deletes());
  EXPECT_EQ((*u)[2].Tag(), "sub/v2.0.0");
}

TEST(ParseUpdates, RefusesMalformedLines) {
  std::string a(40, 'a');
  for (const std::string& bad : {a + " " + a, a + " xyz refs/tags/v1", "short " + a + " refs/x",
                                 a + " " + a + " ", std::string(40, 'A') + " " + a + " refs/x"}) {
    auto u = ParseUpdates(a + " " + a + " refs/heads/ok\n" + bad + "\n");
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_THAT(u.message(), HasSubstr("line 2")) << bad;
  }
}

TEST(Rules, VersionTags) {
  EXPECT_TRUE(IsVersionTag("v1.0.0"));
  EXPECT_TRUE(IsVersionTag("v1.2"));
  EXPECT_TRUE(IsVersionTag("sub/dir/v2.0.0"));
  EXPECT_FALSE(IsVersionTag("release-1"));
  EXPECT_FALSE(IsVersionTag("vnext"));
  EXPECT_FALSE(IsVersionTag("v1.0.0/notes"));
}

// Tags judged from their name alone (webhook intake): only a ref git holds, a canonical
// version, and a directory that makes a valid module path can ever be fetched by go.
TEST(Rules, TagNamesThatCanNeverBeVersions) {
  const std::string mod = "example.com/lib";
  EXPECT_EQ(JudgeTagName(mod, "v1.0.0").kind, TagVerdict::kMaybe);
  EXPECT_EQ(JudgeTagName(mod, "sub/dir/v2.0.0-rc.1").kind, TagVerdict::kMaybe);
  EXPECT_EQ(JudgeTagName(mod, "release-1").kind, TagVerdict::kNotVersion);
  for (const char* forged :
       {"x/../v1.0.0", "a..b/v1.0.0", "v1.0.0.lock", ".hidden/v1.0.0", "a b/v1.0.0", "x\x01/v1.0.0",
        "x//v1.0.0", "x/v1.0.0/", "--upload-pack=touch /tmp/x/v1.0.0"}) {
    auto v = JudgeTagName(mod, forged);
    EXPECT_EQ(v.kind, TagVerdict::kNotAGitRef) << forged;
    EXPECT_THAT(v.why, HasSubstr("git check-ref-format")) << forged;
  }
  EXPECT_EQ(JudgeTagName(mod, std::string("x\0y/v1.0.0", 10)).kind, TagVerdict::kNotAGitRef);
  // Names git holds, but no module version can have.
  for (const char* never :
       {"--upload-pack=x/v1.0.0", "\xc3\xa9t\xc3\xa9/v1.0.0", "v1.2", "v1.0.0+build", "v01.0.0"}) {
    auto v = JudgeTagName(mod, never);
    EXPECT_EQ(v.kind, TagVerdict::kNever) << never;
    EXPECT_THAT(v.why, HasSubstr("never fetches")) << never;
  }
  EXPECT_THAT(JudgeTagName(mod, "v1.2").why, HasSubstr("not a canonical semantic version"));
  EXPECT_THAT(JudgeTagName(mod, "--upload-pack=x/v1.0.0").why, HasSubstr("malformed module path"));
}

TEST_F(ReceiveTest, GoodTagIsAcceptedFromThePushedIdAlone) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("lib.go", "package lib\n");
  std::string c = CommitNow();
  // No ref names the version yet, as in pre-receive.
  Verdict v = Push(Create("refs/tags/v1.0.0", c));
  EXPECT_THAT(v.problems, IsEmpty());
  EXPECT_THAT(Accepted(v), ElementsAre("v1.0.0 corp.example/lib@v1.0.0"));
}

TEST_F(ReceiveTest, AnnotatedTagObjectAndTwoModulesFromOneTag) {
  repo.Write("lib.go", "package lib\n");
  repo.Write("v3/go.mod", "module corp.example/lib/v3\n");
  repo.Commit();
  repo.Tag("v3.0.0", /*annotated=*/true);
  std::string tag_object = Rev("refs/tags/v3.0.0");
  repo.Git("tag -d v3.0.0");
  Verdict v = Push(Create("refs/tags/v3.0.0", tag_object));
  EXPECT_THAT(v.problems, IsEmpty());
  EXPECT_THAT(Accepted(v), ElementsAre("v3.0.0 corp.example/lib@v3.0.0+incompatible",
                                       "v3.0.0 corp.example/lib/v3@v3.0.0"));
}

TEST_F(ReceiveTest, BranchesAndOtherTagsPass) {
  repo.Write("go.mod", "module other.example/wrong\n");
  std::string c = CommitNow();
  Verdict v = Push(Create("refs/heads/feature", c) + Create("refs/tags/release-1", c) + c + " " +
                   kZero + " refs/tags/nightly\n" + Create("refs/notes/commits", c));
  EXPECT_THAT(v.problems, IsEmpty());
  EXPECT_THAT(v.accepted, IsEmpty());
}

TEST_F(ReceiveTest, EveryProblemOfEveryTagIsReported) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("a.go", "package lib\n");
  repo.Write("A.go", "package lib\n");
  repo.Write("bad:name.go", "package lib\n");
  repo.Write("nomod/go.mod", "go 1.19\n");
  repo.Write("other/go.mod", "module corp.example/elsewhere\n");
  std::string c = CommitNow();
  Verdict v = Push(Create("refs/tags/v1.2", c) + Create("refs/tags/v1.0.0", c) +
                   Create("refs/tags/nomod/v1.0.0", c) + Create("refs/tags/other/v1.0.0", c) +
                   Create("refs/tags/v2.0.0", c) + Create("refs/heads/main", c));
  EXPECT_THAT(v.accepted, IsEmpty());
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("v1.2: "), HasSubstr("not canonical"))));
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("v1.0.0: "), HasSubstr("A.go"))));
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("v1.0.0: "), HasSubstr("bad:name.go"))));
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("nomod/v1.0.0: "), HasSubstr("nomod/go.mod"),
                                         HasSubstr("missing module path"))));
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("other/v1.0.0: "), HasSubstr("other/go.mod"),
                                         HasSubstr("corp.example/elsewhere"))));
  EXPECT_THAT(v.problems, Contains(AllOf(StartsWith("v2.0.0: "), HasSubstr("/v2"))));
  for (const auto& p : v.problems) EXPECT_EQ(p.find('\n'), std::string::npos) << p;
}

TEST_F(ReceiveTest, ProblemsAreThoseOfModpubZip) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("x/y.go", "package x\n");
  repo.Write("X/y.go", "package x\n");
  repo.Write("con.go", "package lib\n");
  std::string c = CommitNow();
  repo.Tag("v1.0.0");
  auto r = git::Repository::Open(repo.path());
  ASSERT_TRUE(r.ok());
  auto mvs = modzip::Resolve(*r, kRoot, "v1.0.0");
  ASSERT_TRUE(mvs.ok()) << mvs.message();
  auto built = modzip::Build(*r, (*mvs)[0], store.path() / "x.zip");
  ASSERT_FALSE(built.ok());
  std::vector<std::string> lines;
  for (std::size_t s = 0, nl; s < built.message().size(); s = nl + 1) {
    nl = built.message().find('\n', s);
    if (nl == std::string::npos) nl = built.message().size();
    lines.push_back(built.message().substr(s, nl - s));
  }
  Verdict v = Push(Create("refs/tags/v1.0.0", c));
  EXPECT_EQ(v.problems, lines);
  EXPECT_GE(lines.size(), 2u);
}

TEST_F(ReceiveTest, OversizeGoModIsRefused) {
  std::string big = "module corp.example/lib\n" + std::string((16u << 20) + 1, '\n');
  repo.Write("go.mod", big);
  std::string c = CommitNow();
  Verdict v = Push(Create("refs/tags/v1.0.0", c));
  EXPECT_THAT(v.problems, ElementsAre(AllOf(StartsWith("v1.0.0: "), HasSubstr("go.mod"))));
}

TEST_F(ReceiveTest, ModulePathsOutsideTheAllowedPrefixesAreRefused) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n");
  std::string c = CommitNow();
  policy.repo.allowed_prefixes = {"corp.example/lib/sub", "corp.example/tools"};
  Verdict v = Push(Create("refs/tags/v1.0.0", c) + Create("refs/tags/sub/v1.0.0", c));
  EXPECT_THAT(v.problems,
              ElementsAre(AllOf(StartsWith("v1.0.0: go.mod: module path \"corp.example/lib\""),
                                HasSubstr("\"corp.example/lib/sub\", \"corp.example/tools\""))));
  EXPECT_THAT(Accepted(v), ElementsAre("sub/v1.0.0 corp.example/lib/sub@v1.0.0"));
}

TEST_F(ReceiveTest, PublishedTagMayNotMoveOrBeDeleted) {
  repo.Write("go.mod", "module corp.example/lib\n");
  std::string c1 = CommitNow();
  PublishTag("v1.0.0");
  repo.Write("more.go", "package lib\n");
  std::string c2 = CommitNow();

  Verdict moved = Push(c1 + " " + c2 + " refs/tags/v1.0.0\n");
  EXPECT_THAT(
      moved.problems,
      ElementsAre(AllOf(StartsWith("v1.0.0: corp.example/lib@v1.0.0 is published in file://"),
                        HasSubstr("moving"))));
  Verdict deleted = Push(c1 + " " + kZero + " refs/tags/v1.0.0\n");
  EXPECT_THAT(deleted.problems, ElementsAre(AllOf(StartsWith("v1.0.0: corp.example/lib@v1.0.0"),
                                                  HasSubstr("deleting"))));
  // Not published: may move (the new target is checked) and be deleted.
  repo.Tag("v1.1.0");
  Verdict other =
      Push(c1 + " " + c2 + " refs/tags/v1.1.0\n" + c1 + " " + kZero + " refs/tags/v1.2.0\n");
  EXPECT_THAT(other.problems, IsEmpty());
  EXPECT_THAT(Accepted(other), ElementsAre("v1.1.0 corp.example/lib@v1.1.0"));
}

TEST_F(ReceiveTest, PublishedIncompatibleAndMajorSubdirectoryVersionsCount) {
  repo.Write("lib.go", "package lib\n");
  repo.Write("v2/go.mod", "module corp.example/lib/v2\n");
  std::string c = CommitNow();
  PublishTag("v2.0.0");
  Verdict v = Push(c + " " + kZero + " refs/tags/v2.0.0\n");
  EXPECT_THAT(v.problems,
              ElementsAre(StartsWith("v2.0.0: corp.example/lib@v2.0.0+incompatible is published"),
                          StartsWith("v2.0.0: corp.example/lib/v2@v2.0.0 is published")));
}

TEST_F(ReceiveTest, UnreadableStorageRefusesMovingButNotCreating) {
  repo.Write("go.mod", "module corp.example/lib\n");
  std::string c = CommitNow();
  UnreadableBackend bad;
  policy.published_in = {&bad};
  Verdict v = Push(c + " " + kZero + " refs/tags/v1.0.0\n" + Create("refs/tags/v1.1.0", c));
  EXPECT_THAT(v.problems, ElementsAre(AllOf(StartsWith("v1.0.0: cannot tell whether"),
                                            HasSubstr("Permission denied"))));
  EXPECT_THAT(Accepted(v), ElementsAre("v1.1.0 corp.example/lib@v1.1.0"));
}

TEST_F(ReceiveTest, ImmutableTagsRefuseEverySemverTagChange) {
  repo.Write("go.mod", "module corp.example/lib\n");
  std::string c1 = CommitNow();
  std::string c2 = CommitNow();
  policy.repo.immutable_tags = true;
  Verdict v = Push(c1 + " " + c2 + " refs/tags/v1.0.0\n" + c1 + " " + kZero +
                   " refs/tags/sub/v0.1.0\n" + c1 + " " + c2 + " refs/tags/release\n" +
                   Create("refs/tags/v1.1.0", c2) + c1 + " " + c2 + " refs/heads/main\n");
  EXPECT_THAT(v.problems,
              ElementsAre(AllOf(StartsWith("v1.0.0: moving"), HasSubstr("immutable_tags = true")),
                          AllOf(StartsWith("sub/v0.1.0: deleting"), HasSubstr("immutable"))));
  EXPECT_THAT(Accepted(v), ElementsAre("v1.1.0 corp.example/lib@v1.1.0"));
}

TEST_F(ReceiveTest, PublishedListsWhatCreatedAndMovedTagsPublish) {
  repo.Write("go.mod", "module corp.example/lib\n");
  repo.Write("sub/go.mod", "module corp.example/lib/sub\n");
  std::string c = CommitNow();
  auto updates = ParseUpdates(Create("refs/tags/v1.0.0", c) + Create("refs/tags/sub/v0.2.0", c) +
                              c + " " + kZero + " refs/tags/v0.9.0\n" +
                              Create("refs/tags/release", c) + Create("refs/tags/v1.2", c));
  ASSERT_TRUE(updates.ok());
  auto r = git::Repository::Open(repo.path());
  ASSERT_TRUE(r.ok());
  Verdict v = Published(*r, kRoot, *updates);
  EXPECT_THAT(Accepted(v), ElementsAre("v1.0.0 corp.example/lib@v1.0.0",
                                       "sub/v0.2.0 corp.example/lib/sub@v0.2.0"));
  EXPECT_THAT(v.problems, ElementsAre(StartsWith("v1.2: ")));
}

// --- install ------------------------------------------------------------------------------

namespace fs = std::filesystem;

constexpr char kTemplate[] = "#!/bin/sh\n# modpub-hook-shim\nexec @PROGRAM@ @HOOK@ @ARGS@\n";

struct InstallTest : ::testing::Test {
  TempDir dir;
  fs::path bare = dir.path() / "repo.git";
  fs::path program = dir.path() / "bin" / "modpub-hook";
  fs::path hooks = bare / "hooks";

  void SetUp() override {
    ::modpub::testing::Sh("git init -q --bare " + Quoted(bare));
    fs::create_directories(program.parent_path());
    std::ofstream(program) << "#!/bin/sh\n";
    fs::permissions(program, fs::perms::owner_all);
  }
  InstallOptions Options() { return {bare, program, std::nullopt, kTemplate}; }
  // Every file below `d`: name -> (mode, content).
  std::map<std::string, std::pair<unsigned, std::string>> Snapshot(const fs::path& d) {
    std::map<std::string, std::pair<unsigned, std::string>> out;
    if (!fs::exists(d)) return out;
    for (const auto& e : fs::recursive_directory_iterator(d)) {
      struct stat st {};
      ::lstat(e.path().c_str(), &st);
      std::string content;
      if (e.is_regular_file()) {
        std::ifstream in(e.path(), std::ios::binary);
        content.assign(std::istreambuf_iterator<char>(in), {});
      }
      out[fs::relative(e.path(), d).string()] = {st.st_mode, content};
    }
    return out;
  }
};

TEST_F(InstallTest, HooksDirHonoursCoreHooksPath) {
  auto d = HooksDir(bare);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(*d, hooks);
  ::modpub::testing::Sh("git -C " + Quoted(bare) + " config core.hooksPath shared/hooks");
  d = HooksDir(bare);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(*d, bare / "shared/hooks");
  ::modpub::testing::Sh("git -C " + Quoted(bare) + " config core.hooksPath /srv/hooks");
  EXPECT_EQ(*HooksDir(bare), fs::path("/srv/hooks"));
}

TEST_F(InstallTest, ShimQuotesItsArguments) {
  std::string text = ShimText(kTemplate, "pre-receive", "/opt/it's here/modpub-hook",
                              fs::path("/etc/modpub.toml"));
  EXPECT_EQ(text,
            "#!/bin/sh\n# modpub-hook-shim\nexec '/opt/it'\\''s here/modpub-hook' pre-receive "
            "--config '/etc/modpub.toml'\n");
}

TEST_F(InstallTest, InstallChainsIsIdempotentAndUninstallRestores) {
  std::ofstream(hooks / "pre-receive") << "#!/bin/sh\nexit 0\n";
  fs::permissions(hooks / "pre-receive", fs::perms::owner_all | fs::perms::group_read);
  auto before = Snapshot(hooks);

  auto first = Install(Options());
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_THAT(*first, ElementsAre(HasSubstr("runs first"), HasSubstr("installed")));
  EXPECT_TRUE(fs::exists(hooks / "modpub-chained" / "pre-receive"));
  EXPECT_FALSE(fs::exists(hooks / "modpub-chained" / "post-receive"));
  auto installed = Snapshot(hooks);
  EXPECT_THAT(installed["pre-receive"].second, HasSubstr(program.string()));
  EXPECT_TRUE(installed["post-receive"].first & S_IXUSR);

  auto second = Install(Options());
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_THAT(*second, ::testing::Each(HasSubstr("already installed")));
  EXPECT_EQ(Snapshot(hooks), installed);

  InstallOptions with_config = Options();
  with_config.config = bare / "config";  // any existing file
  auto third = Install(with_config);
  ASSERT_TRUE(third.ok()) << third.message();
  EXPECT_THAT(*third, ::testing::Each(HasSubstr("updated")));
  EXPECT_EQ(Snapshot(hooks)["modpub-chained/pre-receive"], before["pre-receive"]);

  auto removed = Uninstall(bare);
  ASSERT_TRUE(removed.ok()) << removed.message();
  EXPECT_EQ(Snapshot(hooks), before);
}

TEST_F(InstallTest, RelativeSymlinkHookStillResolvesAndComesBackUnchanged) {
  fs::create_directories(bare / "shared");
  std::ofstream(bare / "shared" / "dispatch") << "#!/bin/sh\n";
  fs::create_symlink("../shared/dispatch", hooks / "pre-receive");
  fs::create_symlink("/usr/share/hooks/post", hooks / "post-receive");
  ASSERT_TRUE(Install(Options()).ok());
  fs::path chained = hooks / "modpub-chained";
  EXPECT_EQ(fs::read_symlink(chained / "pre-receive"), fs::path("../../shared/dispatch"));
  EXPECT_TRUE(fs::equivalent(chained / "pre-receive", bare / "shared" / "dispatch"));
  EXPECT_EQ(fs::read_symlink(chained / "post-receive"), fs::path("/usr/share/hooks/post"));
  ASSERT_TRUE(Uninstall(bare).ok());
  EXPECT_EQ(fs::read_symlink(hooks / "pre-receive"), fs::path("../shared/dispatch"));
  EXPECT_EQ(fs::read_symlink(hooks / "post-receive"), fs::path("/usr/share/hooks/post"));
  EXPECT_FALSE(fs::exists(chained));
}

TEST_F(InstallTest, CreatedHooksDirectoryIsRemovedAgain) {
  ::modpub::testing::Sh("git -C " + Quoted(bare) + " config core.hooksPath my-hooks");
  ASSERT_TRUE(Install(Options()).ok());
  EXPECT_TRUE(fs::exists(bare / "my-hooks" / "pre-receive"));
  ASSERT_TRUE(Uninstall(bare).ok());
  EXPECT_FALSE(fs::exists(bare / "my-hooks"));
}

TEST_F(InstallTest, AHookReplacedByHandIsNotTouched) {
  std::ofstream(hooks / "pre-receive") << "#!/bin/sh\necho original\n";
  ASSERT_TRUE(Install(Options()).ok());
  std::ofstream(hooks / "pre-receive") << "#!/bin/sh\necho replaced by hand\n";
  auto before = Snapshot(hooks);
  auto again = Install(Options());
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.message(), HasSubstr("decide by hand"));
  auto removed = Uninstall(bare);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(Snapshot(hooks), before);
}

TEST_F(InstallTest, MissingProgramIsRefused) {
  InstallOptions o = Options();
  o.program = dir.path() / "nowhere" / "modpub-hook";
  auto r = Install(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("modpub-hook program is missing"));
  EXPECT_FALSE(fs::exists(hooks / "modpub-chained"));
}

// The shim `modpub hook install` really writes (hooks/shim.sh.inc).
constexpr std::string_view kRealTemplate =
#include "../../hooks/shim.sh.inc"
    ;

// A shim as modpub wrote it before the program was looked up at run time.
std::string OldShim(const fs::path& program) {
  return "#!/bin/sh\n# modpub-hook-shim\n# modpub's pre-receive hook\nchained=x\nif [ -x "
         "\"$chained\" ]; then\n  printf '%s' \"$input\" | '" +
         program.string() + "' pre-receive --config '/etc/old.toml'\nfi\nexec '" +
         program.string() + "' pre-receive --config '/etc/old.toml'\n";
}

TEST_F(InstallTest, ParseShimReadsTheRecordedProgramAndConfig) {
  const fs::path odd = "/opt/it's here/modpub-hook";
  auto info =
      ParseShim(ShimText(kRealTemplate, "pre-receive", odd, fs::path("/etc/modpub/it's.toml")));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->recorded_program, odd);
  EXPECT_EQ(info->config, fs::path("/etc/modpub/it's.toml"));
  info = ParseShim(ShimText(kRealTemplate, "post-receive", odd, std::nullopt));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->recorded_program, odd);
  EXPECT_FALSE(info->config.has_value());
  info = ParseShim(OldShim("/old/bin/modpub-hook"));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->recorded_program, fs::path("/old/bin/modpub-hook"));
  EXPECT_EQ(info->config, fs::path("/etc/old.toml"));
  EXPECT_FALSE(ParseShim("#!/bin/sh\nexec '/usr/bin/modpub-hook' pre-receive\n").has_value());
}

TEST_F(InstallTest, AnOlderShimIsReplacedNotChained) {
  std::ofstream(hooks / "pre-receive") << OldShim(program);
  fs::permissions(hooks / "pre-receive", fs::perms::owner_all);
  InstallOptions o = Options();
  o.shim_template = std::string(kRealTemplate);
  auto r = Install(o);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_THAT(*r, ElementsAre(HasSubstr("pre-receive: updated"), HasSubstr("installed")));
  EXPECT_FALSE(fs::exists(hooks / "modpub-chained" / "pre-receive"));
  std::ifstream in(hooks / "pre-receive");
  std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_THAT(text, HasSubstr("command -v modpub-hook"));
  ASSERT_TRUE(Uninstall(bare).ok());
  EXPECT_FALSE(fs::exists(hooks / "pre-receive"));
}

// The shim's run-time lookup, run by sh with fake programs that print who they are.
struct ShimLookupTest : InstallTest {
  fs::path on_path = dir.path() / "path-bin";
  fs::path explicit_program = dir.path() / "elsewhere" / "my-hook";
  // The PATH of a run: the tools the shim uses and nothing else (no installed modpub-hook).
  fs::path tools = dir.path() / "tools";

  void SetUp() override {
    InstallTest::SetUp();
    fs::create_directories(tools);
    for (const char* tool : {"cat", "dirname"}) {
      fs::create_symlink(fs::path("/usr/bin") / tool, tools / tool);
    }
    Fake(program, "recorded");
    Fake(on_path / "modpub-hook", "on-path");
    Fake(explicit_program, "explicit");
    InstallOptions o = Options();
    o.config = bare / "config";
    o.shim_template = std::string(kRealTemplate);
    ASSERT_TRUE(Install(o).ok());
  }
  void Fake(const fs::path& p, const std::string& name) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "#!/bin/sh\necho " << name << " \"$@\" $(cat)\n";
    fs::permissions(p, fs::perms::owner_all);
  }
  // Runs `hook` with one ref update on stdin and the given environment; output + status.
  std::string Run(const std::string& hook, const std::string& env,
                  const std::string& ref = "refs/tags/v1.0.0") {
    return Capture("echo '" + kZero + " " + std::string(40, '1') + " " + ref +
                   "' | env -i PATH=" + tools.string() + " " + env + " /bin/sh " +
                   Quoted(hooks / hook) + " 2>&1; echo status=$?");
  }
};

TEST_F(ShimLookupTest, ExplicitThenPathThenRecorded) {
  const std::string args = " --config " + (bare / "config").string() + " ";
  EXPECT_THAT(Run("pre-receive", "MODPUB_HOOK=" + explicit_program.string()),
              AllOf(StartsWith("explicit pre-receive" + args + kZero), HasSubstr("status=0")));
  EXPECT_THAT(Run("post-receive", "PATH=" + on_path.string() + ":" + tools.string()),
              AllOf(StartsWith("on-path post-receive" + args), HasSubstr("status=0")));
  EXPECT_THAT(Run("pre-receive", ""), StartsWith("recorded pre-receive" + args));
}

TEST_F(ShimLookupTest, WithoutAProgramPreReceiveRefusesTagsOnly) {
  fs::remove(program);
  std::string out = Run("pre-receive", "");
  EXPECT_THAT(out, HasSubstr("modpub: modpub-hook not found (PATH=" + tools.string() +
                             "; reinstall modpub or set MODPUB_HOOK)\n"));
  EXPECT_THAT(out, HasSubstr("refused push"));
  EXPECT_THAT(out, HasSubstr("status=1"));
  // A branch needs no check; post-receive never fails (the push has happened).
  EXPECT_THAT(Run("pre-receive", "", "refs/heads/main"),
              AllOf(HasSubstr("modpub-hook not found"), HasSubstr("status=0")));
  EXPECT_THAT(Run("post-receive", ""),
              AllOf(HasSubstr("modpub-hook not found"), HasSubstr("status=0")));
  // A MODPUB_HOOK that names nothing is an error, not a reason to look elsewhere.
  Fake(program, "recorded");
  EXPECT_THAT(Run("pre-receive", "MODPUB_HOOK=/nowhere/modpub-hook"),
              AllOf(HasSubstr("MODPUB_HOOK=/nowhere/modpub-hook is no executable file"),
                    HasSubstr("status=1")));
}

TEST_F(ShimLookupTest, TheChainedHookStillRunsWhenTheProgramIsGone) {
  ASSERT_TRUE(Uninstall(bare).ok());
  std::ofstream(hooks / "post-receive") << "#!/bin/sh\necho chained $(cat)\n";
  fs::permissions(hooks / "post-receive", fs::perms::owner_all);
  InstallOptions o = Options();
  o.shim_template = std::string(kRealTemplate);
  ASSERT_TRUE(Install(o).ok());
  fs::remove(program);
  std::string out = Run("post-receive", "");
  EXPECT_THAT(out, HasSubstr("chained " + kZero));
  EXPECT_THAT(out, HasSubstr("modpub-hook not found"));
  EXPECT_THAT(out, HasSubstr("status=0"));
}

// --- settings -----------------------------------------------------------------------------

struct SettingsTest : ::testing::Test {
  TempDir dir;
  fs::path bare = dir.path() / "repo.git";
  void SetUp() override {
    ::modpub::testing::Sh("git init -q --bare " + Quoted(bare));
    ::unsetenv("MODPUB_CONFIG");
  }
  void GitConfig(const std::string& args) {
    ::modpub::testing::Sh("git -C " + Quoted(bare) + " config " + args);
  }
  fs::path WriteToml(const std::string& repo_path, const std::string& extra = "") {
    fs::path p = dir.path() / "modpub.toml";
    std::ofstream(p) << "storage = [\"file:///srv/goproxy\"]\n"
                     << "spool_dir = \"/var/spool/modpub\"\n"
                     << "state_dir = \"/var/lib/modpub\"\n"
                     << "socket = \"/run/modpub.sock\"\n"
                     << "[[repository]]\n"
                     << "path = \"" << repo_path << "\"\n"
                     << "import_path = \"corp.example/lib\"\n"
                     << extra;
    return p;
  }
};

TEST_F(SettingsTest, NothingConfiguredIsAnErrorThatSaysWhatToDo) {
  auto s = LoadSettings(bare, std::nullopt);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), AllOf(HasSubstr("--config"), HasSubstr("modpub.importPath")));
}

TEST_F(SettingsTest, GitConfigAlone) {
  GitConfig("modpub.importPath corp.example/lib");
  GitConfig("--add modpub.allowedPrefix corp.example/lib/api");
  GitConfig("--add modpub.allowedPrefix corp.example/tools");
  GitConfig("modpub.immutableTags true");
  GitConfig("modpub.storage file:///srv/goproxy");
  GitConfig("modpub.spoolDir /var/spool/modpub");
  auto s = LoadSettings(bare, std::nullopt);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->repo.import_path, "corp.example/lib");
  EXPECT_THAT(s->repo.allowed_prefixes, ElementsAre("corp.example/lib/api", "corp.example/tools"));
  EXPECT_TRUE(s->repo.immutable_tags);
  EXPECT_THAT(s->storage, ElementsAre("file:///srv/goproxy"));
  EXPECT_EQ(s->spool_dir, "/var/spool/modpub");
  EXPECT_EQ(s->socket_path, "");
  EXPECT_EQ(s->repo.path, fs::canonical(bare).string());
}

TEST_F(SettingsTest, TomlFromFlagGitConfigOrEnvironment) {
  fs::path toml = WriteToml(bare.string(), "immutable_tags = true\n");
  GitConfig("modpub.importPath ignored.example/x");  // the file's entry wins
  auto s = LoadSettings(bare, toml.string());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->source, toml.string());
  EXPECT_EQ(s->repo.import_path, "corp.example/lib");
  EXPECT_THAT(s->repo.allowed_prefixes, ElementsAre("corp.example/lib"));
  EXPECT_TRUE(s->repo.immutable_tags);
  EXPECT_EQ(s->spool_dir, "/var/spool/modpub");
  EXPECT_EQ(s->socket_path, "/run/modpub.sock");
  EXPECT_EQ(s->repo.path, bare.string());

  GitConfig("modpub.config ../modpub.toml");  // relative to the repository
  s = LoadSettings(bare, std::nullopt);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->repo.import_path, "corp.example/lib");

  GitConfig("--unset modpub.config");
  ::setenv("MODPUB_CONFIG", toml.c_str(), 1);
  s = LoadSettings(bare, std::nullopt);
  ::unsetenv("MODPUB_CONFIG");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->source, toml.string());
}

TEST_F(SettingsTest, RepositoryMissingFromTheFile) {
  fs::path toml = WriteToml("/srv/git/other.git");
  auto s = LoadSettings(bare, toml.string());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), AllOf(HasSubstr("no [[repository]]"), HasSubstr("modpub.importPath")));
  GitConfig("modpub.importPath corp.example/own");
  s = LoadSettings(bare, toml.string());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->repo.import_path, "corp.example/own");
  EXPECT_THAT(s->repo.allowed_prefixes, ElementsAre("corp.example/own"));
  EXPECT_EQ(s->spool_dir, "/var/spool/modpub");
}

TEST_F(SettingsTest, BrokenTomlIsAnError) {
  fs::path toml = dir.path() / "bad.toml";
  std::ofstream(toml) << "storage = [\n";
  auto s = LoadSettings(bare, toml.string());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("bad.toml"));
}

// --- pre-receive -> post-receive handoff (handoff.hpp) ----------------------------------

RefUpdate Update(const std::string& ref, char new_digit) {
  auto u = ParseUpdates(kZero + " " + std::string(40, new_digit) + " " + ref + "\n");
  if (!u || u->size() != 1) throw std::logic_error("bad test update");
  return (*u)[0];
}

Accepted Version(const std::string& tag, const std::string& path, const std::string& version) {
  Accepted a{tag, path, version, {}};
  if (git_oid_fromstr(&a.commit.raw, std::string(40, 'c').c_str()) != 0) {
    throw std::logic_error("bad test oid");
  }
  return a;
}

std::vector<std::string> Describe(const std::vector<Accepted>& list) {
  std::vector<std::string> out;
  for (const auto& a : list)
    out.push_back(a.tag + " " + a.path + "@" + a.version + " " + a.commit.Hex());
  return out;
}

std::size_t FilesIn(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(Handoff, RoundTripsEveryModuleVersionOfATagOnce) {
  TempDir dir;
  const auto d = dir.path() / "handoff";  // created on demand
  RefUpdate u = Update("refs/tags/v3.0.0", 'a');
  std::vector<Accepted> two = {Version("v3.0.0", "corp.example/lib", "v3.0.0+incompatible"),
                               Version("v3.0.0", "corp.example/lib/v3", "v3.0.0")};
  ASSERT_TRUE(WriteHandoff(d, "/srv/git/lib.git", u, two));
  auto got = TakeHandoff(d, "/srv/git/lib.git", u);
  ASSERT_TRUE(got.has_value());
  EXPECT_THAT(Describe(*got),
              ElementsAre("v3.0.0 corp.example/lib@v3.0.0+incompatible " + std::string(40, 'c'),
                          "v3.0.0 corp.example/lib/v3@v3.0.0 " + std::string(40, 'c')));
  // Taken: a second post-receive for the same update finds nothing.
  EXPECT_FALSE(TakeHandoff(d, "/srv/git/lib.git", u).has_value());
  EXPECT_EQ(FilesIn(d), 0u);
}

TEST(Handoff, BelongsToOneRepositoryRefAndNewId) {
  TempDir dir;
  RefUpdate u = Update("refs/tags/v1.0.0", 'a');
  ASSERT_TRUE(WriteHandoff(dir.path(), "/srv/git/lib.git", u,
                           {Version("v1.0.0", "corp.example/lib", "v1.0.0")}));
  EXPECT_FALSE(TakeHandoff(dir.path(), "/srv/git/other.git", u).has_value());
  EXPECT_FALSE(TakeHandoff(dir.path(), "/srv/git/lib.git", Update("refs/tags/v1.0.0", 'b')));
  EXPECT_FALSE(TakeHandoff(dir.path(), "/srv/git/lib.git", Update("refs/tags/v1.0.1", 'a')));
  EXPECT_TRUE(TakeHandoff(dir.path(), "/srv/git/lib.git", u).has_value());
}

TEST(Handoff, UnusableRecordsAreAbsentNotErrors) {
  TempDir dir;
  RefUpdate u = Update("refs/tags/v1.0.0", 'a');
  EXPECT_FALSE(TakeHandoff(dir.path() / "missing", "/r.git", u).has_value());
  ASSERT_TRUE(
      WriteHandoff(dir.path(), "/r.git", u, {Version("v1.0.0", "corp.example/lib", "v1.0.0")}));
  ASSERT_EQ(FilesIn(dir.path()), 1u);
  const auto file = std::filesystem::directory_iterator(dir.path())->path();
  for (const std::string& bad :
       {std::string("not json"), std::string("{}"), std::string(R"({"format":"modpub-handoff/2"})"),
        std::string("{\"format\":\"modpub-handoff/1\",\"repo\":\"/r.git\",\"ref\":\"refs/tags/"
                    "v1.0.0\",\"new\":\"" +
                    std::string(40, 'a') + "\",\"accepted\":[]}"),
        std::string("{\"format\":\"modpub-handoff/1\",\"repo\":\"/r.git\",\"ref\":\"refs/tags/"
                    "v1.0.0\",\"new\":\"" +
                    std::string(40, 'a') +
                    "\",\"accepted\":[{\"tag\":\"v1.0.0\",\"path\":\"p\",\"version\":\"v1.0.0\","
                    "\"commit\":\"xyz\"}]}")}) {
    std::ofstream(file) << bad;
    EXPECT_FALSE(TakeHandoff(dir.path(), "/r.git", u).has_value()) << bad;
    EXPECT_FALSE(std::filesystem::exists(file)) << "an unusable record is removed: " << bad;
  }
}

TEST(Handoff, WritingRemovesRecordsOfPushesThatNeverFinished) {
  TempDir dir;
  RefUpdate old_update = Update("refs/tags/v1.0.0", 'a');
  ASSERT_TRUE(WriteHandoff(dir.path(), "/r.git", old_update,
                           {Version("v1.0.0", "corp.example/lib", "v1.0.0")}));
  const auto stale = std::filesystem::directory_iterator(dir.path())->path();
  std::filesystem::last_write_time(
      stale, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  RefUpdate fresh = Update("refs/tags/v1.0.1", 'b');
  ASSERT_TRUE(
      WriteHandoff(dir.path(), "/r.git", fresh, {Version("v1.0.1", "corp.example/lib", "v1.0.1")}));
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_EQ(FilesIn(dir.path()), 1u);
  EXPECT_TRUE(TakeHandoff(dir.path(), "/r.git", fresh).has_value());
}

TEST(Handoff, AnUnwritableDirectoryIsReported) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  auto s = WriteHandoff(dir.path() / "file" / "handoff", "/r.git", Update("refs/tags/v1.0.0", 'a'),
                        {Version("v1.0.0", "corp.example/lib", "v1.0.0")});
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("handoff"));
}

}  // namespace
}  // namespace modpub::receive
