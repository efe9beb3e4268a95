// sumdb: tlog arithmetic and the on-disk log (append-only, restarts, refusals, crashes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "modpub/publish/publish.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/tlog.hpp"
#include "support/temp_repo.hpp"

namespace modpub::sumdb {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;

TEST(Tlog, TilePaths) {
  EXPECT_EQ(TilePath({8, 0, 1234067, 256}), "tile/8/0/x001/x234/067");
  EXPECT_EQ(TilePath({8, 1, 0, 5}), "tile/8/1/000.p/5");
  EXPECT_EQ(TilePath({8, -1, 2, 256}), "tile/8/data/002");
  auto t = ParseTilePath("tile/8/0/x001/x234/067.p/8");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (Tile{8, 0, 1234067, 8}));
  EXPECT_EQ(ParseTilePath("tile/8/data/000.p/3")->l, -1);
  for (const char* bad :
       {"tile/8/0/1", "tile/8/0/001.p/256", "tile/8/0/001.p/0", "tile/8/0/x000/001",
        "tile/8/-1/001", "tile/31/0/001", "tile/8/0/../001", "tile/8/0"}) {
    EXPECT_FALSE(ParseTilePath(bad).ok()) << bad;
  }
}

TEST(Tlog, StoredHashCountAndRecordText) {
  EXPECT_EQ(StoredHashCount(1), 1);
  EXPECT_EQ(StoredHashCount(2), 3);
  EXPECT_EQ(StoredHashCount(4), 7);
  EXPECT_TRUE(IsValidRecordText("a b\nc d\n"));
  EXPECT_FALSE(IsValidRecordText("a b\n\nc d\n"));
  EXPECT_FALSE(IsValidRecordText("a b"));
  EXPECT_FALSE(IsValidRecordText("a\tb\n"));
}

TEST(Log, AppendsLooksUpAndContinuesAfterRestart) {
  TempDir dir;
  const fs::path state = dir.path() / "sumdb";
  Hash h2{};
  {
    auto log = Log::Open(state);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(log->Latest()->n, 0);
    auto a = log->AppendModule("corp.example/a", "v1.0.0", "h1:A=", "h1:a=");
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(a->id, 0);
    auto b = log->AppendModule("corp.example/b", "v1.0.0", "h1:B=", "h1:b=");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->id, 1);
    h2 = log->Latest()->hash;
    EXPECT_EQ(h2, NodeHash(RecordHash(ModuleRecord("corp.example/a", "v1.0.0", "h1:A=", "h1:a=")),
                           RecordHash(ModuleRecord("corp.example/b", "v1.0.0", "h1:B=", "h1:b="))));
  }
  auto log = Log::Open(state);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->Latest()->n, 2);
  EXPECT_EQ(log->Latest()->hash, h2);
  EXPECT_EQ(**log->Lookup("corp.example/b", "v1.0.0"), 1);
  EXPECT_FALSE(log->Lookup("corp.example/b", "v1.0.1")->has_value());
  // The same record again: present, nothing appended.
  auto again = log->AppendModule("corp.example/a", "v1.0.0", "h1:A=", "h1:a=");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, AppendOutcome::kPresent);
  EXPECT_EQ(log->Latest()->n, 2);
  // Other hashes for a logged version: refused, naming both.
  auto other = log->AppendModule("corp.example/a", "v1.0.0", "h1:X=", "h1:a=");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->outcome, AppendOutcome::kConflict);
  EXPECT_THAT(other->message, HasSubstr("corp.example/a@v1.0.0 is already logged"));
  EXPECT_THAT(other->message, HasSubstr("h1:X="));
  EXPECT_FALSE(log->Append({ModuleRecord("corp.example/a", "v1.0.0", "h1:X=", "h1:a=")}).ok());
  EXPECT_EQ(log->Latest()->n, 2);
  // Another object (another process) sees new records.
  auto reader = Log::Open(state);
  ASSERT_TRUE(log->AppendModule("corp.example/c", "v0.1.0", "h1:C=", "h1:c=").ok());
  EXPECT_EQ(**reader->Lookup("corp.example/c", "v0.1.0"), 2);
  auto tile = reader->ReadTile({8, -1, 0, 3});
  ASSERT_TRUE(tile.ok() && tile->has_value());
  EXPECT_THAT(**tile, HasSubstr("2\ncorp.example/c v0.1.0 h1:C=\n"));
  EXPECT_FALSE(reader->ReadTile({8, 0, 0, 4})->has_value());
}

TEST(Log, UncommittedTailIsDiscardedAndDamageReported) {
  TempDir dir;
  const fs::path state = dir.path() / "s";
  auto log = Log::Open(state);
  ASSERT_TRUE(log->AppendModule("corp.example/a", "v1.0.0", "h1:A=", "h1:a=").ok());
  Hash h1 = log->Latest()->hash;
  // What a crashed appender leaves: bytes beyond the committed tree.
  {
    std::ofstream(state / "records", std::ios::app) << "junk junk\n";
    std::ofstream(state / "hashes", std::ios::app) << std::string(40, 'x');
  }
  auto fresh = Log::Open(state);
  EXPECT_EQ(fresh->Latest()->hash, h1);
  ASSERT_TRUE(fresh->AppendModule("corp.example/b", "v1.0.0", "h1:B=", "h1:b=").ok());
  EXPECT_EQ(*fresh->ReadRecord(1), ModuleRecord("corp.example/b", "v1.0.0", "h1:B=", "h1:b="));
  // A committed record rewritten in place: reported, never appended to.
  {
    std::fstream f(state / "hashes", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << "Z";
  }
  auto damaged = Log::Open(state);
  auto latest = damaged->Latest();
  ASSERT_FALSE(latest.ok());
  EXPECT_THAT(latest.message(), HasSubstr("damaged"));
  EXPECT_FALSE(damaged->AppendModule("corp.example/c", "v1.0.0", "h1:C=", "h1:c=").ok());
}

TEST(Log, BindsToOneVerifierKey) {
  TempDir dir;
  auto log = Log::Open(dir.path() / "s");
  ASSERT_TRUE(log->BindVerifier("a+00000000+AAAA").ok());
  ASSERT_TRUE(log->BindVerifier("a+00000000+AAAA").ok());
  auto other = log->BindVerifier("b+11111111+BBBB");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.message(), HasSubstr("is the checksum database of key a+00000000+AAAA"));
}

TEST(Log, ConcurrentAppendersAreSerialized) {
  TempDir dir;
  const fs::path state = dir.path() / "s";
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto log = Log::Open(state);  // one object per thread: like separate processes
      for (int i = 0; i < 10; ++i) {
        auto r = log->AppendModule("corp.example/t" + std::to_string(t),
                                   "v1.0." + std::to_string(i), "h1:A=", "h1:B=");
        ASSERT_TRUE(r.ok()) << r.message();
      }
    });
  }
  for (auto& th : threads) th.join();
  auto log = Log::Open(state);
  EXPECT_EQ(log->Latest()->n, 40);
  for (int t = 0; t < 4; ++t) {
    EXPECT_TRUE(log->Lookup("corp.example/t" + std::to_string(t), "v1.0.9")->has_value());
  }
}

}  // namespace
}  // namespace modpub::sumdb

// publish::Options: each version is appended to the checksum database and signed; a log
// holding other hashes for the version stops it from being stored anywhere.
namespace modpub::publish {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;

TEST(PublishWithSumdb, LogsSignsAndRefusesWhatTheLogContradicts) {
  ::modpub::testing::TempRepo src;
  src.Write("go.mod", "module corp.example/lib\n\ngo 1.19\n");
  src.Write("lib.go", "package lib\n");
  src.Commit();
  src.Tag("v1.0.0");
  auto repo = git::Repository::Open(src.path());
  ASSERT_TRUE(repo.ok()) << repo.message();
  TempDir dir;
  auto kp = sign::GenerateKey("sumdb.test");
  auto signer = sign::Signer::Parse(kp->signer);
  auto log = sumdb::Log::Open(dir.path() / "sumdb");
  storage::FsTree tree("file://" + (dir.path() / "tree").string(), dir.path() / "tree");
  Options opts;
  opts.signer = &*signer;
  opts.log = &*log;

  auto r = PublishTag(*repo, "corp.example/lib", "v1.0.0", {&tree}, opts);
  ASSERT_EQ(r.kind, TagResult::kDone) << r.error;
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].outcome, Outcome::kPublished) << r.reports[0].message;
  EXPECT_EQ(r.reports[0].sumdb, "record 0");
  auto id = log->Lookup("corp.example/lib", "v1.0.0");
  ASSERT_TRUE(id.ok() && id->has_value());
  EXPECT_EQ(*log->ReadRecord(**id), sumdb::ModuleRecord("corp.example/lib", "v1.0.0",
                                                        r.reports[0].sum, r.reports[0].gomod_sum));
  auto sig = tree.LocalFile("corp.example/lib", "v1.0.0", storage::VersionPart::kSig);
  ASSERT_TRUE(sig.ok() && sig->has_value());
  std::ifstream in(**sig);
  std::string note((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto text = sign::OpenNote(note, *sign::Verifier::Parse(kp->verifier));
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(*text, *log->ReadRecord(0));

  // Again: unchanged everywhere, nothing appended.
  auto again = PublishTag(*repo, "corp.example/lib", "v1.0.0", {&tree}, opts);
  EXPECT_EQ(again.reports[0].outcome, Outcome::kUnchanged);
  EXPECT_EQ(log->Latest()->n, 1);

  // Another log that holds other hashes for corp.example/lib@v1.0.0: refused, not stored.
  auto other = sumdb::Log::Open(dir.path() / "other");
  ASSERT_TRUE(other->AppendModule("corp.example/lib", "v1.0.0", "h1:X=", "h1:Y=").ok());
  storage::FsTree fresh("file://" + (dir.path() / "fresh").string(), dir.path() / "fresh");
  auto refused = PublishTag(*repo, "corp.example/lib", "v1.0.0", {&fresh}, [&] {
    Options o;
    o.log = &*other;
    return o;
  }());
  ASSERT_EQ(refused.reports.size(), 1u);
  EXPECT_EQ(refused.reports[0].outcome, Outcome::kRefused);
  EXPECT_THAT(refused.reports[0].message, HasSubstr("is already logged"));
  EXPECT_FALSE(fs::exists(dir.path() / "fresh"));
}

}  // namespace
}  // namespace modpub::publish

namespace modpub::sumdb {
namespace {

// Every record of every tree size up to 40 proves against its tree hash, and each tree
// against every larger one; a proof one hash short, or for another record, does not.
TEST(Tlog, RecordAndTreeProofsCheckAgainstTreeHashes) {
  TempDir dir;
  auto log = Log::Open(dir.path() / "sumdb");
  std::vector<std::string> texts;
  std::vector<Hash> heads{Hash{}};
  for (int i = 0; i < 40; ++i) {
    texts.push_back(ModuleRecord("corp.example/p" + std::to_string(i), "v1.0.0", "h1:A=", "h1:b="));
    ASSERT_TRUE(log->Append({texts.back()}).ok());
    heads.push_back(log->Latest()->hash);
  }
  auto reader_of = [&](std::int64_t t) {
    return TileHashReader(t, [&](const Tile& tile) -> Result<std::string> {
      auto d = log->ReadTile(tile);
      if (!d || !*d) return Fail("no tile " + TilePath(tile));
      return **d;
    });
  };
  for (std::int64_t t = 1; t <= 40; ++t) {
    for (std::int64_t n = 0; n < t; ++n) {
      auto p = ProveRecord(t, n, reader_of(t));
      ASSERT_TRUE(p.ok()) << p.message();
      EXPECT_TRUE(CheckRecord(*p, t, heads[t], n, RecordHash(texts[n]))) << t << "/" << n;
      EXPECT_FALSE(CheckRecord(*p, t, heads[t], n, RecordHash(texts[(n + 1) % 40])));
      if (!p->empty()) {
        Proof shorter(p->begin(), p->end() - 1);
        EXPECT_FALSE(CheckRecord(shorter, t, heads[t], n, RecordHash(texts[n])));
      }
      auto tp = ProveTree(t, n + 1, reader_of(t));
      ASSERT_TRUE(tp.ok()) << tp.message();
      EXPECT_TRUE(CheckTree(*tp, t, heads[t], n + 1, heads[n + 1])) << t << "/" << n + 1;
      if (n + 1 < t) {
        EXPECT_FALSE(CheckTree(*tp, t, heads[t], n + 1, heads[n + 2]));
      }
    }
  }
  EXPECT_FALSE(ProveRecord(3, 3, reader_of(3)).ok());
  EXPECT_FALSE(ProveTree(3, 4, reader_of(3)).ok());
}

}  // namespace
}  // namespace modpub::sumdb
