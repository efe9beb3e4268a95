// The daemon's wake-up socket: a Unix datagram socket that the post-receive hook pokes
// (jobs::Poke) after it queued jobs, so that the workers look at the spool at once rather
// than at the next periodic scan. A wake-up carries no data and needs no trust: it only
// makes the daemon look, so the socket is writable by everyone (hooks run as the pushing
// users).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "modpub/base/result.hpp"
#include "modpub/fsio/atomic_file.hpp"

namespace modpub::jobs {

class WakeSocket {
 public:
  // Binds `path` (its directory made as needed). A socket file left there by an earlier
  // instance is replaced; any other file there is an error.
  static Result<std::unique_ptr<WakeSocket>> Bind(const std::string& path);
  ~WakeSocket();  // stops, and removes the socket file
  WakeSocket(const WakeSocket&) = delete;
  WakeSocket& operator=(const WakeSocket&) = delete;

  // Calls `on_wake` on a background thread for every burst of datagrams received.
  void Run(const std::function<void()>& on_wake);
  // Stops the thread (within 200 ms); idempotent.
  void Stop();

 private:
  WakeSocket(std::string path, fsio::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  fsio::UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace modpub::jobs
