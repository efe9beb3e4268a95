// modpub: publish private Go modules from git tags. This file only wires subcommands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "cli/commands.hpp"
#include "modpub/fsio/env.hpp"

namespace modpub::cli {
namespace {
std::vector<std::pair<int, RegisterFn>>& Registry() {
  static std::vector<std::pair<int, RegisterFn>> registry;  // built before main runs
  return registry;
}
}  // namespace

Registration::Registration(int order, RegisterFn fn) { Registry().emplace_back(order, fn); }

void RegisterAll(CLI::App& app, int* exit_code) {
  auto& all = Registry();
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& entry : all) entry.second(app, exit_code);
}
}  // namespace modpub::cli

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("modpub"));
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{
      "modpub publishes private Go modules from git version tags: it builds the module zip,\n"
      ".mod and .info exactly as the go command would, and writes them into proxy storage."};
  app.set_version_flag("--version", "modpub " MODPUB_VERSION);
  app.footer(
      "Run `modpub <command> --help` for a command's options. Without a command, modpub\n"
      "prints this help on stderr and exits with status 2, as for any usage error (an\n"
      "unknown option, a missing argument). Commands that read the configuration take\n"
      "--config <toml>, else $MODPUB_CONFIG.");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log progress to stderr");
  // For the crash-safety tests (hidden): sleep between the steps of every durable write,
  // so that a kill can land on any step. Wired here through fsio's Env, never read from
  // the environment by the library.
  int step_delay_ms = 0;
  app.add_option("--step-delay-ms", step_delay_ms)->group("")->check(CLI::Range(0, 60000));
  static std::unique_ptr<modpub::fsio::SlowStepsEnv> slow_steps;
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::info);
    if (step_delay_ms > 0) {
      slow_steps =
          std::make_unique<modpub::fsio::SlowStepsEnv>(std::chrono::milliseconds(step_delay_ms));
      modpub::fsio::SetEnv(slow_steps.get());
    }
  });

  int exit_code = 0;
  modpub::cli::RegisterAll(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with status 0; every real one is a usage error.
    return app.exit(e) == 0 ? 0 : modpub::cli::kExitUsage;
  }
  if (app.get_subcommands().empty()) {
    std::cerr << app.help();
    return modpub::cli::kExitUsage;
  }
  return exit_code;
}
