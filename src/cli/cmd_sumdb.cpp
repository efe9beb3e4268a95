// `modpub sumdb import <go.sum>`: logs the public module versions of a go.sum in our
// checksum database after verifying each upstream (sumdb/upstream.hpp), so that a network
// without access to the public database can still verify them (import where there is a
// network, serve where there is none). Private paths are skipped, never sent upstream.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.hpp"
#include "modpub/config/config.hpp"
#include "modpub/http/proxy.hpp"
#include "modpub/http/upstream_fetch.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::cli {
namespace {

struct ImportOptions {
  std::string config;
  std::string gosum;
  std::string sumdb;  // directory or s3:// URL
  std::string sumdb_key;
  std::string upstream = std::string(config::Config::kSumGolangOrg);
  std::string upstream_proxy;
  std::vector<std::string> private_prefixes;
  bool all_public = false;
};

// The hashes a go.sum gives one module version ("" when its line is absent).
struct Sums {
  std::string zip, mod;
};

// go.sum lines "<path> <version>[/go.mod] <hash>", by module version; an error names the
// first line that is not one.
Result<std::map<std::pair<std::string, std::string>, Sums>> ReadGoSum(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Fail(file + ": cannot read");
  std::map<std::pair<std::string, std::string>, Sums> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::istringstream f(line);
    std::string path, version, hash, extra;
    if (!(f >> path >> version >> hash) || (f >> extra) || !hash.starts_with("h1:")) {
      return Fail(file + ":" + std::to_string(n) + ": not a go.sum line: " + line);
    }
    const bool mod = version.ends_with("/go.mod");
    if (mod) version.resize(version.size() - 7);
    (mod ? out[{path, version}].mod : out[{path, version}].zip) = hash;
  }
  return out;
}

// "" when the record agrees with every hash go.sum gives, else what differs.
std::string Disagreement(const std::string& record, const Sums& sums) {
  std::istringstream r(record);
  std::string path, version, zip, path2, version2, mod;
  r >> path >> version >> zip >> path2 >> version2 >> mod;
  std::string out;
  if (!sums.zip.empty() && sums.zip != zip) out += " go.sum " + sums.zip + ", logged " + zip + ";";
  if (!sums.mod.empty() && sums.mod != mod) {
    out += " go.mod go.sum " + sums.mod + ", logged " + mod + ";";
  }
  return out;
}

// Without --sumdb: the configuration's [sumdb] (--config, else $MODPUB_CONFIG): its log,
// signer key, upstream and proxy, and as private prefixes its `private` list and every
// repository's allowed prefixes, as modpubd decides what never goes upstream.
bool FromConfig(ImportOptions& o) {
  if (!o.sumdb.empty()) {
    if (o.sumdb_key.empty()) std::cerr << "modpub: --sumdb needs --sumdb-key\n";
    return !o.sumdb_key.empty();
  }
  const std::string path = ConfigPath(o.config);
  if (path.empty()) {
    std::cerr << "modpub: give --sumdb <dir|s3://…> and --sumdb-key, or --config <toml> (or "
                 "$MODPUB_CONFIG) with a [sumdb] table\n";
    return false;
  }
  auto cfg = LoadCliConfig(path);
  if (!cfg) return false;
  if (!cfg->sumdb.enabled || cfg->sumdb.upstream.empty()) {
    std::cerr << "modpub: " << path
              << (cfg->sumdb.enabled ? ": [sumdb] upstream is \"\": nothing to import from\n"
                                     : ": no [sumdb] table: no checksum database to import into\n");
    return false;
  }
  o.sumdb = cfg->sumdb.storage.empty() ? cfg->sumdb.dir : cfg->sumdb.storage;
  o.sumdb_key = cfg->sumdb.signer_key;
  o.upstream = cfg->sumdb.upstream;
  o.upstream_proxy = cfg->sumdb.upstream_proxy;
  o.private_prefixes.insert(o.private_prefixes.end(), cfg->sumdb.private_.begin(),
                            cfg->sumdb.private_.end());
  for (const auto& repo : cfg->repositories) {
    o.private_prefixes.insert(o.private_prefixes.end(), repo.allowed_prefixes.begin(),
                              repo.allowed_prefixes.end());
  }
  return true;
}

int RunImport(ImportOptions& o) {
  if (!FromConfig(o)) return kExitFailed;
  // A go.sum of a private project names private modules: asking upstream about them would
  // leak their names, so the private prefixes must be given (or all declared public).
  if (o.private_prefixes.empty() && !o.all_public) {
    std::cerr << "modpub: sumdb import needs --private <prefix> for each private module path "
                 "prefix (or --all-public): every other line of the go.sum is sent upstream\n";
    return kExitFailed;
  }
  auto sums = ReadGoSum(o.gosum);
  if (!sums) return std::cerr << "modpub: " << sums.message() << "\n", kExitFailed;
  auto key = ReadKeyFile(o.sumdb_key);
  if (!key) return std::cerr << "modpub: " << key.message() << "\n", kExitFailed;
  auto signer = sign::Signer::Parse(*key);
  if (!signer) {
    std::cerr << "modpub: " << o.sumdb_key << ": not a signer key: " << signer.message() << "\n";
    return kExitFailed;
  }
  auto shared = std::make_shared<const sign::Signer>(std::move(*signer));
  const bool bucket = o.sumdb.starts_with("s3://");
  auto log =
      storage::OpenSumdbLog(bucket ? o.sumdb : std::filesystem::absolute(o.sumdb).string(), shared);
  Status bound = log ? log->BindVerifier(shared->VerifierKey()) : Status(log.error());
  const std::string state =
      bucket ? "" : (std::filesystem::absolute(o.sumdb) / "upstream-latest").string();
  auto up = http::OpenUpstream(o.upstream, o.upstream_proxy, state);
  if (!bound || !up) {
    std::cerr << "modpub: " << (!bound ? bound.message() : up.message()) << "\n";
    return kExitFailed;
  }
  int failed = 0, logged = 0, present = 0, skipped = 0;
  for (const auto& [mv, s] : *sums) {
    const auto& [path, version] = mv;
    const std::string name = path + "@" + version;
    if (http::IsPrivatePath(path, o.private_prefixes)) {
      ++skipped;
      std::cout << "skipped " << name << " (private)\n";
      continue;
    }
    auto id = log->Lookup(path, version);
    std::optional<std::string> record;
    if (id && *id) {
      auto text = log->ReadRecord(**id);
      if (text) record = *text;
    } else if (id) {
      auto fetched = (*up)->Lookup(path, version);
      if (!fetched || !*fetched) {
        ++failed;
        std::cerr << "modpub: " << name << ": "
                  << (fetched ? "upstream has no record of it" : fetched.message()) << "\n";
        continue;
      }
      record = **fetched;
    }
    if (!record) {
      ++failed;
      std::cerr << "modpub: " << name << ": " << (id ? "cannot read its record" : id.message())
                << "\n";
      continue;
    }
    if (auto d = Disagreement(*record, s); !d.empty()) {
      ++failed;
      std::cerr << "modpub: " << name << ": " << o.gosum
                << " disagrees with the checksum database:" << d << " (not imported)\n";
      continue;
    }
    if (id && *id) {
      ++present;
      std::cout << "present " << name << " (record " << **id << ")\n";
      continue;
    }
    auto appended = log->Append({*record});
    if (!appended) {
      ++failed;
      std::cerr << "modpub: " << name << ": " << appended.message() << "\n";
      continue;
    }
    ++logged;
    std::cout << "logged " << name << " (record " << (*appended)[0].id << ")\n";
  }
  std::cerr << "modpub: " << logged << " logged, " << present << " already logged, " << skipped
            << " private skipped, " << failed << " failed\n";
  return failed ? kExitRefused : 0;
}

void RegisterSumdb(CLI::App& app, int* exit_code) {
  CLI::App* sumdb = app.add_subcommand("sumdb", "Checksum database tools.");
  sumdb->require_subcommand(1);
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd = sumdb->add_subcommand(
      "import",
      "Log the public module versions of a go.sum in the checksum database, each verified\n"
      "upstream first (signature, inclusion proof, tree consistency) and compared with the\n"
      "go.sum's hashes: warm a database that will serve without network. Private paths\n"
      "(--private) are skipped and never sent upstream. Exit status 1 if any failed.");
  cmd->add_option("gosum", o->gosum, "the go.sum file")->required();
  cmd->add_option("--sumdb", o->sumdb, "checksum database: state directory or s3:// URL");
  cmd->add_option("--sumdb-key", o->sumdb_key, "its signer key file");
  cmd->add_option("--config", o->config,
                  ConfigHelp("without --sumdb, its [sumdb] log, signer key, upstream and "
                             "upstream proxy, and as --private its [sumdb] private and every "
                             "repository's allowed prefixes"));
  cmd->add_option("--upstream", o->upstream,
                  "\"<verifier key> <url>\" of the public database (default sum.golang.org)");
  cmd->add_option("--upstream-proxy", o->upstream_proxy, "HTTP proxy (http://host:port)");
  cmd->add_option("--private", o->private_prefixes,
                  "module path prefix never asked upstream (repeatable)");
  cmd->add_flag("--all-public", o->all_public,
                "the go.sum names no private module: send every line upstream");
  cmd->callback([o, exit_code] { *exit_code = RunImport(*o); });
}

}  // namespace

const Registration kRegistration{64, RegisterSumdb};

}  // namespace modpub::cli
