// SIGINT, SIGTERM and SIGHUP during `modpub publish` / `backfill`: see commands.hpp.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "cli/commands.hpp"
#include "modpub/publish/publish.hpp"

namespace modpub::cli {

void CleanUpOnInterrupt(const std::filesystem::path& build_root) {
  // Abandoned build directories of earlier runs that were killed.
  publish::SweepBuildDirs(build_root);
  // The signals are taken by a thread of their own, not a handler: removing a directory
  // tree is not async-signal-safe. Blocked here, before any other thread exists, so that
  // every later thread inherits the mask and only this one receives them.
  static sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([root = build_root] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    const int removed = publish::RemoveOwnBuildDirs(root);
    const std::string dirs =
        Plural(static_cast<std::size_t>(removed), "build directory", "build directories");
    std::fprintf(stderr,
                 "modpub: stopped by %s: removed %s under %s; storage writes are atomic, so "
                 "a version is stored whole or not at all: run the command again to finish\n",
                 strsignal(sig), dirs.c_str(), root.c_str());
    std::fflush(stderr);
    _exit(128 + sig);
  }).detach();
}

}  // namespace modpub::cli
