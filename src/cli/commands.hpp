// Subcommands of the `modpub` CLI. Each Register* adds one subcommand to `app` and wires
// it to the library; main.cpp only calls them. A subcommand's callback stores its exit
// status in `*exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace modpub::cli {

void RegisterZip(CLI::App& app, int* exit_code);
void RegisterPublish(CLI::App& app, int* exit_code);   // publish, backfill, ls

}  // namespace modpub::cli
