// sumdb in an object store (sumdb/object_log.hpp): the same tree and tiles as the local
// log, one record per module version across appenders, compare-and-swap races, lost
// answers, crashes between commit and roll-forward, damage, the verifier binding; and
// against the strict S3 test server, three nodes appending at once with faults injected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "modpub/sign/sign.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/object_log.hpp"
#include "support/memory_objects.hpp"
#include "support/s3_server.hpp"
#include "support/temp_repo.hpp"

namespace modpub::sumdb {
namespace {

using ::modpub::testing::MemoryObjects;
using ::modpub::testing::TempDir;
using ::testing::HasSubstr;

std::shared_ptr<const sign::Signer> Key(const std::string& name = "sum.corp.example") {
  auto pair = sign::GenerateKey(name);
  auto s = sign::Signer::Parse(pair->signer);
  return std::make_shared<const sign::Signer>(std::move(*s));
}

std::string Rec(int i, const std::string& h = "h1:A=") {
  return ModuleRecord("corp.example/m" + std::to_string(i), "v1.0.0", h, "h1:gomod=");
}

// Every record once, in order; tiles, lookups and `latest` exactly those of a local log
// holding the same records; returns the records. `every`: check the tiles of every tree
// size and every lookup (else those of the last tree, and every 7th lookup: each object
// read costs a round trip).
std::vector<std::string> CheckAgainstLocal(Log& objects, MemoryObjects* raw,
                                           const sign::Signer& key, bool every = true) {
  auto head = objects.Latest();
  EXPECT_TRUE(head.ok()) << head.message();
  std::vector<std::string> texts;
  std::set<std::string> keys;
  for (std::int64_t id = 0; id < head->n; ++id) {
    auto t = objects.ReadRecord(id);
    EXPECT_TRUE(t.ok()) << t.message();
    if (!t.ok()) return texts;
    EXPECT_TRUE(keys.insert(RecordKey(*t)).second) << "twice: " << *t;
    texts.push_back(*t);
  }
  TempDir dir;
  auto local = Log::Open(dir.path() / "sumdb");
  if (!texts.empty()) {
    EXPECT_TRUE(local->Append(texts).ok());
  }
  auto lh = local->Latest();
  EXPECT_EQ(HashBase64(lh->hash), HashBase64(head->hash));
  for (const Tile& t : NewTiles(kTileHeight, 0, head->n)) {
    const bool last = t.w == (1 << kTileHeight) || (t.n << t.h) + t.w == (head->n >> (8 * t.l));
    if (!every && !last) continue;
    for (const Tile& u : {t, Tile{t.h, -1, t.n, t.w}}) {
      if (u.l == -1 && t.l != 0) continue;
      auto a = objects.ReadTile(u);
      auto b = local->ReadTile(u);
      EXPECT_TRUE(a.ok() && b.ok() && *a && *b && **a == **b) << TilePath(u);
    }
  }
  for (std::size_t i = 0; i < texts.size(); i += every ? 1 : 7) {
    const std::string k = RecordKey(texts[i]);
    auto id = objects.Lookup(k.substr(0, k.find('@')), k.substr(k.find('@') + 1));
    EXPECT_TRUE(id.ok() && *id && **id == static_cast<std::int64_t>(i)) << k;
  }
  if (raw) {
    auto snap = raw->Snapshot();
    auto note = sign::SignNote(FormatTree(head->n, head->hash), key);
    EXPECT_EQ(snap["latest"].data, *note);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string k = RecordKey(texts[i]);
      auto name = LookupObjectName(k.substr(0, k.find('@')), k.substr(k.find('@') + 1));
      const std::string& lookup = snap[*name].data;
      EXPECT_TRUE(lookup.starts_with(std::to_string(i) + "\n" + texts[i] + "\n")) << lookup;
    }
  }
  return texts;
}

TEST(ObjectLog, SameTreeTilesAndLookupsAsTheLocalLog) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  Log log = Log::OpenObjects(store, key);
  int next = 0;
  for (int batch : {1, 1, 3, 250, 1, 300, 7, 1}) {  // across tile and level boundaries
    std::vector<std::string> texts;
    for (int i = 0; i < batch; ++i) texts.push_back(Rec(next++));
    auto r = log.Append(texts);
    ASSERT_TRUE(r.ok()) << r.message();
    for (int i = 0; i < batch; ++i) {
      EXPECT_EQ((*r)[i].outcome, AppendOutcome::kAppended);
      EXPECT_EQ((*r)[i].id, next - batch + i);
    }
  }
  EXPECT_EQ(log.Latest()->n, next);
  EXPECT_EQ(CheckAgainstLocal(log, store.get(), *key).size(), static_cast<std::size_t>(next));
  // A lookup object carries the tree head of its commit, which covers it.
  auto snap = store->Snapshot();
  const std::string& lookup = snap["lookup/corp.example/m0@v1.0.0"].data;
  EXPECT_THAT(lookup, HasSubstr("go.sum database tree\n1\n"));
  EXPECT_THAT(snap["lookup/corp.example/m5@v1.0.0"].data, HasSubstr("go.sum database tree\n255\n"));
}

TEST(ObjectLog, OneRecordPerModuleVersionAcrossAppenders) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  Log a = Log::OpenObjects(store, key);
  Log b = Log::OpenObjects(store, key);
  auto first = a.AppendModule("corp.example/Big", "v1.0.0", "h1:A=", "h1:a=");
  ASSERT_TRUE(first.ok()) << first.message();
  auto same = b.AppendModule("corp.example/Big", "v1.0.0", "h1:A=", "h1:a=");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->outcome, AppendOutcome::kPresent);
  EXPECT_EQ(same->id, 0);
  auto other = b.AppendModule("corp.example/Big", "v1.0.0", "h1:B=", "h1:a=");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->outcome, AppendOutcome::kConflict);
  EXPECT_THAT(other->message, HasSubstr("corp.example/Big@v1.0.0 is already logged (record 0)"));
  // All or nothing: a batch holding a conflict appends nothing.
  auto batch = a.Append({Rec(1), ModuleRecord("corp.example/Big", "v1.0.0", "h1:C=", "h1:a=")});
  EXPECT_FALSE(batch.ok());
  EXPECT_EQ(a.Latest()->n, 1);
  // go asks for !-escaped paths: the lookup object is named so.
  EXPECT_EQ(store->Snapshot().count("lookup/corp.example/!big@v1.0.0"), 1u);
}

TEST(ObjectLog, ConcurrentAppendersMakeOneLinearTree) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  std::vector<std::unique_ptr<Log>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<Log>(Log::OpenObjects(store, key)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      Log& log = *nodes[t % 3];
      for (int i = 0; i < 25; ++i) {
        // Every record twice, from two nodes: each must end up logged once.
        for (int rec : {t * 25 + i, ((t + 1) % 12) * 25 + i}) {
          auto r = log.Append({Rec(rec)});
          if (!r.ok()) {
            ++failures;
            ADD_FAILURE() << r.message();
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(nodes[0]->Latest()->n, 300);
  EXPECT_EQ(CheckAgainstLocal(*nodes[1], store.get(), *key).size(), 300u);
}

TEST(ObjectLog, LostAnswersAndFailuresNeitherForkNorLoseRecords) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  store->fail_rate = 0.03;
  store->lose_rate = 0.2;
  std::vector<std::unique_ptr<Log>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<Log>(Log::OpenObjects(store, key)));
  std::vector<std::thread> threads;
  std::atomic<int> gave_up{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        int tries = 0;
        for (;;) {  // a job is retried; but nothing here may ever look like damage
          auto r = nodes[t % 3]->Append({Rec(t * 20 + i)});
          if (r.ok()) break;
          if (r.message().find("damaged") != std::string::npos) ADD_FAILURE() << r.message();
          if (++tries == 200) {
            ++gave_up;
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(gave_up.load(), 0);
  store->fail_rate = store->lose_rate = 0;
  EXPECT_EQ(CheckAgainstLocal(*nodes[2], store.get(), *key).size(), 120u);
}

TEST(ObjectLog, ACommitWhoseFilesWereNotWrittenIsRolledForwardByTheNextAppender) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  Log a = Log::OpenObjects(store, key);
  ASSERT_TRUE(a.Append({Rec(0), Rec(1)}).ok());
  store->writes_left = 1;  // the head swap, then nothing: as if the node died there
  auto r = a.Append({Rec(2)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("tree 3 is committed but its files are not all written"));
  EXPECT_EQ(a.Latest()->n, 2);  // readers still see the last complete tree
  store->writes_left = -1;
  Log b = Log::OpenObjects(store, key);
  auto again = b.Append({Rec(2)});  // the job retried on another node
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ((*again)[0].outcome, AppendOutcome::kPresent);
  EXPECT_EQ((*again)[0].id, 2);
  EXPECT_EQ(CheckAgainstLocal(b, store.get(), *key).size(), 3u);
}

TEST(ObjectLog, DamageIsReportedAndNeverOverwritten) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  Log a = Log::OpenObjects(store, key);
  ASSERT_TRUE(a.Append({Rec(0), Rec(1)}).ok());
  // A tile the next commit must write is there already with other bytes.
  store->Set("tile/8/0/000.p/3", std::string(96, 'x'));
  auto r = a.Append({Rec(2)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("tile/8/0/000.p/3 holds other bytes than its tree gives"));
  EXPECT_EQ(store->Snapshot()["tile/8/0/000.p/3"].data, std::string(96, 'x'));
  // A head whose records do not give its hash is refused, not rolled forward.
  auto snap = store->Snapshot();
  std::string head = snap["head"].data;
  head.replace(head.find("corp.example/m2"), 15, "corp.example/m9");
  store->Set("head", head);
  auto refused = Log::OpenObjects(store, key).Append({Rec(3)});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("the database is damaged"));
}

TEST(ObjectLog, BoundToItsKeyAndReadOnlyWithoutOne) {
  auto store = std::make_shared<MemoryObjects>();
  auto key = Key();
  ASSERT_TRUE(Log::OpenObjects(store, key).Append({Rec(0)}).ok());
  auto other = Key();
  Log wrong = Log::OpenObjects(store, other);
  EXPECT_FALSE(wrong.BindVerifier(other->VerifierKey()).ok());
  auto r = wrong.Append({Rec(1)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("go clients pinned to the first key would reject it"));
  Log reader = Log::OpenObjects(store, nullptr);
  EXPECT_TRUE(reader.BindVerifier(key->VerifierKey()).ok());
  EXPECT_EQ(reader.Latest()->n, 1);
  EXPECT_THAT(reader.Append({Rec(1)}).message(), HasSubstr("without the signer key"));
  // Not logged, or not a module version go could look up: not found, no error.
  EXPECT_FALSE(*reader.Lookup("corp.example/m1", "v1.0.0"));
  EXPECT_FALSE(*reader.Lookup("Bad Path", "v1.0.0"));
}

TEST(ObjectLog, SplitStoredHashIndexInvertsStoredHashIndex) {
  for (int level = 0; level < 20; ++level) {
    for (std::int64_t n = 0; n < 300; ++n) {
      auto [l, k] = SplitStoredHashIndex(StoredHashIndex(level, n));
      ASSERT_EQ(l, level);
      ASSERT_EQ(k, n);
    }
  }
}

// Three nodes (each its own S3 client and connections) append 200 records at once into a
// bucket of the strict S3 test server, first cleanly, then with its faults injected.
TEST(ObjectLogS3, ThreeNodesAppendAtOnceIntoOneBucket) {
  if (auto why = modpub::testing::S3Unavailable(); !why.empty()) GTEST_SKIP() << why;
  for (const char* faults : {"", "0.05"}) {
    std::vector<std::string> args;
    if (*faults) args = {"--fail-rate", faults, "--drop-rate", faults};
    modpub::testing::S3TestServer server(args);
    ASSERT_TRUE(server.running());
    auto key = Key();
    const std::string url = "s3://" + std::string(modpub::testing::kS3Bucket) +
                            "/sumdb?endpoint=" + server.endpoint() + "&attempts=10";
    modpub::testing::S3TestServer::UseTestCredentials();
    std::vector<std::unique_ptr<Log>> nodes;
    for (int i = 0; i < 3; ++i) {
      auto log = storage::OpenSumdbLog(url, key);
      ASSERT_TRUE(log.ok()) << log.message();
      nodes.push_back(std::make_unique<Log>(std::move(*log)));
    }
    std::atomic<int> gave_up{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 9; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < 200; i += 9) {
          int tries = 0;
          for (;;) {  // faults fail appends; nothing may ever look like damage
            auto r = nodes[t % 3]->Append({Rec(i)});
            if (r.ok()) break;
            if (r.message().find("damaged") != std::string::npos) ADD_FAILURE() << r.message();
            if (++tries == 50) {
              ++gave_up;
              break;
            }
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(gave_up.load(), 0) << faults;
    auto reader = storage::OpenSumdbLog(url, nullptr);
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ(CheckAgainstLocal(*reader, nullptr, *key, false).size(), 200u) << faults;
  }
}

}  // namespace
}  // namespace modpub::sumdb
