// modpub-hook: modpub's git receive hooks (installed by `modpub hook install`).
//
//   modpub-hook pre-receive  [--config <toml>]   check a push; non-zero exit refuses it all
//   modpub-hook post-receive [--config <toml>]   queue a publish job per accepted version tag
//
// Both read git's "<old> <new> <ref>" lines on stdin and run in the repository directory.
// Without --config the settings are found as receive/settings.hpp describes (git config
// modpub.config / MODPUB_CONFIG / modpub.importPath and friends).
// pre-receive prints one line per problem, "modpub: refused <tag>: <rule and file>".
// post-receive never fails the push: problems are printed as warnings and it exits 0.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "modpub/git/git.hpp"
#include "modpub/jobs/forward.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/receive/handoff.hpp"
#include "modpub/receive/receive.hpp"
#include "modpub/receive/settings.hpp"
#include "modpub/storage/open.hpp"

namespace fs = std::filesystem;

namespace {

using modpub::receive::RefUpdate;

// Whether any update touches a version tag: the only pushes modpub has a say in.
bool TouchesVersionTags(const std::vector<RefUpdate>& updates) {
  for (const auto& u : updates) {
    if (modpub::receive::IsVersionTag(u.Tag())) return true;
  }
  return false;
}

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// The directory git runs the hook in is the repository (GIT_DIR may be "." or absent).
fs::path GitDir() {
  const char* env = std::getenv("GIT_DIR");
  return env && *env ? fs::path(env) : fs::current_path();
}

// Where pre-receive leaves what it found for post-receive (receive/handoff.hpp).
fs::path HandoffDir() { return GitDir() / "modpub" / "handoff"; }

void PrintLines(std::string_view lead, const std::string& message) {
  std::size_t start = 0;
  while (start < message.size()) {
    auto nl = message.find('\n', start);
    std::cout << lead << message.substr(start, nl - start) << "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

std::vector<modpub::receive::Accepted> AcceptedFor(const modpub::receive::Verdict& verdict,
                                                   const std::string& tag) {
  std::vector<modpub::receive::Accepted> mine;
  for (const auto& a : verdict.accepted) {
    if (a.tag == tag) mine.push_back(a);
  }
  return mine;
}

modpub::jobs::Job JobFor(const modpub::receive::HookSettings& settings, const std::string& tag,
                         const modpub::git::Oid& commit) {
  modpub::jobs::Job job;
  job.repo = settings.repo.path;
  job.import_path = settings.repo.import_path;
  job.tag = tag;
  job.commit = commit.Hex();
  job.source = "hook";
  return job;
}

// Makes the publish job of every accepted version tag durable in the spool before the push
// is accepted (post-receive only moves it into the queue): a push whose jobs cannot be
// written (a full disk, permissions) is refused rather than accepted and never published.
modpub::Status HoldJobs(const modpub::receive::HookSettings& settings,
                        const std::vector<RefUpdate>& updates,
                        const modpub::receive::Verdict& verdict) {
  auto spool = modpub::jobs::Spool::Open(settings.spool_dir);
  std::vector<std::string> held;
  auto undo = [&](const std::string& why) {
    for (const auto& key : held) (void)spool->DropHeld(key);
    return modpub::Fail(why + "\nnothing was accepted: free space in the spool " +
                        settings.spool_dir +
                        " (spool_dir) or fix its permissions, then push again");
  };
  if (!spool) return undo("cannot open the job spool: " + spool.message());
  for (const RefUpdate& u : updates) {
    if (u.Deletes() || !modpub::receive::IsVersionTag(u.Tag())) continue;
    auto mine = AcceptedFor(verdict, u.Tag());
    if (mine.empty()) continue;
    const std::string key = modpub::receive::UpdateKey(settings.repo.path, u);
    if (auto s = spool->Hold(key, JobFor(settings, u.Tag(), mine.front().commit)); !s) {
      return undo(u.Tag() + ": cannot make its publish job durable: " + s.message());
    }
    held.push_back(key);
  }
  return modpub::Ok();
}

int PreReceive(const std::optional<std::string>& config) {
  auto updates = modpub::receive::ParseUpdates(ReadStdin());
  if (!updates) {
    PrintLines("modpub: refused push: ", updates.message());
    return 1;
  }
  if (!TouchesVersionTags(*updates)) return 0;
  auto refuse = [](const std::string& why) {
    PrintLines("modpub: refused push: ", why);
    return 1;
  };
  auto settings = modpub::receive::LoadSettings(GitDir(), config);
  if (!settings) return refuse(settings.message());
  auto repo = modpub::git::Repository::OpenFromEnv();
  if (!repo) return refuse(repo.message());

  std::vector<std::unique_ptr<modpub::storage::Backend>> owned;
  modpub::receive::Policy policy{settings->repo, {}};
  modpub::storage::OpenOptions open_options;
  open_options.deadline = settings->storage_deadline;
  open_options.deadline_setting = "storage_deadline_ms in " + settings->source;
  for (const std::string& url : settings->storage) {
    auto backend = modpub::storage::OpenBackend(url, open_options);
    if (!backend) return refuse(settings->source + ": storage " + url + ": " + backend.message());
    policy.published_in.push_back(backend->get());
    owned.push_back(std::move(*backend));
  }
  modpub::receive::Verdict verdict = modpub::receive::Review(*repo, policy, *updates);
  for (const std::string& p : verdict.problems) std::cout << "modpub: refused " << p << "\n";
  std::cout.flush();
  if (!verdict.ok()) return 1;
  if (settings->spool_dir.empty()) return 0;
  if (auto held = HoldJobs(*settings, *updates, verdict); !held) return refuse(held.message());
  // Tell post-receive what the tags publish, so that it need not read the objects again.
  for (const RefUpdate& u : *updates) {
    if (u.Deletes() || !modpub::receive::IsVersionTag(u.Tag())) continue;
    if (auto s = modpub::receive::WriteHandoff(HandoffDir(), settings->repo.path, u,
                                               AcceptedFor(verdict, u.Tag()));
        !s) {
      spdlog::debug("{}: {} (post-receive will resolve the tag itself)", u.Tag(), s.message());
    }
  }
  return 0;
}

// One job per tag of `accepted` (the daemon publishes every module version a tag names);
// whether any was queued.
template <class Warn>
bool EnqueueEach(const modpub::receive::HookSettings& settings, const modpub::jobs::Spool& spool,
                 const std::vector<modpub::receive::Accepted>& accepted, const Warn& warn) {
  std::map<std::string, std::vector<const modpub::receive::Accepted*>> by_tag;
  std::vector<std::string> order;
  for (const auto& a : accepted) {
    if (by_tag[a.tag].empty()) order.push_back(a.tag);
    by_tag[a.tag].push_back(&a);
  }
  bool queued = false;
  for (const std::string& tag : order) {
    auto id = spool.Enqueue(JobFor(settings, tag, by_tag[tag].front()->commit));
    if (!id) {
      warn(tag + ": " + id.message() + "; not queued");
      continue;
    }
    queued = true;
    for (const auto* a : by_tag[tag]) {
      std::cout << "modpub: queued " << a->path << "@" << a->version << "\n";
    }
  }
  return queued;
}

// Cluster: moves the spool's due jobs (this push's, and any older ones Redis did not take
// before) into the shared queue (jobs/forward.hpp). The push is accepted either way.
void Forward(const modpub::receive::HookSettings& settings, const modpub::jobs::Spool& spool,
             const std::function<void(const std::string&)>& warn) {
  const std::string later =
      "; the jobs stay in " + settings.spool_dir +
      " and are forwarded by the next push, by modpubd on this machine, or by `modpub jobs "
      "forward`";
  auto url = modpub::jobs::ParseRedisQueueUrl(settings.queue);
  if (!url) return warn(url.message() + later);
  url->endpoint.timeout = std::chrono::milliseconds(3000);  // a push waits for this at most
  auto owner = spool.Register();
  if (!owner) return warn(owner.message() + later);
  auto queue = modpub::jobs::RedisQueue::Open(*url, {owner->id()});
  if (!queue) return warn(queue.message() + later);
  auto n = modpub::jobs::ForwardSpool(spool, *owner, **queue);
  if (!n) return warn(n.message() + later);
  std::cout << "modpub: " << *n << " job(s) handed to the cluster queue\n";
}

// Wakes modpubd. When nobody listens, says so: otherwise the pusher sees "queued" and waits
// for a version that will not appear until the daemon runs. A cluster's jobs are already in
// the shared queue (another node publishes them), so there the local daemon does not matter.
void TellIfDaemonDown(const modpub::receive::HookSettings& settings) {
  if (modpub::jobs::Poke(settings.socket_path) != modpub::jobs::Wake::kNotRunning) return;
  if (!settings.queue.empty()) return;
  std::cout << "modpub: queued jobs wait in " << settings.spool_dir
            << "; modpubd is not running — it will publish when it starts (no daemon listens on "
            << settings.socket_path << ")" << std::endl;
}

int PostReceive(const std::optional<std::string>& config) {
  auto warn = [](const std::string& why) { PrintLines("modpub: warning: ", why); };
  auto updates = modpub::receive::ParseUpdates(ReadStdin());
  if (!updates) {
    warn(updates.message());
    return 0;
  }
  if (!TouchesVersionTags(*updates)) return 0;
  auto settings = modpub::receive::LoadSettings(GitDir(), config);
  if (!settings) {
    warn(settings.message() + "\nnothing queued for publishing");
    return 0;
  }
  if (settings->spool_dir.empty()) {
    warn("no spool directory configured (" + settings->source + "): nothing queued for publishing");
    return 0;
  }
  auto spool = modpub::jobs::Spool::Open(settings->spool_dir);
  if (!spool) {
    warn(spool.message() + "\nnothing queued for publishing");
    return 0;
  }
  // Jobs pre-receive held go to the queue; for the rest (hooks of an older modpub) what each
  // tag publishes comes from the handoff, else is resolved here (libgit2).
  std::vector<modpub::receive::Accepted> accepted;
  std::vector<RefUpdate> unresolved;
  bool queued = false;
  for (const RefUpdate& u : *updates) {
    if (u.Deletes() || !modpub::receive::IsVersionTag(u.Tag())) continue;
    auto handoff = modpub::receive::TakeHandoff(HandoffDir(), settings->repo.path, u);
    auto released = spool->ReleaseHeld(modpub::receive::UpdateKey(settings->repo.path, u));
    if (!released) {
      warn(u.Tag() + ": " + released.message() +
           "; the job stays held and modpubd queues it at its next reconciliation");
      continue;
    }
    if (*released) {
      queued = true;
      if (!handoff) std::cout << "modpub: queued " << u.Tag() << "\n";
      for (const auto& a : handoff.value_or(std::vector<modpub::receive::Accepted>{})) {
        std::cout << "modpub: queued " << a.path << "@" << a.version << "\n";
      }
    } else if (handoff) {
      accepted.insert(accepted.end(), handoff->begin(), handoff->end());
    } else {
      unresolved.push_back(u);
    }
  }
  if (!unresolved.empty()) {
    auto repo = modpub::git::Repository::OpenFromEnv();
    if (!repo) {
      warn(repo.message() + "\nnothing queued for publishing");
      return 0;
    }
    modpub::receive::Verdict found =
        modpub::receive::Published(*repo, settings->repo.import_path, unresolved);
    for (const std::string& p : found.problems) warn(p + " (not queued)");
    accepted.insert(accepted.end(), found.accepted.begin(), found.accepted.end());
  }
  queued |= EnqueueEach(*settings, *spool, accepted, warn);
  if (queued && !settings->queue.empty()) Forward(*settings, *spool, warn);
  std::cout.flush();
  if (queued && !settings->socket_path.empty()) TellIfDaemonDown(*settings);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{
      "modpub's git receive hooks: check version tags before a push is accepted\n"
      "(pre-receive) and queue their publishing after it (post-receive)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "modpub-hook " MODPUB_VERSION);
  app.footer(
      "Configuration, first found: --config <toml>; git config modpub.config of the\n"
      "repository; $MODPUB_CONFIG; else the repository's git config keys modpub.importPath,\n"
      "modpub.allowedPrefix, modpub.immutableTags, modpub.storage, modpub.spoolDir and\n"
      "modpub.socket (hooks/README.md). Version tags pushed into an unconfigured repository\n"
      "are refused; branches and other tags always pass.");
  std::optional<std::string> config;
  int code = 0;
  for (const char* name : {"pre-receive", "post-receive"}) {
    CLI::App* cmd = app.add_subcommand(
        name, std::string(name) == "pre-receive"
                  ? "Check the ref updates on stdin; exit non-zero to refuse the push."
                  : "Queue a publish job per accepted version tag; never fails.");
    cmd->add_option("--config", config, "modpub TOML configuration");
    cmd->callback([&code, &config, pre = std::string(name) == "pre-receive"] {
      if (pre) {
        code = PreReceive(config);
        return;
      }
      // The push is already done: whatever happens here must not look like a failure of
      // it, but it is reported.
      try {
        code = PostReceive(config);
      } catch (const std::exception& e) {
        std::cout << "modpub: warning: internal error: " << e.what() << "\n";
        code = 0;
      }
    });
  }
  CLI11_PARSE(app, argc, argv);
  return code;
}
