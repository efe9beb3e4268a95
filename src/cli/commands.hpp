// Subcommands of the `modpub` CLI. Each cmd_*.cpp registers its subcommands with one
// namespace-scope `const Registration` object; main.cpp only runs the registrations in
// `order` (the order `modpub --help` lists them). A subcommand's callback stores its exit
// status in `*exit_code`. The CLI sources are linked into the executable directly (not
// through a static library), so every registration object is constructed.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "modpub/publish/publish.hpp"

namespace modpub::cli {

// Exit statuses the subcommands share: 1 = a tag or version refused (or, for jobs, not
// found), 2 = something failed (I/O, a storage, bad arguments the parser let through).
inline constexpr int kExitRefused = 1;
inline constexpr int kExitFailed = 2;

// A refused tag's problems on stderr, one "modpub: refused <problem>" line each (the
// problems name the tag: "<tag>: <file>: <rule>").
void PrintRefused(const std::string& problems);
// For a tag that published nothing (kInvalid, kFailed): prints why and returns the exit
// status; 0 for kDone, whose reports the caller prints.
int ReportUnpublished(const publish::TagResult& result);

// For a command that builds zips (publish, backfill): sweeps the build directories that
// killed runs left under `build_root`, then, on SIGINT, SIGTERM or SIGHUP, removes the
// ones this process made, says so and exits with 128 + the signal. Call before any other
// thread starts (the signals are blocked in the caller and taken by a thread of its own).
void CleanUpOnInterrupt(const std::filesystem::path& build_root);

// Reads a key file (modpub keygen): its first line, trailing white space removed.
Result<std::string> ReadKeyFile(const std::string& file);

using RegisterFn = void (*)(CLI::App& app, int* exit_code);

struct Registration {
  Registration(int order, RegisterFn fn);
};

// Adds every registered subcommand to `app`.
void RegisterAll(CLI::App& app, int* exit_code);

}  // namespace modpub::cli
