#include "modpub/webhook/event.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

namespace modpub::webhook {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool IsZeroId(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return c == '0'; });
}

// A string member, or "" when absent or not a string (null included).
std::string Str(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool Bool(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

void AddIf(std::vector<std::string>& v, std::string s) {
  if (!s.empty()) v.push_back(std::move(s));
}

// The string members `keys` of `obj` that are set, in that order.
void AddEach(std::vector<std::string>& v, const nlohmann::json& obj,
             std::initializer_list<const char*> keys) {
  for (const char* key : keys) AddIf(v, Str(obj, key));
}

Status RequireObject(const nlohmann::json& doc) {
  if (!doc.is_object()) return Fail("the payload is not a JSON object");
  return Ok();
}

// Tag events shared by both providers: classify by before/after.
void ClassifyTagRef(Event& ev, bool created, bool deleted) {
  if (deleted || IsZeroId(ev.after)) {
    ev.kind = Kind::kTagDeleted;
  } else if (created || ev.before.empty() || IsZeroId(ev.before)) {
    ev.kind = Kind::kTagCreated;
  } else {
    ev.kind = Kind::kTagMoved;
  }
}

}  // namespace

std::string_view ProviderName(Provider p) {
  switch (p) {
    case Provider::kGitHub:
      return "github";
    case Provider::kGitLab:
      return "gitlab";
    case Provider::kGitea:
      return "gitea";
  }
  return "unknown";
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

bool VerifyGitHubSignature(std::string_view secret, std::string_view body,
                           std::string_view header) {
  if (secret.empty()) return false;
  constexpr std::string_view kPrefix = "sha256=";
  if (!StartsWith(header, kPrefix)) return false;
  std::string given = Lower(header.substr(kPrefix.size()));
  std::string want = HmacSha256Hex(secret, body);
  if (given.size() != want.size()) return false;  // the length is public (64)
  return CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
}

bool VerifyGiteaSignature(std::string_view secret, std::string_view body, std::string_view header) {
  if (secret.empty()) return false;
  std::string given = Lower(header);
  std::string want = HmacSha256Hex(secret, body);
  if (given.size() != want.size()) return false;  // the length is public (64)
  return CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
}

bool VerifyGitLabToken(std::string_view secret, std::string_view token) {
  if (secret.empty()) return false;
  // Compare digests: equal length whatever the token's length, so the time taken says
  // nothing about the secret's length or content.
  std::string a = HmacSha256Hex("modpub-gitlab-token", secret);
  std::string b = HmacSha256Hex("modpub-gitlab-token", token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (i + 2 >= s.size()) {
        return Fail("bad %-escape at offset " + std::to_string(i) + " of the form body");
      }
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return Fail("bad %-escape at offset " + std::to_string(i) + " of the form body");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<nlohmann::json> DecodeBody(std::string_view content_type, std::string_view body) {
  std::string ct = Lower(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  std::string json_text;
  if (ct.empty() || ct == "application/json") {
    json_text = std::string(body);
  } else if (ct == "application/x-www-form-urlencoded") {
    bool found = false;
    std::size_t start = 0;
    while (start <= body.size()) {
      std::size_t amp = body.find('&', start);
      std::string_view field =
          body.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      if (StartsWith(field, "payload=")) {
        auto v = UrlDecode(field.substr(8));
        if (!v) return v.error();
        json_text = std::move(*v);
        found = true;
        break;
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
    if (!found) return Fail("form body without a payload= field");
  } else {
    return Fail("unsupported content type \"" + std::string(content_type) +
                "\" (application/json or application/x-www-form-urlencoded)");
  }
  auto doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Fail("the payload is not valid JSON");
  return doc;
}

namespace {

// The push event of GitHub and Gitea (the same shape): `ref`, `before`, `after` and
// `head_commit.id`, the commit itself (`after` names the tag object of an annotated tag).
// `created`/`deleted` are GitHub's flags; Gitea sends none (its `before` tells). A push of
// anything but a tag leaves `ev.reason` set.
Status ParsePush(const nlohmann::json& doc, bool created, bool deleted, Event& ev) {
  if (!doc.contains("ref") || !doc["ref"].is_string()) {
    return Fail("push payload without a \"ref\" string");
  }
  std::string ref = doc["ref"].get<std::string>();
  if (!StartsWith(ref, "refs/tags/")) {
    ev.reason = "ref " + ref + " is not a tag";
    return Ok();
  }
  ev.tag = ref.substr(10);
  if (ev.tag.empty()) return Fail("push payload's ref \"refs/tags/\" names no tag");
  ev.before = Str(doc, "before");
  ev.after = Str(doc, "after");
  if (doc.contains("head_commit")) ev.commit = Str(doc["head_commit"], "id");
  ClassifyTagRef(ev, created, deleted);
  if (ev.kind == Kind::kTagDeleted) ev.commit.clear();
  return Ok();
}

}  // namespace

Result<Event> ParseGitHub(std::string_view event_name, const nlohmann::json& doc) {
  if (auto s = RequireObject(doc); !s) return s.error();
  Event ev;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& repo = doc.contains("repository") ? doc["repository"] : empty;
  AddEach(ev.urls, repo, {"clone_url", "ssh_url", "git_url", "html_url"});
  AddIf(ev.names, Str(repo, "full_name"));

  if (event_name == "ping") {
    ev.kind = Kind::kPing;
    return ev;
  }
  if (ev.urls.empty() && ev.names.empty()) {
    return Fail("the payload names no repository (repository.clone_url / full_name)");
  }
  if (event_name == "push") {
    if (auto s = ParsePush(doc, Bool(doc, "created"), Bool(doc, "deleted"), ev); !s) {
      return s.error();
    }
    return ev;
  }
  if (event_name == "create") {
    std::string ref_type = Str(doc, "ref_type");
    std::string ref = Str(doc, "ref");
    if (ref.empty()) return Fail("create payload without a \"ref\" string");
    if (ref_type != "tag") {
      ev.reason = "created " + (ref_type.empty() ? std::string("ref") : ref_type) + " " + ref +
                  " is not a tag";
      return ev;
    }
    ev.tag = ref;
    ev.kind = Kind::kTagCreated;
    return ev;
  }
  ev.reason = "event \"" + std::string(event_name) + "\" is not handled (ping, push, create)";
  return ev;
}

Result<Event> ParseGitLab(std::string_view event_name, const nlohmann::json& doc) {
  if (auto s = RequireObject(doc); !s) return s.error();
  Event ev;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& project = doc.contains("project") ? doc["project"] : empty;
  const nlohmann::json& repo = doc.contains("repository") ? doc["repository"] : empty;
  AddEach(ev.urls, project, {"git_http_url", "git_ssh_url", "web_url"});
  AddEach(ev.urls, repo, {"git_http_url", "git_ssh_url", "url", "homepage"});
  AddIf(ev.names, Str(project, "path_with_namespace"));

  std::string kind = Str(doc, "object_kind");
  if (event_name != "Tag Push Hook" || kind != "tag_push") {
    ev.reason = "event \"" + std::string(event_name) + "\" (object_kind \"" + kind +
                "\") is not handled (Tag Push Hook)";
    return ev;
  }
  if (ev.urls.empty() && ev.names.empty()) {
    return Fail("the payload names no project (project.git_http_url / path_with_namespace)");
  }
  std::string ref = Str(doc, "ref");
  if (!StartsWith(ref, "refs/tags/")) return Fail("tag_push payload without a refs/tags/ ref");
  ev.tag = ref.substr(10);
  if (ev.tag.empty()) return Fail("tag_push payload's ref \"refs/tags/\" names no tag");
  ev.before = Str(doc, "before");
  ev.after = Str(doc, "after");
  ev.commit = Str(doc, "checkout_sha");
  ClassifyTagRef(ev, false, false);
  if (ev.kind == Kind::kTagDeleted) ev.commit.clear();
  return ev;
}

Result<Event> ParseGitea(std::string_view event_name, const nlohmann::json& doc) {
  if (auto s = RequireObject(doc); !s) return s.error();
  Event ev;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& repo = doc.contains("repository") ? doc["repository"] : empty;
  // Not `original_url`: that is where a mirror on the server pulls from, another repository.
  AddEach(ev.urls, repo, {"clone_url", "ssh_url", "html_url"});
  AddIf(ev.names, Str(repo, "full_name"));
  if (ev.urls.empty() && ev.names.empty()) {
    return Fail("the payload names no repository (repository.clone_url / full_name)");
  }
  if (event_name == "push") {
    if (auto s = ParsePush(doc, false, false, ev); !s) return s.error();
    return ev;
  }
  if (event_name == "create" || event_name == "delete") {
    // `ref` is the short name ("v1.2.3"), as GitHub's: taken as it is, since a tag may
    // itself be named "refs/tags/x".
    std::string ref_type = Str(doc, "ref_type");
    std::string ref = Str(doc, "ref");
    if (ref.empty()) return Fail(std::string(event_name) + " payload without a \"ref\" string");
    if (ref_type != "tag") {
      ev.reason = (event_name == "create" ? "created " : "deleted ") +
                  (ref_type.empty() ? std::string("ref") : ref_type) + " " + ref + " is not a tag";
      return ev;
    }
    ev.tag = ref;
    ev.kind = event_name == "create" ? Kind::kTagCreated : Kind::kTagDeleted;
    return ev;
  }
  ev.reason = "event \"" + std::string(event_name) + "\" is not handled (push, create, delete)";
  return ev;
}

Result<Event> Parse(Provider p, std::string_view event_name, const nlohmann::json& doc) {
  switch (p) {
    case Provider::kGitHub:
      return ParseGitHub(event_name, doc);
    case Provider::kGitLab:
      return ParseGitLab(event_name, doc);
    case Provider::kGitea:
      return ParseGitea(event_name, doc);
  }
  return Fail("unknown webhook provider");
}

std::string NormalizeRepoUrl(std::string_view url) {
  std::string s(url);
  std::string host, path;
  auto scheme = s.find("://");
  if (scheme != std::string::npos) {
    std::string rest = s.substr(scheme + 3);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    path = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
    if (!authority.empty() && authority.front() == '[') {
      auto close = authority.find(']');
      host = authority.substr(0, close == std::string::npos ? authority.size() : close + 1);
    } else {
      host = authority.substr(0, authority.find(':'));
    }
  } else if (auto colon = s.find(':');
             colon != std::string::npos && s.find('/') > colon) {  // scp-like user@host:path
    host = s.substr(0, colon);
    if (auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
    path = s.substr(colon + 1);
  } else {
    path = s;
  }
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0)
    path.resize(path.size() - 4);
  return Lower(host + "/" + path);
}

const config::RepoConfig* MatchRepo(const config::Config& cfg, Provider provider,
                                    const Event& event) {
  std::vector<std::string> urls;
  for (const auto& u : event.urls) urls.push_back(NormalizeRepoUrl(u));
  auto usable = [&](const config::RepoConfig& r) {
    if (r.remote_url.empty()) return false;
    return r.provider.empty() || r.provider == "generic" || r.provider == ProviderName(provider);
  };
  for (const auto& r : cfg.repositories) {
    if (!usable(r)) continue;
    std::string mine = NormalizeRepoUrl(r.remote_url);
    if (std::find(urls.begin(), urls.end(), mine) != urls.end()) return &r;
  }
  for (const auto& r : cfg.repositories) {
    if (!usable(r)) continue;
    std::string mine = NormalizeRepoUrl(r.remote_url);
    std::string remote_path = mine.substr(mine.find('/') + 1);
    for (const auto& n : event.names) {
      if (Lower(n) == remote_path) return &r;
    }
  }
  return nullptr;
}

}  // namespace modpub::webhook
