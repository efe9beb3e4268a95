// git: reading trees and blobs the way the go command sees them.
#include "modpub/git/git.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "modpub/git/convert.hpp"
#include "support/temp_repo.hpp"

namespace modpub::git {
namespace {

using ::modpub::testing::Capture;
using ::modpub::testing::Quoted;
using ::modpub::testing::Sh;
using ::modpub::testing::TempDir;
using ::modpub::testing::TempRepo;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct GitTest : ::testing::Test {
  TempRepo repo;
  Repository Open() {
    auto r = Repository::Open(repo.path());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return std::move(r.value());
  }
  TaggedCommit Head(Repository& r, const std::string& tag = "t") {
    repo.Tag(tag);
    auto c = r.ResolveTag(tag);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.message());
    return c.value();
  }
};

TEST_F(GitTest, ReadFileReadsBlobsAndSymlinksButNotTreesOrGitlinks) {
  repo.Write("dir/file.txt", "hello\r\n");
  std::filesystem::create_symlink("dir/file.txt", repo.path() / "link");
  repo.Git("update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,sub");
  repo.Commit();
  auto r = Open();
  TaggedCommit c = Head(r);
  auto file = r.ReadFile(c.tree, "dir/file.txt");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(**file, "hello\r\n");  // raw: no filters
  auto link = r.ReadFile(c.tree, "link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(**link, "dir/file.txt");  // a symlink's blob is its target
  EXPECT_FALSE(r.ReadFile(c.tree, "dir")->has_value());
  EXPECT_FALSE(r.ReadFile(c.tree, "sub")->has_value());
  EXPECT_FALSE(r.ReadFile(c.tree, "missing")->has_value());
}

TEST_F(GitTest, ListFilesWalksInTreeOrderWithKinds) {
  repo.Write("b/x.go", "x");
  repo.Write("a.go", "a");
  repo.Write("b.go", "b");
  repo.Write("run.sh", "#!/bin/sh\n");
  std::filesystem::permissions(repo.path() / "run.sh", std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  repo.Commit();
  auto r = Open();
  TaggedCommit c = Head(r);
  auto all = r.ListFiles(c.tree, "");
  ASSERT_TRUE(all.ok());
  std::vector<std::string> paths;
  for (const auto& e : *all) paths.push_back(e.path);
  // git orders a tree "b" as "b/", after "b.go".
  EXPECT_THAT(paths, ElementsAre("a.go", "b.go", "b/x.go", "run.sh"));
  EXPECT_EQ((*all)[3].kind, EntryKind::kExecutable);
  auto sub = r.ListFiles(c.tree, "b");
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->size(), 1u);
  EXPECT_EQ((*sub)[0].path, "b/x.go");
  EXPECT_TRUE(r.ListFiles(c.tree, "nope")->empty());
}

TEST_F(GitTest, FiltersComeFromTheCommitsOwnAttributes) {
  repo.Write(".gitattributes", "*.crlf text eol=crlf\n*.id ident\n*.ign export-ignore\n");
  repo.Write("a.crlf", "one\ntwo\n");
  repo.Write("b.id", "$Id$\n");
  repo.Write("c.txt", "plain\n");
  repo.Write("d.ign", "kept\n");
  repo.Commit();
  auto r = Open();
  TaggedCommit c = Head(r);
  auto files = r.ListFiles(c.tree, "");
  ASSERT_TRUE(files.ok());
  auto content = [&](const std::string& path) {
    for (const auto& e : *files) {
      if (e.path == path) {
        auto b = r.ReadFiltered(e.oid, e.path, c.commit);
        EXPECT_TRUE(b.ok());
        return std::string(b->data());
      }
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(content("a.crlf"), "one\r\ntwo\r\n");
  EXPECT_THAT(content("b.id"), ::testing::MatchesRegex("\\$Id: [0-9a-f]{40} \\$\n"));
  EXPECT_EQ(content("c.txt"), "plain\n");
  EXPECT_EQ(content("d.ign"), "kept\n");  // export-ignore is not honoured by go
  EXPECT_TRUE(*r.HasFilter("a.crlf", c.commit));
  EXPECT_FALSE(*r.HasFilter("c.txt", c.commit));
}

// ident and working-tree-encoding, where libgit2 alone differs from git: each file must
// come out exactly as the real `git archive` writes it.
TEST_F(GitTest, ConversionsMatchGitArchive) {
  repo.Write(
      ".gitattributes",
      "*.id ident\n*.idc ident text eol=crlf\n*.u16 working-tree-encoding=UTF-16\n"
      "*.bom working-tree-encoding=UTF-16LE-BOM\n"
      "*.lat working-tree-encoding=latin-1 text eol=crlf\n*.u8 working-tree-encoding=UTF8\n");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"two.id", "$Id$ and again $Id$\n"},
      {"broken.id", "$Id: no end\n$Id$\n"},
      {"spaces.id", "$Id: other vcs $ $Id:x$ $Id:$ $Id: y $\n"},
      {"binary.id", std::string("\0\1$Id$\0", 8)},
      {"none.id", "no keyword $I d$\n"},
      {"crlf.idc", "$Id$\nline\n"},
      {"a.u16", std::string("\xff\xfeh\0i\0\n\0", 8)},
      {"a.bom", std::string("\xff\xfe"
                            "b\0\n\0",
                            6)},
      {"a.lat", "caf\xe9\nx\n"},
      {"a.u8", "\xc3\xbc\n"},
      {"empty.u16", ""},
  };
  for (const auto& [name, content] : files) repo.Write(name, content);
  repo.Commit();
  auto r = Open();
  TaggedCommit c = Head(r);
  auto listed = r.ListFiles(c.tree, "");
  ASSERT_TRUE(listed.ok());
  for (const auto& [name, content] : files) {
    // clang 14 cannot capture a structured binding in a lambda (C++20, clang 16): a copy.
    const std::string wanted = name;
    auto it = std::find_if(listed->begin(), listed->end(),
                           [&](const Entry& e) { return e.path == wanted; });
    ASSERT_NE(it, listed->end()) << name;
    auto b = r.ReadFiltered(it->oid, it->path, c.commit);
    ASSERT_TRUE(b.ok()) << b.message();
    EXPECT_EQ(std::string(b->data()), repo.Archived(name)) << name;
  }
  EXPECT_TRUE(*r.HasFilter("a.u16", c.commit));  // libgit2 has no filter for it
  EXPECT_FALSE(*r.HasFilter("a.u8", c.commit));  // UTF-8 in any spelling: nothing to do
}

// The file at `rel` of tag `tag` as the go command archives it: fetched from `server` into
// a fresh bare cache repository whose info/attributes is go's own, archived there.
std::string GoArchived(const std::filesystem::path& server, const std::string& tag,
                       const std::string& rel) {
  TempDir cache;
  const std::string git =
      "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C " + Quoted(cache.path()) + " ";
  Sh(git + "init -q --bare . && " + git + "fetch -q " + Quoted(server) + " refs/tags/" + tag +
     ":refs/tags/" + tag + " && echo '* -export-subst -export-ignore' > " +
     Quoted(cache.path() / "info/attributes"));
  return Capture(git + "-c core.autocrlf=input -c core.eol=lf archive --format=tar " + tag +
                 " -- '" + rel + "' | tar -xOf -");
}

// Nothing but the commit's own .gitattributes counts: not the server's info/attributes,
// not a work tree's or index's .gitattributes (go never sees them).
TEST_F(GitTest, OnlyTheCommitsOwnAttributesCount) {
  repo.Write("a.go", "package a\nvar x = 1\n");
  repo.Write("sub/.gitattributes", "*.txt text eol=crlf\n");
  repo.Write("sub/n.txt", "one\ntwo\n");
  repo.Write("sub/b.go", "package sub\n// $Id$\n");
  repo.Write("other/c.go", "package other\n");
  repo.Commit();
  repo.Tag("t");
  TempDir dir;
  const auto server = dir.path() / "server.git";
  Sh("git clone -q --bare " + Quoted(repo.path()) + " " + Quoted(server));
  // The server's own attributes, and a work tree's uncommitted ones in the non-bare repo.
  Sh("printf '*.go text eol=crlf ident\\n' > " + Quoted(server / "info/attributes"));
  Sh("printf '*.go text eol=crlf ident\\n' > " + Quoted(repo.path() / ".git/info/attributes"));
  repo.Write(".gitattributes", "* text eol=crlf\n");
  repo.Write("other/.gitattributes", "* ident\n");

  auto check = [&](Repository& r, const std::string& what) {
    auto c = r.ResolveTag("t");
    ASSERT_TRUE(c.ok()) << c.message();
    auto files = r.ListFiles(c->tree, "");
    ASSERT_TRUE(files.ok());
    ASSERT_EQ(files->size(), 5u);
    for (const auto& e : *files) {
      auto b = r.ReadFiltered(e.oid, e.path, c->commit);
      ASSERT_TRUE(b.ok()) << b.message();
      EXPECT_EQ(std::string(b->data()), GoArchived(server, "t", e.path)) << what << " " << e.path;
      EXPECT_EQ(*r.HasFilter(e.path, c->commit), e.path == "sub/n.txt") << what << " " << e.path;
    }
    auto n = r.EntryAt(c->tree, "sub/n.txt");
    ASSERT_TRUE(n.ok() && n->has_value());
    EXPECT_EQ(std::string(r.ReadFiltered((*n)->oid, "sub/n.txt", c->commit)->data()),
              "one\r\ntwo\r\n");  // the commit's own attributes still apply
  };
  {
    auto r = Repository::Open(server);
    ASSERT_TRUE(r.ok()) << r.message();
    check(*r, "bare server");
    auto again = r->Reopen();
    ASSERT_TRUE(again.ok()) << again.message();
    check(*again, "reopened");
  }
  {
    auto r = Open();
    check(r, "non-bare");
  }
  {
    // As in a hook: the repository named by the environment.
    ASSERT_EQ(setenv("GIT_DIR", server.c_str(), 1), 0);
    auto r = Repository::OpenFromEnv();
    unsetenv("GIT_DIR");
    ASSERT_TRUE(r.ok()) << r.message();
    check(*r, "from env");
  }
  // Sanity: the server's info/attributes does change `git archive` run on the server, so
  // the comparison above can fail.
  EXPECT_NE(Capture("GIT_CONFIG_NOSYSTEM=1 git -C " + Quoted(server) +
                    " archive --format=tar t -- a.go | tar -xOf -"),
            GoArchived(server, "t", "a.go"));
}

TEST(GitConvert, IdentCountsAndExpandsLikeGit) {
  EXPECT_EQ(CountIdent("$Id$ $Id: x $ $Id: a\nb $ $I"), 2u);
  EXPECT_FALSE(ExpandIdent("nothing here $", "abc").has_value());
  EXPECT_EQ(*ExpandIdent("$Id$$Id$", "abc"), "$Id: abc $$Id: abc $");
}

TEST(GitConvert, WorkingTreeEncodingValues) {
  EXPECT_FALSE(WorkingTreeEncoding(nullptr)->has_value());
  EXPECT_FALSE(WorkingTreeEncoding("utf-8")->has_value());
  EXPECT_FALSE(WorkingTreeEncoding("UTF8")->has_value());
  EXPECT_EQ(**WorkingTreeEncoding("utf-16le"), "UTF-16LE");
  EXPECT_FALSE(EncodeToWorktree("x", "NO-SUCH-ENCODING-42").has_value());
  EXPECT_FALSE(EncodeToWorktree("\xff", "UTF-16LE").has_value());  // invalid UTF-8: as is
}

TEST_F(GitTest, AnnotatedTagsArePeeledAndTimesAreCommitterTimes) {
  repo.Write("f", "x");
  repo.Commit();
  repo.Tag("v1", /*annotated=*/true);
  auto r = Open();
  auto c = r.ResolveTag("v1");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->time, 1704164645);  // 2024-01-02T03:04:05Z
  auto names = r.TagNames();
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("v1"));
}

TEST_F(GitTest, OpenRejectsNonRepositories) {
  auto r = Repository::Open(repo.path() / "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("not a git repository"));
}

}  // namespace
}  // namespace modpub::git
