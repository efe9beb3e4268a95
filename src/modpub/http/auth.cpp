#include "modpub/http/auth.hpp"

#include <arpa/inet.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <toml++/toml.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/sign/sign.hpp"

namespace modpub::http {

struct Auth::Cache {
  std::mutex mu;
  std::set<std::string> verified;  // hex sha256 of "user\0password" that passed crypt
  std::mutex warn_mu;
  // When each untrusted peer sending proxy headers was last warned about.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> warned;
};

// An authenticated principal with what it may do, or the 401 that refused it.
struct Auth::Who {
  std::optional<Decision> refused;
  std::string kind;  // "user", "token", "identity", "proxy user": for the rules' names
  std::string name;
  std::vector<std::string> allow;
  std::vector<std::string> roles;  // each defined in the rules
  bool admin = false;
};

namespace {

using Verdict = Auth::Verdict;

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// For logs: names and paths come from requests; control characters could forge lines.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

Auth::Who Refused(std::string reason, std::string rule) {
  Auth::Who w;
  w.refused = Auth::Decision{Verdict::kUnauthenticated, "", std::move(reason), std::move(rule)};
  return w;
}

Status CheckHash(const std::string& user, const std::string& hash, const std::string& origin) {
  int s = crypt_checksalt(hash.c_str());
  if (s == CRYPT_SALT_OK) return Ok();
  const char* why = s == CRYPT_SALT_METHOD_LEGACY     ? "a legacy (weak) method"
                    : s == CRYPT_SALT_METHOD_DISABLED ? "a method disabled in libcrypt"
                                                      : "not a crypt hash";
  return Fail(origin + ": password hash of user " + user + " is " + why +
              "; use bcrypt ($2b$) or yescrypt ($y$), e.g. from `modpub auth-hash`");
}

// "file:line" of a node, for load errors.
std::string Where(const std::string& origin, const toml::node& n) {
  return origin + ":" + std::to_string(n.source().begin.line);
}

Status OnlyKeys(const toml::table& t, std::initializer_list<std::string_view> keys,
                const std::string& where, std::string_view what) {
  for (const auto& [k, v] : t) {
    if (std::find(keys.begin(), keys.end(), k.str()) != keys.end()) continue;
    std::string known;
    for (auto key : keys) known += (known.empty() ? "" : ", ") + std::string(key);
    return Fail(where + ": unknown key `" + std::string(k.str()) + "` in " + std::string(what) +
                " (known: " + known + ")");
  }
  return Ok();
}

// An optional list of strings under `key`.
Result<std::vector<std::string>> Strings(const toml::table& t, std::string_view key,
                                         const std::string& where) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const auto* arr = n->as_array();
  if (!arr) return Fail(where + ": `" + std::string(key) + "` must be a list of strings");
  for (const auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s) return Fail(where + ": `" + std::string(key) + "` must hold strings");
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<std::string>> Allow(const toml::table& t, const std::string& where) {
  auto allow = Strings(t, "allow", where);
  if (!allow) return allow.error();
  for (auto& p : *allow) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
  }
  return allow;
}

Result<bool> Flag(const toml::table& t, std::string_view key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  auto b = n->value<bool>();
  if (!b) return Fail(where + ": `" + std::string(key) + "` must be true or false");
  return *b;
}

// A role name must survive the trip through a comma-separated header.
bool ValidRoleName(std::string_view s) {
  if (Trim(s) != s || s.empty()) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == ',';
  });
}

Result<std::map<std::string, Auth::Role, std::less<>>> ParseRoles(const toml::table& root,
                                                                  const std::string& origin) {
  std::map<std::string, Auth::Role, std::less<>> roles;
  const toml::node* n = root.get("role");
  if (!n) return roles;
  const auto* arr = n->as_array();
  if (!arr) return Fail(Where(origin, *n) + ": `role` must be [[role]] tables");
  for (const auto& e : *arr) {
    const auto* t = e.as_table();
    const std::string where = Where(origin, e);
    if (!t) return Fail(where + ": [[role]] entries must be tables");
    if (auto st = OnlyKeys(*t, {"name", "allow", "admin"}, where, "[[role]]"); !st)
      return st.error();
    auto name = (*t)["name"].value<std::string>();
    if (!name || !ValidRoleName(*name)) {
      return Fail(where +
                  ": each [[role]] needs a `name` (no comma, no control characters, "
                  "no leading or trailing space)");
    }
    auto allow = Allow(*t, where + ": role " + *name);
    if (!allow) return allow.error();
    auto admin = Flag(*t, "admin", where + ": role " + *name);
    if (!admin) return admin.error();
    if (allow->empty() && !*admin) {
      return Fail(where + ": role " + *name + " grants nothing: give it `allow` or `admin = true`");
    }
    if (roles.count(*name)) return Fail(where + ": role " + *name + " is defined twice");
    roles[*name] = Auth::Role{*name, std::move(*allow), *admin};
  }
  return roles;
}

// Rights shared by [[user]] and [[token]]: allow, roles (each defined), admin.
Status ParseRights(const toml::table& t,
                   const std::map<std::string, Auth::Role, std::less<>>& roles,
                   const std::string& where, Auth::Principal& p) {
  auto allow = Allow(t, where);
  if (!allow) return allow.error();
  auto names = Strings(t, "roles", where);
  if (!names) return names.error();
  auto admin = Flag(t, "admin", where);
  if (!admin) return admin.error();
  for (const auto& r : *names) {
    if (!roles.count(r)) {
      return Fail(where + ": role \"" + Printable(r) +
                  "\" is not defined; add a [[role]] with that name or remove it");
    }
  }
  if (allow->empty() && names->empty() && !*admin) {
    return Fail(where +
                ": `allow` (a list of module path prefixes, or [\"*\"]) or `roles` is "
                "required");
  }
  p.allow = std::move(*allow);
  p.roles = std::move(*names);
  p.admin = *admin;
  return Ok();
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  static const auto v4 = Cidr::Parse("127.0.0.0/8");
  static const auto v6 = Cidr::Parse("::1");
  return v4->Contains(host) || v6->Contains(host);
}

// https://, or http:// to a loopback host (a test identity provider on this machine).
Status CheckUrl(std::string_view url, const std::string& where, std::string_view key) {
  if (url.starts_with("https://") && url.size() > 8) return Ok();
  if (url.starts_with("http://")) {
    std::string_view rest = url.substr(7);
    rest = rest.substr(0, rest.find('/'));
    if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
    std::string_view host = rest;
    if (rest.starts_with('[')) {
      host = rest.substr(0, rest.find(']') + 1);
    } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
      host = rest.substr(0, colon);
    }
    if (IsLoopbackHost(host)) return Ok();
  }
  return Fail(where + ": `" + std::string(key) + "` must be an https:// URL (http:// only to a " +
              "loopback host), not \"" + Printable(url) + "\"");
}

Result<std::optional<OidcSettings>> ParseOidc(const toml::table& root, const std::string& origin) {
  const toml::node* n = root.get("oidc");
  if (!n) return std::optional<OidcSettings>{};
  const std::string where = Where(origin, *n) + ": [oidc]";
  const auto* t = n->as_table();
  if (!t) return Fail(where + " must be a table");
  if (auto st = OnlyKeys(*t,
                         {"issuer", "audience", "jwks_uri", "jwks_file", "roles_claim",
                          "clock_skew_s", "algorithms", "ca_file"},
                         where, "[oidc]");
      !st) {
    return st.error();
  }
  OidcSettings o;
  o.issuer = (*t)["issuer"].value_or(std::string());
  if (o.issuer.empty()) return Fail(where + ": `issuer` (the tokens' `iss`) is required");
  if (auto st = CheckUrl(o.issuer, where, "issuer"); !st) return st.error();
  if (auto one = (*t)["audience"].value<std::string>()) {
    o.audiences = {*one};
  } else if (auto many = Strings(*t, "audience", where); many) {
    o.audiences = std::move(*many);
  } else {
    return many.error();
  }
  if (o.audiences.empty() || std::count(o.audiences.begin(), o.audiences.end(), "")) {
    return Fail(where +
                ": `audience` (the `aud` modpub's tokens carry: a string or a list) is "
                "required");
  }
  o.jwks_uri = (*t)["jwks_uri"].value_or(std::string());
  o.jwks_file = (*t)["jwks_file"].value_or(std::string());
  if (!o.jwks_uri.empty() && !o.jwks_file.empty()) {
    return Fail(where +
                ": give `jwks_uri` or `jwks_file`, not both (neither: discovery from "
                "the issuer)");
  }
  if (!o.jwks_uri.empty()) {
    if (auto st = CheckUrl(o.jwks_uri, where, "jwks_uri"); !st) return st.error();
  }
  o.ca_file = (*t)["ca_file"].value_or(std::string());
  if (!o.ca_file.empty() && !o.jwks_file.empty()) {
    return Fail(where +
                ": `ca_file` is for fetching keys over HTTPS; with `jwks_file` nothing "
                "is fetched (drop one)");
  }
  if (!o.ca_file.empty() && !std::filesystem::is_regular_file(o.ca_file)) {
    return Fail(where + ": `ca_file` \"" + Printable(o.ca_file) +
                "\" is not a readable file (PEM certificates of the provider's CA)");
  }
  o.roles_claim = (*t)["roles_claim"].value_or(std::string("groups"));
  if (o.roles_claim.empty()) return Fail(where + ": `roles_claim` must name a claim");
  if (const toml::node* skew = t->get("clock_skew_s")) {
    auto v = skew->value<int64_t>();
    if (!v || *v < 0 || *v > 600) return Fail(where + ": `clock_skew_s` must be 0..600 seconds");
    o.clock_skew_s = static_cast<int>(*v);
  }
  if (t->get("algorithms")) {
    auto algs = Strings(*t, "algorithms", where);
    if (!algs) return algs.error();
    static const std::set<std::string, std::less<>> kAsymmetric = {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    for (const auto& a : *algs) {
      if (!kAsymmetric.count(a)) {
        return Fail(where + ": algorithm \"" + Printable(a) +
                    "\" is not accepted; use asymmetric ones (RS256, PS256, ES256, EdDSA, ...)");
      }
    }
    if (algs->empty()) return Fail(where + ": `algorithms` must name at least one");
    o.algorithms = std::move(*algs);
  }
  return std::optional<OidcSettings>(std::move(o));
}

// An HTTP header name: RFC 9110 token characters.
bool ValidHeaderName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
  });
}

Result<std::optional<Auth::ProxyHeaders>> ParseProxyHeaders(const toml::table& root,
                                                            const std::string& origin) {
  const toml::node* n = root.get("proxy_headers");
  if (!n) return std::optional<Auth::ProxyHeaders>{};
  const std::string where = Where(origin, *n) + ": [proxy_headers]";
  const auto* t = n->as_table();
  if (!t) return Fail(where + " must be a table");
  if (auto st = OnlyKeys(*t, {"trusted", "user", "groups"}, where, "[proxy_headers]"); !st) {
    return st.error();
  }
  Auth::ProxyHeaders h;
  auto trusted = Strings(*t, "trusted", where);
  if (!trusted) return trusted.error();
  if (trusted->empty()) {
    return Fail(where +
                ": `trusted` must list the front end's addresses (\"127.0.0.1\", "
                "\"10.0.0.0/8\"); to turn header authentication off, remove the table");
  }
  for (const auto& a : *trusted) {
    auto c = Cidr::Parse(a);
    if (!c) return Fail(where + ": " + c.message());
    h.trusted.push_back(*c);
  }
  h.user = (*t)["user"].value_or(h.user);
  h.groups = (*t)["groups"].value_or(h.groups);
  for (const auto* name : {&h.user, &h.groups}) {
    if (!ValidHeaderName(*name) || HeaderNameEquals(*name, "Authorization")) {
      return Fail(where + ": \"" + Printable(*name) + "\" is no usable header name");
    }
  }
  if (HeaderNameEquals(h.user, h.groups)) {
    return Fail(where + ": `user` and `groups` must be different headers");
  }
  return std::optional<Auth::ProxyHeaders>(std::move(h));
}

Result<std::vector<Auth::Principal>> ParseUsers(const toml::table& root, const Auth::Rules& r,
                                                const std::string& origin) {
  std::vector<Auth::Principal> users;
  const auto* arr = root["user"].as_array();
  if (!arr) return users;
  for (const auto& e : *arr) {
    const auto* t = e.as_table();
    const std::string where = Where(origin, e);
    if (!t) return Fail(where + ": [[user]] entries must be tables");
    if (auto st = OnlyKeys(*t, {"name", "password", "allow", "roles", "admin"}, where, "[[user]]");
        !st) {
      return st.error();
    }
    auto name = (*t)["name"].value<std::string>();
    auto pw = (*t)["password"].value<std::string>();
    if (!name || !pw || name->empty() || name->find(':') != std::string::npos) {
      return Fail(where + ": each [[user]] needs a `name` (without ':') and a `password` hash");
    }
    if (auto st = CheckHash(*name, *pw, where); !st) return st.error();
    Auth::Principal p{*name, *pw, {}, {}, false};
    if (auto st = ParseRights(*t, r.roles, where + ": user " + *name, p); !st) return st.error();
    users.push_back(std::move(p));
  }
  return users;
}

Result<std::vector<Auth::Principal>> ParseTokens(const toml::table& root, const Auth::Rules& r,
                                                 const std::string& origin) {
  std::vector<Auth::Principal> tokens;
  const auto* arr = root["token"].as_array();
  if (!arr) return tokens;
  for (const auto& e : *arr) {
    const auto* t = e.as_table();
    const std::string where = Where(origin, e);
    if (!t) return Fail(where + ": [[token]] entries must be tables");
    if (auto st = OnlyKeys(*t, {"name", "sha256", "allow", "roles", "admin"}, where, "[[token]]");
        !st) {
      return st.error();
    }
    auto name = (*t)["name"].value<std::string>();
    auto sha = (*t)["sha256"].value<std::string>();
    if (!name || name->empty() || !sha || sha->size() != 64 ||
        sha->find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Fail(where +
                  ": each [[token]] needs a `name` and `sha256` (64 lower-case hex digits)");
    }
    Auth::Principal p{*name, *sha, {}, {}, false};
    if (auto st = ParseRights(*t, r.roles, where + ": token " + *name, p); !st) return st.error();
    tokens.push_back(std::move(p));
  }
  return tokens;
}

}  // namespace

// ---- Cidr ----

namespace {
// Parses an IPv4 or IPv6 address into 16 bytes; an IPv4-mapped IPv6 one becomes IPv4.
bool ParseAddress(std::string_view text, bool& v6, unsigned char out[16]) {
  std::string s(text.substr(0, text.find('%')));  // a link-local zone ("fe80::1%eth0")
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) != 1) return false;
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out, kMapped, 12) == 0) {
    std::memmove(out, out + 12, 4);
    std::memset(out + 4, 0, 12);
    v6 = false;
    return true;
  }
  v6 = true;
  return true;
}

bool PrefixEqual(const unsigned char* a, const unsigned char* b, int bits) {
  int whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (bits % 8 == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - bits % 8));
  return (a[whole] & mask) == (b[whole] & mask);
}
}  // namespace

Result<Cidr> Cidr::Parse(std::string_view text) {
  const std::string shown = "\"" + Printable(text) + "\"";
  Cidr c;
  auto slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  if (addr.find('%') != std::string_view::npos || !ParseAddress(addr, c.v6, c.addr)) {
    return Fail(shown + " is no IPv4 or IPv6 address (or address/prefix-length block)");
  }
  // "::ffff:10.0.0.0/104" would become IPv4 with a prefix length beyond 32: refuse it.
  const bool mapped = !c.v6 && addr.find(':') != std::string_view::npos;
  const int max = c.v6 ? 128 : 32;
  c.bits = max;
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    if (mapped || len.empty() || len.size() > 3 ||
        len.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(len)) > max) {
      return Fail(shown + ": the prefix length must be 0.." + std::to_string(max));
    }
    c.bits = std::stoi(std::string(len));
  }
  unsigned char host[16];
  std::memcpy(host, c.addr, 16);
  // Bits beyond the prefix: the block is not what it looks like ("10.1.0.0/8").
  for (int i = c.bits; i < max; ++i) host[i / 8] &= static_cast<unsigned char>(~(0x80 >> (i % 8)));
  if (std::memcmp(host, c.addr, 16) != 0) {
    return Fail(shown + " has bits set beyond its /" + std::to_string(c.bits) +
                " prefix; write the block's first address");
  }
  return c;
}

bool Cidr::Contains(std::string_view address) const {
  bool v6_ = false;
  unsigned char a[16];
  if (!ParseAddress(address, v6_, a) || v6_ != v6) return false;
  return PrefixEqual(a, addr, bits);
}

// ---- Auth ----

Auth::Auth(Rules rules)
    : rules_(std::make_shared<const Rules>(std::move(rules))), cache_(std::make_unique<Cache>()) {}

Auth::Auth(std::string realm, std::vector<Principal> users, std::vector<Principal> tokens)
    : Auth(Rules{std::move(realm), std::move(users), std::move(tokens), {}, {}, {}}) {}

Auth::~Auth() = default;

bool Auth::Covers(std::string_view prefix, std::string_view path) {
  if (prefix == "*") return true;
  if (prefix.empty() || !path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

Result<std::shared_ptr<Auth>> Auth::FromToml(std::string_view text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e;
    return Fail(origin + ": " + os.str());
  }
  if (auto st = OnlyKeys(root, {"realm", "role", "user", "token", "oidc", "proxy_headers"}, origin,
                         "the auth file");
      !st) {
    return st.error();
  }
  Rules r;
  r.realm = root["realm"].value_or(std::string("modpub"));
  auto roles = ParseRoles(root, origin);
  if (!roles) return roles.error();
  r.roles = std::move(*roles);
  auto users = ParseUsers(root, r, origin);
  if (!users) return users.error();
  r.users = std::move(*users);
  auto tokens = ParseTokens(root, r, origin);
  if (!tokens) return tokens.error();
  r.tokens = std::move(*tokens);
  auto oidc = ParseOidc(root, origin);
  if (!oidc) return oidc.error();
  r.oidc = std::move(*oidc);
  auto headers = ParseProxyHeaders(root, origin);
  if (!headers) return headers.error();
  r.proxy_headers = std::move(*headers);
  if (r.users.empty() && r.tokens.empty() && !r.oidc && !r.proxy_headers) {
    return Fail(origin +
                ": no [[user]], [[token]], [oidc] or [proxy_headers]: nobody could "
                "read anything");
  }
  return std::make_shared<Auth>(std::move(r));
}

std::shared_ptr<const Auth::Rules> Auth::rules() const {
  std::shared_lock lock(mu_);
  return rules_;
}

std::string Auth::realm() const { return rules()->realm; }

void Auth::Challenge(const Request& req, Response& res) const {
  const auto r = rules();
  std::string realm = "realm=\"";
  for (char c : r->realm) {
    if (c == '"' || c == '\\') realm += '\\';
    realm += c;
  }
  realm += '"';
  res.set_header("WWW-Authenticate", "Basic " + realm);
  bool verifier;
  {
    std::shared_lock lock(mu_);
    verifier = verifier_ != nullptr;
  }
  if (!verifier && r->tokens.empty()) return;
  // RFC 6750: a bearer token that was sent and refused is an invalid_token.
  const std::string authorization = req.get_header_value("Authorization");
  const bool sent = authorization.size() > 7 && (authorization.compare(0, 7, "Bearer ") == 0 ||
                                                 authorization.compare(0, 7, "bearer ") == 0);
  res.set_header("WWW-Authenticate", "Bearer " + realm + (sent ? ", error=\"invalid_token\"" : ""));
}

std::optional<OidcSettings> Auth::oidc() const { return rules()->oidc; }

void Auth::SetBearerVerifier(std::shared_ptr<BearerVerifier> verifier) {
  std::unique_lock lock(mu_);
  verifier_ = std::move(verifier);
}

Result<std::size_t> Auth::Reload() {
  if (file_.empty()) return Fail("these credentials were not read from a file");
  auto fresh = Load(file_);
  if (!fresh) return fresh.error();
  auto r = (*fresh)->rules();
  std::unique_lock lock(mu_);
  rules_ = r;
  return r->users.size() + r->tokens.size();
}

Result<std::shared_ptr<Auth>> Auth::Load(const std::filesystem::path& file) {
  auto auth = LoadFile(file);
  if (auth) (*auth)->file_ = file;
  return auth;
}

Result<std::shared_ptr<Auth>> Auth::LoadFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Fail(file.string() + ": cannot read the auth file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (file.extension() == ".toml") return FromToml(text, file.string());
  // htpasswd style: user:hash per line, '#' comments.
  std::vector<Principal> users;
  std::istringstream lines(text);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      return Fail(file.string() + ":" + std::to_string(n) + ": expected user:hash");
    }
    Principal p{line.substr(0, colon), line.substr(colon + 1), {"*"}, {}, false};
    if (auto st = CheckHash(p.name, p.secret, file.string() + ":" + std::to_string(n)); !st) {
      return st.error();
    }
    users.push_back(std::move(p));
  }
  if (users.empty()) return Fail(file.string() + ": no users");
  return std::make_shared<Auth>("modpub", std::move(users), std::vector<Principal>{});
}

// ---- Decisions ----

namespace {

// The roles of an identity that the rules define; the others are an identity provider's
// business, not ours.
std::vector<std::string> KnownRoles(const Auth::Rules& r, const std::vector<std::string>& roles,
                                    std::string_view who) {
  std::vector<std::string> out;
  for (const auto& role : roles) {
    if (r.roles.count(role)) {
      out.push_back(role);
    } else {
      spdlog::debug("auth: {} has role \"{}\", which no [[role]] defines; ignored", Printable(who),
                    Printable(role));
    }
  }
  return out;
}

// The rule that lets `w` read `path`, or "" when none does.
std::string Grant(const Auth::Rules& r, const Auth::Who& w, std::string_view path) {
  for (const auto& p : w.allow) {
    if (Auth::Covers(p, path)) return w.kind + " " + w.name + " allows " + p;
  }
  for (const auto& name : w.roles) {
    auto it = r.roles.find(name);
    if (it == r.roles.end()) continue;
    for (const auto& p : it->second.allow) {
      if (Auth::Covers(p, path)) return "role " + name + " allows " + p;
    }
  }
  return "";
}

// The rule that makes `w` an admin, or "".
std::string AdminGrant(const Auth::Rules& r, const Auth::Who& w) {
  if (w.admin) return w.kind + " " + w.name + " is an admin";
  for (const auto& name : w.roles) {
    auto it = r.roles.find(name);
    if (it != r.roles.end() && it->second.admin) return "role " + name + " grants admin";
  }
  return "";
}

const char* VerdictName(Verdict v) {
  return v == Verdict::kAllow       ? "allowed"
         : v == Verdict::kForbidden ? "forbidden"
                                    : "unauthenticated";
}

std::string WhoForLog(const Auth::Decision& d) {
  return d.who.empty() ? std::string("anonymous") : Printable(d.who);
}

}  // namespace

Auth::Who Auth::FromPrincipal(const Principal& p, std::string kind) {
  Who w;
  w.kind = std::move(kind);
  w.name = p.name;
  w.allow = p.allow;
  w.roles = p.roles;
  w.admin = p.admin;
  return w;
}

void Auth::WarnUntrusted(const std::string& peer) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard g(cache_->warn_mu);
    auto it = cache_->warned.find(peer);
    if (it != cache_->warned.end() && now - it->second < std::chrono::minutes(1)) return;
    if (cache_->warned.size() > 10000) cache_->warned.clear();
    cache_->warned[peer] = now;
  }
  spdlog::warn(
      "auth: ignored proxy user/group headers from {}, which [proxy_headers] `trusted` does not "
      "list (at most one warning per address and minute)",
      Printable(peer));
}

std::optional<Auth::Who> Auth::FromHeaders(const Rules& r, const Request& req) {
  const ProxyHeaders& h = *r.proxy_headers;
  const bool trusted = std::any_of(h.trusted.begin(), h.trusted.end(),
                                   [&](const Cidr& c) { return c.Contains(req.remote_addr); });
  std::vector<std::string_view> users;
  std::string groups;
  for (const auto& [name, value] : req.headers) {
    if (HeaderNameEquals(name, h.user)) users.push_back(value);
    if (HeaderNameEquals(name, h.groups)) groups += (groups.empty() ? "" : ",") + value;
  }
  if (!trusted) {
    if (!users.empty() || !groups.empty()) WarnUntrusted(req.remote_addr);
    return std::nullopt;
  }
  if (users.empty()) return std::nullopt;
  static constexpr char kMalformed[] = "malformed proxy user header";
  if (users.size() > 1) return Refused(kMalformed, "the " + h.user + " header came more than once");
  const std::string user = Trim(users.front());
  if (user.empty()) return std::nullopt;
  // A comma or line break would let one name pass for several, or forge a log line.
  if (!ValidRoleName(user)) {
    return Refused(kMalformed, "the " + h.user + " header holds a comma or a control character");
  }
  Who w;
  w.kind = "proxy user";
  w.name = user;
  std::vector<std::string> names;
  std::istringstream in(groups);
  for (std::string g; std::getline(in, g, ',');) {
    if (auto t = Trim(g); !t.empty()) names.push_back(t);
  }
  w.roles = KnownRoles(r, names, user);
  return w;
}

Auth::Who Auth::Bearer(const Rules& r, std::string_view token) {
  if (auto w = Token(r, token)) return std::move(*w);
  return Refused("unknown token", "no [[token]] has this token's hash");
}

std::optional<Auth::Who> Auth::Token(const Rules& r, std::string_view token) {
  std::shared_ptr<BearerVerifier> verifier;
  {
    std::shared_lock lock(mu_);
    verifier = verifier_;
  }
  if (verifier) {
    if (auto v = verifier->Verify(token)) {
      if (!*v) return Refused("token refused: " + v->message(), "bearer verifier: " + v->message());
      if ((*v)->name.empty()) {
        return Refused("token refused: it names nobody", "bearer verifier: a token without a name");
      }
      Who w;
      w.kind = "identity";
      w.name = (*v)->name;
      w.roles = KnownRoles(r, (*v)->roles, w.name);
      return w;
    }
  }
  const std::string h = HashToken(token);
  for (const auto& t : r.tokens) {
    if (ConstantTimeEqual(t.secret, h)) return FromPrincipal(t, "token");
  }
  return std::nullopt;
}

Auth::Who Auth::Basic(const Rules& r, std::string_view credentials) {
  static constexpr char kMalformed[] = "malformed Basic credentials";
  auto decoded = sign::Base64Decode(credentials);
  if (!decoded) return Refused(kMalformed, "Basic credentials that are not base64");
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return Refused(kMalformed, "Basic credentials without ':'");
  const std::string user = decoded->substr(0, colon);
  const std::string pass = decoded->substr(colon + 1);
  // crypt(3) reads the password up to its first NUL: "pw\0junk" would pass as "pw".
  if (decoded->find('\0') != std::string::npos) {
    return Refused(kMalformed, "Basic credentials holding a NUL");
  }
  // One answer, and about the same time, whether the user exists or the password is
  // wrong: nobody learns which user names exist. The log may say which user was claimed.
  static constexpr char kWrong[] = "wrong user name or password";
  const std::string rule = "wrong password or unknown user \"" + Printable(user) + "\"";
  for (const auto& u : r.users) {
    if (u.name != user) continue;
    std::string key(user);
    key += '\0';
    key += pass;
    key += '\0';
    key += u.secret;
    key = dirhash::Hex(dirhash::Sha256::Of(key));
    {
      std::lock_guard g(cache_->mu);
      if (cache_->verified.count(key)) return FromPrincipal(u, "user");
    }
    crypt_data data{};
    const char* out = crypt_r(pass.c_str(), u.secret.c_str(), &data);
    if (out && out[0] != '*' && ConstantTimeEqual(out, u.secret)) {
      std::lock_guard g(cache_->mu);
      if (cache_->verified.size() > 10000) cache_->verified.clear();
      cache_->verified.insert(key);
      return FromPrincipal(u, "user");
    }
    return Refused(kWrong, rule);
  }
  // No such user: the password may be a token. go before 1.24 has no GOAUTH and sends
  // what .netrc holds, so a token (a JWT or a [[token]]) travels as a password.
  if (auto w = Token(r, pass)) return std::move(*w);
  if (!r.users.empty()) {  // the work a known user's check does, for the same time
    crypt_data data{};
    (void)crypt_r(pass.c_str(), r.users.front().secret.c_str(), &data);
  }
  return Refused(kWrong, rule);
}

Auth::Who Auth::Authenticate(const Rules& r, const Request& req) {
  if (r.proxy_headers) {
    if (auto w = FromHeaders(r, req)) return std::move(*w);
  }
  const std::string authorization = req.get_header_value("Authorization");
  if (authorization.empty()) return Refused("authentication required", "no credentials");
  auto scheme_is = [&](std::string_view scheme) {
    if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ') return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return false;
    }
    return true;
  };
  auto rest = [&](std::size_t skip) {
    std::string_view v = std::string_view(authorization).substr(skip);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    return v;
  };
  if (scheme_is("bearer")) return Bearer(r, rest(7));
  if (scheme_is("basic")) return Basic(r, rest(6));
  return Refused("unsupported authorization scheme",
                 "an Authorization scheme other than Basic "
                 "or Bearer");
}

Auth::Decision Auth::Check(const Request& req, const std::optional<std::string>& module_path,
                           bool audit) {
  const auto r = rules();
  Who w = Authenticate(*r, req);
  Decision d;
  if (w.refused) {
    d = *w.refused;
  } else if (!module_path) {
    d = {Verdict::kAllow, w.name, "", "any authenticated principal may read what names no module"};
  } else if (auto grant = Grant(*r, w, *module_path); !grant.empty()) {
    d = {Verdict::kAllow, w.name, "", std::move(grant)};
  } else {
    d = {Verdict::kForbidden, w.name, w.name + " may not read " + *module_path,
         "no rule of " + w.kind + " " + w.name + " covers " + *module_path};
  }
  if (audit && d.verdict != Verdict::kAllow) {
    spdlog::info("auth: denied {} {} to {} from {} ({}): {}", Printable(req.method),
                 Printable(req.path), WhoForLog(d), Printable(req.remote_addr),
                 VerdictName(d.verdict), Printable(d.rule));
  }
  return d;
}

Auth::Decision Auth::Check(std::string_view authorization,
                           const std::optional<std::string>& module_path) {
  Request req;
  req.headers.emplace_back("Authorization", std::string(authorization));
  return Check(req, module_path, false);
}

Auth::Decision Auth::CheckAdmin(const Request& req, std::string_view action) {
  const auto r = rules();
  Who w = Authenticate(*r, req);
  Decision d;
  if (w.refused) {
    d = *w.refused;
  } else if (auto grant = AdminGrant(*r, w); !grant.empty()) {
    d = {Verdict::kAllow, w.name, "", std::move(grant)};
  } else {
    d = {Verdict::kForbidden, w.name, w.name + " may not " + std::string(action),
         "no rule makes " + w.kind + " " + w.name + " an admin"};
  }
  spdlog::info("auth: admin action \"{}\" {} to {} from {}: {}", Printable(action),
               VerdictName(d.verdict), WhoForLog(d), Printable(req.remote_addr), Printable(d.rule));
  return d;
}

Result<std::string> HashPassword(std::string_view password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting)) {
    return Fail("libcrypt cannot make a yescrypt salt");
  }
  crypt_data data{};
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), setting, &data);
  if (!out || out[0] == '*') return Fail("libcrypt cannot hash the password");
  return std::string(out);
}

std::string HashToken(std::string_view token) { return dirhash::Hex(dirhash::Sha256::Of(token)); }

}  // namespace modpub::http
