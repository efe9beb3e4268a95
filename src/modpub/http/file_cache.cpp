#include "modpub/http/file_cache.hpp"

#include <sys/stat.h>

namespace modpub::http {

FileStamp StampOf(const struct stat& st) {
  auto ns = [](const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + static_cast<std::int64_t>(t.tv_nsec);
  };
  return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

std::shared_ptr<const SmallFileCache::Entry> SmallFileCache::Find(std::string_view key,
                                                                  Clock::time_point now) {
  std::shared_ptr<const Entry> entry;
  {
    std::lock_guard g(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entry = it->second.entry;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  if (now - entry->checked >= limits_.recheck) return nullptr;
  struct stat st {};
  if (::stat(entry->path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      StampOf(st) != entry->stamp) {
    std::lock_guard g(mu_);
    auto it = index_.find(key);
    // Only drop what was checked: another thread may have put a fresh entry meanwhile.
    if (it != index_.end() && it->second.entry == entry) EraseLocked(it);
    return nullptr;
  }
  return entry;
}

bool SmallFileCache::Put(std::string key, std::shared_ptr<const Entry> entry) {
  if (!entry || entry->body.size() > limits_.max_file_bytes ||
      entry->body.size() > limits_.max_total_bytes ||
      (entry->file && limits_.max_open_files == 0)) {
    return false;
  }
  std::lock_guard g(mu_);
  if (auto it = index_.find(key); it != index_.end()) EraseLocked(it);
  bytes_ += entry->body.size();
  if (entry->file) ++open_files_;
  lru_.push_front(key);
  index_.emplace(std::move(key), Slot{std::move(entry), lru_.begin()});
  while ((bytes_ > limits_.max_total_bytes || index_.size() > limits_.max_entries ||
          open_files_ > limits_.max_open_files) &&
         !lru_.empty()) {
    EraseLocked(index_.find(lru_.back()));
  }
  return true;
}

void SmallFileCache::Erase(std::string_view key) {
  std::lock_guard g(mu_);
  if (auto it = index_.find(key); it != index_.end()) EraseLocked(it);
}

void SmallFileCache::EraseLocked(
    std::unordered_map<std::string, Slot, Hash, std::equal_to<>>::iterator it) {
  bytes_ -= it->second.entry->body.size();
  if (it->second.entry->file) --open_files_;
  lru_.erase(it->second.lru);
  index_.erase(it);
}

std::size_t SmallFileCache::size() const {
  std::lock_guard g(mu_);
  return index_.size();
}

std::size_t SmallFileCache::open_files() const {
  std::lock_guard g(mu_);
  return open_files_;
}

std::size_t SmallFileCache::bytes() const {
  std::lock_guard g(mu_);
  return bytes_;
}

}  // namespace modpub::http
