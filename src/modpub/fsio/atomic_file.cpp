#include "modpub/fsio/atomic_file.hpp"

#include "modpub/fsio/env.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace modpub::fsio {
namespace fs = std::filesystem;

namespace {

std::string Errno(const fs::path& p, std::string_view what, int err) {
  return p.string() + ": " + std::string(what) + ": " + std::strerror(err);
}

// A name no other writer will pick: the pid makes it unique across live processes, the
// random part across successive runs of one pid.
std::string TempName(std::string_view tag = {}) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<std::uint64_t>(getpid())};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%012llx", static_cast<int>(getpid()),
                static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  std::string name(kTempPrefix);
  if (!tag.empty()) name.append(tag).append("-");
  return name + buf;
}

Status WriteAll(int fd, const char* data, std::size_t n, const fs::path& p) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno(p, "write", errno));
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Ok();
}

// rename(from, to) unless `to` exists. Returns false if it exists.
Result<bool> RenameNoReplace(const fs::path& from, const fs::path& to, bool is_dir) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  int err = errno;
  if (err == EEXIST) return false;
  if (err != EINVAL && err != ENOSYS) return Fail(Errno(to, "rename", err));
  // The filesystem has no RENAME_NOREPLACE. For a file, link(2) is just as atomic.
  if (!is_dir) {
    if (::link(from.c_str(), to.c_str()) != 0) {
      if (errno == EEXIST) return false;
      return Fail(Errno(to, "link", errno));
    }
    ::unlink(from.c_str());
    return true;
  }
  // A directory cannot be hard-linked; rename(2) already refuses a non-empty target, and
  // callers hold the module's lock, so only an empty directory created meanwhile by
  // someone else could be replaced.
  struct stat st;
  if (::lstat(to.c_str(), &st) == 0) return false;
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) return false;
    return Fail(Errno(to, "rename", errno));
  }
  return true;
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status UniqueFd::Close(const fs::path& what) {
  int fd = std::exchange(fd_, -1);
  if (fd >= 0 && ::close(fd) != 0) return Fail(Errno(what, "close", errno));
  return Ok();
}

Result<FileLock> FileLock::Acquire(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
  if (!fd) return Fail(Errno(path, "cannot open lock file", errno));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Fail(Errno(path, "flock", errno));
  }
  return FileLock(std::move(fd));
}

Result<AtomicFile> AtomicFile::Create(const fs::path& dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = dir / TempName();
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return AtomicFile(UniqueFd(fd), std::move(p));
    if (errno != EEXIST) return Fail(Errno(dir, "cannot create temporary file", errno));
  }
  return Fail(dir.string() + ": cannot create temporary file: no free name");
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : fd_(std::move(o.fd_)), path_(std::exchange(o.path_, fs::path())) {}

AtomicFile::~AtomicFile() {
  fd_.reset();
  if (!path_.empty()) ::unlink(path_.c_str());
}

Status AtomicFile::Append(std::string_view data) {
  if (!fd_) throw std::logic_error("AtomicFile::Append after commit");
  return WriteAll(fd_.get(), data.data(), data.size(), path_);
}

Status AtomicFile::AppendFile(const fs::path& src) {
  if (!fd_) throw std::logic_error("AtomicFile::AppendFile after commit");
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return Fail(Errno(src, "open", errno));
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno(src, "read", errno));
    }
    if (n == 0) break;
    if (auto st = WriteAll(fd_.get(), buf.data(), static_cast<std::size_t>(n), path_); !st) {
      return st;
    }
  }
  return Ok();
}

Status AtomicFile::SyncAndClose() {
  if (!fd_) throw std::logic_error("AtomicFile committed twice");
  // A full filesystem may only show up here (delayed allocation), or at close.
  if (::fsync(fd_.get()) != 0) return Fail(Errno(path_, "fsync", errno));
  return fd_.Close(path_);
}

Result<bool> AtomicFile::CommitNoReplace(const fs::path& target) {
  if (auto st = SyncAndClose(); !st) return st.error();
  StepBoundary();
  auto renamed = RenameNoReplace(path_, target, /*is_dir=*/false);
  if (!renamed) return renamed;
  if (!*renamed) {
    ::unlink(path_.c_str());
    path_.clear();
    return false;
  }
  path_.clear();
  if (auto st = SyncDir(target.parent_path()); !st) return st.error();
  return true;
}

Status AtomicFile::CommitReplace(const fs::path& target) {
  if (auto st = SyncAndClose(); !st) return st;
  StepBoundary();
  if (::rename(path_.c_str(), target.c_str()) != 0) return Fail(Errno(target, "rename", errno));
  path_.clear();
  return SyncDir(target.parent_path());
}

Result<AtomicDir> AtomicDir::Create(const fs::path& parent, std::string_view tag) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = parent / TempName(tag);
    if (::mkdir(p.c_str(), 0777) == 0) return AtomicDir(std::move(p));
    if (errno != EEXIST) return Fail(Errno(parent, "cannot create temporary directory", errno));
  }
  return Fail(parent.string() + ": cannot create temporary directory: no free name");
}

AtomicDir::AtomicDir(AtomicDir&& o) noexcept : path_(std::exchange(o.path_, fs::path())) {}

AtomicDir::~AtomicDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: a leftover is removed by the next writer
}

Result<bool> AtomicDir::CommitNoReplace(const fs::path& target) {
  if (path_.empty()) throw std::logic_error("AtomicDir committed twice");
  StepBoundary();
  auto renamed = RenameNoReplace(path_, target, /*is_dir=*/true);
  if (!renamed) return renamed;
  if (!*renamed) return false;
  path_.clear();
  if (auto st = SyncDir(target.parent_path()); !st) return st.error();
  return true;
}

Status SyncDir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Fail(Errno(dir, "open directory", errno));
  if (::fsync(fd.get()) != 0) return Fail(Errno(dir, "fsync directory", errno));
  return Ok();
}

Status MakeDirs(const fs::path& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Ok();
    return Fail(dir.string() + ": exists and is not a directory");
  }
  if (errno != ENOENT) return Fail(Errno(dir, "stat", errno));
  fs::path parent = dir.parent_path();
  if (parent != dir) {
    if (auto s = MakeDirs(parent); !s) return s;
  }
  if (::mkdir(dir.c_str(), 0777) != 0) {
    if (errno == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Ok();
    return Fail(Errno(dir, "cannot create directory", errno));
  }
  return SyncDir(parent);
}

Status RemoveStaleTemporaries(const fs::path& dir, std::string_view tag) {
  std::string prefix(kTempPrefix);
  if (!tag.empty()) prefix.append(tag).append("-");
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return Fail(dir.string() + ": " + ec.message());
  std::vector<fs::path> stale;
  for (; it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) stale.push_back(it->path());
  }
  if (ec) return Fail(dir.string() + ": " + ec.message());
  for (const auto& p : stale) {
    fs::remove_all(p, ec);
    if (ec) return Fail(p.string() + ": cannot remove leftover temporary: " + ec.message());
  }
  return Ok();
}

}  // namespace modpub::fsio
