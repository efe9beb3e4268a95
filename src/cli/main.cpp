// modpub: publish private Go modules from git tags. This file only wires subcommands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("modpub"));
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{
      "modpub publishes private Go modules from git version tags: it builds the module zip,\n"
      ".mod and .info exactly as the go command would, and writes them into proxy storage."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "modpub 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log progress to stderr");
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::info);
  });

  int exit_code = 0;
  modpub::cli::RegisterZip(app, &exit_code);
  modpub::cli::RegisterPublish(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
