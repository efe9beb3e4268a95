// `modpub zip`: build the module(s) a tag publishes into a GOPROXY tree.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "modpub/git/git.hpp"
#include "modpub/modzip/modzip.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"

namespace fs = std::filesystem;

namespace modpub::cli {
namespace {

struct ZipOptions {
  std::string repo;
  std::string import_path;
  std::string tag;
  std::string out;
};

void PrintRefusal(const std::string& message) {
  std::size_t start = 0;
  while (start < message.size()) {
    auto nl = message.find('\n', start);
    std::cerr << "modpub: refused " << message.substr(start, nl - start) << "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

Status WriteFile(const fs::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << data;
  f.close();
  if (!f) return Fail(p.string() + ": write failed");
  return Ok();
}

// Adds `version` to the @v/list file in `dir`, keeping it sorted and free of duplicates.
Status AddToList(const fs::path& dir, const std::string& version) {
  std::vector<std::string> versions;
  {
    std::ifstream in(dir / "list");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line != version) versions.push_back(line);
    }
  }
  versions.push_back(version);
  semver::Sort(versions);
  std::string text;
  for (const auto& v : versions) text += v + "\n";
  return WriteFile(dir / "list", text);
}

int RunZip(const ZipOptions& o) {
  auto repo = git::Repository::Open(o.repo);
  if (!repo) {
    std::cerr << "modpub: " << repo.message() << "\n";
    return 2;
  }
  auto modules = modzip::Resolve(*repo, o.import_path, o.tag);
  if (!modules) {
    PrintRefusal(modules.message());
    return 1;
  }
  // Every module is checked and built into a staging directory first, so that a refused
  // tag leaves nothing behind in --out.
  fs::path out = fs::absolute(o.out);
  std::error_code ec;
  bool created_out = !fs::exists(out, ec);
  fs::create_directories(out, ec);
  if (ec) {
    std::cerr << "modpub: " << out.string() << ": " << ec.message() << "\n";
    return 2;
  }
  fs::path staging = out / (".modpub-staging-" + std::to_string(getpid()));
  fs::create_directories(staging, ec);
  auto cleanup = [&] {
    fs::remove_all(staging, ec);
    if (created_out) fs::remove(out, ec);
  };
  std::vector<modzip::BuiltModule> built;
  bool failed = false;
  for (std::size_t i = 0; i < modules->size(); ++i) {
    auto b = modzip::Build(*repo, (*modules)[i], staging / (std::to_string(i) + ".zip"));
    if (!b) {
      PrintRefusal(b.message());
      failed = true;
      continue;
    }
    built.push_back(std::move(*b));
  }
  if (failed) {
    cleanup();
    return 1;
  }

  for (const auto& b : built) {
    auto esc_path = module::EscapePath(b.mv.path);
    auto esc_version = module::EscapeVersion(b.mv.version);
    if (!esc_path || !esc_version) {
      std::cerr << "modpub: " << (esc_path ? esc_version.message() : esc_path.message()) << "\n";
      cleanup();
      return 1;
    }
    fs::path dir = out / *esc_path / "@v";
    fs::create_directories(dir, ec);
    fs::path base = dir / *esc_version;
    fs::path info = base.string() + ".info", mod = base.string() + ".mod",
             zip = base.string() + ".zip";
    fs::rename(b.zip, zip, ec);
    Status st = ec ? Status(Fail(zip.string() + ": " + ec.message())) : WriteFile(mod, b.mv.mod);
    if (st) st = WriteFile(info, b.mv.info);
    if (st) st = AddToList(dir, b.mv.version);
    if (!st) {
      std::cerr << "modpub: " << st.message() << "\n";
      cleanup();
      return 2;
    }
    nlohmann::ordered_json j;
    j["Path"] = b.mv.path;
    j["Version"] = b.mv.version;
    j["Info"] = info.string();
    j["GoMod"] = mod.string();
    j["Zip"] = zip.string();
    j["Sum"] = b.sum;
    j["GoModSum"] = b.gomod_sum;
    std::cout << j.dump() << "\n";
  }
  fs::remove_all(staging, ec);
  return 0;
}

}  // namespace

void RegisterZip(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<ZipOptions>();
  CLI::App* cmd = app.add_subcommand(
      "zip",
      "Build the module(s) that a version tag publishes, exactly as the go command would,\n"
      "into a GOPROXY tree: <out>/<escaped module path>/@v/{list,<v>.info,<v>.mod,<v>.zip}.\n"
      "Prints one JSON line per module with the fields of `go mod download -json`\n"
      "(Path, Version, Info, GoMod, Zip, Sum, GoModSum). A tag the go command could not\n"
      "fetch is refused: one line per problem on stderr, exit status 1, nothing written.");
  cmd->add_option("--repo", opts->repo, "git repository (bare or not) holding the tag")
      ->required();
  cmd->add_option("--import-path", opts->import_path,
                  "import path of the repository root, e.g. example.com/lib")
      ->required();
  cmd->add_option("--tag", opts->tag, "version tag, e.g. v1.2.3 or sub/dir/v2.0.0")->required();
  cmd->add_option("--out", opts->out, "directory of the GOPROXY tree to write")->required();
  cmd->callback([opts, exit_code] { *exit_code = RunZip(*opts); });
}

}  // namespace modpub::cli
