// `modpub hook install|uninstall`: put modpub's receive hooks into a repository, or into
// every repository a configuration lists (--all), or take them out again
// (receive/install.hpp has the rules: chaining, idempotence, restore).
// The shims find modpub-hook when git runs them ($MODPUB_HOOK, PATH); the modpub-hook
// installed next to this `modpub` binary is recorded as their last fallback.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string_view>

#include "cli/commands.hpp"
#include "modpub/config/config.hpp"
#include "modpub/receive/install.hpp"

namespace fs = std::filesystem;

namespace modpub::cli {
namespace {

constexpr std::string_view kShimTemplate =
#include "../../hooks/shim.sh.inc"
    ;

// Where --all looks when neither --config nor $MODPUB_CONFIG names a file: the Debian
// package's configuration.
constexpr char kDefaultConfig[] = "/etc/modpub/modpub.toml";

struct HookOptions {
  std::string repo;
  bool all = false;
  std::string config;
};

// modpub-hook beside the running executable (/proc/self/exe, symlinks resolved).
fs::path HookProgram() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::path("modpub-hook");
  return self.parent_path() / "modpub-hook";
}

// --config, else $MODPUB_CONFIG (ConfigPath): baked into the shims, since git runs hooks
// in the pushing user's environment, where MODPUB_CONFIG is rarely set.
std::optional<fs::path> ConfigFile(const HookOptions& o) {
  std::string path = ConfigPath(o.config);
  if (path.empty()) return std::nullopt;
  return fs::path(path);
}

receive::InstallOptions InstallFor(const fs::path& repo, const std::optional<fs::path>& config) {
  return {repo, HookProgram(), config, std::string(kShimTemplate)};
}

int Print(const Result<std::vector<std::string>>& r) {
  if (!r) {
    std::cerr << "modpub: " << r.message() << "\n";
    return 1;
  }
  for (const auto& line : *r) std::cout << "modpub: " << line << "\n";
  return 0;
}

// Installs into every [[repository]] with a local path; one line each. 1 if any failed.
int InstallAll(const std::optional<fs::path>& given) {
  std::error_code ec;
  fs::path file = fs::absolute(given.value_or(kDefaultConfig), ec).lexically_normal();
  auto cfg = LoadCliConfig(file.string());
  if (!cfg) return 1;
  if (cfg->repositories.empty()) {
    std::cerr << "modpub: " << file.string()
              << ": no [[repository]] to install hooks into; add one first\n";
    return 1;
  }
  int failed = 0;
  for (const auto& repo : cfg->repositories) {
    const std::string name = repo.path + " (" + repo.import_path + ")";
    if (!repo.remote_url.empty()) {
      std::cout << "modpub: " << name << ": skipped, a webhook mirror of " << repo.remote_url
                << " gets no hooks\n";
      continue;
    }
    auto r = receive::Install(InstallFor(repo.path, file));
    if (!r) {
      std::cerr << "modpub: " << name << ": " << r.message() << "\n";
      ++failed;
      continue;
    }
    std::string joined;
    for (const auto& line : *r) joined += (joined.empty() ? "" : "; ") + line;
    std::cout << "modpub: " << name << ": " << joined << "\n";
  }
  if (failed > 0) {
    std::cerr << "modpub: hooks not installed in " << failed << " of " << cfg->repositories.size()
              << " repositories (see above)\n";
  }
  return failed > 0 ? 1 : 0;
}

void RegisterHook(CLI::App& app, int* exit_code) {
  CLI::App* hook = app.add_subcommand(
      "hook", "Install or remove modpub's pre-receive/post-receive hooks in a repository.");
  hook->require_subcommand(1);

  auto opts = std::make_shared<HookOptions>();
  CLI::App* install = hook->add_subcommand(
      "install",
      "Install pre-receive and post-receive hooks (into core.hooksPath if set) that run\n"
      "modpub-hook: $MODPUB_HOOK, else modpub-hook on PATH, else the one beside this\n"
      "modpub. An existing hook is kept and runs first; its refusal stands. Running it\n"
      "again is harmless and refreshes hooks of an older modpub.");
  auto* repo = install->add_option("--repo", opts->repo, "the (bare) repository");
  auto* all = install->add_flag(
      "--all", opts->all,
      "every [[repository]] of the configuration that has a local path (webhook mirrors,\n"
      "with remote_url, are skipped); configuration: --config, $MODPUB_CONFIG, else\n" +
          std::string(kDefaultConfig));
  repo->excludes(all);
  all->excludes(repo);
  install->add_option("--config", opts->config,
                      "modpub TOML configuration the hooks read (default: $MODPUB_CONFIG;\n"
                      "without either, see modpub-hook --help)");
  install->callback([opts, exit_code] {
    if (opts->repo.empty() && !opts->all) {
      std::cerr << "modpub: hook install: name the repository with --repo, or use --all\n";
      *exit_code = kExitFailed;
      return;
    }
    if (opts->all) {
      *exit_code = InstallAll(ConfigFile(*opts));
      return;
    }
    *exit_code = Print(receive::Install(InstallFor(opts->repo, ConfigFile(*opts))));
  });

  auto uopts = std::make_shared<HookOptions>();
  CLI::App* uninstall = hook->add_subcommand(
      "uninstall", "Remove modpub's hooks and put back the hooks they replaced.");
  uninstall->add_option("--repo", uopts->repo, "the (bare) repository")->required();
  uninstall->callback([uopts, exit_code] { *exit_code = Print(receive::Uninstall(uopts->repo)); });
}

}  // namespace

const Registration kRegistration{50, RegisterHook};

}  // namespace modpub::cli
