// `modpub verify <module>@<version> --from <url> --key <verifier>`: checks a published
// version against its detached signature (modpub::publish::VerifyVersion). Prints one
// line per check, "<module>@<version> <signature|zip|mod>: ok|FAILED: <detail>".
// Exit status: 0 all ok; 1 a check failed (the line names it); 2 unusable arguments.
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "modpub/publish/verify.hpp"

namespace modpub::cli {
namespace {

struct VerifyOptions {
  std::string module_version;
  std::string from;
  std::string key;
  std::string cacert;
};

int RunVerify(const VerifyOptions& o) {
  auto at = o.module_version.rfind('@');
  if (at == std::string::npos || at == 0) {
    std::cerr << "modpub: " << o.module_version << ": expected <module>@<version>\n";
    return 2;
  }
  std::string key_text = o.key;
  if (key_text.find('+') == std::string::npos) {  // a file holding the key
    std::ifstream in(o.key);
    if (!in || !std::getline(in, key_text)) {
      std::cerr << "modpub: " << o.key << ": cannot read the verifier key\n";
      return 2;
    }
  }
  while (!key_text.empty() && (key_text.back() == '\r' || key_text.back() == ' ')) {
    key_text.pop_back();
  }
  auto key = sign::Verifier::Parse(key_text);
  if (!key) {
    std::cerr << "modpub: " << o.key
              << ": not a verifier key (<name>+<hash>+<key>): " << key.message() << "\n";
    return 2;
  }
  const std::string path = o.module_version.substr(0, at);
  const std::string version = o.module_version.substr(at + 1);
  auto checks = publish::VerifyVersion(o.from, path, version, *key, o.cacert);
  if (!checks) {
    std::cerr << "modpub: " << checks.message() << "\n";
    return 2;
  }
  int code = 0;
  for (const auto& c : *checks) {
    std::cout << o.module_version << " " << c.what << ": " << (c.ok ? "ok" : "FAILED") << ": "
              << c.detail << "\n";
    if (!c.ok) code = 1;
  }
  return code;
}

void RegisterVerify(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check a published module version against its detached signature: the signature\n"
      "(made by `modpub publish --sign-key`) must open with the verifier key, and the stored\n"
      "zip and go.mod must have the signed h1 hashes. One line per check; exit status 1\n"
      "names what failed, 2 when the arguments cannot be used.");
  cmd->add_option("module_version", opts->module_version, "<module>@<version>")->required();
  cmd->add_option("--from", opts->from,
                  "where it is published: file:///abs/dir, athens-disk:///abs/dir, "
                  "s3://bucket/prefix?endpoint=…&layout=goproxy|athens, or a "
                  "GOPROXY URL http(s)://host/prefix (~/.netrc credentials are used)")
      ->required();
  cmd->add_option("--key", opts->key, "verifier key, or a file holding it (verifier.key)")
      ->required();
  cmd->add_option("--cacert", opts->cacert, "https: trust the CA certificates in this PEM file");
  cmd->callback([opts, exit_code] { *exit_code = RunVerify(*opts); });
}

}  // namespace

const Registration kRegistration{62, RegisterVerify};

}  // namespace modpub::cli
