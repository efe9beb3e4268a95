// Reading one TOML table by the key table (keys.hpp), collecting every problem with its
// position, so that `modpubd --check-config` can list them all at once.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/config/config.hpp"
#include "modpub/config/keys.hpp"

namespace modpub::config::internal {

class Checker {
 public:
  explicit Checker(std::string source) : source_(std::move(source)) {}

  // "<file>:<line>:<column>: <key>: <what>".
  void Problem(const toml::source_region& where, const std::string& key, const std::string& what);
  // "<file>: <key>: <what>", for what has no position (a key missing at the top level).
  void Problem(const std::string& key, const std::string& what);

  // Reports every key of `table` not in `known` (with its position).
  void Unknown(const toml::table& table, const std::string& prefix,
               const std::set<std::string>& known);

  // Reads `n` into the field of `key`, checking the type, range, choices and `check`;
  // `name` is the key as messages name it ("repository[0].path"). False when it could not
  // be read (a problem was reported), or, for strings, only when the type is wrong: a
  // string that breaks a rule is kept, so that cross-key rules see that it was set.
  bool Read(const toml::node& n, const std::string& name, const Key& key, std::string* out);
  bool Read(const toml::node& n, const std::string& name, const Key& key, bool* out);
  bool Read(const toml::node& n, const std::string& name, const Key& key,
            std::vector<std::string>* out);
  bool Read(const toml::node& n, const std::string& name, const Key& key, int* out);
  bool Read(const toml::node& n, const std::string& name, const Key& key, std::int64_t* out);
  bool Read(const toml::node& n, const std::string& name, const Key& key,
            std::chrono::milliseconds* out);

  static std::string Join(const std::set<std::string>& s);
  bool ok() const { return problems_.empty(); }
  std::string Message() const;

 private:
  bool ReadInt(const toml::node& n, const std::string& name, const Key& key, std::int64_t* out);
  // The choices and the check of a string that has the right type.
  void CheckString(const toml::node& n, const std::string& name, const Key& key,
                   const std::string& value);

  std::string source_;
  std::vector<std::string> problems_;
};

// One table being read: the section's rows, where they go, and what was read.
struct Scope {
  Checker& checker;
  Config& cfg;
  const toml::table& table;
  std::string prefix = {};  // how messages name the table: "", "daemon.", "repository[1]."
  bool top_level = false;
  // Repository paths seen so far (canonical path -> line), for duplicates.
  std::map<std::string, int>& repo_paths;
  RepoConfig repo = {};             // the [[repository]] being read (scratch elsewhere)
  std::set<std::string> read = {};  // leaf names read successfully

  bool WasRead(std::string_view leaf) const { return read.count(std::string(leaf)) > 0; }
  const toml::node* Node(std::string_view leaf) const { return table.get(leaf); }
  // The key's position, or the table's when the key is absent.
  toml::source_region Where(std::string_view leaf) const;
  int Line() const { return static_cast<int>(table.source().begin.line); }
  void Problem(const toml::source_region& where, std::string_view leaf, const std::string& what);
  // "missing (required)", at the table (no position at the top level).
  void Missing(std::string_view leaf, const char* hint);
};

// Reads every row of `section` from scope.table, then runs the section's `finish`.
void ReadSection(const Key& section, Scope& scope);

// The canonical path (realpath), or the lexically normal absolute path where `p` does not
// exist: two spellings of one repository compare equal.
std::string CanonicalOrLexical(const std::string& p);

}  // namespace modpub::config::internal
