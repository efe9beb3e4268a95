// What a receive hook needs to know about its repository, and where it comes from.
//
// Order (the first that applies wins):
//  1. `--config <toml>` (config::LoadConfig); else the repository's git config key
//     `modpub.config` (a path; relative = relative to the repository directory); else the
//     environment variable MODPUB_CONFIG. The repository's entry is found by path
//     (config::Config::FindRepo). If the file has no entry for it, the repository-level
//     settings come from git config (below) and storage/spool/socket from the file.
//  2. No file at all: git config of the repository alone:
//       modpub.importPath     import path of the repository root (required)
//       modpub.allowedPrefix  allowed module path prefix (repeatable; default importPath)
//       modpub.immutableTags  bool (default false)
//       modpub.storage        storage URL where published versions are looked up
//                             (repeatable; none: published tags are not protected)
//       modpub.spoolDir       the daemon's job spool (needed by post-receive)
//       modpub.socket         the daemon's Unix socket (optional: no wake-up)
// Only the repository's own config file is read (not ~/.gitconfig or /etc/gitconfig):
// what a server does with a push should not depend on the account's settings.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"

namespace modpub::receive {

struct HookSettings {
  std::string source;  // where they came from, for messages ("/etc/modpub.toml", "git config")
  // The repository: path as the daemon knows it (the file's entry, else the git dir),
  // import_path, allowed_prefixes (never empty: defaults to {import_path}), immutable_tags.
  config::RepoConfig repo;
  std::vector<std::string> storage;  // URLs
  // Each storage operation's budget (storage_deadline_ms of the file; the default without
  // one), so that a hung storage refuses the push in time instead of holding it.
  std::chrono::milliseconds storage_deadline = config::Config{}.storage_deadline;
  std::string spool_dir;    // "" when not configured
  std::string socket_path;  // "" when not configured
  std::string queue;        // the cluster queue (config's queue), "" when none
};

// `git_dir`: the repository directory (in a hook: the current one). `config_flag`: the
// --config argument, if given.
Result<HookSettings> LoadSettings(const std::filesystem::path& git_dir,
                                  const std::optional<std::string>& config_flag);

}  // namespace modpub::receive
