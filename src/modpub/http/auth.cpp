#include "modpub/http/auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <toml++/toml.h>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/sign/sign.hpp"

namespace modpub::http {

struct Auth::Cache {
  std::mutex mu;
  std::set<std::string> verified;  // hex sha256 of "user\0password" that passed crypt
};

namespace {

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
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

Result<std::vector<std::string>> Allow(const toml::table& t, const std::string& where) {
  std::vector<std::string> out;
  const auto* arr = t["allow"].as_array();
  if (!arr)
    return Fail(where + ": `allow` (a list of module path prefixes, or [\"*\"]) is required");
  for (const auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s) return Fail(where + ": `allow` must hold strings");
    std::string p = *s;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    out.push_back(p);
  }
  return out;
}

}  // namespace

Auth::Auth(std::string realm, std::vector<Principal> users, std::vector<Principal> tokens)
    : realm_(std::move(realm)),
      users_(std::move(users)),
      tokens_(std::move(tokens)),
      cache_(std::make_unique<Cache>()) {}
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
  std::string realm = root["realm"].value_or(std::string("modpub"));
  std::vector<Principal> users, tokens;
  if (const auto* arr = root["user"].as_array()) {
    for (const auto& e : *arr) {
      const auto* t = e.as_table();
      if (!t) return Fail(origin + ": [[user]] entries must be tables");
      auto name = (*t)["name"].value<std::string>();
      auto pw = (*t)["password"].value<std::string>();
      if (!name || !pw || name->empty() || name->find(':') != std::string::npos) {
        return Fail(origin + ": each [[user]] needs a `name` (without ':') and a `password` hash");
      }
      if (auto st = CheckHash(*name, *pw, origin); !st) return st.error();
      auto allow = Allow(*t, origin + ": user " + *name);
      if (!allow) return allow.error();
      users.push_back({*name, *pw, std::move(*allow)});
    }
  }
  if (const auto* arr = root["token"].as_array()) {
    for (const auto& e : *arr) {
      const auto* t = e.as_table();
      if (!t) return Fail(origin + ": [[token]] entries must be tables");
      auto name = (*t)["name"].value<std::string>();
      auto sha = (*t)["sha256"].value<std::string>();
      if (!name || !sha || sha->size() != 64 ||
          sha->find_first_not_of("0123456789abcdef") != std::string::npos) {
        return Fail(origin +
                    ": each [[token]] needs a `name` and `sha256` (64 lower-case hex digits)");
      }
      auto allow = Allow(*t, origin + ": token " + *name);
      if (!allow) return allow.error();
      tokens.push_back({*name, *sha, std::move(*allow)});
    }
  }
  if (users.empty() && tokens.empty()) {
    return Fail(origin + ": no [[user]] or [[token]]: nobody could read anything");
  }
  return std::make_shared<Auth>(realm, std::move(users), std::move(tokens));
}

std::string Auth::realm() const {
  std::shared_lock lock(mu_);
  return realm_;
}

Result<std::size_t> Auth::Reload() {
  if (file_.empty()) return Fail("these credentials were not read from a file");
  auto fresh = Load(file_);
  if (!fresh) return fresh.error();
  std::unique_lock lock(mu_);
  realm_ = std::move((*fresh)->realm_);
  users_ = std::move((*fresh)->users_);
  tokens_ = std::move((*fresh)->tokens_);
  return users_.size() + tokens_.size();
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
    Principal p{line.substr(0, colon), line.substr(colon + 1), {"*"}};
    if (auto st = CheckHash(p.name, p.secret, file.string()); !st) return st.error();
    users.push_back(std::move(p));
  }
  if (users.empty()) return Fail(file.string() + ": no users");
  return std::make_shared<Auth>("modpub", std::move(users), std::vector<Principal>{});
}

Auth::Decision Auth::Check(std::string_view authorization,
                           const std::optional<std::string>& module_path) {
  std::shared_lock lock(mu_);
  auto allowed = [&](const Principal& p) -> Decision {
    if (!module_path) return {Verdict::kAllow, p.name, ""};
    for (const auto& prefix : p.allow) {
      if (Covers(prefix, *module_path)) return {Verdict::kAllow, p.name, ""};
    }
    return {Verdict::kForbidden, p.name, p.name + " may not read " + *module_path};
  };
  auto scheme_is = [&](std::string_view scheme) {
    if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ') return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return false;
    }
    return true;
  };
  if (authorization.empty()) return {Verdict::kUnauthenticated, "", "authentication required"};
  if (scheme_is("bearer")) {
    std::string token(authorization.substr(7));
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    const std::string h = HashToken(token);
    for (const auto& t : tokens_) {
      if (ConstantTimeEqual(t.secret, h)) return allowed(t);
    }
    return {Verdict::kUnauthenticated, "", "unknown token"};
  }
  if (scheme_is("basic")) {
    std::string b64(authorization.substr(6));
    while (!b64.empty() && b64.front() == ' ') b64.erase(0, 1);
    auto decoded = sign::Base64Decode(b64);
    if (!decoded) return {Verdict::kUnauthenticated, "", "malformed Basic credentials"};
    auto colon = decoded->find(':');
    if (colon == std::string::npos) {
      return {Verdict::kUnauthenticated, "", "malformed Basic credentials"};
    }
    const std::string user = decoded->substr(0, colon);
    const std::string pass = decoded->substr(colon + 1);
    // crypt(3) reads the password up to its first NUL: "pw\0junk" would pass as "pw".
    if (decoded->find('\0') != std::string::npos) {
      return {Verdict::kUnauthenticated, "", "malformed Basic credentials"};
    }
    // One answer, and about the same time, whether the user exists or the password is
    // wrong: nobody learns which user names exist.
    static constexpr char kWrong[] = "wrong user name or password";
    for (const auto& u : users_) {
      if (u.name != user) continue;
      std::string key(user);
      key += '\0';
      key += pass;
      key += '\0';
      key += u.secret;
      key = dirhash::Hex(dirhash::Sha256::Of(key));
      {
        std::lock_guard g(cache_->mu);
        if (cache_->verified.count(key)) return allowed(u);
      }
      crypt_data data{};
      const char* out = crypt_r(pass.c_str(), u.secret.c_str(), &data);
      if (out && out[0] != '*' && ConstantTimeEqual(out, u.secret)) {
        std::lock_guard g(cache_->mu);
        if (cache_->verified.size() > 10000) cache_->verified.clear();
        cache_->verified.insert(key);
        return allowed(u);
      }
      return {Verdict::kUnauthenticated, "", kWrong};
    }
    if (!users_.empty()) {  // the work a known user's check does, for the same time
      crypt_data data{};
      (void)crypt_r(pass.c_str(), users_.front().secret.c_str(), &data);
    }
    return {Verdict::kUnauthenticated, "", kWrong};
  }
  return {Verdict::kUnauthenticated, "", "unsupported authorization scheme"};
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
