#include "modpub/publish/publish.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "modpub/modzip/modzip.hpp"
#include "modpub/semver/semver.hpp"

namespace modpub::publish {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kBuildPrefix = "modpub-build-";
constexpr char kOwnerFile[] = ".owner";
// A build directory without an owner file is one being created (the file follows at once),
// or one of an older modpub: removed once it is this old.
constexpr auto kOwnerlessGrace = std::chrono::minutes(10);

// A private directory for the zips of one tag, <root>/modpub-build-<pid>-XXXXXX, removed
// with the object. Its .owner file stays flock-ed while the object lives (the kernel drops
// the lock when the process dies, SIGKILL included), which is how SweepBuildDirs tells the
// directories of dead processes from those of live ones.
class BuildDir {
 public:
  static Result<BuildDir> Create(const fs::path& root) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return Fail(root.string() + ": cannot create the build root: " + ec.message());
    std::string tmpl =
        (root / (std::string(kBuildPrefix) + std::to_string(::getpid()) + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) {
      return Fail(tmpl + ": cannot create build directory: " + std::strerror(errno));
    }
    BuildDir dir(tmpl);  // from here on the destructor removes it
    // The owner file appears under its name already locked (locked under another name,
    // then renamed): a sweep in another process never sees it unlocked, which it would
    // take for the mark of a dead process, removing the directory being built.
    const fs::path owner = dir.path_ / kOwnerFile;
    const fs::path staged = dir.path_ / (std::string(kOwnerFile) + ".new");
    dir.owner_fd_ = ::open(staged.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (dir.owner_fd_ < 0 || ::flock(dir.owner_fd_, LOCK_EX | LOCK_NB) != 0 ||
        ::rename(staged.c_str(), owner.c_str()) != 0) {
      return Fail(owner.string() + ": cannot lock: " + std::strerror(errno));
    }
    return dir;
  }
  BuildDir(BuildDir&& o) noexcept
      : path_(std::exchange(o.path_, fs::path())), owner_fd_(std::exchange(o.owner_fd_, -1)) {}
  BuildDir& operator=(BuildDir&&) = delete;
  BuildDir(const BuildDir&) = delete;
  BuildDir& operator=(const BuildDir&) = delete;
  ~BuildDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
      if (ec) spdlog::warn("cannot remove build directory {}: {}", path_.string(), ec.message());
    }
    if (owner_fd_ >= 0) ::close(owner_fd_);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit BuildDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
  int owner_fd_ = -1;
};

// Whether build directory `dir` belongs to no live process.
bool Abandoned(const fs::path& dir) {
  const fs::path owner = dir / kOwnerFile;
  int fd = ::open(owner.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::error_code ec;
    auto t = fs::last_write_time(dir, ec);
    return !ec && t < fs::file_time_type::clock::now() - kOwnerlessGrace;
  }
  const bool dead = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return dead;
}

// Build directories under `root`, optionally only those of process `pid`.
std::vector<fs::path> BuildDirs(const fs::path& root, std::optional<pid_t> pid) {
  std::vector<fs::path> out;
  std::error_code ec;
  std::string prefix(kBuildPrefix);
  if (pid) prefix += std::to_string(*pid) + "-";
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code e;
    if (name.rfind(prefix, 0) == 0 && it->is_directory(e) && !it->is_symlink(e)) {
      out.push_back(it->path());
    }
  }
  return out;
}

bool LooksLikeVersion(std::string_view elem) {
  return elem.size() >= 2 && elem[0] == 'v' && elem[1] >= '0' && elem[1] <= '9';
}

std::string_view LastElement(std::string_view tag) {
  auto slash = tag.rfind('/');
  return slash == std::string_view::npos ? tag : tag.substr(slash + 1);
}

}  // namespace

fs::path BuildRoot(const fs::path& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : tmp;
}

int SweepBuildDirs(const fs::path& root) {
  int removed = 0;
  for (const fs::path& dir : BuildDirs(root, std::nullopt)) {
    if (!Abandoned(dir)) continue;
    std::error_code ec;
    const auto n = fs::remove_all(dir, ec);
    if (ec) {
      spdlog::warn("cannot remove the abandoned build directory {}: {}", dir.string(),
                   ec.message());
      continue;
    }
    spdlog::info("removed the build directory {} of a publish that died ({} files)", dir.string(),
                 n);
    ++removed;
  }
  return removed;
}

int RemoveOwnBuildDirs(const fs::path& root) {
  int removed = 0;
  for (const fs::path& dir : BuildDirs(root, ::getpid())) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (!ec) ++removed;
  }
  return removed;
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPublished:
      return "published";
    case Outcome::kUnchanged:
      return "unchanged";
    case Outcome::kRefused:
      return "refused";
    case Outcome::kFailed:
      return "failed";
  }
  throw std::logic_error("bad publish::Outcome");
}

TagResult PublishTag(git::Repository& repo, const std::string& import_path, const std::string& tag,
                     const std::vector<storage::Backend*>& backends, const Options& options) {
  TagResult result;
  auto modules = modzip::Resolve(repo, import_path, tag);
  if (!modules) {
    result.kind = TagResult::kInvalid;
    result.error = modules.message();
    spdlog::info("tag {} of {} is not publishable", tag, import_path);
    return result;
  }
  auto dir = BuildDir::Create(BuildRoot(options.build_root));
  if (!dir) {
    result.kind = TagResult::kFailed;
    result.error = dir.message();
    return result;
  }
  // Build everything first: a tag is published whole or not at all.
  std::vector<modzip::BuiltModule> built;
  std::string problems;        // trees that cannot be module zips: refused for good
  std::string local_failures;  // zips this machine could not write: tried again later
  for (std::size_t i = 0; i < modules->size(); ++i) {
    const auto& mv = (*modules)[i];
    bool tree_invalid = false;
    auto b = modzip::Build(repo, mv, dir->path() / (std::to_string(i) + ".zip"), &tree_invalid);
    if (!b) {
      std::string& into = tree_invalid ? problems : local_failures;
      into += (into.empty() ? "" : "\n") + b.message();
      continue;
    }
    spdlog::info("built {}@{} from tag {}: {}", mv.path, mv.version, tag, b->sum);
    built.push_back(std::move(*b));
  }
  if (!problems.empty()) {
    result.kind = TagResult::kInvalid;
    result.error = problems;
    return result;
  }
  if (!local_failures.empty()) {  // reported by the caller, as a BuildDir failure is
    result.kind = TagResult::kFailed;
    result.error = local_failures;
    return result;
  }

  for (const auto& b : built) {
    storage::VersionFiles files{b.mv.path, b.mv.version, b.mv.info, b.mv.mod,    b.zip,
                                b.sum,     b.gomod_sum,  "",        b.zip_sha256};
    const std::string mv = b.mv.path + "@" + b.mv.version;
    const std::string lines = sumdb::ModuleRecord(b.mv.path, b.mv.version, b.sum, b.gomod_sum);
    if (options.signer) {
      auto sig = sign::SignNote(lines, *options.signer);
      if (!sig) throw std::logic_error("go.sum lines are not a note text: " + sig.message());
      files.sig = std::move(*sig);
    }
    // The checksum database first: a version it contradicts must not be stored.
    std::optional<Report> log_verdict;
    std::string record;
    if (options.log) {
      auto appended = options.log->AppendModule(b.mv.path, b.mv.version, b.sum, b.gomod_sum);
      if (!appended || appended->outcome == sumdb::AppendOutcome::kConflict) {
        const std::string why = appended ? appended->message : appended.message();
        log_verdict = Report{b.mv.path,
                             b.mv.version,
                             b.sum,
                             b.gomod_sum,
                             "",
                             appended ? Outcome::kRefused : Outcome::kFailed,
                             "checksum database " + options.log->where() + ": " + why,
                             ""};
        spdlog::error("cannot log {} in the checksum database: {}", mv, why);
      } else {
        record = "record " + std::to_string(appended->id);
        spdlog::info(
            "{} {} checksum database {} as record {}", mv,
            appended->outcome == sumdb::AppendOutcome::kAppended ? "appended to" : "already in",
            options.log->where(), appended->id);
      }
    }
    for (storage::Backend* backend : backends) {
      if (log_verdict) {
        Report r = *log_verdict;
        r.backend = backend->Name();
        result.reports.push_back(std::move(r));
        continue;
      }
      Report r{b.mv.path,       b.mv.version,     b.sum, b.gomod_sum,
               backend->Name(), Outcome::kFailed, "",    record};
      auto put = backend->Put(files);
      if (!put) {
        r.message = put.message();
        spdlog::error("failed to publish {} to {}: {}", mv, backend->Name(), r.message);
      } else {
        r.message = put->message;
        switch (put->outcome) {
          case storage::PutOutcome::kPublished:
            r.outcome = Outcome::kPublished;
            spdlog::info("published {} to {}{}{}", mv, backend->Name(),
                         r.message.empty() ? "" : ": ", r.message);
            break;
          case storage::PutOutcome::kUnchanged:
            r.outcome = Outcome::kUnchanged;
            r.message = "already published";
            spdlog::info("{} already published in {}", mv, backend->Name());
            break;
          case storage::PutOutcome::kRefused:
            r.outcome = Outcome::kRefused;
            spdlog::warn("refused to publish {} to {}: {}", mv, backend->Name(), r.message);
            break;
        }
      }
      result.reports.push_back(std::move(r));
    }
  }
  return result;
}

OrderedTags OrderVersionTags(const std::vector<std::string>& tags) {
  OrderedTags out;
  for (const auto& t : tags) {
    (LooksLikeVersion(LastElement(t)) ? out.versions : out.other).push_back(t);
  }
  std::stable_sort(out.versions.begin(), out.versions.end(),
                   [](const std::string& a, const std::string& b) {
                     int c = semver::Compare(LastElement(a), LastElement(b));
                     return c != 0 ? c < 0 : a < b;
                   });
  return out;
}

}  // namespace modpub::publish
