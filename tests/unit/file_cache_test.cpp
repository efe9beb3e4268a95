// http::SmallFileCache: validation by the file's stamp, the recheck age, the size bounds,
// and concurrent use.
#include "modpub/http/file_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "support/temp_repo.hpp"

namespace modpub::http {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::TempDir;
using Clock = SmallFileCache::Clock;

void Write(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

// What the proxy does on a miss: read the file, remember it with its stamp.
std::shared_ptr<SmallFileCache::Entry> Read(const fs::path& p,
                                            Clock::time_point checked = Clock::now()) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  std::ifstream in(p, std::ios::binary);
  auto e = std::make_shared<SmallFileCache::Entry>();
  e->path = p.string();
  e->stamp = StampOf(st);
  e->body.assign(std::istreambuf_iterator<char>(in), {});
  e->etag = "\"" + std::to_string(st.st_size) + "\"";
  e->owner = "corp.example/m";
  e->type = "application/json";
  e->checked = checked;
  return e;
}

TEST(SmallFileCache, HitWhileTheFileIsUnchanged) {
  TempDir dir;
  fs::path f = dir.path() / "v1.0.0.info";
  Write(f, "{\"Version\":\"v1.0.0\"}");
  SmallFileCache cache;
  EXPECT_EQ(cache.Find("m/@v/v1.0.0.info"), nullptr);
  ASSERT_TRUE(cache.Put("m/@v/v1.0.0.info", Read(f)));
  auto hit = cache.Find("m/@v/v1.0.0.info");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->body, "{\"Version\":\"v1.0.0\"}");
  EXPECT_EQ(hit->owner, "corp.example/m");
  EXPECT_EQ(cache.Find("m/@v/v1.0.1.info"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), hit->body.size());
}

TEST(SmallFileCache, AFileDamagedInPlaceIsNoticedAtTheNextFind) {
  TempDir dir;
  fs::path f = dir.path() / "v1.0.0.mod";
  Write(f, "module corp.example/m\n");
  SmallFileCache cache;
  ASSERT_TRUE(cache.Put("k", Read(f)));
  ASSERT_NE(cache.Find("k"), nullptr);
  // Same size, mtime set back to what it was: only ctime (and the bytes) differ.
  struct stat before {};
  ASSERT_EQ(::stat(f.c_str(), &before), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Write(f, "module corp.example/X\n");
  timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
  EXPECT_EQ(cache.Find("k"), nullptr);
  EXPECT_EQ(cache.size(), 0u) << "a changed file's entry is dropped";
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(SmallFileCache, RemovedOrReplacedFilesAreMisses) {
  TempDir dir;
  fs::path a = dir.path() / "a.info";
  fs::path b = dir.path() / "b.info";
  Write(a, "aaaa");
  Write(b, "bbbb");
  SmallFileCache cache;
  ASSERT_TRUE(cache.Put("a", Read(a)));
  ASSERT_TRUE(cache.Put("b", Read(b)));
  fs::remove(a);
  EXPECT_EQ(cache.Find("a"), nullptr);
  fs::path tmp = dir.path() / "tmp";
  Write(tmp, "BBBB");  // same size, another inode
  fs::rename(tmp, b);
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  fs::create_directory(a);  // not a regular file any more
  auto e = std::make_shared<SmallFileCache::Entry>(*Read(b));
  e->path = a.string();
  ASSERT_TRUE(cache.Put("a", e));
  EXPECT_EQ(cache.Find("a"), nullptr);
}

TEST(SmallFileCache, EntriesOlderThanRecheckAreMissesUntilReplaced) {
  TempDir dir;
  fs::path f = dir.path() / "v.info";
  Write(f, "x");
  SmallFileCache cache({64, 1024, 100, std::chrono::seconds(1)});
  const auto t0 = Clock::now();
  ASSERT_TRUE(cache.Put("k", Read(f, t0)));
  EXPECT_NE(cache.Find("k", t0 + std::chrono::milliseconds(999)), nullptr);
  EXPECT_EQ(cache.Find("k", t0 + std::chrono::seconds(1)), nullptr);
  EXPECT_EQ(cache.size(), 1u) << "an expired entry waits for its replacement";
  ASSERT_TRUE(cache.Put("k", Read(f, t0 + std::chrono::seconds(1))));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), 1u);
  EXPECT_NE(cache.Find("k", t0 + std::chrono::milliseconds(1500)), nullptr);
}

TEST(SmallFileCache, SizeBoundsEvictTheLeastRecentlyUsed) {
  TempDir dir;
  SmallFileCache cache({10, 25, 100, std::chrono::hours(1)});
  std::vector<fs::path> files;
  for (char c : std::string("abcd")) {
    files.push_back(dir.path() / std::string(1, c));
    Write(files.back(), std::string(10, c));
  }
  fs::path big = dir.path() / "big";
  Write(big, std::string(11, 'z'));
  EXPECT_FALSE(cache.Put("big", Read(big))) << "larger than max_file_bytes";
  EXPECT_EQ(cache.size(), 0u);

  ASSERT_TRUE(cache.Put("a", Read(files[0])));
  ASSERT_TRUE(cache.Put("b", Read(files[1])));
  ASSERT_NE(cache.Find("a"), nullptr);          // a is now more recent than b
  ASSERT_TRUE(cache.Put("c", Read(files[2])));  // 30 > 25: b goes
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.bytes(), 20u);
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  ASSERT_TRUE(cache.Put("d", Read(files[3])));  // c was found after a: a goes
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_NE(cache.Find("d"), nullptr);
  EXPECT_LE(cache.bytes(), 25u);
  cache.Erase("c");
  EXPECT_EQ(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.bytes(), 10u);
}

TEST(SmallFileCache, EntryCountIsBoundedEvenForEmptyFiles) {
  TempDir dir;
  SmallFileCache cache({64, 1024, 3, std::chrono::hours(1)});
  for (int i = 0; i < 5; ++i) {
    fs::path f = dir.path() / ("empty" + std::to_string(i));
    Write(f, "");
    ASSERT_TRUE(cache.Put("k" + std::to_string(i), Read(f)));
    EXPECT_LE(cache.size(), 3u);
  }
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find("k0"), nullptr);
  EXPECT_EQ(cache.Find("k1"), nullptr);
  EXPECT_NE(cache.Find("k4"), nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(SmallFileCache, ConcurrentFindsAndPutsStayConsistent) {
  TempDir dir;
  constexpr int kFiles = 40;
  std::vector<fs::path> files;
  for (int i = 0; i < kFiles; ++i) {
    files.push_back(dir.path() / ("f" + std::to_string(i)));
    Write(files.back(), "content of " + std::to_string(i) + std::string(i, '.'));
  }
  // Room for about a third of the files: eviction runs all the time.
  SmallFileCache cache({1024, 400, 100, std::chrono::hours(1)});
  std::atomic<int> wrong{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 3000; ++n) {
        int i = (n * 7 + t * 13) % kFiles;
        const std::string key = "k" + std::to_string(i);
        const std::string want = "content of " + std::to_string(i) + std::string(i, '.');
        if (auto e = cache.Find(key)) {
          ++hits;
          if (e->body != want) ++wrong;
        } else {
          cache.Put(key, Read(files[static_cast<std::size_t>(i)]));
        }
        if (cache.bytes() > 400) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_LE(cache.bytes(), 400u);
  std::size_t sum = 0;
  for (int i = 0; i < kFiles; ++i) {
    if (auto e = cache.Find("k" + std::to_string(i))) sum += e->body.size();
  }
  EXPECT_EQ(sum, cache.bytes()) << "bytes() is the sum of the bodies kept";
}

// A large file is kept as an open descriptor; the descriptor stays usable after the entry
// is evicted for as long as someone holds the entry.
std::shared_ptr<SmallFileCache::Entry> Open(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  auto e = std::make_shared<SmallFileCache::Entry>();
  e->path = p.string();
  e->stamp = StampOf(st);
  e->file = std::make_shared<fsio::UniqueFd>(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  e->etag = "\"z\"";
  e->type = "application/zip";
  e->checked = Clock::now();
  return e;
}

TEST(SmallFileCache, LargeFilesAreKeptOpenAndBoundedByMaxOpenFiles) {
  TempDir dir;
  SmallFileCache::Limits limits;
  limits.max_open_files = 2;
  SmallFileCache cache(limits);
  std::vector<fs::path> zips;
  for (int i = 0; i < 3; ++i) {
    zips.push_back(dir.path() / ("v1.0." + std::to_string(i) + ".zip"));
    Write(zips.back(), std::string(200 * 1024, static_cast<char>('a' + i)));
  }
  ASSERT_TRUE(cache.Put("z0", Open(zips[0])));
  auto held = cache.Find("z0");
  ASSERT_NE(held, nullptr);
  ASSERT_TRUE(held->file && *held->file);
  EXPECT_EQ(cache.bytes(), 0u) << "a descriptor entry holds no body";
  ASSERT_TRUE(cache.Put("z1", Open(zips[1])));
  ASSERT_TRUE(cache.Put("z2", Open(zips[2])));
  EXPECT_EQ(cache.open_files(), 2u);
  EXPECT_EQ(cache.Find("z0"), nullptr) << "the least recently used one was evicted";
  EXPECT_NE(cache.Find("z2"), nullptr);
  char c = 0;
  ASSERT_EQ(::pread(held->file->get(), &c, 1, 4096), 1) << "a held descriptor stays open";
  EXPECT_EQ(c, 'a');
}

TEST(SmallFileCache, AReplacedLargeFileIsAMiss) {
  TempDir dir;
  fs::path f = dir.path() / "v1.0.0.zip";
  Write(f, std::string(100 * 1024, 'x'));
  SmallFileCache cache;
  ASSERT_TRUE(cache.Put("z", Open(f)));
  ASSERT_NE(cache.Find("z"), nullptr);
  fs::path other = dir.path() / "other";
  Write(other, std::string(100 * 1024, 'y'));
  fs::rename(other, f);
  EXPECT_EQ(cache.Find("z"), nullptr) << "a new inode at the path is not the file kept open";
  EXPECT_EQ(cache.open_files(), 0u);
}

TEST(SmallFileCache, NoDescriptorsWhenMaxOpenFilesIsZero) {
  TempDir dir;
  fs::path f = dir.path() / "v1.0.0.zip";
  Write(f, std::string(100 * 1024, 'x'));
  SmallFileCache::Limits limits;
  limits.max_open_files = 0;
  SmallFileCache cache(limits);
  EXPECT_FALSE(cache.Put("z", Open(f)));
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace modpub::http
