// The configuration as data: one table of every key of modpub.toml, from which the
// loader (config.cpp), the unknown-key check, the effective configuration that
// `modpubd --check-config` can print and the commented examples/modpub.toml
// (render.cpp) are all derived, so that a key is written down exactly once.
//
// Rows come in file order. A table row ("daemon", or "" for the top level) is followed
// by the rows of its keys ("daemon.workers"); the loader reads the sections in this
// order, which is also the order their cross-key rules depend on (proxy and sumdb need
// storage, daemon.http_listen and state_dir; repositories need state_dir).
// Defaults are not in the table: they are the member initializers of Config and
// RepoConfig (plain data), read through each row's `field`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "modpub/config/config.hpp"

namespace modpub::config::internal {

// Where a key's value goes: a member of Config, or, for repository.* keys, of the
// RepoConfig being read. The alternative is the key's TOML type (milliseconds: an
// integer of milliseconds).
using Field = std::variant<std::string*, std::vector<std::string>*, bool*, int*, std::int64_t*,
                           std::chrono::milliseconds*>;

enum class Kind {
  kValue,   // a key
  kTable,   // [name]
  kTables,  // [[name]], one table per element
};

struct Scope;  // what a table's cross-key rules see (checker.hpp)

struct Key {
  std::string_view name = {};  // full name: "socket", "daemon.workers", a table: "daemon"
  Kind kind = Kind::kValue;
  // Value rows: the destination (repo is a scratch RepoConfig outside [[repository]]).
  Field (*field)(Config& cfg, RepoConfig& repo) = nullptr;
  std::int64_t min = 0, max = 0;               // integer rows: the accepted range
  std::vector<std::string_view> choices = {};  // string rows: the accepted values, if limited
  // String rows and string-array elements: "" when `value` is fine, else the problem.
  std::string (*check)(const std::string& value) = nullptr;
  // Non-null: the key must be present; the text after "missing (required)".
  const char* required = nullptr;
  bool secret = false;  // never printed with its value (webhook secrets)
  // Table rows: the rules that span keys, run once the table's keys are read.
  void (*finish)(Scope& scope) = nullptr;
  // Table rows: whether a loaded configuration has the table (nullptr: always).
  bool (*present)(const Config& cfg) = nullptr;
  // Value rows: the example's value (TOML) when it is not the default: required keys,
  // and defaults computed from other keys. Table rows: TOML appended to the example after
  // the table's documented keys (for [[tables]]: a further element, showing another use).
  std::string_view example = {};
  // In the example, the line (for a table row: the whole table) is a comment: the key
  // is optional and off unless written (a table's presence turns it on).
  bool commented = false;
  std::string_view help = {};  // what it is for; lines separated by '\n'
};

// Every row, in file order.
const std::vector<Key>& Keys();

// "daemon" for "daemon.workers", "" for a top-level key.
std::string_view SectionOf(const Key& key);
// "workers" for "daemon.workers"; a top-level key's whole name.
std::string_view LeafOf(const Key& key);
// The value rows of `section` ("" = the top level), in order.
std::vector<const Key*> KeysOf(std::string_view section);

}  // namespace modpub::config::internal
