// See doctor.hpp. The installation checks: configuration, repositories and their hooks,
// directories, the socket, the daemon and the storages (sumdb and the clock: checks.cpp).
#include "modpub/doctor/doctor.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "modpub/doctor/internal.hpp"
#include "modpub/git/git.hpp"
#include "modpub/jobs/spool.hpp"
#include "modpub/receive/install.hpp"
#include "modpub/storage/open.hpp"

namespace fs = std::filesystem;

namespace modpub::doctor {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kOk:
      return "ok";
    case Level::kWarn:
      return "warn";
    case Level::kFail:
      return "fail";
    case Level::kSkipped:
      return "skipped";
  }
  return "?";
}

Summary Summarize(const Findings& findings) {
  Summary s;
  for (const auto& f : findings) {
    switch (f.level) {
      case Level::kOk:
        ++s.ok;
        break;
      case Level::kWarn:
        ++s.warnings;
        break;
      case Level::kFail:
        ++s.failed;
        break;
      case Level::kSkipped:
        ++s.skipped;
        break;
    }
  }
  return s;
}

Finding CheckConfig(const std::string& path, const Result<config::Config>& cfg) {
  const std::string what = "configuration " + path;
  if (cfg) return Good(what);
  // Every problem, each on its own line below the finding's (LoadConfig lists them all).
  return Bad(Level::kFail, what, "invalid:\n" + cfg.message(),
             "fix each line above (examples/modpub.toml describes every key)");
}

namespace {

// ---- repositories and hooks -----------------------------------------------------------

std::string InstallCommand(const config::Config& cfg, const config::RepoConfig& repo) {
  return "modpub hook install --repo " + repo.path + " --config " + cfg.source;
}

// The canonical form of `p` for comparing two names of one file.
std::string Canonical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

// Is `file` a regular file this process may execute?
bool Executable(const fs::path& file) {
  std::error_code ec;
  return fs::is_regular_file(file, ec) && ::access(file.c_str(), X_OK) == 0;
}

// `name` on $PATH, or "".
std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && Executable(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  }
  return "";
}

Finding CheckHook(const config::Config& cfg, const config::RepoConfig& repo, const fs::path& hooks,
                  const char* hook, const std::string& shim_template) {
  const std::string what = std::string(hook) + " hook of " + repo.path;
  const std::string fix = "run: " + InstallCommand(cfg, repo);
  const fs::path file = hooks / hook;
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in && !fs::exists(fs::symlink_status(file, ec))) {
    return Bad(Level::kFail, what, "not installed (" + file.string() + " does not exist)", fix);
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().find(std::string(receive::kShimMarker) + "\n") == std::string::npos) {
    return Bad(Level::kFail, what, file.string() + " is not modpub's hook",
               fix + " (the hook there is kept and runs first)");
  }
  if (::access(file.c_str(), X_OK) != 0) {
    return Bad(Level::kFail, what, file.string() + " is not executable: git skips it",
               "chmod 755 " + file.string());
  }
  auto shim = receive::ParseShim(text.str());
  if (!shim) {
    return Bad(Level::kFail, what, file.string() + " names no modpub-hook program", fix);
  }
  // Today's shim looks modpub-hook up on PATH first; earlier ones ran the recorded one.
  const bool current =
      text.str() == receive::ShimText(shim_template, hook, shim->recorded_program, shim->config);
  if (!Executable(shim->recorded_program) && (!current || OnPath("modpub-hook").empty())) {
    return Bad(Level::kFail, what,
               "runs " + shim->recorded_program.string() +
                   ", which does not exist or is not executable" +
                   (current ? ", and no modpub-hook is on PATH" : ""),
               "install modpub (modpub-hook) again, then " + fix);
  }
  if (!shim->config) {
    return Bad(Level::kWarn, what,
               "passes no --config: it reads $MODPUB_CONFIG of the pushing user, or the "
               "repository's git config, maybe not " +
                   cfg.source,
               fix);
  }
  if (Canonical(shim->config->string()) != Canonical(cfg.source)) {
    return Bad(Level::kFail, what, "reads " + shim->config->string() + ", not " + cfg.source, fix);
  }
  if (!current) {
    return Bad(Level::kWarn, what,
               "written by an earlier modpub (it does not look modpub-hook up at each push)", fix);
  }
  return Good(what);
}

Findings CheckMirror(const config::Config& cfg, const config::RepoConfig& repo) {
  Findings out;
  const std::string what = "mirror " + repo.path + " of " + repo.remote_url;
  std::error_code ec;
  if (!fs::exists(repo.path, ec)) {
    out.push_back(Good(what + " (not fetched yet: made by the first webhook delivery)"));
  } else if (auto r = git::Repository::Open(repo.path); !r) {
    out.push_back(Bad(Level::kFail, what, "not a git repository: " + r.message(),
                      "move it away; modpubd fetches the mirror again at the next delivery"));
  } else if (!git_repository_is_bare(r->raw())) {
    out.push_back(Bad(Level::kFail, what, "not a bare repository",
                      "move it away; modpubd fetches a bare mirror at the next delivery"));
  } else {
    out.push_back(Good(what));
  }
  const std::string secret = "webhook_secret of " + repo.import_path;
  if (repo.webhook_secret.empty()) {
    out.push_back(Bad(Level::kFail, secret, "not set: deliveries cannot be verified",
                      "set webhook_secret in the [[repository]] at " + At(cfg, repo.line) +
                          " and the same secret in the hosting's webhook"));
  } else {
    out.push_back(Good(secret + " (set)"));
  }
  return out;
}

// ---- directories ------------------------------------------------------------------------

// Groups of the repositories git users push into (those with hooks, which exist).
std::set<gid_t> RepositoryGroups(const config::Config& cfg) {
  std::set<gid_t> groups;
  for (const auto& repo : cfg.repositories) {
    struct stat st {};
    if (repo.remote_url.empty() && ::stat(repo.path.c_str(), &st) == 0) groups.insert(st.st_gid);
  }
  return groups;
}

bool HasHookRepositories(const config::Config& cfg) {
  for (const auto& repo : cfg.repositories) {
    if (repo.remote_url.empty()) return true;
  }
  return false;
}

// Where git users' hooks write: the spool itself and the directories they write into.
std::string SharedProblems(const fs::path& spool) {
  std::string problems;
  for (const fs::path& dir : {spool, spool / "tmp", spool / "queue", spool / "held"}) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) continue;  // made later, inheriting the setgid bit
    std::string lacks;
    if (!(st.st_mode & S_IWGRP)) lacks = "group write";
    if (!(st.st_mode & S_ISGID)) lacks += std::string(lacks.empty() ? "" : " and ") + "setgid";
    if (!lacks.empty()) {
      problems += (problems.empty() ? "" : "; ") + dir.string() + " has mode " +
                  ModeString(st.st_mode) + " (no " + lacks + ")";
    }
  }
  return problems;
}

Finding CheckDirectory(const config::Config& cfg, const std::string& key, const std::string& dir,
                       bool shared) {
  const std::string what = key + " " + dir;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Bad(Level::kFail, what, "does not exist",
               "create it for the daemon's user: install -d -o modpub -g modpub -m 2775 " + dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Bad(Level::kFail, what, "is not a directory", "set " + key + " to a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Bad(Level::kFail, what, "not writable by " + UserName(::geteuid()),
               "run modpub doctor as the daemon's user, or give that user the directory: "
               "chown -R modpub " +
                   dir);
  }
  if (!shared) return Good(what);
  if (std::string p = SharedProblems(dir); !p.empty()) {
    return Bad(Level::kFail, what,
               p + ": the git hooks, running as the pushing users, cannot write jobs here",
               "chmod -R g+w " + dir + " && find " + dir + " -type d -exec chmod g+s {} +");
  }
  auto groups = RepositoryGroups(cfg);
  if (!groups.empty() && !groups.contains(st.st_gid)) {
    return Bad(Level::kWarn, what,
               "group " + GroupName(st.st_gid) + ", but the repositories' group is " +
                   GroupName(*groups.begin()),
               "make the pushing users members of " + GroupName(st.st_gid) + ", or chgrp -R " +
                   GroupName(*groups.begin()) + " " + dir);
  }
  return Good(what);
}

}  // namespace

Findings CheckRepository(const config::Config& cfg, const config::RepoConfig& repo,
                         const std::string& shim_template) {
  if (!repo.remote_url.empty()) return CheckMirror(cfg, repo);
  Findings out;
  const std::string what = "repository " + repo.path;
  const std::string hooks_what = "hooks of " + repo.path;
  std::error_code ec;
  if (!fs::exists(repo.path, ec)) {
    out.push_back(Bad(Level::kFail, what, "does not exist",
                      "create it (git init --bare " + repo.path +
                          ") or correct the path of the [[repository]] at " + At(cfg, repo.line)));
    out.push_back(Skipped(hooks_what, "the repository does not exist"));
    return out;
  }
  auto r = git::Repository::Open(repo.path);
  if (!r || !git_repository_is_bare(r->raw())) {
    out.push_back(Bad(Level::kFail, what,
                      r ? "not a bare repository" : "not a git repository: " + r.message(),
                      "give the path of the bare repository users push to, in the "
                      "[[repository]] at " +
                          At(cfg, repo.line)));
    out.push_back(Skipped(hooks_what, "not a bare repository"));
    return out;
  }
  out.push_back(Good(what));
  auto hooks = receive::HooksDir(repo.path);
  if (!hooks) {
    out.push_back(Bad(Level::kFail, hooks_what, hooks.message(), "fix the repository's config"));
    return out;
  }
  for (const char* hook : {"pre-receive", "post-receive"}) {
    out.push_back(CheckHook(cfg, repo, *hooks, hook, shim_template));
  }
  return out;
}

Findings CheckDirectories(const config::Config& cfg) {
  return {CheckDirectory(cfg, "spool_dir", cfg.spool_dir, HasHookRepositories(cfg)),
          CheckDirectory(cfg, "state_dir", cfg.state_dir, false)};
}

Finding CheckSocket(const config::Config& cfg) {
  const std::string what = "socket " + cfg.socket_path;
  struct stat st {};
  if (::lstat(cfg.socket_path.c_str(), &st) != 0) {
    return Bad(Level::kFail, what, "modpubd is not running (no socket)", "systemctl start modpubd");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Bad(Level::kFail, what, "not a socket",
               "remove " + cfg.socket_path + " (modpubd makes the socket when it starts)");
  }
  if (jobs::Poke(cfg.socket_path) == jobs::Wake::kNotRunning) {
    return Bad(Level::kFail, what, "modpubd is not running", "systemctl start modpubd");
  }
  return Good(what);
}

Finding CheckDaemon(const config::Config& cfg, std::chrono::milliseconds timeout) {
  if (cfg.http_listen.empty()) {
    return Skipped("modpubd HTTP", "daemon.http_listen is \"\" (no HTTP listener)");
  }
  const std::string what = "modpubd at http://" + cfg.http_listen + "/healthz";
  auto got = HttpGet(cfg.http_listen, "/healthz", timeout);
  if (!got) {
    return Bad(Level::kFail, what, got.message(),
               "systemctl start modpubd (journalctl -u modpubd says why it stopped)");
  }
  if (got->status != 200) {
    return Bad(Level::kFail, what, "answered HTTP " + std::to_string(got->status),
               "journalctl -u modpubd says what is wrong");
  }
  return Good(what);
}

Finding CheckStorage(const config::Config& cfg, const std::string& url) {
  const std::string what = "storage " + url;
  const std::string advice =
      url.starts_with("s3://")
          ? "check the endpoint, the credentials (AWS_* or the credentials file) and that "
            "the bucket policy allows PutObject, GetObject and DeleteObject"
          : "make the directory writable by the daemon's user (chown -R modpub <dir>) on a "
            "file system mounted read-write";
  storage::OpenOptions options;
  options.deadline = cfg.storage_deadline;
  options.deadline_setting = "storage_deadline_ms in " + cfg.source;
  auto backend = storage::OpenBackend(url, options);
  if (!backend) return Bad(Level::kFail, what, backend.message(), advice);
  if (auto st = (*backend)->Probe(storage::ProbeName()); !st) {
    std::string_view problem = st.message();  // it names the storage, as `what` does
    if (problem.starts_with(url + ": ")) problem.remove_prefix(url.size() + 2);
    return Bad(Level::kFail, what, "a probe object could not be stored: " + std::string(problem),
               advice);
  }
  return Good(what);
}

Findings Run(const Options& options) {
  // Absolute, so that advice naming the file (modpub hook install --config) works anywhere.
  std::error_code ec;
  const std::string path = fs::absolute(options.config_path, ec).lexically_normal().string();
  auto cfg = config::LoadConfig(ec ? options.config_path : path);
  Findings out{CheckConfig(options.config_path, cfg)};
  if (!cfg) {
    out.push_back(Skipped("every other check", "the configuration does not load"));
    return out;
  }
  auto add = [&out](Findings more) { out.insert(out.end(), more.begin(), more.end()); };
  for (const auto& repo : cfg->repositories) {
    add(CheckRepository(*cfg, repo, options.shim_template));
  }
  add(CheckDirectories(*cfg));
  out.push_back(CheckSocket(*cfg));
  out.push_back(CheckDaemon(*cfg, options.http_timeout));
  for (const auto& url : cfg->storage) out.push_back(CheckStorage(*cfg, url));
  add(CheckSumdb(*cfg, options.http_timeout));
  add(CheckProxyAuth(*cfg));
  add(CheckClock(*cfg, options.http_timeout, options.clock_skew));
  return out;
}

}  // namespace modpub::doctor
