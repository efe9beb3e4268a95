// See wake_socket.hpp.
#include "modpub/jobs/wake_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace modpub::jobs {

Result<std::unique_ptr<WakeSocket>> WakeSocket::Bind(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return Fail(path + ": socket path too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  fsio::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Fail(std::string("socket: ") + std::strerror(errno));
  if (auto s = fsio::MakeDirs(std::filesystem::path(path).parent_path()); !s) return s.error();
  // A socket file left by a previous instance (or a daemon on the same path) is replaced:
  // datagram sockets cannot be "connected to" to test liveness cheaply, and the periodic
  // scan covers a daemon that lost its socket.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Fail(path + ": exists and is not a socket");
    ::unlink(path.c_str());
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Fail(path + ": cannot bind: " + std::strerror(errno));
  }
  ::chmod(path.c_str(), 0666);  // anyone may wake the daemon: it only looks at the spool
  return std::unique_ptr<WakeSocket>(new WakeSocket(path, std::move(fd)));
}

WakeSocket::~WakeSocket() {
  Stop();
  ::unlink(path_.c_str());
}

void WakeSocket::Run(const std::function<void()>& on_wake) {
  thread_ = std::thread([this, on_wake] {
    char buf[256];
    while (!stop_.load()) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      bool woke = false;
      while (::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) woke = true;
      if (woke) on_wake();
    }
  });
}

void WakeSocket::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace modpub::jobs
