#include "modpub/webhook/delivery_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace modpub::webhook {
namespace {

std::string Errno() { return std::strerror(errno); }

Status WriteAll(int fd, const std::string& data, const std::string& what) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(what + ": cannot write: " + Errno());
    }
    off += static_cast<std::size_t>(n);
  }
  return Ok();
}

}  // namespace

bool DeliveryLog::ValidId(std::string_view id) {
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

Result<std::unique_ptr<DeliveryLog>> DeliveryLog::Open(const std::filesystem::path& file,
                                                       std::size_t capacity) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return Fail(file.parent_path().string() + ": cannot create: " + ec.message());
  int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(file.string() + ": cannot open the delivery log: " + Errno());
  std::unique_ptr<DeliveryLog> log(new DeliveryLog(file, capacity, fd));
  std::ifstream in(file);
  std::string line;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    if (!ValidId(line) || log->known_.count(line)) continue;  // torn last line, duplicates
    log->known_.insert(line);
    log->order_.push_back(line);
    if (log->order_.size() > capacity) {
      log->known_.erase(log->order_.front());
      log->order_.pop_front();
    }
  }
  log->lines_in_file_ = lines;
  std::lock_guard lock(log->mu_);
  if (lines > 2 * capacity) {
    if (auto s = log->CompactLocked(); !s) return s.error();
  }
  return log;
}

DeliveryLog::DeliveryLog(std::filesystem::path file, std::size_t capacity, int fd)
    : file_(std::move(file)), capacity_(capacity == 0 ? 1 : capacity), fd_(fd) {}

DeliveryLog::~DeliveryLog() {
  if (fd_ >= 0) ::close(fd_);
}

bool DeliveryLog::Reserve(const std::string& id) {
  std::lock_guard lock(mu_);
  if (!known_.insert(id).second) return false;
  reserved_.insert(id);
  return true;
}

void DeliveryLog::Abandon(const std::string& id) {
  std::lock_guard lock(mu_);
  if (reserved_.erase(id)) known_.erase(id);
}

Status DeliveryLog::Commit(const std::string& id) {
  std::lock_guard lock(mu_);
  if (!reserved_.erase(id)) return Fail("delivery " + id + " was not reserved");
  order_.push_back(id);
  if (order_.size() > capacity_) {
    known_.erase(order_.front());
    order_.pop_front();
  }
  if (auto s = WriteAll(fd_, id + "\n", file_.string()); !s) return s;
  if (++lines_in_file_ > 2 * capacity_) return CompactLocked();
  return Ok();
}

Status DeliveryLog::CompactLocked() {
  std::filesystem::path tmp = file_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(tmp.string() + ": cannot create: " + Errno());
  std::string data;
  for (const auto& id : order_) data += id + "\n";
  Status s = WriteAll(fd, data, tmp.string());
  if (s && ::fsync(fd) != 0) s = Fail(tmp.string() + ": fsync: " + Errno());
  ::close(fd);
  if (!s) return s;
  if (::rename(tmp.c_str(), file_.c_str()) != 0) {
    return Fail(file_.string() + ": cannot replace: " + Errno());
  }
  int nfd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (nfd < 0) return Fail(file_.string() + ": cannot reopen: " + Errno());
  ::close(fd_);
  fd_ = nfd;
  lines_in_file_ = order_.size();
  return Ok();
}

std::size_t DeliveryLog::size() const {
  std::lock_guard lock(mu_);
  return order_.size();
}

}  // namespace modpub::webhook
