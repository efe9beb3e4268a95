// Subcommands of the `modpub` CLI. Each cmd_*.cpp registers its subcommands with one
// namespace-scope `const Registration` object; main.cpp only runs the registrations in
// `order` (the order `modpub --help` lists them). A subcommand's callback stores its exit
// status in `*exit_code`. The CLI sources are linked into the executable directly (not
// through a static library), so every registration object is constructed.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/admin/operations.hpp"
#include "modpub/base/text.hpp"  // Plural
#include "modpub/config/config.hpp"
#include "modpub/publish/publish.hpp"

namespace modpub::cli {

// Exit statuses the subcommands share: 1 = a tag or version refused (or, for jobs, ls: not
// found), 2 = something failed (I/O, a storage, bad arguments the parser let through).
// A usage error (no command, an unknown option, a missing argument) is 2 as well.
inline constexpr int kExitRefused = 1;
inline constexpr int kExitFailed = 2;
inline constexpr int kExitUsage = 2;

// The configuration a command reads, looked up in this one place: `flag` (its --config)
// when given, else $MODPUB_CONFIG (as the hooks do, receive/settings.hpp), else "".
std::string ConfigPath(const std::string& flag);
// Loads the configuration at `path` (from ConfigPath); prints every problem on stderr,
// naming $MODPUB_CONFIG when the path came from there, and returns nullopt when it does
// not load.
std::optional<config::Config> LoadCliConfig(const std::string& path);
// The help line of a --config option: what the command takes from the file.
std::string ConfigHelp(const std::string& what);

// The caller of an admin operation from the command line (admin/operations.hpp):
// unix:<user>, its audit lines also on stderr, which the log level (warn unless -v) would
// keep them from.
admin::Caller AuditCaller();

// A table for people: a header row and rows, every column but the last padded to its
// widest cell, two spaces apart. Scripts use a command's --json instead.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A refused tag's problems on stderr, one "modpub: refused <tag>: <rule>" line each.
// The problems usually name the tag already ("<tag>: <file>: <rule>"); one that does
// not gets it put in front ("tag v9.9.9 does not exist" -> "v9.9.9: tag does not exist").
void PrintRefused(const std::string& tag, const std::string& problems);
// The same problems as one-line texts, each starting "<tag>: " (for tables and JSON).
std::vector<std::string> RefusalLines(const std::string& tag, const std::string& problems);
// For a tag that published nothing (kInvalid, kFailed): prints why and returns the exit
// status; 0 for kDone, whose reports the caller prints.
int ReportUnpublished(const std::string& tag, const publish::TagResult& result);

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
