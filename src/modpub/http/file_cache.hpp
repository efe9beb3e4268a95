// A bounded in-memory cache of the stored files the proxy serves: small ones (.info, .mod,
// .sig) by their contents, larger ones (.zip) as an open file descriptor. The answer to a
// request is kept with the identity of the file it was read from, so a repeated request
// costs one stat(2) instead of open/fstat/read/close plus the backend's own lookup, and a
// zip goes out with sendfile(2) from the descriptor kept (pread-style: the descriptor's
// offset is never used, so any number of requests share it).
//
// Validation (why a cached answer can be trusted):
//   - Every Find stats the file again and compares device, inode, size, mtime and ctime
//     with what was read. Replacing, removing, truncating or writing the file in place
//     changes at least one of them (ctime cannot be set back by a user), so a damaged or
//     removed file is noticed at the very next request, and its entry is dropped.
//   - An entry is also given back to the caller as a miss once it is older than
//     `recheck` (default 1 s), so the backend's own rules about a version (e.g. Athens
//     serves only versions whose directory is complete, S3 cache eviction) are applied
//     again at least that often, even though the file itself did not change.
// Bounds: files larger than `max_file_bytes` are never kept; the bodies kept add up to at
// most `max_total_bytes` in at most `max_entries` entries, of which at most
// `max_open_files` hold a descriptor; least recently used entries are evicted first. A
// descriptor is closed when its entry is evicted and the last answer using it is sent.
// Thread-safe: one mutex around the index; Find's stat runs outside it. Entries are
// immutable and shared: a caller may keep one after it was evicted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "modpub/fsio/atomic_file.hpp"

struct stat;

namespace modpub::http {

// What identifies one state of a file's contents (see above).
struct FileStamp {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp StampOf(const struct stat& st);

class SmallFileCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::size_t max_file_bytes = 64 * 1024;
    std::size_t max_total_bytes = 32 * 1024 * 1024;
    std::size_t max_entries = 100000;  // also bounds entries of empty files
    Clock::duration recheck = std::chrono::seconds(1);
    std::size_t max_open_files = 256;  // entries that keep a descriptor (file, not body)
  };
  struct Entry {
    std::string path;                            // the local file the body was read from
    FileStamp stamp;                             // its identity when it was read
    std::string body;                            // its contents (empty when `file` is set)
    std::shared_ptr<const fsio::UniqueFd> file;  // or: the file, open (a large file)
    std::string etag;                            // the ETag the proxy sends for it
    std::string owner;          // what the caller needs to answer again, e.g. the module path
    const char* type = "";      // Content-Type (a string literal)
    Clock::time_point checked;  // when the backend last confirmed path for this key
  };

  SmallFileCache() : SmallFileCache(Limits{}) {}
  explicit SmallFileCache(Limits limits) : limits_(limits) {}
  SmallFileCache(const SmallFileCache&) = delete;
  SmallFileCache& operator=(const SmallFileCache&) = delete;

  // The entry of `key` when its file still has the stamp it was read with and it was
  // checked less than `recheck` before `now`; else nullptr (a changed or vanished file's
  // entry is dropped; an expired one stays until Put replaces it).
  std::shared_ptr<const Entry> Find(std::string_view key, Clock::time_point now = Clock::now());

  // Keeps `entry` under `key` (replacing an older one), unless its body is larger than
  // max_file_bytes or it holds a descriptor and max_open_files is 0; then evicts least recently
  // used entries until the budget holds. Returns whether it was kept.
  bool Put(std::string key, std::shared_ptr<const Entry> entry);

  void Erase(std::string_view key);

  std::size_t size() const;
  std::size_t bytes() const;
  std::size_t open_files() const;
  const Limits& limits() const { return limits_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Slot {
    std::shared_ptr<const Entry> entry;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  void EraseLocked(std::unordered_map<std::string, Slot, Hash, std::equal_to<>>::iterator it);

  const Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Slot, Hash, std::equal_to<>> index_;
  std::list<std::string> lru_;
  std::size_t bytes_ = 0;
  std::size_t open_files_ = 0;
};

}  // namespace modpub::http
