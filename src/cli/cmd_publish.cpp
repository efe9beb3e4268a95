// `modpub publish`, `modpub backfill` and `modpub ls`: publishing tags into proxy storage
// and looking at what is stored. Argument parsing and output only; the work is in
// modpub::publish and modpub::storage.
//
// Exit status, for publish and backfill: 0 when every module version is published or
// unchanged on every backend; 1 when a tag is invalid or a backend refused a version
// (other content stored, or damaged); 2 when something failed (bad URL, unreadable
// repository, I/O error on a backend) — failure wins over refusal. Re-running completes
// what failed: publishing is idempotent.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
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
  std::string repo;
  std::string import_path;
  std::string tag;
  std::vector<std::string> to;
  bool json = false;               // backfill: JSON lines on stdout, table on stderr
  std::string sign_key;            // signer key file: sign every version (detached .sig)
  std::string sumdb;               // checksum database state directory: log every version
  double storage_deadline_s = 30;  // each storage operation's budget (storage/deadline.hpp)
};

// --storage-deadline, as OpenBackend takes it.
storage::OpenOptions DeadlineOptions(double seconds) {
  storage::OpenOptions o;
  o.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  o.deadline_setting = "--storage-deadline";
  return o;
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
                              signer, DeadlineOptions(o.storage_deadline_s).deadline);
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

std::string JsonLine(const publish::Report& r) {
  nlohmann::ordered_json j;
  j["Path"] = r.path;
  j["Version"] = r.version;
  j["Sum"] = r.sum;
  j["Backend"] = r.backend;
  j["Result"] = std::string(publish::OutcomeName(r.outcome));
  if (!r.message.empty()) j["Message"] = r.message;
  if (!r.sumdb.empty()) j["Sumdb"] = r.sumdb;
  return j.dump();
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

std::optional<Opened> OpenAll(const PublishOptions& o) {
  bool ok = false;
  auto backends = OpenBackends(o.to, DeadlineOptions(o.storage_deadline_s), &ok);
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

int RunPublish(const PublishOptions& o) {
  CleanUpOnInterrupt(publish::BuildRoot(""));
  auto opened = OpenAll(o);
  if (!opened) return kExitFailed;
  auto result = publish::PublishTag(opened->repo, o.import_path, o.tag, Pointers(opened->backends),
                                    opened->extras.options());
  if (int code = ReportUnpublished(result); code != 0) return code;
  for (const auto& r : result.reports) std::cout << JsonLine(r) << "\n";
  std::cout.flush();
  return ExitFor(result.reports);
}

// A one-line progress indicator on stderr, only when stderr is a terminal.
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  void Show(std::size_t i, std::size_t n, const std::string& tag) {
    if (!tty_) return;
    std::cerr << "\r\033[K[" << i << "/" << n << "] " << tag << std::flush;
    shown_ = true;
  }
  // Clears the line before anything else is written to stderr.
  void Clear() {
    if (!shown_) return;
    std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  bool tty_;
  bool shown_ = false;
};

// The summary table of a backfill: one row per backend.
void PrintBackfillTable(std::ostream& table, const std::vector<storage::Backend*>& backends,
                        const publish::BackfillSummary& sum) {
  std::size_t width = 7;
  for (const auto* b : backends) width = std::max(width, b->Name().size());
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %10s %10s %8s %8s %7s\n", static_cast<int>(width),
                "backend", "published", "unchanged", "refused", "invalid", "failed");
  table << line;
  for (const auto* b : backends) {
    const auto& c = sum.backends.at(b->Name());
    std::snprintf(line, sizeof line, "%-*s %10d %10d %8d %8zu %7d\n", static_cast<int>(width),
                  b->Name().c_str(), c.published, c.unchanged, c.refused, sum.invalid.size(),
                  c.failed + sum.tag_failures);
    table << line;
  }
  table << sum.version_tags << " version tags";
  if (!sum.invalid.empty()) {
    table << "; invalid:";
    for (const auto& t : sum.invalid) table << " " << t;
  }
  table << "\n";
  table.flush();
}

int RunBackfill(const PublishOptions& o) {
  CleanUpOnInterrupt(publish::BuildRoot(""));
  auto opened = OpenAll(o);
  if (!opened) return kExitFailed;
  int code = 0;
  Progress progress;
  publish::BackfillObserver observer;
  observer.starting = [&](std::size_t i, std::size_t n, const std::string& tag) {
    progress.Show(i, n, tag);
  };
  observer.finished = [&](const std::string& tag, const publish::TagResult& result) {
    if (result.kind == publish::TagResult::kInvalid) {
      progress.Clear();
      PrintRefused(result.error);
      code = std::max(code, kExitRefused);
    } else if (result.kind == publish::TagResult::kFailed) {
      progress.Clear();
      std::cerr << "modpub: " << tag << ": " << result.error << "\n";
      code = kExitFailed;
    } else {
      if (o.json) {
        for (const auto& r : result.reports) std::cout << JsonLine(r) << "\n";
        std::cout.flush();
      }
      code = std::max(code, ExitFor(result.reports));
    }
  };
  auto backends = Pointers(opened->backends);
  auto summary =
      publish::Backfill(opened->repo, o.import_path, backends, opened->extras.options(), observer);
  progress.Clear();
  if (!summary) {
    std::cerr << "modpub: " << summary.message() << "\n";
    return kExitFailed;
  }
  PrintBackfillTable(o.json ? std::cerr : std::cout, backends, *summary);
  return code;
}

struct LsOptions {
  std::string from;
  std::string module;
  double storage_deadline_s = 30;
};

int RunLs(const LsOptions& o) {
  auto backend = storage::OpenBackend(o.from, DeadlineOptions(o.storage_deadline_s));
  if (!backend) {
    std::cerr << "modpub: " << backend.message() << "\n";
    return kExitFailed;
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
  }
  int code = 0;
  for (const auto& m : modules) {
    auto versions = (*backend)->ListVersions(m);
    if (!versions) {
      std::cerr << "modpub: " << versions.message() << "\n";
      code = kExitFailed;
      continue;
    }
    std::string line;
    for (const auto& v : *versions) {
      if (v.state == storage::VersionState::kComplete) {
        line += " " + v.version;
        continue;
      }
      std::cerr << "modpub: " << m << "@" << v.version << " is " << storage::StateName(v.state)
                << " (" << v.detail << ")"
                << (v.state == storage::VersionState::kIncomplete
                        ? ": an interrupted publish; publishing it again completes it"
                        : ": not served; inspect it")
                << "\n";
      code = std::max(code, kExitRefused);
    }
    if (!line.empty()) std::cout << m << line << "\n";
  }
  return code;
}

void AddDeadlineOption(CLI::App* cmd, double* seconds) {
  cmd->add_option("--storage-deadline", *seconds,
                  "seconds any one storage operation may take, retries included (default 30; "
                  "0 = none); enforced for s3://, not for file:// and athens-disk://, whose "
                  "filesystem calls cannot be interrupted. At the deadline the storage fails "
                  "(exit status 2); publishing again completes it")
      ->check(CLI::Range(0.0, 86400.0));
}

void RegisterPublish(CLI::App& app, int* exit_code) {
  auto add_common = [](CLI::App* cmd, PublishOptions* o) {
    cmd->add_option("--repo", o->repo, "git repository (bare or not) holding the tags")->required();
    cmd->add_option("--import-path", o->import_path,
                    "import path of the repository root, e.g. corp.example/lib")
        ->required();
    cmd->add_option("--to", o->to,
                    "storage to publish into (repeatable): file:///abs/dir (GOPROXY tree), "
                    "athens-disk:///abs/dir (Athens disk storage), or "
                    "s3://bucket/prefix?endpoint=http(s)://host:port&region=R&"
                    "layout=goproxy|athens (S3 bucket; AWS_* credentials)")
        ->required();
    cmd->add_option("--sign-key", o->sign_key,
                    "signer key file (modpub keygen): store a detached signature of each "
                    "version's go.sum lines beside it (@v/<v>.sig; Athens: .modpub-sig/)");
    cmd->add_option("--sumdb", o->sumdb,
                    "checksum database (a state directory, or s3://bucket/prefix?endpoint=… shared "
                    "by many machines; needs --sign-key): append each version's go.sum lines "
                    "to its transparency log (served by `modpub serve --sumdb`)");
    AddDeadlineOption(cmd, &o->storage_deadline_s);
  };

  auto pub = std::make_shared<PublishOptions>();
  CLI::App* p = app.add_subcommand(
      "publish",
      "Publish the module(s) of one version tag into every --to storage: builds once, writes\n"
      "to each. Prints one JSON line per module and storage: Path, Version, Sum, Backend,\n"
      "Result (published | unchanged | refused | failed) and Message. A version already\n"
      "stored with identical content is left as is (unchanged); with other content it is\n"
      "refused, both hashes printed, nothing overwritten. Exit status 0 = all published or\n"
      "unchanged, 1 = tag invalid or a version refused, 2 = a failure (re-run to complete).");
  add_common(p, pub.get());
  p->add_option("--tag", pub->tag, "version tag, e.g. v1.2.3 or sub/dir/v2.0.0")->required();
  p->callback([pub, exit_code] { *exit_code = RunPublish(*pub); });

  auto bf = std::make_shared<PublishOptions>();
  CLI::App* b = app.add_subcommand(
      "backfill",
      "Publish every version tag of a repository, oldest first by semver, into every --to\n"
      "storage. Invalid tags are reported (stderr) and skipped. Prints a summary table\n"
      "(published / unchanged / refused / invalid / failed per storage); with --json, one\n"
      "JSON line per module and storage on stdout and the table on stderr. Safe to interrupt\n"
      "and re-run. Exit status as for publish.");
  add_common(b, bf.get());
  b->add_flag("--json", bf->json, "print one JSON line per module and storage on stdout");
  b->callback([bf, exit_code] { *exit_code = RunBackfill(*bf); });

  auto ls = std::make_shared<LsOptions>();
  CLI::App* l = app.add_subcommand(
      "ls",
      "List the modules and versions stored in a storage: one line per module, its path and\n"
      "its complete versions in semver order. Incomplete (interrupted) or damaged versions\n"
      "are not listed; each is reported on stderr, and the exit status is then 1.");
  l->add_option("--from", ls->from,
                "storage URL: file:///abs/dir, athens-disk:///abs/dir or "
                "s3://bucket/prefix?endpoint=…&layout=goproxy|athens")
      ->required();
  l->add_option("module", ls->module, "only this module path");
  AddDeadlineOption(l, &ls->storage_deadline_s);
  l->callback([ls, exit_code] { *exit_code = RunLs(*ls); });
}

}  // namespace

const Registration kRegistration{20, RegisterPublish};

}  // namespace modpub::cli
