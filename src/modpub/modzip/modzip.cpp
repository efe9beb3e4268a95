#include "modpub/modzip/modzip.hpp"

#include <zip.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/digest.hpp"
#include "modpub/gomod/gomod.hpp"
#include "modpub/gomod/goversion.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/zipcheck/zipcheck.hpp"

namespace modpub::modzip {
namespace {

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

bool HasPathPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() == prefix.size()) return s == prefix;
  if (s.size() < prefix.size() || s.substr(0, prefix.size()) != prefix) return false;
  return prefix.empty() || prefix.back() == '/' || s[prefix.size()] == '/';
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string FormatTime(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A tag split into the directory it names and its version.
struct ParsedTag {
  std::string dir;
  std::string version;
};

Result<ParsedTag> ParseTag(const std::string& tag) {
  auto slash = tag.rfind('/');
  ParsedTag t;
  t.dir = slash == std::string::npos ? "" : tag.substr(0, slash);
  t.version = slash == std::string::npos ? tag : tag.substr(slash + 1);
  const std::string& v = t.version;
  if (!semver::IsValid(v)) {
    return Fail(tag + ": " + Quote(v) +
                " is not a semantic version: module versions are tags vMAJOR.MINOR.PATCH");
  }
  std::string canon = semver::Canonical(v);
  if (canon != v) {
    std::string why = !semver::Build(v).empty() ? "build metadata (+...) is not allowed"
                                                : "go only uses complete versions";
    return Fail(tag + ": version " + Quote(v) + " is not canonical semver (" + why +
                "); tag it as " + JoinPath(t.dir, canon));
  }
  if (module::IsPseudoVersion(v)) {
    return Fail(tag + ": version " + Quote(v) +
                " has the form of a pseudo-version, which the go command ignores as a tag");
  }
  return t;
}

// What the go command's codeRepo knows about one candidate module path.
struct Candidate {
  std::string mod_path;
  std::string path_prefix;
  std::string path_major;
  std::string code_dir;
};

std::optional<Candidate> MakeCandidate(const std::string& code_root, const std::string& mod_path) {
  module::PathVersion pv = module::SplitPathVersion(mod_path);
  if (!pv.ok) return std::nullopt;
  Candidate c{mod_path, pv.prefix, pv.path_major, ""};
  if (code_root == mod_path) {
    c.path_prefix = mod_path;
  } else {
    if (!HasPathPrefix(c.path_prefix, code_root)) return std::nullopt;
    std::string rest = c.path_prefix.substr(code_root.size());
    auto b = rest.find_first_not_of('/');
    auto e = rest.find_last_not_of('/');
    c.code_dir = b == std::string::npos ? "" : rest.substr(b, e - b + 1);
  }
  return c;
}

// isMajor in coderepo.go: does module path `mpath` carry the major suffix `path_major`?
bool IsMajor(std::string_view mpath, std::string_view path_major) {
  if (mpath.empty()) return false;
  module::PathVersion pv = module::SplitPathVersion(mpath);
  if (!pv.ok) return false;
  if (path_major.empty()) {
    std::string p = module::PathMajorPrefix(pv.path_major);
    return p.empty() || p == "v0" || p == "v1";
  }
  if (pv.path_major.empty()) return false;
  return path_major.substr(1) == std::string_view(pv.path_major).substr(1);
}

struct FoundDir {
  std::string dir;
  std::optional<std::string> gomod;  // raw go.mod bytes, if the module has one
};

// findDir in coderepo.go: the directory holding the module's files for candidate `c`,
// and its go.mod. Errors use the go command's wording.
Result<FoundDir> FindDir(git::Repository& repo, const git::Oid& tree, const std::string& code_root,
                         const Candidate& c, const std::string& version) {
  std::string file1 = JoinPath(c.code_dir, "go.mod");
  auto gomod1 = repo.ReadFile(tree, file1);
  if (!gomod1) return gomod1.error();
  std::string mpath1 = *gomod1 ? gomod::ModulePath(**gomod1) : "";
  bool found1 =
      gomod1->has_value() && (IsMajor(mpath1, c.path_major) ||
                              (c.path_major.empty() && mpath1.rfind("gopkg.in/", 0) == 0));

  std::string file2;
  if (!c.path_major.empty() && code_root != c.mod_path && c.path_major[0] != '.') {
    std::string dir2 = JoinPath(c.code_dir, c.path_major.substr(1));
    file2 = JoinPath(dir2, "go.mod");
    auto gomod2 = repo.ReadFile(tree, file2);
    if (!gomod2) return gomod2.error();
    std::string mpath2 = *gomod2 ? gomod::ModulePath(**gomod2) : "";
    bool found2 = gomod2->has_value() && IsMajor(mpath2, c.path_major);
    if (found1 && found2) {
      return Fail(file1 + " and " + file2 + " both declare ..." + c.path_major +
                  " module paths; only one of them may");
    }
    if (found2) return FoundDir{dir2, std::move(*gomod2)};
    if (gomod2->has_value()) {
      if (mpath2.empty()) return Fail(file2 + ": missing module path (no module directive)");
      return Fail(file2 + " has non-..." + c.path_major + " module path " + Quote(mpath2));
    }
  }
  if (found1) return FoundDir{c.code_dir, std::move(*gomod1)};
  if (gomod1->has_value()) {
    std::string suffix =
        file2.empty() ? "" : " (and ..." + c.path_major + "/go.mod does not exist)";
    if (mpath1.empty()) return Fail(file1 + ": missing module path (no module directive)" + suffix);
    if (!c.path_major.empty()) {
      return Fail(file1 + " has non-..." + c.path_major + " module path " + Quote(mpath1) + suffix);
    }
    if (!module::SplitPathVersion(mpath1).ok) {
      return Fail(file1 + " has malformed module path " + Quote(mpath1) + suffix);
    }
    return Fail(file1 + " has post-" + semver::Major(version) + " module path " + Quote(mpath1) +
                suffix + ": a " + semver::Major(version) + " tag needs a module path ending in /" +
                semver::Major(version));
  }
  if (c.code_dir.empty() && (c.path_major.empty() || c.path_major[0] == '.')) {
    return FoundDir{"", std::nullopt};  // implicit go.mod at the root: v0/v1 and gopkg.in
  }
  if (!file2.empty()) {
    return Fail("missing " + file1 + " and ..." + c.path_major + "/go.mod: a " +
                semver::Major(version) + " module needs a go.mod declaring " + Quote(c.mod_path));
  }
  return Fail("missing " + file1 + ": a module in a subdirectory needs its own go.mod");
}

// The stricter rules: a go.mod must parse, declare exactly the path the tag publishes, and
// need no go newer than every supported one. Returns its go line's version ("" if none).
Result<std::string> CheckGoMod(const std::string& tag, const std::string& gomod_file,
                               const std::string& gomod, const std::string& mod_path,
                               const std::string& code_root) {
  auto parsed = gomod::ParseModule(gomod, gomod_file);
  if (!parsed) return parsed.error();
  if (parsed->path != mod_path) {
    return Fail(gomod_file + ": declares module path " + Quote(parsed->path) + " but tag " + tag +
                " of the repository at " + Quote(code_root) + " publishes " + Quote(mod_path) +
                " (import path + tag directory + major version); no build could use it");
  }
  // go 1.21 and later refuse to download (and to build with) a module whose go line is
  // newer than themselves unless they may switch toolchains (coderepo.go Zip, gover).
  if (gomod::CompareGoVersions(parsed->go_version, gomod::kNewestGo) > 0) {
    return Fail(gomod_file + ": go " + parsed->go_version + " is newer than go " +
                std::string(gomod::kNewestGo) + ", the newest go modpub publishes for: go " +
                std::string(gomod::kNewestGo) + " refuses to download it (\"requires go >= " +
                parsed->go_version + "\"); lower the go line to the version the module needs");
  }
  return std::move(parsed->go_version);
}

// Files that go 1.19-1.23 and go 1.24+ would put into the zip differently: for a module
// whose go line says 1.24 or later, current go decides what is vendored by the newer rule
// and older go by the old one (zipcheck::VendorRule), so they would build two zips with
// two hashes from the tag. One problem line per file, naming both answers.
std::vector<std::string> VendorRuleDifferences(const std::vector<zipcheck::File>& files,
                                               const zipcheck::CheckedFiles& now,
                                               const std::string& go_version) {
  zipcheck::CheckedFiles old = zipcheck::CheckFiles(files, zipcheck::VendorRule::kBeforeGo124);
  std::vector<std::string> a = now.valid, b = old.valid, out;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> only_now, only_old;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_now));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_old));
  const std::string why = " (go.mod says go " + go_version +
                          "; x/mod zip isVendoredPackage): the two would hash this version "
                          "differently; remove the file from the tagged tree";
  for (const auto& f : only_now) {
    out.push_back(f +
                  ": go 1.24 and later put this file into the zip, go 1.19 to 1.23 leave it "
                  "out as vendored" +
                  why);
  }
  for (const auto& f : only_old) {
    out.push_back(f +
                  ": go 1.19 to 1.23 put this file into the zip, go 1.24 and later leave it "
                  "out as vendored" +
                  why);
  }
  return out;
}

std::string InfoJson(const std::string& version, std::int64_t time) {
  return "{\"Version\":\"" + version + "\",\"Time\":\"" + FormatTime(time) + "\"}";
}

Error Prefixed(const std::string& tag, const std::string& message) {
  std::string out;
  std::size_t start = 0;
  while (start <= message.size()) {
    auto nl = message.find('\n', start);
    std::string line = message.substr(start, nl == std::string::npos ? nl : nl - start);
    if (!line.empty()) {
      if (!out.empty()) out += '\n';
      out += line.rfind(tag + ": ", 0) == 0 ? line : tag + ": " + line;
    }
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return Fail(out);
}

// One file of the module zip, before it is read.
struct PlannedFile {
  std::string name;  // path inside the module
  std::string repo_path;
  git::Oid blob;
  std::uint64_t size = 0;
  std::optional<std::string> data;  // content held in memory (the root LICENSE copy)
};

struct Plan {
  std::vector<PlannedFile> files;  // valid files only, sorted by name
};

Result<Plan> MakePlan(git::Repository& repo, const ModuleVersion& mv) {
  auto tagged = repo.ResolveCommit(mv.commit, "tag " + mv.tag);
  if (!tagged) return Prefixed(mv.tag, tagged.message());
  auto entries = repo.ListFiles(tagged->tree, mv.dir);
  if (!entries) return Prefixed(mv.tag, entries.message());

  std::vector<PlannedFile> planned;
  std::vector<zipcheck::File> check;
  bool have_license = false;
  std::size_t strip = mv.dir.empty() ? 0 : mv.dir.size() + 1;
  for (git::Entry& e : *entries) {
    // `git archive` writes a gitlink as an empty directory entry, which the go command
    // skips: submodules never reach the zip.
    if (e.kind == git::EntryKind::kGitlink) continue;
    std::string name = e.path.substr(strip);
    if (name == "LICENSE") have_license = true;
    zipcheck::File f{name, zipcheck::FileKind::kRegular, 0};
    if (e.kind == git::EntryKind::kSymlink) {
      f.kind = zipcheck::FileKind::kSymlink;
    } else {
      auto filtered = repo.HasFilter(e.path, mv.commit);
      if (!filtered) return Prefixed(mv.tag, filtered.message());
      if (*filtered) {
        auto blob = repo.ReadFiltered(e.oid, e.path, mv.commit);
        if (!blob) return Prefixed(mv.tag, blob.message());
        f.size = blob->data().size();
      } else {
        auto size = repo.BlobSize(e.oid);
        if (!size) return Prefixed(mv.tag, size.message());
        f.size = *size;
      }
    }
    check.push_back(f);
    planned.push_back({std::move(name), std::move(e.path), e.oid, f.size, std::nullopt});
  }
  // A module in a subdirectory without a LICENSE of its own gets the repository's, read
  // raw as `git cat-file` does (no export filters).
  if (!mv.dir.empty() && !have_license) {
    auto license = repo.ReadFile(tagged->tree, "LICENSE");
    if (!license) return Prefixed(mv.tag, license.message());
    if (*license) {
      std::uint64_t size = (*license)->size();
      check.push_back({"LICENSE", zipcheck::FileKind::kRegular, size});
      planned.push_back({"LICENSE", "LICENSE", git::Oid{}, size, std::move(*license)});
    }
  }

  const bool go124 = gomod::LanguageAtLeast(mv.go_version, 24);
  zipcheck::CheckedFiles cf = zipcheck::CheckFiles(
      check, go124 ? zipcheck::VendorRule::kGo124 : zipcheck::VendorRule::kBeforeGo124);
  std::vector<std::string> problems = cf.Problems();
  if (go124 && cf.ok()) problems = VendorRuleDifferences(check, cf, mv.go_version);
  if (!problems.empty()) {
    std::string msg;
    for (const std::string& p : problems) {
      msg += (msg.empty() ? "" : "\n") + (mv.dir.empty() ? p : mv.dir + "/" + p);
    }
    return Prefixed(mv.tag, msg);
  }
  std::vector<PlannedFile> valid;
  valid.reserve(cf.valid.size());
  std::size_t j = 0;
  for (const std::string& name : cf.valid) {
    // cf.valid keeps input order, so one forward scan pairs names with planned files.
    while (planned[j].name != name) ++j;
    valid.push_back(std::move(planned[j++]));
  }
  std::sort(valid.begin(), valid.end(),
            [](const PlannedFile& a, const PlannedFile& b) { return a.name < b.name; });
  return Plan{std::move(valid)};
}

// --- zip writing ------------------------------------------------------------------------

// libzip 1.7's deflate: raw stream (no zlib header), 32 KiB window, zlib's largest memory
// level, default strategy, fed with Z_NO_FLUSH and finished with Z_FINISH. zlib's output
// depends only on these parameters and the input, not on how the input is split, so a
// stream made here is byte for byte the one libzip would write.
constexpr int kDeflateLevel = 6;
constexpr int kDeflateWindowBits = -MAX_WBITS;
constexpr int kDeflateMemLevel = MAX_MEM_LEVEL;

// A file deflated ahead of libzip, with what the zip entry records about it.
struct Deflated {
  std::string data;  // raw deflate stream
  std::uint32_t crc = 0;
  dirhash::Digest digest{};
};

// A zlib deflate stream, ended on scope exit.
class Deflater {
 public:
  Deflater() {
    ok_ = deflateInit2(&z_, kDeflateLevel, Z_DEFLATED, kDeflateWindowBits, kDeflateMemLevel,
                       Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return ok_; }
  z_stream* get() { return &z_; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

std::optional<Deflated> DeflateFile(std::string_view in) {
  // One call with all the input and a large enough output buffer. zlib's counters are
  // 32-bit, far above what the worker takes (kBudget / 2).
  if (in.size() > (std::numeric_limits<uInt>::max() >> 1)) return std::nullopt;
  Deflater d;
  if (!d.ok()) return std::nullopt;
  z_stream* z = d.get();
  Deflated out;
  out.data.resize(deflateBound(z, in.size()));
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z->avail_in = static_cast<uInt>(in.size());
  z->next_out = reinterpret_cast<Bytef*>(out.data.data());
  z->avail_out = static_cast<uInt>(out.data.size());
  if (deflate(z, Z_FINISH) != Z_STREAM_END) return std::nullopt;
  out.data.resize(z->total_out);
  out.data.shrink_to_fit();
  out.crc = static_cast<std::uint32_t>(
      crc32_z(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(in.data()), in.size()));
  out.digest = dirhash::Sha256::Of(in);
  return out;
}

// Deflates the files of a zip on a second thread, ahead of libzip, which writes the zip
// in name order on the calling thread: while libzip compresses file i itself, the worker
// deflates files i+1, i+2, ... into memory, and libzip then copies those as they are.
// The output bytes are the same as without the worker (see DeflateFile).
//
// Memory stays bounded: the worker takes a file only while the bytes it holds (deflated
// results not yet written, plus twice the size of the file in progress: its content and
// the output buffer) stay within kBudget; a file that could never fit is left to libzip,
// which streams it. So the peak is about the largest file (libzip's) plus kBudget.
// A file the worker has not started when libzip reaches it is claimed by libzip; one it
// is deflating is waited for. The worker reads through a repository handle of its own.
// Any failure on the worker's side just leaves the file to libzip, which reports it.
class Precompressor {
 public:
  static constexpr std::uint64_t kBudget = 16ull << 20;

  Precompressor(git::Repository repo, const git::Oid& commit, const std::vector<PlannedFile>& files)
      : repo_(std::move(repo)),
        commit_(commit),
        files_(files),
        state_(files.size()),
        results_(files.size()) {
    for (std::size_t i = 0; i < files_.size(); ++i) {
      // Empty files are left to libzip: nothing to gain, and no stream to get wrong.
      if (files_[i].size == 0 || 2 * files_[i].size > kBudget) state_[i] = State::kLibzip;
    }
    worker_ = std::thread([this] { Run(); });
  }
  ~Precompressor() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  Precompressor(const Precompressor&) = delete;
  Precompressor& operator=(const Precompressor&) = delete;

  // libzip is about to write file i: its deflated form if the worker made it (waiting for
  // one in progress), else nullptr and the file is libzip's. Idempotent: libzip asks more
  // than once per file and must get the same answer.
  const Deflated* Take(std::size_t i) {
    std::unique_lock lk(mu_);
    head_ = std::max(head_, i);
    cv_.wait(lk, [&] { return state_[i] != State::kWorking; });
    if (state_[i] == State::kPending) state_[i] = State::kLibzip;
    cv_.notify_all();
    return state_[i] == State::kDone ? &*results_[i] : nullptr;
  }

  // libzip has written file i: its deflated form can go.
  void Release(std::size_t i) {
    {
      std::lock_guard lk(mu_);
      if (state_[i] != State::kDone || !results_[i]) return;
      held_ -= results_[i]->data.size();
      results_[i].reset();
    }
    cv_.notify_all();
  }

 private:
  enum class State { kPending, kWorking, kDone, kLibzip };

  void Run() {
    std::unique_lock lk(mu_);
    std::size_t j = 0;
    for (;;) {
      // The next file libzip has not reached yet and that the worker may take. The one
      // right after libzip's current file is left to libzip: if the worker took it too,
      // libzip, copying finished files fast, would catch up and wait for the worker at
      // every file, and the two threads would take turns instead of working together.
      j = std::max(j, head_ + 2);
      while (j < files_.size() && state_[j] != State::kPending) ++j;
      if (stop_ || j >= files_.size()) return;
      std::uint64_t need = 2 * files_[j].size;
      if (held_ + need > kBudget) {
        cv_.wait(lk);  // until libzip writes (Release) or moves on (Take)
        continue;
      }
      state_[j] = State::kWorking;
      held_ += need;
      lk.unlock();
      std::optional<Deflated> d = Deflate(files_[j]);
      lk.lock();
      held_ -= need;
      if (d) {
        held_ += d->data.size();
        results_[j] = std::move(d);
        state_[j] = State::kDone;
      } else {
        state_[j] = State::kLibzip;  // libzip reads it again and reports any error
      }
      cv_.notify_all();
    }
  }

  std::optional<Deflated> Deflate(const PlannedFile& f) {
    if (f.data) return DeflateFile(*f.data);
    auto blob = repo_.ReadFiltered(f.blob, f.repo_path, commit_);
    if (!blob || blob->data().size() != f.size) return std::nullopt;
    return DeflateFile(blob->data());
  }

  git::Repository repo_;
  git::Oid commit_;
  const std::vector<PlannedFile>& files_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<State> state_;
  std::vector<std::optional<Deflated>> results_;
  std::size_t head_ = 0;    // the file libzip is writing
  std::uint64_t held_ = 0;  // bytes the worker holds (see the class comment)
  bool stop_ = false;
  std::thread worker_;
};

// Feeds one file to libzip on demand: the blob is read when libzip opens the source and
// released when it closes it, so only one file is in memory at a time -- or, when the
// Precompressor deflated it already, libzip copies that deflated stream.
struct ZipSource {
  git::Repository* repo = nullptr;
  const git::Oid* commit = nullptr;
  const PlannedFile* file = nullptr;
  Precompressor* pre = nullptr;
  std::size_t index = 0;
  bool asked = false;  // pre has been asked about this file
  const Deflated* deflated = nullptr;
  std::uint32_t crc = 0;
  std::uint64_t comp_size = 0;
  dirhash::Digest digest{};
  bool hashed = false;
  std::optional<git::FilteredBlob> blob;
  std::string_view data;
  std::size_t offset = 0;
  zip_error_t error{};
  std::string failure;
};

zip_int64_t SourceCallback(void* userdata, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  auto* s = static_cast<ZipSource*>(userdata);
  switch (cmd) {
    case ZIP_SOURCE_SUPPORTS:
      return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                            ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    case ZIP_SOURCE_STAT: {
      if (len < sizeof(zip_stat_t)) return -1;
      auto* st = static_cast<zip_stat_t*>(data);
      zip_stat_init(st);
      st->size = s->file->size;
      st->valid = ZIP_STAT_SIZE;
      if (s->pre && !s->asked) {
        s->asked = true;
        s->deflated = s->pre->Take(s->index);
        if (s->deflated) {
          s->crc = s->deflated->crc;
          s->comp_size = s->deflated->data.size();
          s->digest = s->deflated->digest;
          s->hashed = true;
        }
      }
      if (s->comp_size) {  // already deflated: libzip copies it as it is
        st->comp_size = s->comp_size;
        st->comp_method = ZIP_CM_DEFLATE;
        st->crc = s->crc;
        st->encryption_method = ZIP_EM_NONE;
        st->valid |=
            ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC | ZIP_STAT_ENCRYPTION_METHOD;
      }
      return sizeof(zip_stat_t);
    }
    case ZIP_SOURCE_OPEN: {
      if (s->deflated) {
        s->data = s->deflated->data;
        s->offset = 0;
        return 0;
      }
      if (s->file->data) {
        s->data = *s->file->data;
      } else {
        auto blob = s->repo->ReadFiltered(s->file->blob, s->file->repo_path, *s->commit);
        if (!blob) {
          s->failure = blob.message();
          zip_error_set(&s->error, ZIP_ER_READ, 0);
          return -1;
        }
        s->blob.emplace(std::move(blob.value()));
        s->data = s->blob->data();
      }
      if (s->data.size() != s->file->size) {
        s->failure = s->file->repo_path + ": content changed while writing the zip";
        zip_error_set(&s->error, ZIP_ER_INCONS, 0);
        return -1;
      }
      s->digest = dirhash::Sha256::Of(s->data);
      s->hashed = true;
      s->offset = 0;
      return 0;
    }
    case ZIP_SOURCE_READ: {
      std::size_t n = std::min<std::size_t>(len, s->data.size() - s->offset);
      if (n) std::memcpy(data, s->data.data() + s->offset, n);
      s->offset += n;
      return static_cast<zip_int64_t>(n);
    }
    case ZIP_SOURCE_CLOSE:
      s->blob.reset();
      s->data = {};
      if (s->deflated) {
        s->deflated = nullptr;
        s->pre->Release(s->index);
      }
      return 0;
    case ZIP_SOURCE_ERROR:
      return zip_error_to_data(&s->error, data, len);
    case ZIP_SOURCE_FREE:
      return 0;  // owned by Build
    default:
      zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

struct ZipArchiveCloser {
  void operator()(zip_t* z) const {
    if (z) zip_discard(z);
  }
};

// libzip writes no file at all for an archive without entries, but an empty module is a
// valid module: its zip is the 22-byte end-of-central-directory record alone.
Result<BuiltModule> BuildEmpty(const ModuleVersion& mv, const std::filesystem::path& tmp,
                               const std::filesystem::path& zip_path) {
  static constexpr char kEmptyZip[22] = {'P', 'K', 5, 6};
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return Fail(zip_path.string() + ": cannot create zip: " + std::strerror(errno));
    bool ok = std::fwrite(kEmptyZip, 1, sizeof kEmptyZip, f) == sizeof kEmptyZip;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return Fail(zip_path.string() + ": writing zip failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, zip_path, ec);
  if (ec) return Fail(zip_path.string() + ": " + ec.message());
  auto sum = dirhash::Hash1({});
  if (!sum) return sum.error();
  return BuiltModule{
      mv, zip_path, std::move(*sum), dirhash::HashGoMod(mv.path, mv.version, mv.mod),
      dirhash::Hex(dirhash::Sha256::Of(std::string_view(kEmptyZip, sizeof kEmptyZip)))};
}

// Resolve, once the tag's name is parsed and the commit it names is known.
Result<std::vector<ModuleVersion>> ResolveParsed(git::Repository& repo,
                                                 const std::string& import_path,
                                                 const std::string& tag, const ParsedTag& parsed,
                                                 const git::TaggedCommit& tagged) {
  const std::string& v = parsed.version;

  std::string base = JoinPath(import_path, parsed.dir);
  std::vector<std::string> paths{base};
  std::string major = semver::Major(v);
  if (major != "v0" && major != "v1" && module::SplitPathVersion(base).path_major.empty()) {
    paths.push_back(base + "/" + major);
  }

  std::vector<ModuleVersion> out;
  std::vector<std::string> problems;
  for (const std::string& mod_path : paths) {
    auto cand = MakeCandidate(import_path, mod_path);
    if (!cand || cand->code_dir != parsed.dir) continue;
    if (auto st = module::CheckPath(mod_path); !st) {
      problems.push_back("module path " + Quote(mod_path) + ": " + st.message());
      continue;
    }
    std::string version = v;
    if (!module::MatchPathMajor(v, cand->path_major)) {
      // +incompatible: only a root module without go.mod and without a suffix.
      auto root_gomod = repo.ReadFile(tagged.tree, "go.mod");
      if (!root_gomod) return root_gomod.error();
      if (!cand->code_dir.empty() || !cand->path_major.empty() || root_gomod->has_value()) {
        if (paths.size() == 1) {
          problems.push_back(cand->path_major.empty()
                                 ? "module " + Quote(mod_path) + " cannot have version " + v
                                 : "module path " + Quote(mod_path) + " has major version suffix " +
                                       cand->path_major + ", which version " + v +
                                       " does not match");
        }
        continue;
      }
      version = v + "+incompatible";
    }
    auto found = FindDir(repo, tagged.tree, import_path, *cand, v);
    if (!found) {
      problems.push_back(found.message());
      continue;
    }
    if (auto st = module::Check(mod_path, version); !st) {
      problems.push_back(st.message());
      continue;
    }
    ModuleVersion mv;
    mv.path = mod_path;
    mv.version = version;
    mv.tag = tag;
    mv.dir = found->dir;
    mv.commit = tagged.commit;
    mv.time = tagged.time;
    if (found->gomod) {
      std::string file = JoinPath(found->dir, "go.mod");
      auto go_version = CheckGoMod(tag, file, *found->gomod, mod_path, import_path);
      if (!go_version) {
        problems.push_back(go_version.message());
        continue;
      }
      mv.go_version = std::move(*go_version);
      mv.mod = std::move(*found->gomod);
    } else {
      mv.mod = gomod::LegacyGoMod(mod_path);
    }
    mv.info = InfoJson(version, tagged.time);
    out.push_back(std::move(mv));
  }
  if (out.empty()) {
    if (problems.empty()) {
      problems.push_back("no module of " + Quote(import_path) + " is served by this tag");
    }
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
    return Prefixed(tag, msg);
  }
  return out;
}

}  // namespace

void PrimeLibzip() {
  static const bool primed = [] {
    zip_error_t err;
    zip_error_init(&err);
    if (zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err)) {
      if (zip_t* za = zip_open_from_source(src, 0, &err)) {
        zip_discard(za);  // frees the source too
      } else {
        zip_source_free(src);
      }
    }
    zip_error_fini(&err);
    return true;
  }();
  (void)primed;
}

Result<std::vector<ModuleVersion>> Resolve(git::Repository& repo, const std::string& import_path,
                                           const std::string& tag) {
  if (auto st = module::CheckPath(import_path); !st) {
    return Prefixed(tag, "import path " + Quote(import_path) + ": " + st.message());
  }
  auto parsed = ParseTag(tag);
  if (!parsed) return parsed.error();
  auto tagged = repo.ResolveTag(tag);
  if (!tagged) return tagged.error();
  return ResolveParsed(repo, import_path, tag, *parsed, *tagged);
}

Result<std::vector<ModuleVersion>> ResolveAt(git::Repository& repo, const std::string& import_path,
                                             const std::string& tag, const git::Oid& target) {
  if (auto st = module::CheckPath(import_path); !st) {
    return Prefixed(tag, "import path " + Quote(import_path) + ": " + st.message());
  }
  auto parsed = ParseTag(tag);
  if (!parsed) return parsed.error();
  auto tagged = repo.ResolveCommit(target, "tag " + tag);
  if (!tagged) return Prefixed(tag, tagged.message());
  return ResolveParsed(repo, import_path, tag, *parsed, *tagged);
}

Status Check(git::Repository& repo, const ModuleVersion& mv) {
  auto plan = MakePlan(repo, mv);
  if (!plan) return plan.error();
  return Ok();
}

Result<BuiltModule> Build(git::Repository& repo, const ModuleVersion& mv,
                          const std::filesystem::path& zip_path, bool* tree_invalid) {
  if (tree_invalid) *tree_invalid = false;
  auto plan = MakePlan(repo, mv);
  if (!plan) {
    if (tree_invalid) *tree_invalid = true;
    return plan.error();
  }

  std::filesystem::path tmp = zip_path;
  tmp += ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (plan->files.empty()) return BuildEmpty(mv, tmp, zip_path);
  PrimeLibzip();
  int zerr = 0;
  std::unique_ptr<zip_t, ZipArchiveCloser> za(zip_open(tmp.c_str(), ZIP_CREATE | ZIP_EXCL, &zerr));
  if (!za) {
    zip_error_t e;
    zip_error_init_with_code(&e, zerr);
    std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    return Fail(zip_path.string() + ": cannot create zip: " + msg);
  }

  // A second thread deflates ahead of libzip when there is a second core to run it.
  std::optional<Precompressor> pre;
  if (std::thread::hardware_concurrency() > 1 && plan->files.size() > 1) {
    if (auto worker_repo = repo.Reopen()) {
      pre.emplace(std::move(*worker_repo), mv.commit, plan->files);
    }
  }

  std::string prefix = mv.path + "@" + mv.version + "/";
  std::vector<std::unique_ptr<ZipSource>> sources;
  sources.reserve(plan->files.size());
  for (std::size_t i = 0; i < plan->files.size(); ++i) {
    const PlannedFile& f = plan->files[i];
    auto s = std::make_unique<ZipSource>();
    s->repo = &repo;
    s->commit = &mv.commit;
    s->file = &f;
    s->pre = pre ? &*pre : nullptr;
    s->index = i;
    zip_error_init(&s->error);
    zip_error_t cerr;
    zip_error_init(&cerr);
    zip_source_t* src = zip_source_function_create(SourceCallback, s.get(), &cerr);
    zip_error_fini(&cerr);
    if (!src) return Fail(zip_path.string() + ": cannot create zip source for " + f.name);
    std::string name = prefix + f.name;
    zip_int64_t idx = zip_file_add(za.get(), name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      return Fail(zip_path.string() + ": adding " + f.name + ": " + zip_strerror(za.get()));
    }
    auto entry = static_cast<zip_uint64_t>(idx);
    // Fixed metadata so that the same tree always yields the same bytes.
    if (zip_set_file_compression(za.get(), entry, ZIP_CM_DEFLATE, kDeflateLevel) != 0 ||
        zip_file_set_dostime(za.get(), entry, 0, (1 << 5) | 1, 0) != 0 ||
        zip_file_set_external_attributes(za.get(), entry, 0, ZIP_OPSYS_UNIX, 0100644u << 16) != 0) {
      return Fail(zip_path.string() + ": setting attributes of " + f.name + ": " +
                  zip_strerror(za.get()));
    }
    sources.push_back(std::move(s));
  }
  if (zip_close(za.get()) != 0) {
    std::string msg = zip_strerror(za.get());
    for (const auto& s : sources) {
      if (!s->failure.empty()) msg = s->failure;
    }
    std::filesystem::remove(tmp, ec);
    return Fail(zip_path.string() + ": writing zip: " + msg);
  }
  za.release();  // zip_close freed it
  for (auto& s : sources) zip_error_fini(&s->error);

  std::filesystem::rename(tmp, zip_path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Fail(zip_path.string() + ": " + ec.message());
  }

  std::vector<dirhash::FileDigest> digests;
  digests.reserve(sources.size());
  for (const auto& s : sources) {
    if (!s->hashed) throw std::logic_error("libzip did not read " + s->file->name);
    digests.push_back({prefix + s->file->name, s->digest});
  }
  auto sum = dirhash::Hash1(std::move(digests));
  if (!sum) return Prefixed(mv.tag, sum.message());
  auto zip_digest = fsio::Sha256OfFile(zip_path);
  if (!zip_digest) return zip_digest.error();
  return BuiltModule{mv, zip_path, std::move(*sum), dirhash::HashGoMod(mv.path, mv.version, mv.mod),
                     std::move(zip_digest->hex)};
}

}  // namespace modpub::modzip
