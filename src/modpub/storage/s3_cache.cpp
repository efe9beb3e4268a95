#include "modpub/storage/s3_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"

namespace modpub::storage::s3 {
namespace fs = std::filesystem;

namespace {

// Streams a download into an open file; a retried download (Reset) starts it again.
class FdSink : public Sink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  void Reset() override {
    failed_ = ::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0;
    if (failed_) error_ = errno;
  }
  bool Write(const char* data, std::size_t n) override {
    while (n > 0 && !failed_) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        failed_ = true;
        error_ = errno;
        break;
      }
      data += w;
      n -= static_cast<std::size_t>(w);
    }
    return !failed_;
  }
  int error() const { return failed_ ? error_ : 0; }

 private:
  int fd_;
  bool failed_ = false;
  int error_ = 0;
};

}  // namespace

DownloadCache::DownloadCache(std::string dir, std::uint64_t max_bytes)
    : dir_(std::move(dir)), max_(max_bytes) {}

DownloadCache::~DownloadCache() {
  std::error_code ec;
  if (owned_ && !dir_.empty()) fs::remove_all(dir_, ec);
}

Result<std::optional<fs::path>> DownloadCache::Find(const std::string& key) {
  std::lock_guard g(mu_);
  if (auto st = OpenLocked(); !st) return st.error();
  auto it = entries_.find(Name(key));
  if (it == entries_.end()) return std::optional<fs::path>();
  it->second.last_use = ++tick_;
  return std::optional<fs::path>(fs::path(dir_) / it->first);
}

Result<std::optional<fs::path>> DownloadCache::Fetch(Client& client, const std::string& key,
                                                     const Deadline& deadline) {
  fs::path tmp;
  {
    std::lock_guard g(mu_);
    if (auto st = OpenLocked(); !st) return st.error();
    tmp = fs::path(dir_) / (".tmp-" + RandomWriterId());
  }
  std::error_code ec;
  fsio::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return Fail(tmp.string() + ": create: " + std::strerror(errno));
  FdSink sink(fd.get());
  auto r = client.GetTo(key, sink, deadline);
  const int werr = sink.error();
  fd = fsio::UniqueFd();
  if (!r || r->status != 200 || werr != 0) {
    fs::remove(tmp, ec);
    if (!r) return r.error();
    if (werr != 0) return Fail(tmp.string() + ": write: " + std::strerror(werr));
    return std::optional<fs::path>();  // 404: absent, not cached
  }
  std::uint64_t size = fs::file_size(tmp, ec);
  if (ec) size = 0;  // only the bound's bookkeeping is off; the file is whole
  const std::string name = Name(key);
  const fs::path target = fs::path(dir_) / name;
  // Another request may have cached the same immutable object meanwhile: same bytes.
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    fs::remove(tmp, ec);
    return Fail(target.string() + ": rename: " + std::strerror(err));
  }
  std::lock_guard g(mu_);
  auto& e = entries_[name];
  total_ = total_ - e.size + size;
  e.size = size;
  e.last_use = ++tick_;
  EvictLocked(name);
  return std::optional<fs::path>(target);
}

std::string DownloadCache::Name(const std::string& key) {
  return dirhash::Hex(dirhash::Sha256::Of(key));
}

Status DownloadCache::OpenLocked() {
  if (opened_) return Ok();
  if (dir_.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "modpub-s3-cache-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Fail(tmpl + ": cannot create the S3 serving cache: " + std::strerror(errno));
    }
    dir_ = tmpl;
    owned_ = true;
  } else {
    if (auto st = fsio::MakeDirs(dir_); !st) return st.error();
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(dir_, ec)) {
      const std::string n = de.path().filename().string();
      if (n.starts_with(".tmp-")) {
        fs::remove(de.path(), ec);  // left by an interrupted download
      } else if (n.size() == 64 && de.is_regular_file(ec)) {
        auto size = de.file_size(ec);
        entries_[n] = {ec ? 0 : size, 0};
        total_ += ec ? 0 : size;
      }
    }
    if (ec) return Fail(dir_ + ": cannot read the S3 serving cache: " + ec.message());
  }
  opened_ = true;
  return Ok();
}

// A file being served stays readable after its removal here: the server holds it open.
void DownloadCache::EvictLocked(const std::string& keep) {
  while (total_ > max_ && entries_.size() > 1) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == keep) continue;
      if (victim == entries_.end() || it->second.last_use < victim->second.last_use) victim = it;
    }
    std::error_code ec;
    fs::remove(fs::path(dir_) / victim->first, ec);
    total_ -= victim->second.size;
    entries_.erase(victim);
  }
}

}  // namespace modpub::storage::s3
