#include "modpub/receive/settings.hpp"

#include <cstdlib>

#include "modpub/config/config.hpp"
#include "modpub/git/git.hpp"

namespace fs = std::filesystem;

namespace modpub::receive {
namespace {

// The modpub.* keys of one repository's own config file.
struct GitKeys {
  std::optional<std::string> config;
  std::optional<std::string> import_path;
  std::vector<std::string> allowed_prefixes;
  std::optional<bool> immutable_tags;
  std::vector<std::string> storage;
  std::optional<std::string> spool_dir;
  std::optional<std::string> socket;
};

Result<std::optional<std::string>> GetString(git_config* cfg, const char* key) {
  git::Buf value;
  int rc = git_config_get_string_buf(value.get(), cfg, key);
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
  if (rc != 0) return Fail(std::string(key) + ": " + git::LastError());
  return std::optional<std::string>(std::string(value.view()));
}

Result<std::vector<std::string>> GetAll(git_config* cfg, const char* key) {
  std::vector<std::string> out;
  int rc = git_config_get_multivar_foreach(
      cfg, key, nullptr,
      [](const git_config_entry* e, void* payload) {
        static_cast<std::vector<std::string>*>(payload)->emplace_back(e->value);
        return 0;
      },
      &out);
  if (rc != 0 && rc != GIT_ENOTFOUND) return Fail(std::string(key) + ": " + git::LastError());
  return out;
}

Result<GitKeys> ReadGitKeys(const fs::path& git_dir) {
  GitKeys keys;
  fs::path file = git_dir / "config";
  std::error_code ec;
  if (!fs::exists(file, ec)) return keys;
  git_libgit2_init();  // balanced by nothing: libgit2 stays initialised for the process
  git::ConfigHandle cfg;
  if (git_config_open_ondisk(cfg.out(), file.c_str()) != 0) {
    return Fail(file.string() + ": " + git::LastError());
  }
  auto fail = [&](const Error& e) { return Fail(file.string() + ": " + e.message); };
  auto config = GetString(cfg.get(), "modpub.config");
  if (!config) return fail(config.error());
  keys.config = *config;
  auto import_path = GetString(cfg.get(), "modpub.importPath");
  if (!import_path) return fail(import_path.error());
  keys.import_path = *import_path;
  auto prefixes = GetAll(cfg.get(), "modpub.allowedPrefix");
  if (!prefixes) return fail(prefixes.error());
  keys.allowed_prefixes = *prefixes;
  int immutable = 0;
  int rc = git_config_get_bool(&immutable, cfg.get(), "modpub.immutableTags");
  if (rc == 0) keys.immutable_tags = immutable != 0;
  if (rc != 0 && rc != GIT_ENOTFOUND) {
    return Fail(file.string() + ": modpub.immutableTags: " + git::LastError());
  }
  auto storage = GetAll(cfg.get(), "modpub.storage");
  if (!storage) return fail(storage.error());
  keys.storage = *storage;
  auto spool = GetString(cfg.get(), "modpub.spoolDir");
  if (!spool) return fail(spool.error());
  keys.spool_dir = *spool;
  auto socket = GetString(cfg.get(), "modpub.socket");
  if (!socket) return fail(socket.error());
  keys.socket = *socket;
  return keys;
}

// Repository-level settings from git config; false when modpub.importPath is not set.
bool ApplyGitKeys(const GitKeys& keys, HookSettings& s) {
  if (!keys.import_path || keys.import_path->empty()) return false;
  s.repo.import_path = *keys.import_path;
  s.repo.allowed_prefixes = keys.allowed_prefixes;
  if (s.repo.allowed_prefixes.empty()) s.repo.allowed_prefixes = {s.repo.import_path};
  s.repo.immutable_tags = keys.immutable_tags.value_or(false);
  return true;
}

}  // namespace

Result<HookSettings> LoadSettings(const fs::path& git_dir_in,
                                  const std::optional<std::string>& config_flag) {
  std::error_code ec;
  fs::path git_dir = fs::canonical(git_dir_in, ec);
  if (ec) return Fail(git_dir_in.string() + ": " + ec.message());
  // The repository's git config is read only when it matters: with --config naming a file
  // that has the repository's entry it does not, and post-receive then runs without
  // initialising libgit2 at all (most of a hook's start-up cost).
  std::optional<GitKeys> keys;
  auto git_keys = [&]() -> Result<const GitKeys*> {
    if (!keys) {
      auto read = ReadGitKeys(git_dir);
      if (!read) return read.error();
      keys = std::move(*read);
    }
    return &*keys;
  };

  std::optional<std::string> file = config_flag;
  if (!file) {
    auto k = git_keys();
    if (!k) return k.error();
    if ((*k)->config && !(*k)->config->empty()) {
      fs::path p(*(*k)->config);
      file = (p.is_relative() ? git_dir / p : p).string();
    }
  }
  if (!file) {
    if (const char* env = std::getenv("MODPUB_CONFIG"); env && *env) file = env;
  }

  HookSettings s;
  s.repo.path = git_dir.string();
  if (!file) {
    s.source = "git config of " + git_dir.string();
    if (!ApplyGitKeys(*keys, s)) {
      return Fail("no modpub configuration for repository " + git_dir.string() +
                  ": install the hooks with --config <toml>, or set git config "
                  "modpub.config (a TOML file) or modpub.importPath");
    }
    s.storage = keys->storage;
    s.spool_dir = keys->spool_dir.value_or("");
    s.socket_path = keys->socket.value_or("");
    return s;
  }

  auto cfg = config::LoadConfig(*file);
  if (!cfg) return cfg.error();
  s.source = *file;
  s.storage = cfg->storage;
  s.storage_deadline = cfg->storage_deadline;
  s.spool_dir = cfg->spool_dir;
  s.socket_path = cfg->socket_path;
  s.queue = cfg->queue;
  if (const config::RepoConfig* repo = cfg->FindRepo(git_dir.string())) {
    s.repo = *repo;
    return s;
  }
  auto k = git_keys();
  if (!k) return k.error();
  if (!ApplyGitKeys(**k, s)) {
    return Fail(*file + ": no [[repository]] with path " + git_dir.string() +
                ", and its git config has no modpub.importPath");
  }
  return s;
}

}  // namespace modpub::receive
