// Loading modpub.toml: toml++ parses, the key table (keys.hpp) says what each table may
// hold and how each value is checked; every problem is collected with its position.
#include "modpub/config/config.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "modpub/config/checker.hpp"
#include "modpub/config/keys.hpp"

namespace modpub::config {
namespace {

using internal::Checker;
using internal::Key;
using internal::Kind;
using internal::Scope;

// Reads the [name] table or every [[name]] table of `section` found in `root`.
void ReadTables(const Key& section, const toml::table& root, Checker& c, Config& cfg,
                std::map<std::string, int>& repo_paths) {
  const std::string name(section.name);
  const toml::node* n = root.get(name);
  if (!n) return;
  if (section.kind == Kind::kTable) {
    const toml::table* t = n->as_table();
    if (!t) {
      c.Problem(n->source(), name, "must be a table ([" + name + "])");
      return;
    }
    Scope scope{
        .checker = c, .cfg = cfg, .table = *t, .prefix = name + ".", .repo_paths = repo_paths};
    internal::ReadSection(section, scope);
    return;
  }
  const toml::array* a = n->as_array();
  if (!a || !a->is_array_of_tables()) {
    c.Problem(n->source(), name, "must be an array of tables ([[" + name + "]] blocks)");
    return;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    Scope scope{.checker = c,
                .cfg = cfg,
                .table = *a->get(i)->as_table(),
                .prefix = name + "[" + std::to_string(i) + "].",
                .repo_paths = repo_paths};
    internal::ReadSection(section, scope);
  }
}

}  // namespace

bool RepoConfig::AllowsModule(std::string_view module_path) const {
  for (const auto& prefix : allowed_prefixes) {
    if (module_path.size() < prefix.size()) continue;
    if (module_path.substr(0, prefix.size()) != prefix) continue;
    if (module_path.size() == prefix.size() || module_path[prefix.size()] == '/') return true;
  }
  return false;
}

const RepoConfig* Config::FindRepo(const std::string& repo_path) const {
  const std::string want = internal::CanonicalOrLexical(repo_path);
  for (const auto& r : repositories) {
    if (internal::CanonicalOrLexical(r.path) == want) return &r;
  }
  return nullptr;
}

bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  std::string h, p;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return false;
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
    if (h.find(':') != std::string::npos) return false;
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
  }
  int v = std::atoi(p.c_str());
  if (v < 1 || v > 65535) return false;
  *host = h;
  *port = v;
  return true;
}

Result<Config> ParseConfig(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": TOML syntax: " << e.description();
    return Fail(s.str());
  }

  Config cfg;
  cfg.source = source_name;
  Checker c(source_name);
  std::map<std::string, int> repo_paths;  // canonical path -> line
  // The sections in table order: the top level first (the others depend on it).
  for (const Key& section : internal::Keys()) {
    if (section.kind == Kind::kValue) continue;
    if (section.name.empty()) {
      Scope top{
          .checker = c, .cfg = cfg, .table = root, .top_level = true, .repo_paths = repo_paths};
      internal::ReadSection(section, top);
    } else {
      ReadTables(section, root, c, cfg, repo_paths);
    }
  }
  if (!c.ok()) return Fail(c.Message());
  return cfg;
}

Result<Config> LoadConfig(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Fail(path + ": is a directory, not a configuration file (give the TOML file, e.g. " +
                "/etc/modpub/modpub.toml)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(path + ": cannot read the configuration file: " +
                std::error_code(errno, std::generic_category()).message());
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Fail(path + ": cannot read the configuration file");
  return ParseConfig(s.str(), path);
}

}  // namespace modpub::config
