// Fuzzes webhook deliveries as webhook/event.hpp reads them: the body (JSON, or a form
// whose `payload` field holds it), the event, the repository match, the signature check.
// Anyone who can reach /hooks/* can send these bytes; the signature is checked first in
// production, but a bug behind it is one leaked secret away.
// Input: byte 0 picks the provider (bit 2: Gitea, else bit 0: GitLab, else GitHub) and
// the content type (bit 1); then the event name up to the first newline; the rest is the
// body.
// Invariants: a tag event names the tag without "refs/"; an ignored event says why; a
// matched repository is one of the configured ones; every byte, percent-encoded, decodes
// back to itself; a body signed with the secret verifies, and with a changed signature,
// the wrong secret or an empty secret it does not.
#include "fuzz_support.hpp"
#include "modpub/config/config.hpp"
#include "modpub/receive/receive.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/webhook/event.hpp"

using namespace modpub;

namespace {

const config::Config& Repos() {
  static const config::Config cfg = [] {
    auto c = config::ParseConfig(R"(storage = ["file:///nonexistent/store"]
spool_dir = "/nonexistent/spool"
state_dir = "/nonexistent/state"
socket = "/nonexistent/sock"
[[repository]]
import_path = "corp.example/lib"
remote_url = "https://github.example/Corp/Lib.git"
webhook_secret = "lib-secret"
provider = "github"
[[repository]]
import_path = "corp.example/tools"
remote_url = "git@gitlab.example:corp/tools.git"
webhook_secret = "tools-token"
)",
                                 "fuzz.toml");
    if (!c) fuzz::Broken(__FILE__, __LINE__, "the fuzz configuration loads", c.message());
    return *c;
  }();
  return cfg;
}

void CheckEvent(webhook::Provider provider, const webhook::Event& e) {
  using webhook::Kind;
  if (e.kind == Kind::kTagCreated || e.kind == Kind::kTagMoved || e.kind == Kind::kTagDeleted) {
    // "refs/tags/" is taken off once: a tag may itself be named "refs/3" (git allows it).
    FUZZ_CHECK(!e.tag.empty(), e.tag);
    // What intake decides from the name alone: a tag that may be fetched ends in a
    // canonical version; one git refuses is never called fetchable.
    const receive::TagVerdict v = receive::JudgeTagName("corp.example/lib", e.tag);
    if (v.kind == receive::TagVerdict::kMaybe) {
      const std::string last = e.tag.substr(e.tag.rfind('/') + 1);
      FUZZ_CHECK(semver::IsValid(last) && semver::Canonical(last) == last, e.tag);
    }
    FUZZ_CHECK(v.kind == receive::TagVerdict::kMaybe ||
                   v.kind == receive::TagVerdict::kNotVersion || !v.why.empty(),
               e.tag);
  }
  if (e.kind == Kind::kIgnored) FUZZ_CHECK(!e.reason.empty(), e.tag);
  for (const auto& u : e.urls) (void)webhook::NormalizeRepoUrl(u);
  const config::Config& cfg = Repos();
  if (const config::RepoConfig* r = webhook::MatchRepo(cfg, provider, e)) {
    FUZZ_CHECK(
        r >= cfg.repositories.data() && r < cfg.repositories.data() + cfg.repositories.size(),
        r->import_path);
  }
}

void CheckSignatures(std::string_view body) {
  const std::string header = "sha256=" + webhook::HmacSha256Hex("lib-secret", body);
  FUZZ_CHECK(webhook::VerifyGitHubSignature("lib-secret", body, header), header);
  FUZZ_CHECK(!webhook::VerifyGitHubSignature("tools-token", body, header), header);
  FUZZ_CHECK(!webhook::VerifyGitHubSignature("", body, header), header);
  std::string changed = header;
  changed.back() = changed.back() == '0' ? '1' : '0';
  FUZZ_CHECK(!webhook::VerifyGitHubSignature("lib-secret", body, changed), changed);
  // The body where the signature belongs: a header made of anything must not pass either.
  FUZZ_CHECK(!webhook::VerifyGitHubSignature("lib-secret", header, body), std::string(body));
  // Gitea's: the same digest without the prefix; GitHub's form does not pass for it.
  const std::string bare = header.substr(7);
  FUZZ_CHECK(webhook::VerifyGiteaSignature("lib-secret", body, bare), bare);
  FUZZ_CHECK(!webhook::VerifyGiteaSignature("lib-secret", body, header), header);
  FUZZ_CHECK(!webhook::VerifyGiteaSignature("", body, webhook::HmacSha256Hex("", body)), bare);
  FUZZ_CHECK(!webhook::VerifyGiteaSignature("lib-secret", header, body), std::string(body));
  FUZZ_CHECK(!webhook::VerifyGitLabToken("", body), std::string(body));
  FUZZ_CHECK(webhook::VerifyGitLabToken("tools-token", body) == (body == "tools-token"),
             std::string(body));
}

void CheckUrlDecode(std::string_view body) {
  std::string encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : body) {
    encoded += '%';
    encoded += kHex[c >> 4];
    encoded += kHex[c & 15];
  }
  auto back = webhook::UrlDecode(encoded);
  FUZZ_CHECK(back && *back == body, encoded);
  (void)webhook::UrlDecode(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto provider = (data[0] & 4)   ? webhook::Provider::kGitea
                        : (data[0] & 1) ? webhook::Provider::kGitLab
                                        : webhook::Provider::kGitHub;
  const char* type = (data[0] & 2) ? "application/x-www-form-urlencoded" : "application/json";
  const std::string_view rest = fuzz::Bytes(data + 1, size - 1);
  const std::size_t nl = rest.find('\n');
  const std::string_view event = rest.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? "" : rest.substr(nl + 1);

  CheckSignatures(body);
  CheckUrlDecode(body);
  auto doc = webhook::DecodeBody(type, body);
  if (!doc) {
    FUZZ_CHECK(!doc.message().empty(), std::string(body));
    return 0;
  }
  auto e = webhook::Parse(provider, event, *doc);
  if (e) CheckEvent(provider, *e);
  return 0;
}
