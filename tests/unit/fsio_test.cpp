// fsio: atomic files (fsio/atomic_file.hpp). The crash-safety of what the backends build on
// them is tested through the backends (storage_test, e2e SIGKILL trials).
#include "modpub/fsio/atomic_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/storage_fixtures.hpp"
#include "support/temp_repo.hpp"

namespace modpub::fsio {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::ReadAll;
using ::modpub::testing::TempDir;
using ::modpub::testing::Tree;
using ::modpub::testing::WriteAll;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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
}  // namespace modpub::fsio
