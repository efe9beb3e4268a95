// The S3 backend's serving cache (s3.hpp, "Serving"): objects downloaded once into a local
// directory, for `modpub serve --from s3://…`, which serves local files. Files are named by
// the sha256 of their key; an index of sizes and last use is kept in memory, and the least
// recently used files are removed beyond the bound. Cached files are never revalidated:
// the parts Put stores are immutable. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/storage/s3_client.hpp"

namespace modpub::storage::s3 {

class DownloadCache {
 public:
  // `dir`: "" for a private temporary directory, removed with the cache; otherwise that
  // directory, created on first use and indexed again after a restart.
  DownloadCache(std::string dir, std::uint64_t max_bytes);
  ~DownloadCache();
  DownloadCache(const DownloadCache&) = delete;
  DownloadCache& operator=(const DownloadCache&) = delete;

  // The cached file of `key`, or nullopt if it is not cached.
  Result<std::optional<std::filesystem::path>> Find(const std::string& key);
  // Downloads `key` into the cache within `deadline`; nullopt when the object is absent
  // (not cached).
  Result<std::optional<std::filesystem::path>> Fetch(Client& client, const std::string& key,
                                                     const Deadline& deadline);

 private:
  struct Entry {
    std::uint64_t size = 0;
    std::uint64_t last_use = 0;
  };
  static std::string Name(const std::string& key);
  // Creates (or indexes, after a restart) the cache directory on first use.
  Status OpenLocked();
  // Removes least recently used files until the cache fits (never `keep`, just fetched).
  void EvictLocked(const std::string& keep);

  std::mutex mu_;
  std::string dir_;
  std::uint64_t max_;
  bool owned_ = false;
  bool opened_ = false;
  std::map<std::string, Entry> entries_;
  std::uint64_t total_ = 0;
  std::uint64_t tick_ = 0;
};

}  // namespace modpub::storage::s3
