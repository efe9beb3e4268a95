// Where the CLI finds its configuration (commands.hpp): one lookup for every command.
#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"

namespace modpub::cli {

std::string ConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("MODPUB_CONFIG");
  return env ? env : "";
}

std::optional<config::Config> LoadCliConfig(const std::string& path) {
  auto cfg = config::LoadConfig(path);
  if (cfg) return std::move(*cfg);
  std::size_t start = 0;
  const std::string& text = cfg.message();
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::cerr << "modpub: " << text.substr(start, nl == std::string::npos ? nl : nl - start)
              << "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  const char* env = std::getenv("MODPUB_CONFIG");
  std::cerr << "modpub: " << path << (env && path == env ? " (from $MODPUB_CONFIG)" : "")
            << ": the configuration does not load; fix it (modpubd --check-config " << path
            << " explains each problem) or give another with --config\n";
  return std::nullopt;
}

std::string ConfigHelp(const std::string& what) {
  return "modpub configuration file (default: $MODPUB_CONFIG): " + what;
}

}  // namespace modpub::cli
