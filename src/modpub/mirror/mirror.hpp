// Bare mirrors of hosted repositories (GitHub, GitLab): before a webhook job publishes, the tag
// is fetched from the repository entry's remote_url into its bare repository (`path`,
// by default <state_dir>/mirrors/<import path>.git), then checked with the pre-receive
// rules (receive::Review), since a push to a hosted repository can no longer be refused.
//
// Fetching uses the git CLI (Boost.Process), one process per fetch, killed after
// webhook.fetch_timeout:
//   git -C <mirror> fetch --no-tags --no-write-fetch-head -- <remote_url>
//       +refs/tags/<tag>:refs/tags/<tag>
// Why the CLI rather than libgit2, although bench/webhook measured libgit2 faster for an
// incremental fetch of one tag from git daemon (about 60 vs 130 ms on a loaded 2-core
// machine; about equal from file://): the fetch runs once per job on a worker, next to a
// publish that costs more, and the CLI gives what libgit2 1.5 does not: a hard timeout
// (the process is killed), SSH through the system ssh (known_hosts, agent, every key
// type), HTTP auth through http.extraHeader, and the same client code hosted servers are
// tested against.
// Credentials (never on a command line, never logged; git's environment is readable by
// the daemon's user only):
//   remote_token_file: the token, sent as http.extraHeader "Authorization: Basic
//     base64(<user>:<token>)" (user "oauth2" for provider gitlab, else "x-access-token"),
//     passed through GIT_CONFIG_COUNT/KEY/VALUE;
//   remote_ssh_key: GIT_SSH_COMMAND="ssh -i <key> -o IdentitiesOnly=yes -o BatchMode=yes".
// GIT_TERMINAL_PROMPT=0: git never waits for a password. Fetches into one mirror are
// serialized in this process.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"

namespace modpub::mirror {

// "https://user:secret@host/x.git" -> "https://host/x.git" (for messages).
std::string RedactUrl(const std::string& url);

// Creates the bare mirror if missing and fetches refs/tags/<tag> from repo.remote_url
// (forced: the mirror follows the remote). Errors name the remote (redacted) and carry
// git's last lines of stderr.
Status FetchTag(const config::RepoConfig& repo, const std::string& tag,
                std::chrono::milliseconds timeout);

// The pre-receive verdict for the fetched tag as if it had just been pushed: one line
// per problem ("<tag>: <rule>"), empty when the tag may be published.
Result<std::vector<std::string>> Validate(const config::RepoConfig& repo, const std::string& tag);

// What the runner does before publishing a job of a repository with a remote_url.
struct Prepared {
  enum Kind { kOk, kRetry, kFail } kind = kOk;
  std::string message;
};
Prepared Prepare(const config::Config& cfg, const config::RepoConfig& repo, const std::string& tag);

}  // namespace modpub::mirror
