// `modpub publish`, `modpub backfill` and `modpub ls`: publishing tags into proxy storage
// and looking at what is stored. Argument parsing and output only; the work is in
// modpub::publish and modpub::storage.
//
// Where publish and backfill write: either the flags (--import-path, --to, --sign-key,
// --sumdb, --storage-deadline) or a configuration (--config, else $MODPUB_CONFIG when
// none of those flags is given), which names the repository by --repo (its path or its
// import_path) and gives every storage, the deadline, and with [sumdb] the signer key and
// the checksum database, as modpubd publishes.
//
// Exit status, for publish and backfill: 0 when every module version is published or
// unchanged on every backend; 1 when a tag is invalid (publish; backfill only with
// --strict) or a backend refused a version (other content stored, or damaged); 2 when
// something failed (bad URL, unreadable repository, I/O error on a backend) or the
// arguments are unusable — failure wins over refusal. Re-running completes what failed:
// publishing is idempotent. A dry run exits as the run it describes would.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "modpub/git/git.hpp"
#include "modpub/publish/backfill.hpp"
#include "modpub/publish/publish.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/sumdb_store.hpp"
#include "modpub/sumdb/log.hpp"

namespace modpub::cli {
namespace {

struct PublishOptions {
  std::string config;  // --config; see ResolveTarget for $MODPUB_CONFIG
  std::string repo;
  std::string import_path;
  std::string tag;
  std::vector<std::string> to;
  bool json = false;               // backfill: JSON lines on stdout, the rest on stderr
  bool dry_run = false;            // backfill: say what would be done, write nothing
  bool strict = false;             // backfill: invalid tags make the exit status 1
  std::string sign_key;            // signer key file: sign every version (detached .sig)
  std::string sumdb;               // checksum database state directory: log every version
  double storage_deadline_s = 30;  // each storage operation's budget (storage/deadline.hpp)
  // Filled by ResolveTarget: the deadline and where a user changes it.
  storage::OpenOptions open;
};

// --storage-deadline, as OpenBackend takes it.
storage::OpenOptions DeadlineOptions(double seconds) {
  storage::OpenOptions o;
  o.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  o.deadline_setting = "--storage-deadline";
  return o;
}

// The [[repository]] that --repo names: by its path (as the hooks compare paths) or by
// its import_path.
const config::RepoConfig* FindConfiguredRepo(const config::Config& cfg, const std::string& name) {
  if (const auto* r = cfg.FindRepo(name)) return r;
  for (const auto& r : cfg.repositories) {
    if (r.import_path == name) return &r;
  }
  return nullptr;
}

// Decides where publish/backfill write: the flags, or the configuration (--config, else
// $MODPUB_CONFIG when no flag names a target). Prints the problem and returns false when
// the arguments do not say.
bool ResolveTarget(PublishOptions& o) {
  const bool flags =
      !o.import_path.empty() || !o.to.empty() || !o.sign_key.empty() || !o.sumdb.empty();
  if (!o.config.empty() && flags) {
    std::cerr << "modpub: --config gives the import path, storages, signer key and checksum "
                 "database: drop --import-path, --to, --sign-key and --sumdb, or --config\n";
    return false;
  }
  const std::string path = flags ? "" : ConfigPath(o.config);
  if (path.empty()) {
    if (o.import_path.empty() || o.to.empty()) {
      std::cerr << "modpub: give --config <toml> (or set $MODPUB_CONFIG) to publish as "
                   "configured, or --import-path and at least one --to\n";
      return false;
    }
    o.open = DeadlineOptions(o.storage_deadline_s);
    return true;
  }
  auto cfg = LoadCliConfig(path);
  if (!cfg) return false;
  const auto* repo = FindConfiguredRepo(*cfg, o.repo);
  if (!repo) {
    std::cerr << "modpub: --repo " << o.repo << ": no [[repository]] in " << path
              << " has this path or import_path (";
    for (std::size_t i = 0; i < cfg->repositories.size(); ++i) {
      std::cerr << (i ? ", " : "") << cfg->repositories[i].import_path;
    }
    std::cerr << (cfg->repositories.empty() ? "none configured" : "") << ")\n";
    return false;
  }
  o.repo = repo->path;
  o.import_path = repo->import_path;
  o.to = cfg->storage;
  o.open.deadline = cfg->storage_deadline;
  o.open.deadline_setting = "storage_deadline_ms in " + cfg->source;
  if (cfg->sumdb.enabled) {
    o.sign_key = cfg->sumdb.signer_key;
    o.sumdb = cfg->sumdb.storage.empty() ? cfg->sumdb.dir : cfg->sumdb.storage;
  }
  return true;
}

// The signer and checksum database of --sign-key / --sumdb, owned for one run.
struct Extras {
  std::optional<sign::Signer> signer;
  std::optional<sumdb::Log> log;
  publish::Options options() {
    publish::Options o;
    if (signer) o.signer = &*signer;
    if (log) o.log = &*log;
    return o;
  }
};

bool OpenExtras(const PublishOptions& o, Extras* e) {
  if (!o.sign_key.empty()) {
    auto key = ReadKeyFile(o.sign_key);
    if (!key) {
      std::cerr << "modpub: " << key.message() << "\n";
      return false;
    }
    auto s = sign::Signer::Parse(*key);
    if (!s) {
      std::cerr << "modpub: " << o.sign_key
                << ": not a signer key (PRIVATE+KEY+<name>+...): " << s.message() << "\n";
      return false;
    }
    e->signer = std::move(*s);
  }
  if (!o.sumdb.empty()) {
    // A bucket's tree heads are signed as they are written: appending needs the key.
    std::shared_ptr<const sign::Signer> signer;
    if (e->signer) signer = std::make_shared<const sign::Signer>(*e->signer);
    const bool bucket = o.sumdb.starts_with("s3://");
    if (bucket && !signer) {
      std::cerr << "modpub: --sumdb " << o.sumdb << " needs --sign-key (its tree heads are signed "
                << "when written)\n";
      return false;
    }
    std::error_code ec;
    auto log =
        storage::OpenSumdbLog(bucket ? o.sumdb : std::filesystem::absolute(o.sumdb, ec).string(),
                              signer, o.open.deadline);
    Status bound = log && bucket ? log->BindVerifier(signer->VerifierKey()) : Status(Ok());
    if (!log || !bound) {
      std::cerr << "modpub: " << (log ? bound.message() : log.message()) << "\n";
      return false;
    }
    e->log = std::move(*log);
  }
  return true;
}

// Opens every --to URL; prints the problems and returns nothing if any is bad, so that a
// typo in the second URL does not leave the first backend published alone.
std::vector<std::unique_ptr<storage::Backend>> OpenBackends(const std::vector<std::string>& urls,
                                                            const storage::OpenOptions& options,
                                                            bool* ok) {
  std::vector<std::unique_ptr<storage::Backend>> out;
  *ok = true;
  for (const auto& url : urls) {
    auto b = storage::OpenBackend(url, options);
    if (!b) {
      std::cerr << "modpub: " << b.message() << "\n";
      *ok = false;
      continue;
    }
    out.push_back(std::move(*b));
  }
  return out;
}

std::vector<storage::Backend*> Pointers(const std::vector<std::unique_ptr<storage::Backend>>& v) {
  std::vector<storage::Backend*> out;
  for (const auto& b : v) out.push_back(b.get());
  return out;
}

nlohmann::ordered_json JsonOf(const publish::Report& r) {
  nlohmann::ordered_json j;
  j["Path"] = r.path;
  j["Version"] = r.version;
  j["Sum"] = r.sum;
  j["Backend"] = r.backend;
  j["Result"] = std::string(publish::OutcomeName(r.outcome));
  if (!r.message.empty()) j["Message"] = r.message;
  if (!r.sumdb.empty()) j["Sumdb"] = r.sumdb;
  return j;
}

int ExitFor(const std::vector<publish::Report>& reports) {
  int code = 0;
  for (const auto& r : reports) {
    if (r.outcome == publish::Outcome::kFailed) code = kExitFailed;
    if (r.outcome == publish::Outcome::kRefused && code == 0) code = kExitRefused;
  }
  return code;
}

// What publish and backfill open before anything is written: every storage, the signer
// and log, the repository. Problems are printed; nullopt when any is bad.
struct Opened {
  std::vector<std::unique_ptr<storage::Backend>> backends;
  Extras extras;
  git::Repository repo;
};

std::optional<Opened> OpenAll(PublishOptions& o) {
  if (!ResolveTarget(o)) return std::nullopt;
  bool ok = false;
  auto backends = OpenBackends(o.to, o.open, &ok);
  if (!ok) return std::nullopt;
  Extras extras;
  if (!OpenExtras(o, &extras)) return std::nullopt;
  auto repo = git::Repository::Open(o.repo);
  if (!repo) {
    std::cerr << "modpub: " << repo.message() << "\n";
    return std::nullopt;
  }
  return Opened{std::move(backends), std::move(extras), std::move(*repo)};
}

int RunPublish(PublishOptions& o) {
  CleanUpOnInterrupt(publish::BuildRoot(""));
  auto opened = OpenAll(o);
  if (!opened) return kExitFailed;
  auto result = publish::PublishTag(opened->repo, o.import_path, o.tag, Pointers(opened->backends),
                                    opened->extras.options());
  if (int code = ReportUnpublished(o.tag, result); code != 0) return code;
  for (const auto& r : result.reports) std::cout << JsonOf(r).dump() << "\n";
  std::cout.flush();
  return ExitFor(result.reports);
}

// One tag's line of a backfill, as it goes:
//   <tag>  <status>  <module@version ...>  [<reason>]
// status: published, unchanged, refused, invalid, failed; in a dry run "would publish"
// and "would refuse" for the first and third. The worst of the tag's module versions
// and storages decides it (failed, refused, published, unchanged); the reason names each
// storage that refused or failed, or the tag's problems.
class TagLines {
 public:
  TagLines(std::ostream& out, bool dry_run) : out_(out), dry_run_(dry_run) {}
  void Plan(const std::vector<std::string>& tags) {
    for (const auto& t : tags) width_ = std::max(width_, t.size());
  }
  void Print(const std::string& tag, const publish::TagResult& result) {
    std::string status, modules = "-";
    std::vector<std::string> reasons;
    if (result.kind == publish::TagResult::kInvalid) {
      status = "invalid";
      for (auto& line : RefusalLines(tag, result.error))
        reasons.push_back(line.substr(tag.size() + 2));
    } else if (result.kind == publish::TagResult::kFailed) {
      status = "failed";
      reasons.push_back(result.error);
    } else {
      status = StatusOf(result.reports, &reasons);
      modules.clear();
      for (const auto& r : result.reports) {
        const std::string mv = r.path + "@" + r.version;
        if (modules.find(mv) == std::string::npos) modules += (modules.empty() ? "" : " ") + mv;
      }
    }
    std::string line = tag + std::string(width_ - std::min(width_, tag.size()), ' ') + "  " +
                       status + std::string(13 - std::min<std::size_t>(13, status.size()), ' ') +
                       "  " + modules;
    std::string reason;
    for (const auto& r : reasons) reason += (reason.empty() ? "" : "; ") + r;
    for (char& c : reason) {
      if (c == '\n') c = ';';
    }
    if (!reason.empty()) line += "  " + reason;
    out_ << line << "\n";
    out_.flush();
  }

 private:
  std::string StatusOf(const std::vector<publish::Report>& reports,
                       std::vector<std::string>* reasons) const {
    int worst = 0;  // 0 unchanged, 1 published, 2 refused, 3 failed
    for (const auto& r : reports) {
      const int rank = r.outcome == publish::Outcome::kFailed      ? 3
                       : r.outcome == publish::Outcome::kRefused   ? 2
                       : r.outcome == publish::Outcome::kPublished ? 1
                                                                   : 0;
      worst = std::max(worst, rank);
      // A dry run's notes say what is special ("would add its signature", "not compared").
      const bool note = dry_run_ && !r.message.empty() && r.message != "would publish" &&
                        r.message != "already published";
      if (rank >= 2 || note) reasons->push_back(r.backend + ": " + r.message);
    }
    switch (worst) {
      case 3:
        return "failed";
      case 2:
        return dry_run_ ? "would refuse" : "refused";
      case 1:
        return dry_run_ ? "would publish" : "published";
      default:
        return "unchanged";
    }
  }

  std::ostream& out_;
  bool dry_run_;
  std::size_t width_ = 0;
};

// The summary table of a backfill: one row per storage.
void PrintBackfillTable(std::ostream& out, const std::vector<storage::Backend*>& backends,
                        const publish::BackfillSummary& sum, bool dry_run) {
  Table table({"STORAGE", "PUBLISHED", "UNCHANGED", "REFUSED", "INVALID", "FAILED"});
  for (const auto* b : backends) {
    const auto& c = sum.backends.at(b->Name());
    table.Add({b->Name(), std::to_string(c.published), std::to_string(c.unchanged),
               std::to_string(c.refused), std::to_string(sum.invalid.size()),
               std::to_string(c.failed + sum.tag_failures)});
  }
  out << "\n";
  table.Print(out);
  out << Plural(sum.version_tags, "version tag", "version tags");
  if (!sum.invalid.empty()) {
    out << "; invalid:";
    for (const auto& t : sum.invalid) out << " " << t;
  }
  out << "\n";
  if (dry_run) out << "dry run: the counts say what a publish would do; nothing was written\n";
  out.flush();
}

int RunBackfill(PublishOptions& o) {
  CleanUpOnInterrupt(publish::BuildRoot(""));
  auto opened = OpenAll(o);
  if (!opened) return kExitFailed;
  int code = 0;
  std::ostream& human = o.json ? std::cerr : std::cout;
  TagLines lines(human, o.dry_run);
  publish::BackfillObserver observer;
  observer.planned = [&](const std::vector<std::string>& tags) { lines.Plan(tags); };
  observer.finished = [&](const std::string& tag, const publish::TagResult& result) {
    lines.Print(tag, result);
    if (result.kind == publish::TagResult::kInvalid && o.strict)
      code = std::max(code, kExitRefused);
    if (result.kind == publish::TagResult::kFailed) code = kExitFailed;
    code = std::max(code, ExitFor(result.reports));
    if (!o.json) return;
    for (const auto& r : result.reports) {
      auto j = JsonOf(r);
      j["Tag"] = tag;
      if (o.dry_run) j["DryRun"] = true;
      std::cout << j.dump() << "\n";
    }
    if (result.kind != publish::TagResult::kDone) {
      nlohmann::ordered_json j;
      j["Tag"] = tag;
      j["Result"] = result.kind == publish::TagResult::kInvalid ? "invalid" : "failed";
      std::string message;
      for (const auto& line : RefusalLines(tag, result.error)) {
        message += (message.empty() ? "" : "\n") + line;
      }
      j["Message"] = message;
      if (o.dry_run) j["DryRun"] = true;
      std::cout << j.dump() << "\n";
    }
    std::cout.flush();
  };
  auto backends = Pointers(opened->backends);
  // The audit lines modpubd's POST /api/backfill writes too.
  auto summary = admin::BackfillRepository(
      AuditCaller(), opened->repo, o.import_path, backends, opened->extras.options(), observer,
      o.dry_run ? publish::BackfillMode::kDryRun : publish::BackfillMode::kPublish);
  if (!summary) {
    std::cerr << "modpub: " << summary.message() << "\n";
    return kExitFailed;
  }
  PrintBackfillTable(human, backends, *summary, o.dry_run);
  return code;
}

struct LsOptions {
  std::string config;
  std::string from;
  std::string module;
  bool json = false;
  double storage_deadline_s = 30;
};

// The directory of a file:// or athens-disk:// URL that OpenBackend accepted; nullopt for
// other schemes. Only to tell a storage that does not exist from an empty one.
std::optional<std::filesystem::path> LocalRoot(const std::string& url) {
  for (std::string_view scheme : {"file://", "athens-disk://"}) {
    if (!url.starts_with(scheme)) continue;
    std::string rest = url.substr(scheme.size());
    if (rest.starts_with("localhost/")) rest = rest.substr(9);
    std::string path;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '%' && i + 2 < rest.size()) {
        path += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        path += rest[i];
      }
    }
    return std::filesystem::path(path);
  }
  return std::nullopt;
}

// --from, or the configuration's storage: [proxy] from (what go fetches) when set, else
// the first storage. "" when neither is given (the problem printed).
std::string LsSource(LsOptions& o, storage::OpenOptions* open) {
  *open = DeadlineOptions(o.storage_deadline_s);
  if (!o.from.empty()) return o.from;
  const std::string path = ConfigPath(o.config);
  if (path.empty()) {
    std::cerr << "modpub: give --from <storage URL>, or --config <toml> (or $MODPUB_CONFIG) "
                 "to list the configured storage\n";
    return "";
  }
  auto cfg = LoadCliConfig(path);
  if (!cfg) return "";
  open->deadline = cfg->storage_deadline;
  open->deadline_setting = "storage_deadline_ms in " + cfg->source;
  return cfg->proxy.enabled ? cfg->proxy.from : cfg->storage.front();
}

// The module's complete versions; the others reported on stderr (raising *code to 1).
std::optional<std::vector<std::string>> CompleteVersions(storage::Backend& b, const std::string& m,
                                                         int* code) {
  auto versions = b.ListVersions(m);
  if (!versions) {
    std::cerr << "modpub: " << versions.message() << "\n";
    *code = kExitFailed;
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& v : *versions) {
    if (v.state == storage::VersionState::kComplete) {
      out.push_back(v.version);
      continue;
    }
    std::cerr << "modpub: " << m << "@" << v.version << " is " << storage::StateName(v.state)
              << " (" << v.detail << ")"
              << (v.state == storage::VersionState::kIncomplete
                      ? ": an interrupted publish; publishing it again completes it"
                      : ": not served; inspect it")
              << "\n";
    *code = std::max(*code, kExitRefused);
  }
  if (versions->empty()) {
    std::cerr << "modpub: " << m << ": no such module in " << b.Name() << "\n";
    *code = std::max(*code, kExitRefused);
  }
  return out;
}

int RunLs(LsOptions& o) {
  storage::OpenOptions open;
  const std::string from = LsSource(o, &open);
  if (from.empty()) return kExitFailed;
  auto backend = storage::OpenBackend(from, open);
  if (!backend) {
    std::cerr << "modpub: " << backend.message() << "\n";
    return kExitFailed;
  }
  if (auto root = LocalRoot(from); root && !std::filesystem::exists(*root)) {
    std::cerr << "modpub: " << from << ": no such storage (" << root->string()
              << " does not exist)\n";
    return kExitRefused;
  }
  std::vector<std::string> modules;
  if (!o.module.empty()) {
    modules.push_back(o.module);
  } else {
    auto all = (*backend)->ListModules();
    if (!all) {
      std::cerr << "modpub: " << all.message() << "\n";
      return kExitFailed;
    }
    modules = std::move(*all);
    if (modules.empty()) std::cerr << "modpub: no modules in " << from << "\n";
  }
  int code = 0;
  Table table({"MODULE", "VERSIONS"});
  for (const auto& m : modules) {
    auto versions = CompleteVersions(**backend, m, &code);
    if (!versions || versions->empty()) continue;
    if (o.json) {
      nlohmann::ordered_json j;
      j["Path"] = m;
      j["Versions"] = *versions;
      std::cout << j.dump() << "\n";
      continue;
    }
    std::string line;
    for (const auto& v : *versions) line += (line.empty() ? "" : " ") + v;
    table.Add({m, line});
  }
  if (!table.empty()) table.Print(std::cout);
  std::cout.flush();
  return code;
}

void AddDeadlineOption(CLI::App* cmd, double* seconds) {
  cmd->add_option("--storage-deadline", *seconds,
                  "seconds any one storage operation may take, retries included (default 30; "
                  "0 = none); enforced for s3://, not for file:// and athens-disk://, whose "
                  "filesystem calls cannot be interrupted. At the deadline the storage fails "
                  "(exit status 2); publishing again completes it. With a configuration: "
                  "its storage_deadline_ms")
      ->check(CLI::Range(0.0, 86400.0));
}

void AddCommon(CLI::App* cmd, PublishOptions* o) {
  cmd->add_option("--config", o->config,
                  ConfigHelp("the [[repository]] that --repo names, every storage, "
                             "storage_deadline_ms, and with [sumdb] its signer key and "
                             "checksum database. $MODPUB_CONFIG is used only when none of "
                             "--import-path, --to, --sign-key, --sumdb is given"));
  cmd->add_option("--repo", o->repo,
                  "git repository (bare or not) holding the tags; with a configuration, its "
                  "path or its import_path")
      ->required();
  cmd->add_option("--import-path", o->import_path,
                  "import path of the repository root, e.g. corp.example/lib (without a "
                  "configuration)");
  cmd->add_option("--to", o->to,
                  "storage to publish into (repeatable; without a configuration): "
                  "file:///abs/dir (GOPROXY tree), athens-disk:///abs/dir (Athens disk "
                  "storage), or s3://bucket/prefix?endpoint=http(s)://host:port&region=R&"
                  "layout=goproxy|athens (S3 bucket; AWS_* credentials)");
  cmd->add_option("--sign-key", o->sign_key,
                  "signer key file (modpub keygen): store a detached signature of each "
                  "version's go.sum lines beside it (@v/<v>.sig; Athens: .modpub-sig/)");
  cmd->add_option("--sumdb", o->sumdb,
                  "checksum database (a state directory, or s3://bucket/prefix?endpoint=… shared "
                  "by many machines; needs --sign-key): append each version's go.sum lines "
                  "to its transparency log (served by `modpub serve --sumdb`)");
  AddDeadlineOption(cmd, &o->storage_deadline_s);
}

void RegisterPublish(CLI::App& app, int* exit_code) {
  auto pub = std::make_shared<PublishOptions>();
  CLI::App* p = app.add_subcommand(
      "publish",
      "Publish the module(s) of one version tag into every storage (--to, or the\n"
      "configuration's): builds once, writes to each. Prints one JSON line per module and\n"
      "storage: Path, Version, Sum, Backend, Result (published | unchanged | refused |\n"
      "failed), Message and, with a checksum database, Sumdb. A version already stored with\n"
      "identical content is left as is (unchanged); with other content it is refused, both\n"
      "hashes printed, nothing overwritten. An invalid tag: one line per problem on stderr,\n"
      "\"modpub: refused <tag>: <rule>\". Exit status 0 = all published or unchanged, 1 =\n"
      "tag invalid or a version refused, 2 = a failure (re-run to complete).");
  AddCommon(p, pub.get());
  p->add_option("--tag", pub->tag, "version tag, e.g. v1.2.3 or sub/dir/v2.0.0")->required();
  p->callback([pub, exit_code] { *exit_code = RunPublish(*pub); });

  auto bf = std::make_shared<PublishOptions>();
  CLI::App* b = app.add_subcommand(
      "backfill",
      "Publish every version tag of a repository, oldest first by semver, into every\n"
      "storage (--to, or the configuration's, with its signer and checksum database).\n"
      "One line per tag as it is done:\n"
      "  <tag>  published|unchanged|refused|invalid|failed  <module@version ...>  [reason]\n"
      "then a table per storage (published / unchanged / refused / invalid / failed).\n"
      "--dry-run builds and checks every tag and says what a publish would do (would\n"
      "publish | unchanged | would refuse, with the reason), writing no storage, log or\n"
      "signature. --json: stdout has one JSON line per module and storage (the fields of\n"
      "publish, plus Tag, and DryRun in a dry run) and one per invalid or failed tag (Tag,\n"
      "Result \"invalid\" | \"failed\", Message: one \"<tag>: <rule>\" line per problem);\n"
      "the tag lines and the table go to stderr. Tags that are not versions (\"release\")\n"
      "are skipped. Safe to interrupt and re-run. Exit status: 0 when every version is\n"
      "published or unchanged, also when some tags are invalid (history cannot be\n"
      "changed; they are listed) unless --strict; 1 = a version refused (other content\n"
      "stored, checksum database conflict), or with --strict an invalid tag; 2 = a\n"
      "failure (re-run to complete). A dry run exits as the run would. On stderr, two\n"
      "audit lines, as modpubd's POST /api/backfill logs them: \"admin: backfill of <module>\n"
      "started; backfill by unix:<user>\" and \"... finished: <counts per storage>; ...\".");
  AddCommon(b, bf.get());
  b->add_flag("--json", bf->json, "JSON lines on stdout (see above)");
  b->add_flag("--dry-run", bf->dry_run, "say what would be published; write nothing");
  b->add_flag("--strict", bf->strict, "exit status 1 when any tag is invalid");
  b->callback([bf, exit_code] { *exit_code = RunBackfill(*bf); });

  auto ls = std::make_shared<LsOptions>();
  CLI::App* l = app.add_subcommand(
      "ls",
      "List the modules and versions stored in a storage, as a table:\n"
      "  MODULE  VERSIONS (the complete versions, in semver order)\n"
      "or with --json one JSON line per module: {\"Path\": …, \"Versions\": […]}.\n"
      "Incomplete (interrupted) or damaged versions are not listed; each is reported on\n"
      "stderr. An empty storage says so on stderr (exit status 0). Exit status 1: a version\n"
      "is incomplete or damaged, the module is not stored, or the storage does not exist;\n"
      "2: the storage cannot be read.");
  l->add_option("--from", ls->from,
                "storage URL: file:///abs/dir, athens-disk:///abs/dir or "
                "s3://bucket/prefix?endpoint=…&layout=goproxy|athens");
  l->add_option("--config", ls->config,
                ConfigHelp("without --from, list its [proxy] from, else its first storage"));
  l->add_option("module", ls->module, "only this module path");
  l->add_flag("--json", ls->json, "one JSON line per module");
  AddDeadlineOption(l, &ls->storage_deadline_s);
  l->callback([ls, exit_code] { *exit_code = RunLs(*ls); });
}

}  // namespace

const Registration kRegistration{20, RegisterPublish};

}  // namespace modpub::cli
