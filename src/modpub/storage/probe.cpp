// See probe.hpp and Backend::Probe (backend.hpp).
#include "modpub/storage/probe.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "modpub/storage/backend.hpp"

namespace fs = std::filesystem;

namespace modpub::storage {
namespace {

std::string Errno(const std::string& storage, const fs::path& p, const char* what) {
  return storage + ": " + what + " " + p.string() + ": " + std::strerror(errno);
}

// Writes `data` to a new file `file` (never an existing one) and reads it back.
Status WriteAndReadBack(const std::string& storage, const fs::path& file, const std::string& data,
                        bool* created) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(Errno(storage, file, "cannot create"));
  *created = true;
  ssize_t n = ::write(fd, data.data(), data.size());
  const bool written = n == static_cast<ssize_t>(data.size());
  const int write_errno = errno;
  if (::close(fd) != 0 || !written) {
    errno = written ? errno : write_errno;
    return Fail(Errno(storage, file, "cannot write"));
  }
  fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(Errno(storage, file, "cannot read back"));
  std::string back(data.size() + 1, '\0');
  n = ::read(fd, back.data(), back.size());
  ::close(fd);
  if (n < 0) return Fail(Errno(storage, file, "cannot read back"));
  back.resize(static_cast<std::size_t>(n));
  if (back != data) return Fail(storage + ": " + file.string() + " read back other bytes");
  return Ok();
}

}  // namespace

std::string ProbeName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "host");
  std::string name;
  for (const char* c = host; *c; ++c) {
    name += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '.' ? *c : '_';
  }
  std::random_device rd;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%d-%08x", static_cast<int>(::getpid()), rd());
  return name + suffix;
}

Status CheckProbeName(const std::string& storage, const std::string& name) {
  bool ok = !name.empty() && name != "." && name != "..";
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) return Fail(storage + ": probe name \"" + name + "\": must be [A-Za-z0-9._-]+");
  return Ok();
}

Status ProbeDirectory(const std::string& storage, const fs::path& root, const std::string& name) {
  if (auto st = CheckProbeName(storage, name); !st) return st;
  const fs::path dir = root / kProbeDir;
  // The missing directories from the first existing ancestor down to `dir`.
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = dir; !p.empty() && !fs::exists(fs::symlink_status(p, ec));
       p = p.parent_path()) {
    missing.insert(missing.begin(), p);
    if (p == p.root_path()) break;
  }
  std::vector<fs::path> made;
  bool created = false;
  const fs::path file = dir / name;
  Status result = [&]() -> Status {
    for (const auto& p : missing) {
      if (::mkdir(p.c_str(), 0755) != 0) return Fail(Errno(storage, p, "cannot create"));
      made.push_back(p);
    }
    return WriteAndReadBack(storage, file, "modpub doctor probe " + name + "\n", &created);
  }();
  // Clean-up, whatever happened above: only what this probe made.
  std::string left;
  if (created && ::unlink(file.c_str()) != 0) left += " " + file.string();
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    if (::rmdir(it->c_str()) != 0) left += " " + it->string();
  }
  if (!left.empty()) {
    std::string msg = result ? storage + ": probe" : result.message();
    return Fail(msg + "; could not remove what the probe made:" + left + " (remove it by hand)");
  }
  return result;
}

}  // namespace modpub::storage
