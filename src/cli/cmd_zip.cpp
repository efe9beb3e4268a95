// `modpub zip`: build the module(s) a tag publishes into a GOPROXY tree.
//
// The same pipeline as `modpub publish --to file://<out>` (modpub::publish, with the
// GOPROXY-tree backend storage::FsTree, the one place that knows that layout), with the
// output of `go mod download -json`. So the tree is written atomically and immutably: a
// version already stored with the same bytes is left as is, one stored with other bytes
// is refused and kept.
//
// Exit status: 0 written (or already there, identical); 1 refused (the tag names no
// module go could fetch, or --out holds other content for the version); 2 the repository
// or --out cannot be used. A refused tag leaves --out as it was: modules are built in a
// private temporary directory, and --out is created only by the first write.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "modpub/git/git.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/storage/fs_tree.hpp"

namespace fs = std::filesystem;

namespace modpub::cli {
namespace {

struct ZipOptions {
  std::string repo;
  std::string import_path;
  std::string tag;
  std::string out;
};

int RunZip(const ZipOptions& o) {
  auto repo = git::Repository::Open(o.repo);
  if (!repo) {
    std::cerr << "modpub: " << repo.message() << "\n";
    return kExitFailed;
  }
  std::error_code ec;
  fs::path out = fs::absolute(o.out, ec).lexically_normal();
  if (ec) {
    std::cerr << "modpub: " << o.out << ": " << ec.message() << "\n";
    return kExitFailed;
  }
  if (out != out.root_path() && !out.has_filename()) out = out.parent_path();
  storage::FsTree tree("file://" + out.string(), out);

  auto result = publish::PublishTag(*repo, o.import_path, o.tag, {&tree});
  if (int code = ReportUnpublished(o.tag, result); code != 0) return code;
  // A refusal or failure of the tree has been logged (with both hashes) by the pipeline.
  int code = 0;
  for (const auto& r : result.reports) {
    switch (r.outcome) {
      case publish::Outcome::kPublished:
      case publish::Outcome::kUnchanged:
        break;
      case publish::Outcome::kRefused:
        code = std::max(code, kExitRefused);
        continue;
      case publish::Outcome::kFailed:
        code = kExitFailed;
        continue;
    }
    auto files = tree.Locate(r.path, r.version);
    if (!files) throw std::logic_error("stored a version FsTree cannot locate: " + files.message());
    nlohmann::ordered_json j;
    j["Path"] = r.path;
    j["Version"] = r.version;
    j["Info"] = files->info.string();
    j["GoMod"] = files->mod.string();
    j["Zip"] = files->zip.string();
    j["Sum"] = r.sum;
    j["GoModSum"] = r.gomod_sum;
    std::cout << j.dump() << "\n";
  }
  std::cout.flush();
  return code;
}

void RegisterZip(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<ZipOptions>();
  CLI::App* cmd = app.add_subcommand(
      "zip",
      "Build the module(s) that a version tag publishes, exactly as the go command would,\n"
      "into a GOPROXY tree: <out>/<escaped module path>/@v/{list,<v>.info,<v>.mod,<v>.zip}.\n"
      "Prints one JSON line per module with the fields of `go mod download -json`\n"
      "(Path, Version, Info, GoMod, Zip, Sum, GoModSum). A tag the go command could not\n"
      "fetch is refused: one line per problem on stderr, exit status 1, nothing written.\n"
      "Files are written atomically; a version already in <out> with other content is\n"
      "refused (exit status 1) and kept. Exit status 2: repository or <out> unusable.");
  cmd->add_option("--repo", opts->repo, "git repository (bare or not) holding the tag")->required();
  cmd->add_option("--import-path", opts->import_path,
                  "import path of the repository root, e.g. example.com/lib")
      ->required();
  cmd->add_option("--tag", opts->tag, "version tag, e.g. v1.2.3 or sub/dir/v2.0.0")->required();
  cmd->add_option("--out", opts->out, "directory of the GOPROXY tree to write")->required();
  cmd->callback([opts, exit_code] { *exit_code = RunZip(*opts); });
}

}  // namespace

const Registration kRegistration{10, RegisterZip};

}  // namespace modpub::cli
