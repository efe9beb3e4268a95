// `modpub keygen --name <sumdb name> --out <dir>`: an Ed25519 key pair in Go's signed-note
// format (modpub::sign). Writes <dir>/signer.key (mode 0600: PRIVATE+KEY+<name>+...) and
// <dir>/verifier.key (<name>+<hash>+..., the value for GOSUMDB), each with a trailing
// newline, and prints the verifier key on stdout. Never overwrites: if either file exists
// nothing is written and the exit status is 1. Exit status 2: the directory or the name
// cannot be used.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/sign/sign.hpp"

namespace fs = std::filesystem;

namespace modpub::cli {

Result<std::string> ReadKeyFile(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Fail(file + ": cannot read the key file");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}
namespace {

struct KeygenOptions {
  std::string name;
  std::string out;
};

// Creates `path` exclusively with `mode` and writes `data`, fsynced.
Status WriteNew(const fs::path& path, const std::string& data, mode_t mode) {
  fsio::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return Fail(path.string() + ": cannot create: " + std::strerror(errno));
  if (::fchmod(fd.get(), mode) != 0) {
    return Fail(path.string() + ": cannot set mode: " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(path.string() + ": write: " + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Fail(path.string() + ": fsync: " + std::strerror(errno));
  return fd.Close(path);
}

int RunKeygen(const KeygenOptions& o) {
  auto kp = sign::GenerateKey(o.name);
  if (!kp) {
    std::cerr << "modpub: " << kp.message() << "\n";
    return 2;
  }
  fs::path dir(o.out);
  if (auto st = fsio::MakeDirs(fs::absolute(dir)); !st) {
    std::cerr << "modpub: " << st.message() << "\n";
    return 2;
  }
  const fs::path signer = dir / "signer.key";
  const fs::path verifier = dir / "verifier.key";
  for (const auto& p : {signer, verifier}) {
    std::error_code ec;
    if (fs::symlink_status(p, ec).type() != fs::file_type::not_found) {
      std::cerr << "modpub: " << p.string() << " exists: refusing to overwrite a key\n";
      return 1;
    }
  }
  if (auto st = WriteNew(signer, kp->signer + "\n", 0600); !st) {
    std::cerr << "modpub: " << st.message() << "\n";
    return errno == EEXIST ? 1 : 2;
  }
  if (auto st = WriteNew(verifier, kp->verifier + "\n", 0644); !st) {
    std::cerr << "modpub: " << st.message() << "\n";
    return 2;
  }
  if (auto st = fsio::SyncDir(fs::absolute(dir)); !st) {
    std::cerr << "modpub: " << st.message() << "\n";
    return 2;
  }
  std::cout << kp->verifier << "\n";
  return 0;
}

void RegisterKeygen(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<KeygenOptions>();
  CLI::App* cmd = app.add_subcommand(
      "keygen",
      "Generate an Ed25519 key pair in Go's signed-note format for signing modules and the\n"
      "checksum database: <out>/signer.key (PRIVATE+KEY+<name>+<hash>+<key>, mode 0600) and\n"
      "<out>/verifier.key (<name>+<hash>+<key>, for GOSUMDB and `modpub verify --key`).\n"
      "Prints the verifier key. Refuses (exit status 1) if either file exists.");
  cmd->add_option("--name", opts->name, "checksum database name, e.g. sumdb.corp.example")
      ->required();
  cmd->add_option("--out", opts->out, "directory for the key files")->required();
  cmd->callback([opts, exit_code] { *exit_code = RunKeygen(*opts); });
}

}  // namespace

const Registration kRegistration{60, RegisterKeygen};

}  // namespace modpub::cli
