// Delivery ids already handled (GitHub X-GitHub-Delivery, GitLab Idempotency-Key /
// X-Gitlab-Event-UUID), so that a redelivered webhook queues no second job.
//
// Kept in memory (hash set + insertion order) and appended, one id per line, to a file
// in the daemon's state directory, which is read back at start: a replay after a restart
// is still recognized. Bounded: the newest `capacity` ids are remembered; the file is
// rewritten (temp + rename) with those when it has grown to twice that.
// The file is appended with write(2), not fsynced: a daemon crash keeps it (page cache);
// after a power loss a few ids may be forgotten, and a replay of one of those queues a
// job again, which publishes nothing twice (publishing is idempotent). Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "modpub/base/result.hpp"

namespace modpub::webhook {

class DeliveryLog {
 public:
  // Creates the file (and its directory) if missing; loads the newest `capacity` ids.
  static Result<std::unique_ptr<DeliveryLog>> Open(const std::filesystem::path& file,
                                                   std::size_t capacity);
  ~DeliveryLog();
  DeliveryLog(const DeliveryLog&) = delete;
  DeliveryLog& operator=(const DeliveryLog&) = delete;

  // A usable id: 1..200 printable ASCII characters without spaces.
  static bool ValidId(std::string_view id);

  // True (and the id is reserved) when the id is new; false when it was recorded or is
  // reserved by a request in flight.
  bool Reserve(const std::string& id);
  // Makes a reserved id permanent (appends it to the file).
  Status Commit(const std::string& id);
  // Drops a reservation (the request failed and may be delivered again).
  void Abandon(const std::string& id);

  std::size_t size() const;

 private:
  DeliveryLog(std::filesystem::path file, std::size_t capacity, int fd);
  Status CompactLocked();

  std::filesystem::path file_;
  std::size_t capacity_;
  int fd_ = -1;
  std::size_t lines_in_file_ = 0;
  mutable std::mutex mu_;
  std::unordered_set<std::string> known_;     // committed or reserved
  std::deque<std::string> order_;             // committed, oldest first
  std::unordered_set<std::string> reserved_;  // in flight
};

}  // namespace modpub::webhook
