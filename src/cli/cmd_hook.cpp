// `modpub hook install|uninstall`: put modpub's receive hooks into a repository, or take
// them out again (receive/install.hpp has the rules: chaining, idempotence, restore).
// The shims exec the modpub-hook program installed next to this `modpub` binary.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string_view>

#include "cli/commands.hpp"
#include "modpub/receive/install.hpp"

namespace fs = std::filesystem;

namespace modpub::cli {
namespace {

constexpr std::string_view kShimTemplate =
#include "../../hooks/shim.sh.inc"
    ;

struct HookOptions {
  std::string repo;
  std::string config;
};

// modpub-hook beside the running executable (/proc/self/exe, symlinks resolved).
fs::path HookProgram() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::path("modpub-hook");
  return self.parent_path() / "modpub-hook";
}

int Print(const Result<std::vector<std::string>>& r) {
  if (!r) {
    std::cerr << "modpub: " << r.message() << "\n";
    return 1;
  }
  for (const auto& line : *r) std::cout << "modpub: " << line << "\n";
  return 0;
}

void RegisterHook(CLI::App& app, int* exit_code) {
  CLI::App* hook = app.add_subcommand(
      "hook", "Install or remove modpub's pre-receive/post-receive hooks in a repository.");
  hook->require_subcommand(1);

  auto opts = std::make_shared<HookOptions>();
  CLI::App* install = hook->add_subcommand(
      "install",
      "Install pre-receive and post-receive hooks (into core.hooksPath if set) that run\n"
      "modpub-hook. An existing hook is kept and runs first; its refusal stands.\n"
      "Running it again is harmless.");
  install->add_option("--repo", opts->repo, "the (bare) repository")->required();
  install->add_option("--config", opts->config,
                      "modpub TOML configuration the hooks read (default: see modpub-hook)");
  install->callback([opts, exit_code] {
    receive::InstallOptions o;
    o.repo = opts->repo;
    o.program = HookProgram();
    if (!opts->config.empty()) o.config = opts->config;
    o.shim_template = std::string(kShimTemplate);
    *exit_code = Print(receive::Install(o));
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
