// See jwt_verifier.hpp.
#include "modpub/http/jwt_verifier.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace modpub::http {
namespace {

// Three dot-separated parts, the first two non-empty. The signature may be empty: an
// unsigned token ("alg": "none") is a JWT to refuse with its reason, not an opaque token.
bool LooksLikeJwt(std::string_view token) {
  const auto a = token.find('.');
  if (a == std::string_view::npos || a == 0) return false;
  const auto b = token.find('.', a + 1);
  if (b == std::string_view::npos || b == a + 1) return false;
  return token.find('.', b + 1) == std::string_view::npos;
}

Result<std::string> ReadSmallFile(const std::string& file, std::size_t limit) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(file + ": cannot read the JWKS file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > limit) return Fail(file + ": larger than " + std::to_string(limit) + " bytes");
  return text;
}

// An https URL, or http to a loopback host (tests, a provider on the same machine).
bool AcceptableUrl(const std::string& url) {
  if (url.starts_with("https://")) return true;
  for (const char* p : {"http://127.0.0.1", "http://[::1]", "http://localhost"}) {
    if (url.starts_with(p)) {
      const char next = url.size() > std::strlen(p) ? url[std::strlen(p)] : '/';
      if (next == '/' || next == ':') return true;
    }
  }
  return false;
}

Result<jwt::Policy> PolicyOf(const OidcSettings& s) {
  jwt::Policy p;
  p.issuer = s.issuer;
  p.audiences = s.audiences;
  p.clock_skew = std::chrono::seconds(s.clock_skew_s);
  p.algorithms.clear();
  for (const auto& name : s.algorithms) {
    auto alg = jwt::AlgFromName(name);
    if (!alg) return Fail("[oidc] algorithms: \"" + name + "\" is not RS256, ES256 or EdDSA");
    p.algorithms.push_back(*alg);
  }
  if (auto st = p.Check(); !st) return Fail("[oidc]: " + st.message());
  return p;
}

// httplib's error, in words an operator can act on.
std::string FetchError(httplib::Error e, const std::string& ca_file) {
  const std::string cas = ca_file.empty() ? "the system's CAs" : "ca_file " + ca_file;
  switch (e) {
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate does not verify against " + cas +
             " (or names another host)";
    default:
      return httplib::to_string(e);
  }
}

}  // namespace

JwtVerifier::Fetch JwtVerifier::HttpsFetch(std::string ca_file) {
  return [ca_file](const std::string& url) -> Result<std::string> {
    if (!AcceptableUrl(url)) return Fail(url + ": keys are fetched over https only");
    const auto scheme_end = url.find("://") + 3;
    const auto path_at = url.find('/', scheme_end);
    const std::string origin = url.substr(0, path_at);
    const std::string path = path_at == std::string::npos ? "/" : url.substr(path_at);
    httplib::Client client(origin);
    client.enable_server_certificate_verification(true);
    if (!ca_file.empty()) client.set_ca_cert_path(ca_file.c_str());
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(10, 0);
    std::string body;
    bool too_large = false;
    auto res = client.Get(path, [&](const char* data, std::size_t n) {
      if (body.size() + n > kMaxDocumentBytes) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large) return Fail("GET " + url + ": larger than 1 MiB");
    if (!res) return Fail("GET " + url + ": " + FetchError(res.error(), ca_file));
    if (res->status != 200) return Fail("GET " + url + ": HTTP " + std::to_string(res->status));
    return body;
  };
}

Result<std::shared_ptr<JwtVerifier>> JwtVerifier::Create(const OidcSettings& settings, Fetch fetch,
                                                         Now now) {
  auto policy = PolicyOf(settings);
  if (!policy) return policy.error();
  if (!fetch) fetch = HttpsFetch(settings.ca_file);
  std::shared_ptr<JwtVerifier> v(
      new JwtVerifier(settings, std::move(*policy), std::move(fetch), std::move(now)));
  std::lock_guard lock(v->mu_);
  if (auto st = v->Load(); !st) {
    if (!settings.jwks_file.empty()) return st.error();
    spdlog::error("auth: [oidc] keys of {} not fetched: {}; tokens are refused until they are",
                  settings.issuer, st.message());
  }
  // The minute between fetches counts from the first one a token asked for: a rotation
  // just after a (re)start is picked up at once.
  v->last_fetch_.reset();
  return v;
}

Result<std::size_t> JwtVerifier::Probe(const OidcSettings& settings, Fetch fetch) {
  auto policy = PolicyOf(settings);
  if (!policy) return policy.error();
  if (!fetch) fetch = HttpsFetch(settings.ca_file);
  JwtVerifier v(settings, std::move(*policy), std::move(fetch), jwt::Clock::now);
  std::lock_guard lock(v.mu_);
  if (auto st = v.Load(); !st) return st.error();
  return v.keys_->size();
}

Status JwtVerifier::Load() {
  if (settings_.jwks_file.empty()) return Refresh();
  auto text = ReadSmallFile(settings_.jwks_file, kMaxDocumentBytes);
  if (!text) return text.error();
  auto keys = jwt::KeySet::Parse(*text);
  if (!keys) return Fail(settings_.jwks_file + ": " + keys.message());
  keys_ = std::make_shared<const jwt::KeySet>(std::move(*keys));
  return Ok();
}

Result<std::string> JwtVerifier::JwksUri() {
  if (!settings_.jwks_uri.empty()) return settings_.jwks_uri;
  std::string issuer = settings_.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  const std::string url = issuer + "/.well-known/openid-configuration";
  auto doc = fetch_(url);
  if (!doc) return doc.error();
  auto j = nlohmann::json::parse(*doc, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("jwks_uri") || !j["jwks_uri"].is_string()) {
    return Fail(url + ": no \"jwks_uri\" string in the discovery document");
  }
  const std::string uri = j["jwks_uri"].get<std::string>();
  if (!AcceptableUrl(uri)) return Fail(url + ": jwks_uri \"" + uri + "\" is not https");
  return uri;
}

Status JwtVerifier::Refresh() {
  last_fetch_ = now_();  // failures count too: a provider that is down is asked once a minute
  ++fetches_;
  auto uri = JwksUri();
  if (!uri) return uri.error();
  auto body = fetch_(*uri);
  if (!body) return body.error();
  auto fresh = jwt::KeySet::Parse(*body);
  if (!fresh) return Fail(*uri + ": " + fresh.message());
  keys_ = std::make_shared<const jwt::KeySet>(
      keys_ ? jwt::KeySet::Merge(*keys_, *fresh, *last_fetch_, kKeepRetired) : std::move(*fresh));
  spdlog::info("auth: [oidc] {} key(s) from {}", keys_->size(), *uri);
  return Ok();
}

std::optional<Result<Identity>> JwtVerifier::Verify(std::string_view token) {
  if (!LooksLikeJwt(token)) return std::nullopt;
  const bool remote = settings_.jwks_file.empty();
  auto may_refresh = [&] {
    return remote && (!last_fetch_ || now_() - *last_fetch_ >= kMinRefresh);
  };
  std::shared_ptr<const jwt::KeySet> keys;
  {
    std::lock_guard lock(mu_);
    if (!keys_ && may_refresh()) (void)Refresh();
    keys = keys_;
  }
  if (!keys) return Result<Identity>(Fail("no keys from the identity provider yet"));
  auto v = jwt::Verify(token, *keys, policy_, now_());
  if (!v && v.reason() == jwt::Reason::kUnknownKid) {
    std::lock_guard lock(mu_);
    if (keys_ == keys && may_refresh()) {  // a rotation: ask the provider once
      if (auto st = Refresh(); !st) spdlog::warn("auth: [oidc] key refresh: {}", st.message());
    }
    keys = keys_;
    if (keys) v = jwt::Verify(token, *keys, policy_, now_());
  }
  if (!v) {
    return Result<Identity>(Fail(std::string(jwt::ReasonName(v.reason())) + ": " + v.message()));
  }
  auto roles = jwt::StringsAt(v->claims, settings_.roles_claim);
  if (!roles) return Result<Identity>(Fail("roles claim: " + roles.message()));
  return Result<Identity>(Identity{v->subject, std::move(*roles)});
}

std::size_t JwtVerifier::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Status AttachJwtVerifier(Auth& auth) {
  auto oidc = auth.oidc();
  if (!oidc) {
    auth.SetBearerVerifier(nullptr);
    return Ok();
  }
  auto v = JwtVerifier::Create(*oidc);
  if (!v) return v.error();
  auth.SetBearerVerifier(std::move(*v));
  return Ok();
}

}  // namespace modpub::http
