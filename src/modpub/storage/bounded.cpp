#include "modpub/storage/bounded.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "modpub/storage/deadline.hpp"

namespace modpub::storage {
namespace {

// One operation's outcome, shared by the caller and the thread running it.
template <typename T>
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<T> result;
};

class BoundedBackend final : public Backend {
 public:
  BoundedBackend(std::unique_ptr<Backend> inner, BoundOptions o)
      : inner_(std::move(inner)), options_(std::move(o)), stuck_(std::make_shared<Stuck>()) {}

  const std::string& Name() const override { return inner_->Name(); }

  Result<PutResult> Put(const VersionFiles& files) override {
    return Run<Result<PutResult>>("put " + files.path + "@" + files.version,
                                  [files](Backend& b) { return b.Put(files); });
  }
  Result<std::optional<StoredVersion>> Stat(const std::string& path,
                                            const std::string& version) override {
    return Run<Result<std::optional<StoredVersion>>>(
        "stat " + path + "@" + version,
        [path, version](Backend& b) { return b.Stat(path, version); });
  }
  Result<std::vector<StoredVersion>> ListVersions(const std::string& path) override {
    return Run<Result<std::vector<StoredVersion>>>(
        "list " + path, [path](Backend& b) { return b.ListVersions(path); });
  }
  Result<std::vector<std::string>> ListModules() override {
    return Run<Result<std::vector<std::string>>>("list modules",
                                                 [](Backend& b) { return b.ListModules(); });
  }
  Result<std::optional<std::filesystem::path>> LocalFile(const std::string& path,
                                                         const std::string& version,
                                                         VersionPart part) override {
    return inner_->LocalFile(path, version, part);
  }
  Status Probe(const std::string& name) override {
    return Run<Status>("probe " + name, [name](Backend& b) { return b.Probe(name); });
  }

 private:
  // Abandoned operations still running, shared with their threads (which may outlive us).
  struct Stuck {
    std::atomic<std::size_t> count{0};
  };

  // Runs `op` on a thread of its own; its result, or the deadline failure when it does not
  // finish within the budget (the thread is then left to finish on its own).
  template <typename R, typename Op>
  R Run(const std::string& what, Op op) {
    const std::size_t stuck = stuck_->count.load();
    if (stuck >= options_.max_stuck) {
      return Fail(Name() + ": " + what + ": not tried: " + std::to_string(stuck) +
                  " earlier operations are still waiting for the filesystem past their deadline");
    }
    auto deadline = Deadline::After(options_.deadline, options_.setting);
    auto pending = std::make_shared<Pending<R>>();
    auto abandoned = std::make_shared<std::atomic<bool>>(false);
    std::thread([inner = inner_, pending, abandoned, stuck = stuck_, op = std::move(op)] {
      R r = op(*inner);
      {
        std::lock_guard g(pending->mu);
        pending->result.emplace(std::move(r));
      }
      pending->cv.notify_one();
      // Whoever flips `abandoned` first decides who counts this thread as stuck.
      if (abandoned->exchange(true)) stuck->count.fetch_sub(1);
    }).detach();
    std::unique_lock lock(pending->mu);
    if (pending->cv.wait_for(lock, deadline.Remaining(),
                             [&] { return pending->result.has_value(); })) {
      return std::move(*pending->result);
    }
    lock.unlock();
    if (!abandoned->exchange(true)) {
      stuck_->count.fetch_add(1);
    } else {
      // The thread finished just now: its result is there.
      std::lock_guard g(pending->mu);
      return std::move(*pending->result);
    }
    return Fail(Name() + ": " + what + ": " + deadline.Exceeded());
  }

  std::shared_ptr<Backend> inner_;
  BoundOptions options_;
  std::shared_ptr<Stuck> stuck_;
};

}  // namespace

std::unique_ptr<Backend> Bounded(std::unique_ptr<Backend> inner, BoundOptions options) {
  if (options.deadline.count() <= 0) return inner;
  return std::make_unique<BoundedBackend>(std::move(inner), std::move(options));
}

}  // namespace modpub::storage
