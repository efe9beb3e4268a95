// Loading modpub.toml: toml++ parses, this file checks every key and collects every
// problem with its position, so `modpubd --check-config` can list them all at once.
#include "modpub/config/config.hpp"

#include <toml++/toml.h>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "modpub/module/module.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/open.hpp"

namespace modpub::config {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kLogLevels = {"trace", "debug",    "info", "warn",
                                          "error", "critical", "off"};

class Checker {
 public:
  explicit Checker(std::string source) : source_(std::move(source)) {}

  void Problem(const toml::source_region& where, const std::string& key, const std::string& what) {
    std::ostringstream s;
    s << source_ << ":" << where.begin.line << ":" << where.begin.column << ": " << key << ": "
      << what;
    problems_.push_back(s.str());
  }
  void Problem(const std::string& key, const std::string& what) {
    problems_.push_back(source_ + ": " + key + ": " + what);
  }

  // Reports every key of `table` not in `known` (with its position).
  void Unknown(const toml::table& table, const std::string& prefix,
               const std::set<std::string>& known) {
    for (const auto& [k, v] : table) {
      std::string name(k.str());
      if (!known.count(name)) {
        Problem(v.source(), prefix + name, "unknown key (known: " + Join(known) + ")");
      }
    }
  }

  // A string value; absent leaves *out unchanged. Wrong type is a problem.
  bool String(const toml::table& t, const std::string& prefix, const char* key, std::string* out,
              bool required = false) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) Problem(t.source(), prefix + key, "missing (required)");
      return false;
    }
    if (auto s = n->value<std::string>(); s && n->is_string()) {
      *out = *s;
      return true;
    }
    Problem(n->source(), prefix + key, std::string("must be a string, not ") + TypeName(*n));
    return false;
  }

  bool Int(const toml::table& t, const std::string& prefix, const char* key, std::int64_t lo,
           std::int64_t hi, std::int64_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_integer()) {
      Problem(n->source(), prefix + key, std::string("must be an integer, not ") + TypeName(*n));
      return false;
    }
    std::int64_t v = *n->value<std::int64_t>();
    if (v < lo || v > hi) {
      Problem(
          n->source(), prefix + key,
          std::to_string(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
      return false;
    }
    *out = v;
    return true;
  }

  bool Bool(const toml::table& t, const std::string& prefix, const char* key, bool* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_boolean()) {
      Problem(n->source(), prefix + key, std::string("must be true or false, not ") + TypeName(*n));
      return false;
    }
    *out = *n->value<bool>();
    return true;
  }

  bool Strings(const toml::table& t, const std::string& prefix, const char* key,
               std::vector<std::string>* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    const toml::array* a = n->as_array();
    if (!a) {
      Problem(n->source(), prefix + key,
              std::string("must be an array of strings, not ") + TypeName(*n));
      return false;
    }
    out->clear();
    bool ok = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_string()) {
        Problem(e.source(), prefix + key + "[" + std::to_string(i) + "]",
                std::string("must be a string, not ") + TypeName(e));
        ok = false;
        continue;
      }
      out->push_back(*e.value<std::string>());
    }
    return ok;
  }

  void AbsolutePath(const toml::table& t, const std::string& prefix, const char* key,
                    const std::string& value) {
    if (value.empty() || value[0] != '/') {
      const toml::node* n = t.get(key);
      Problem(n ? n->source() : t.source(), prefix + key,
              "\"" + value + "\" must be an absolute path");
    }
  }

  static const char* TypeName(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      default:
        return "a date/time";
    }
  }

  static std::string Join(const std::set<std::string>& s) {
    std::string out;
    for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
    return out;
  }

  bool ok() const { return problems_.empty(); }
  std::string Message() const {
    std::string out;
    for (const auto& p : problems_) out += (out.empty() ? "" : "\n") + p;
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> problems_;
};

std::string CanonicalOrLexical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (!ec) return c.string();
  return fs::absolute(p, ec).lexically_normal().string();
}

}  // namespace

bool RepoConfig::AllowsModule(std::string_view module_path) const {
  for (const auto& prefix : allowed_prefixes) {
    if (module_path.size() < prefix.size()) continue;
    if (module_path.substr(0, prefix.size()) != prefix) continue;
    if (module_path.size() == prefix.size() || module_path[prefix.size()] == '/') return true;
  }
  return false;
}

const RepoConfig* Config::FindRepo(const std::string& repo_path) const {
  const std::string want = CanonicalOrLexical(repo_path);
  for (const auto& r : repositories) {
    if (CanonicalOrLexical(r.path) == want) return &r;
  }
  return nullptr;
}

bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  std::string h, p;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return false;
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
    if (h.find(':') != std::string::npos) return false;
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
  }
  int v = std::atoi(p.c_str());
  if (v < 1 || v > 65535) return false;
  *host = h;
  *port = v;
  return true;
}

Result<Config> ParseConfig(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": TOML syntax: " << e.description();
    return Fail(s.str());
  }

  Config cfg;
  cfg.source = source_name;
  Checker c(source_name);
  c.Unknown(root, "",
            {"log_level", "storage", "spool_dir", "state_dir", "socket", "daemon", "retry",
             "repository", "webhook", "proxy", "sumdb"});

  if (c.String(root, "", "log_level", &cfg.log_level) && !kLogLevels.count(cfg.log_level)) {
    c.Problem(root.get("log_level")->source(), "log_level",
              "\"" + cfg.log_level + "\" is not one of " + Checker::Join(kLogLevels));
  }

  if (!root.get("storage")) {
    c.Problem("storage",
              "missing (required): a list of storage URLs, e.g. [\"file:///srv/goproxy\"]");
  } else if (c.Strings(root, "", "storage", &cfg.storage)) {
    if (cfg.storage.empty()) {
      c.Problem(root.get("storage")->source(), "storage", "must name at least one storage URL");
    }
    const toml::array* a = root.get("storage")->as_array();
    for (std::size_t i = 0; i < cfg.storage.size(); ++i) {
      auto b = storage::OpenBackend(cfg.storage[i]);
      if (!b) c.Problem(a->get(i)->source(), "storage[" + std::to_string(i) + "]", b.message());
    }
  }

  struct PathKey {
    const char* key;
    std::string* out;
  } paths[] = {
      {"spool_dir", &cfg.spool_dir}, {"state_dir", &cfg.state_dir}, {"socket", &cfg.socket_path}};
  for (const auto& pk : paths) {
    if (!root.get(pk.key)) {
      c.Problem(pk.key, "missing (required): an absolute path");
    } else if (c.String(root, "", pk.key, pk.out)) {
      c.AbsolutePath(root, "", pk.key, *pk.out);
    }
  }
  if (!cfg.socket_path.empty() && cfg.socket_path.size() >= 108) {
    c.Problem(root.get("socket")->source(), "socket",
              "path is longer than a Unix socket address allows (107 bytes)");
  }

  if (const toml::node* dn = root.get("daemon")) {
    if (const toml::table* d = dn->as_table()) {
      c.Unknown(*d, "daemon.", {"workers", "http_listen", "scan_interval_ms"});
      std::int64_t v = 0;
      if (c.Int(*d, "daemon.", "workers", 1, 64, &v)) cfg.workers = static_cast<int>(v);
      if (c.Int(*d, "daemon.", "scan_interval_ms", 10, 3600000, &v))
        cfg.scan_interval = std::chrono::milliseconds(v);
      if (c.String(*d, "daemon.", "http_listen", &cfg.http_listen) && !cfg.http_listen.empty()) {
        std::string h;
        int p = 0;
        if (!SplitHostPort(cfg.http_listen, &h, &p)) {
          c.Problem(d->get("http_listen")->source(), "daemon.http_listen",
                    "\"" + cfg.http_listen +
                        "\" is not host:port (e.g. \"127.0.0.1:8780\"; \"\" disables HTTP)");
        }
      }
    } else {
      c.Problem(dn->source(), "daemon", "must be a table ([daemon])");
    }
  }

  if (const toml::node* rn = root.get("retry")) {
    if (const toml::table* r = rn->as_table()) {
      c.Unknown(*r, "retry.", {"initial_backoff_ms", "max_backoff_ms", "max_attempts"});
      std::int64_t v = 0;
      if (c.Int(*r, "retry.", "initial_backoff_ms", 1, 86400000, &v))
        cfg.retry.initial_backoff = std::chrono::milliseconds(v);
      if (c.Int(*r, "retry.", "max_backoff_ms", 1, 86400000, &v))
        cfg.retry.max_backoff = std::chrono::milliseconds(v);
      if (c.Int(*r, "retry.", "max_attempts", 1, 1000, &v))
        cfg.retry.max_attempts = static_cast<int>(v);
      if (cfg.retry.max_backoff < cfg.retry.initial_backoff) {
        c.Problem(r->source(), "retry.max_backoff_ms", "must not be less than initial_backoff_ms");
      }
    } else {
      c.Problem(rn->source(), "retry", "must be a table ([retry])");
    }
  }

  if (const toml::node* wn = root.get("webhook")) {
    if (const toml::table* w = wn->as_table()) {
      c.Unknown(*w, "webhook.",
                {"max_body_bytes", "threads", "read_timeout_ms", "body_deadline_ms",
                 "dedupe_entries", "fetch_timeout_ms"});
      std::int64_t v = 0;
      if (c.Int(*w, "webhook.", "max_body_bytes", 1024, std::int64_t{1} << 30, &v))
        cfg.webhook.max_body_bytes = v;
      if (c.Int(*w, "webhook.", "threads", 2, 1024, &v)) cfg.webhook.threads = static_cast<int>(v);
      if (c.Int(*w, "webhook.", "read_timeout_ms", 10, 600000, &v))
        cfg.webhook.read_timeout = std::chrono::milliseconds(v);
      if (c.Int(*w, "webhook.", "body_deadline_ms", 10, 3600000, &v))
        cfg.webhook.body_deadline = std::chrono::milliseconds(v);
      if (c.Int(*w, "webhook.", "dedupe_entries", 1, 100000000, &v)) cfg.webhook.dedupe_entries = v;
      if (c.Int(*w, "webhook.", "fetch_timeout_ms", 100, 86400000, &v))
        cfg.webhook.fetch_timeout = std::chrono::milliseconds(v);
    } else {
      c.Problem(wn->source(), "webhook", "must be a table ([webhook])");
    }
  }

  if (const toml::node* pn = root.get("proxy")) {
    if (const toml::table* p = pn->as_table()) {
      cfg.proxy.enabled = true;
      cfg.proxy.line = static_cast<int>(p->source().begin.line);
      c.Unknown(*p, "proxy.", {"from", "prefix", "auth"});
      const bool from_set = c.String(*p, "proxy.", "from", &cfg.proxy.from);
      if (!from_set && !cfg.storage.empty()) cfg.proxy.from = cfg.storage[0];
      // The proxy streams files from disk (storage::Backend::LocalFile).
      const bool local =
          cfg.proxy.from.starts_with("file:") || cfg.proxy.from.starts_with("athens-disk:");
      if (from_set && local) {
        auto b = storage::OpenBackend(cfg.proxy.from);
        if (!b) c.Problem(p->get("from")->source(), "proxy.from", b.message());
      }
      if (!cfg.proxy.from.empty() && !local) {
        const toml::node* f = p->get("from");
        c.Problem(f ? f->source() : p->source(), "proxy.from",
                  "\"" + cfg.proxy.from +
                      "\": the GOPROXY endpoint serves local storage only (file:// or "
                      "athens-disk://); set proxy.from to one");
      }
      if (c.String(*p, "proxy.", "prefix", &cfg.proxy.prefix) && !cfg.proxy.prefix.empty() &&
          (cfg.proxy.prefix[0] != '/' || cfg.proxy.prefix.back() == '/' ||
           cfg.proxy.prefix == "/healthz" || cfg.proxy.prefix == "/metrics" ||
           cfg.proxy.prefix == "/hooks")) {
        c.Problem(p->get("prefix")->source(), "proxy.prefix",
                  "\"" + cfg.proxy.prefix +
                      "\" must be \"\" or \"/path\" without a trailing slash, and not "
                      "/healthz, /metrics or /hooks");
      }
      if (c.String(*p, "proxy.", "auth", &cfg.proxy.auth_file))
        c.AbsolutePath(*p, "proxy.", "auth", cfg.proxy.auth_file);
      if (cfg.http_listen.empty()) {
        c.Problem(p->source(), "proxy",
                  "the GOPROXY endpoint is served on daemon.http_listen, which is \"\" (off)");
      }
    } else {
      c.Problem(pn->source(), "proxy", "must be a table ([proxy])");
    }
  }

  if (const toml::node* sn = root.get("sumdb")) {
    if (const toml::table* t = sn->as_table()) {
      cfg.sumdb.enabled = true;
      cfg.sumdb.line = static_cast<int>(t->source().begin.line);
      c.Unknown(*t, "sumdb.", {"name", "signer_key", "dir"});
      if (c.String(*t, "sumdb.", "name", &cfg.sumdb.name, true) &&
          !sign::IsValidName(cfg.sumdb.name)) {
        c.Problem(t->get("name")->source(), "sumdb.name",
                  "\"" + cfg.sumdb.name +
                      "\" is not a valid checksum database name (non-empty, no '+', no white "
                      "space), e.g. \"sum.corp.example\"");
      }
      if (c.String(*t, "sumdb.", "signer_key", &cfg.sumdb.signer_key, true))
        c.AbsolutePath(*t, "sumdb.", "signer_key", cfg.sumdb.signer_key);
      if (c.String(*t, "sumdb.", "dir", &cfg.sumdb.dir)) {
        c.AbsolutePath(*t, "sumdb.", "dir", cfg.sumdb.dir);
      } else if (!cfg.state_dir.empty()) {
        cfg.sumdb.dir = cfg.state_dir + "/sumdb";
      }
    } else {
      c.Problem(sn->source(), "sumdb", "must be a table ([sumdb])");
    }
  }

  if (const toml::node* rn = root.get("repository")) {
    const toml::array* arr = rn->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      c.Problem(rn->source(), "repository", "must be an array of tables ([[repository]] blocks)");
    } else {
      std::map<std::string, int> seen;  // canonical path -> line
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::table& t = *arr->get(i)->as_table();
        const std::string prefix = "repository[" + std::to_string(i) + "].";
        RepoConfig repo;
        repo.line = static_cast<int>(t.source().begin.line);
        c.Unknown(t, prefix,
                  {"path", "import_path", "allowed_prefixes", "immutable_tags", "remote_url",
                   "webhook_secret", "provider", "remote_token_file", "remote_ssh_key"});
        // A mirrored remote's bare repository defaults to a directory under state_dir.
        // (Types are checked below, where these keys are read for real.)
        const auto early_ip = t["import_path"].value<std::string>();
        const auto early_remote = t["remote_url"].value<std::string>();
        if (!t.get("path") && early_remote && !early_remote->empty() && early_ip &&
            !early_ip->empty() && !cfg.state_dir.empty()) {
          std::string name = *early_ip;
          for (char& ch : name) {
            if (ch == '/') ch = '_';
          }
          repo.path = cfg.state_dir + "/mirrors/" + name + ".git";
          auto [it, fresh] = seen.emplace(CanonicalOrLexical(repo.path), repo.line);
          if (!fresh) {
            c.Problem(t.get("import_path")->source(), prefix + "import_path",
                      "its mirror " + repo.path + " is already used by the repository at line " +
                          std::to_string(it->second) + " (set path)");
          }
        } else if (c.String(t, prefix, "path", &repo.path, true)) {
          c.AbsolutePath(t, prefix, "path", repo.path);
          std::string canon = CanonicalOrLexical(repo.path);
          auto [it, fresh] = seen.emplace(canon, repo.line);
          if (!fresh) {
            c.Problem(t.get("path")->source(), prefix + "path",
                      "\"" + repo.path + "\" is already configured by the repository at line " +
                          std::to_string(it->second));
          }
        }
        if (c.String(t, prefix, "import_path", &repo.import_path, true)) {
          if (auto st = module::CheckImportPath(repo.import_path); !st) {
            c.Problem(t.get("import_path")->source(), prefix + "import_path", st.message());
          }
        }
        if (c.Strings(t, prefix, "allowed_prefixes", &repo.allowed_prefixes)) {
          const toml::array* pa = t.get("allowed_prefixes")->as_array();
          for (std::size_t k = 0; k < repo.allowed_prefixes.size(); ++k) {
            if (auto st = module::CheckImportPath(repo.allowed_prefixes[k]); !st) {
              c.Problem(pa->get(k)->source(),
                        prefix + "allowed_prefixes[" + std::to_string(k) + "]", st.message());
            }
          }
        }
        if (repo.allowed_prefixes.empty() && !repo.import_path.empty())
          repo.allowed_prefixes.push_back(repo.import_path);
        c.Bool(t, prefix, "immutable_tags", &repo.immutable_tags);
        c.String(t, prefix, "remote_url", &repo.remote_url);
        c.String(t, prefix, "webhook_secret", &repo.webhook_secret);
        if (c.String(t, prefix, "remote_token_file", &repo.remote_token_file))
          c.AbsolutePath(t, prefix, "remote_token_file", repo.remote_token_file);
        if (c.String(t, prefix, "remote_ssh_key", &repo.remote_ssh_key))
          c.AbsolutePath(t, prefix, "remote_ssh_key", repo.remote_ssh_key);
        if (c.String(t, prefix, "provider", &repo.provider)) {
          static const std::set<std::string> kProviders = {"github", "gitlab", "gitea", "generic"};
          if (!kProviders.count(repo.provider)) {
            c.Problem(t.get("provider")->source(), prefix + "provider",
                      "\"" + repo.provider + "\" is not one of " + Checker::Join(kProviders));
          }
        }
        cfg.repositories.push_back(std::move(repo));
      }
    }
  }

  if (!c.ok()) return Fail(c.Message());
  return cfg;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(path + ": cannot read the configuration file: " +
                std::error_code(errno, std::generic_category()).message());
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Fail(path + ": cannot read the configuration file");
  return ParseConfig(s.str(), path);
}

}  // namespace modpub::config
