#include "modpub/mirror/mirror.hpp"

// Boost.Process starts children with vfork only when this is set; its config turns vfork
// off whenever _POSIX_C_SOURCE >= 200809L (POSIX 2008 dropped vfork from the standard,
// Linux keeps it). See RunGit for why the daemon wants it. Only this file includes
// Boost.Process.
#define BOOST_POSIX_HAS_VFORK 1

#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "modpub/git/git.hpp"
#include "modpub/receive/receive.hpp"

namespace modpub::mirror {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;

std::mutex& MirrorMutex(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<std::mutex>> locks;
  std::lock_guard lock(mu);
  auto& m = locks[path];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

std::string Base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string LastLines(const std::string& text, int n) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  for (std::size_t i = lines.size() > static_cast<std::size_t>(n) ? lines.size() - n : 0;
       i < lines.size(); ++i) {
    out += (out.empty() ? "" : "; ") + lines[i];
  }
  return out;
}

bool SafeTag(const std::string& tag) {
  if (tag.empty() || tag.front() == '-' || tag.find("..") != std::string::npos) return false;
  for (char c : tag) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == '/' || c == '+'))
      return false;
  }
  return true;
}

// Runs git with `args`; Fail carries stderr's last lines. Credentials go into the
// environment only.
Status RunGit(const config::RepoConfig& repo, const std::vector<std::string>& args,
              std::chrono::milliseconds timeout, const std::string& what) {
  // A copy: the native environment object would setenv() on this very process (a data race
  // in the multi-threaded daemon, and the token would stay in modpubd's environment).
  // Only set()/erase() on it: Boost 1.74's find() and operator[] read past short entries.
  bp::environment env = boost::this_process::environment();
  for (const char* k :
       {"GIT_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_QUARANTINE_PATH", "GIT_INDEX_FILE", "GIT_CONFIG_PARAMETERS"}) {
    env.erase(k);  // no find(): Boost 1.74's reads past short entries (ASan)
  }
  env.set("GIT_TERMINAL_PROMPT", "0");
  env.set("GIT_CONFIG_NOSYSTEM", "1");
  int count = 0;
  if (!repo.remote_token_file.empty()) {
    std::ifstream in(repo.remote_token_file);
    if (!in) return Fail("cannot read remote_token_file " + repo.remote_token_file);
    std::string token;
    std::getline(in, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    if (token.empty()) return Fail("remote_token_file " + repo.remote_token_file + " is empty");
    std::string user = repo.provider == "gitlab" ? "oauth2" : "x-access-token";
    env.set("GIT_CONFIG_KEY_0", "http.extraHeader");
    env.set("GIT_CONFIG_VALUE_0", "Authorization: Basic " + Base64(user + ":" + token));
    count = 1;
  }
  env.set("GIT_CONFIG_COUNT", std::to_string(count));
  if (!repo.remote_ssh_key.empty()) {
    if (repo.remote_ssh_key.find('\'') != std::string::npos) {
      return Fail("remote_ssh_key path must not contain a single quote");
    }
    env.set("GIT_SSH_COMMAND",
            "ssh -i '" + repo.remote_ssh_key + "' -o IdentitiesOnly=yes -o BatchMode=yes");
  }
  char tmpl[] = "/tmp/modpub-git-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return Fail("cannot create a temporary file for git's messages");
  ::close(fd);
  const std::string err_path = tmpl;
  struct Cleanup {
    std::string p;
    ~Cleanup() { ::unlink(p.c_str()); }
  } cleanup{err_path};

  // git starts from the default signal state. modpubd blocks SIGTERM and SIGINT in every
  // thread (the main thread takes them with sigtimedwait) and ignores SIGPIPE; a blocked
  // mask and an ignored disposition both survive execve, so git would ignore the SIGTERM
  // systemd sends the whole unit on stop, and would not die of a closed pipe.
  auto default_signals = bp::extend::on_exec_setup([](auto&) {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
  });
  // vfork, not fork: the child borrows the daemon's memory until execve. fork marks every
  // page of the large multi-threaded daemon copy-on-write, and the next write by any
  // thread to each page then faults and flushes the TLB of every core: under a webhook
  // burst with jobs running that cost about a tenth of the machine (bench/webhook, perf).
  // The child runs only the descriptor set-up above and Boost's dup2 calls before execve.
  std::error_code ec;
  bp::child child(bp::search_path("git"), bp::args(args), env,
                  bp::std_in<bp::null, bp::std_out> bp::null, bp::std_err > err_path,
                  default_signals, bp::posix::use_vfork, ec);
  if (ec) return Fail(what + ": cannot run git: " + ec.message());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sleep = std::chrono::milliseconds(1);
  while (child.running(ec)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      child.terminate(ec);
      return Fail(what + ": git did not finish within " + std::to_string(timeout.count()) +
                  " ms (webhook.fetch_timeout_ms)");
    }
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::milliseconds(50));
  }
  if (ec) return Fail(what + ": waiting for git: " + ec.message());
  int code = child.exit_code();
  if (code != 0) {
    std::ifstream in(err_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return Fail(what + ": git exited with " + std::to_string(code) + ": " + LastLines(ss.str(), 3));
  }
  return Ok();
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto start = scheme + 3;
  auto slash = url.find('/', start);
  auto at = url.rfind('@', slash == std::string::npos ? url.size() : slash);
  if (at == std::string::npos || at < start) return url;
  return url.substr(0, start) + url.substr(at + 1);
}

Status FetchTag(const config::RepoConfig& repo, const std::string& tag,
                std::chrono::milliseconds timeout) {
  if (!SafeTag(tag)) return Fail("tag \"" + tag + "\" has characters modpub does not fetch");
  std::lock_guard lock(MirrorMutex(repo.path));
  const std::string remote = RedactUrl(repo.remote_url);
  if (!fs::exists(fs::path(repo.path) / "HEAD")) {
    std::error_code ec;
    fs::create_directories(fs::path(repo.path).parent_path(), ec);
    if (auto s = RunGit(repo, {"init", "--bare", "-q", repo.path}, timeout,
                        "creating the mirror " + repo.path);
        !s) {
      return s;
    }
  }
  return RunGit(repo,
                {"-C", repo.path, "fetch", "--no-tags", "--no-write-fetch-head", "-q", "--",
                 repo.remote_url, "+refs/tags/" + tag + ":refs/tags/" + tag},
                timeout, "fetching tag " + tag + " from " + remote);
}

Result<std::vector<std::string>> Validate(const config::RepoConfig& repo, const std::string& tag) {
  auto r = git::Repository::Open(repo.path);
  if (!r) return r.error();
  auto tagged = r->ResolveTag(tag);
  if (!tagged) return std::vector<std::string>{tag + ": " + tagged.message()};
  receive::Policy policy;
  policy.repo = repo;  // import path, allowed prefixes (a fetched tag is always new here)
  receive::RefUpdate u;
  u.new_id = tagged->commit;
  u.ref = "refs/tags/" + tag;
  return receive::Review(*r, policy, {u}).problems;
}

Prepared Prepare(const config::Config& cfg, const config::RepoConfig& repo,
                 const std::string& tag) {
  if (auto s = FetchTag(repo, tag, cfg.webhook.fetch_timeout); !s) {
    return {Prepared::kRetry, s.message()};
  }
  auto problems = Validate(repo, tag);
  if (!problems) return {Prepared::kRetry, problems.message()};
  if (!problems->empty()) {
    std::string msg =
        "tag " + tag + " fetched from " + RedactUrl(repo.remote_url) + " cannot be published:";
    for (const auto& p : *problems) msg += "\n" + p;
    return {Prepared::kFail, msg};
  }
  return {};
}

}  // namespace modpub::mirror
