// Webhook deliveries from GitHub, GitLab and Gitea (Forgejo included): authentication,
// body decoding, the events modpub acts on, and which configured repository a delivery is
// about. Pure functions (OpenSSL for the HMAC); the HTTP side is webhook/service.hpp.
//
// GitHub (https://docs.github.com/webhooks): header X-GitHub-Event names the event,
// X-GitHub-Delivery is a GUID that a redelivery repeats, X-Hub-Signature-256 is
// "sha256=" + hex(HMAC-SHA256(secret, raw body)). The body is JSON, or (content type
// application/x-www-form-urlencoded) a form whose field `payload` holds the JSON.
//   ping   {zen, hook_id, hook, repository}
//   push   {ref: "refs/tags/v1.2.3" | "refs/heads/..", before, after, created, deleted,
//           forced, head_commit: {id} | null, repository: {full_name, clone_url, ...}}
//   create {ref: "v1.2.3", ref_type: "tag" | "branch", repository}
// GitLab (https://docs.gitlab.com/user/project/integrations/webhook_events/): header
// X-Gitlab-Event ("Tag Push Hook"), X-Gitlab-Token = the secret token as configured (a
// plain compare, no HMAC), delivery id Idempotency-Key (same across retries) or else
// X-Gitlab-Event-UUID.
//   tag_push {object_kind: "tag_push", ref: "refs/tags/v1.2.3", before, after,
//             checkout_sha: <commit> | null, project: {path_with_namespace,
//             git_http_url, git_ssh_url, web_url}, repository: {url, homepage, ...}}
// Gitea (https://docs.gitea.com/usage/webhooks; the payloads are Gitea's
// modules/structs/hook.go): header X-Gitea-Event names the event, X-Gitea-Delivery is a
// UUID that a redelivery repeats, X-Gitea-Signature is hex(HMAC-SHA256(secret, raw body))
// without a prefix. Forgejo, a fork of Gitea, sends the same payloads with X-Forgejo-Event,
// X-Forgejo-Delivery and X-Forgejo-Signature, and the X-Gitea-* headers as well: both are
// one provider here, "gitea". Body JSON or form (`payload`), as GitHub's.
//   push   {ref: "refs/tags/v1.2.3", before, after, compare_url, commits, total_commits,
//           head_commit: {id, ...} | null, repository: {full_name, clone_url, ssh_url,
//           html_url, ...}, pusher, sender}
//          For a tag Gitea always sends before = 0000... (a moved tag reads as created;
//          publishing refuses its other content) and, for an annotated tag, after = the
//          tag object; head_commit.id is the tagged commit.
//   create {ref: "v1.2.3" (short name), ref_type: "tag" | "branch", sha, repository}
//          sha is the ref's value: for an annotated tag the tag object, not a commit.
//   delete {ref: "v1.2.3", ref_type: "tag" | "branch", pusher_type, repository}
//          A deleted tag is announced twice, by `push` (after = 0000...) and by `delete`.
//   Gitea has no ping: "Test Delivery" sends a push of the default branch.
// A created tag has before = 0000..., a deleted one after = 0000....
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/config/config.hpp"

namespace modpub::webhook {

enum class Provider { kGitHub, kGitLab, kGitea };
std::string_view ProviderName(Provider p);  // "github" | "gitlab" | "gitea"

// hex(HMAC-SHA256(key, data)), lower case.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Does `header` (the X-Hub-Signature-256 value, "sha256=<64 hex>") sign `body` with
// `secret`? Constant time in the signature's content (CRYPTO_memcmp). An empty secret
// never verifies: a repository without a secret cannot receive webhooks.
bool VerifyGitHubSignature(std::string_view secret, std::string_view body, std::string_view header);
// Does `header` (X-Gitea-Signature or X-Forgejo-Signature: 64 hex digits, no prefix)
// sign `body` with `secret`? Constant time in the signature's content, as GitHub's; hex
// digits in either case. An empty secret never verifies.
bool VerifyGiteaSignature(std::string_view secret, std::string_view body, std::string_view header);
// Is `token` (X-Gitlab-Token) equal to `secret`? Constant time for equal lengths; an
// empty secret never matches.
bool VerifyGitLabToken(std::string_view secret, std::string_view token);

// "%41+b" -> "A b" (application/x-www-form-urlencoded). Fails on a bad % escape.
Result<std::string> UrlDecode(std::string_view s);

// The JSON document of a body: `content_type` application/json (or empty) parses the
// body; application/x-www-form-urlencoded parses the `payload` field. Errors say why.
Result<nlohmann::json> DecodeBody(std::string_view content_type, std::string_view body);

enum class Kind {
  kPing,        // 200, nothing queued
  kTagCreated,  // queue a job
  kTagMoved,    // queue a job (publishing refuses other content) and alert
  kTagDeleted,  // nothing queued; alert (a published version is never unpublished)
  kIgnored,     // not about a tag, or an event modpub does not handle: nothing queued
};

struct Event {
  Kind kind = Kind::kIgnored;
  std::string reason;  // kIgnored: why (for the response and the log)
  std::string tag;     // without refs/tags/
  std::string before;  // the ref's previous value ("" when the payload has none)
  std::string after;
  std::string commit;  // the tagged commit when the payload names it, else ""
  // Repository identifiers from the payload: URLs first (clone, ssh, web), then names
  // ("owner/repo", GitLab's path_with_namespace).
  std::vector<std::string> urls;
  std::vector<std::string> names;
};

// Interprets a delivery. Fails (-> 400) when the document lacks what the event requires
// (e.g. a push without "ref", a repository without any identifier).
Result<Event> ParseGitHub(std::string_view event_name, const nlohmann::json& doc);
Result<Event> ParseGitLab(std::string_view event_name, const nlohmann::json& doc);
// Gitea and Forgejo: push, create and delete of a tag; anything else is kIgnored. The
// commit is head_commit.id of a push (never `after` or create's `sha`, which name the tag
// object of an annotated tag).
Result<Event> ParseGitea(std::string_view event_name, const nlohmann::json& doc);
// The parser of `p`'s deliveries.
Result<Event> Parse(Provider p, std::string_view event_name, const nlohmann::json& doc);

// "https://user@Host:443/Corp/Lib.git/" and "git@host:corp/lib" -> "host/corp/lib": what
// is compared when a payload's URLs are matched with a repository's remote_url.
std::string NormalizeRepoUrl(std::string_view url);

// The configured repository (with a remote_url) that the event is about: one whose
// normalized remote_url equals a normalized payload URL, else one whose remote path
// (after the host) equals a payload name, case-insensitively. Entries whose `provider`
// is set to another provider are skipped ("generic" or none: every provider's; a Forgejo
// repository is "gitea"). nullptr when none matches.
const config::RepoConfig* MatchRepo(const config::Config& cfg, Provider provider,
                                    const Event& event);

}  // namespace modpub::webhook
