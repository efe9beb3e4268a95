// The job spool: see spool.hpp for the layout and the invariants. Every state change is a
// rename(2) of one file, so a crash leaves each job in exactly one directory.
#include "modpub/jobs/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <utility>

#include "modpub/fsio/atomic_file.hpp"

namespace modpub::jobs {
namespace {

namespace fs = std::filesystem;
using fsio::UniqueFd;

constexpr std::string_view kFormat = "modpub-job/1";
constexpr std::string_view kSuffix = ".job";

std::string Errno(const fs::path& p, std::string_view what, int err) {
  return p.string() + ": " + std::string(what) + ": " + std::strerror(err);
}

std::uint64_t Random64() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}() ^ static_cast<std::uint64_t>(::getpid())};
  std::lock_guard lock(mu);
  return rng();
}

std::string Hex(std::uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return std::string(buf).substr(0, static_cast<std::size_t>(digits));
}

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Whether `p` is known to exist / known not to exist. Neither throws: a path that cannot
// be examined (EACCES, ENOTDIR) is neither, so that callers report it rather than skip it
// (or abort with an uncaught filesystem_error).
bool Present(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec) && !ec;
}
bool Absent(const fs::path& p) {
  std::error_code ec;
  return fs::status(p, ec).type() == fs::file_type::not_found;
}

bool IsJobName(std::string_view name) {
  return name.size() > kSuffix.size() && name.substr(name.size() - kSuffix.size()) == kSuffix &&
         name[0] != '.';
}

std::string IdOf(std::string_view name) {
  return std::string(name.substr(0, name.size() - kSuffix.size()));
}

// Entry names of `dir` (no "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const fs::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Fail(Errno(dir, "cannot list directory", errno));
  std::vector<std::string> out;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Fail(Errno(dir, "cannot list directory", err));
  std::sort(out.begin(), out.end());
  return out;
}

// Reads a whole file; the error keeps errno's meaning in the message.
Result<std::string> ReadFile(const fs::path& p, int* err_out = nullptr) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (err_out) *err_out = errno;
    return Fail(Errno(p, "cannot open", errno));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err_out) *err_out = errno;
      return Fail(Errno(p, "cannot read", errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (1u << 20)) {
      if (err_out) *err_out = EFBIG;
      return Fail(p.string() + ": larger than 1 MiB: not a job file");
    }
  }
  return out;
}

// Writes `data` under a fresh name in `tmp`, fsyncs it, renames it to `target` (replacing
// it) and fsyncs target's directory.
Status WriteDurably(const fs::path& tmp, const fs::path& target, std::string_view data) {
  fs::path t = tmp / (std::string(fsio::kTempPrefix) + std::to_string(::getpid()) + "-" +
                      Hex(Random64(), 16));
  UniqueFd fd(::open(t.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return Fail(Errno(t, "cannot create", errno));
  const char* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    ssize_t w = ::write(fd.get(), p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::unlink(t.c_str());
      return Fail(Errno(t, "write", err));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(t.c_str());
    return Fail(Errno(t, "fsync", err));
  }
  if (auto s = fd.Close(t); !s) {
    ::unlink(t.c_str());
    return s;
  }
  if (::rename(t.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(t.c_str());
    return Fail(Errno(target, "rename", err));
  }
  return fsio::SyncDir(target.parent_path());
}

// rename + fsync of both directories.
Status Move(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return Fail(Errno(from, "rename to " + to.string(), errno));
  if (auto s = fsio::SyncDir(to.parent_path()); !s) return s;
  if (from.parent_path() != to.parent_path()) return fsio::SyncDir(from.parent_path());
  return Ok();
}

std::string SafeHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "host";
  std::string out;
  for (char* c = buf; *c; ++c) {
    bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-';
    out.push_back(ok ? *c : '_');
  }
  return out.empty() ? "host" : out.substr(0, 64);
}

}  // namespace

std::string_view StateName(State s) {
  switch (s) {
    case State::kQueued:
      return "queued";
    case State::kClaimed:
      return "claimed";
    case State::kDone:
      return "done";
    case State::kFailed:
      return "failed";
    case State::kCorrupt:
      return "corrupt";
  }
  return "?";
}

std::string FormatTime(Clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Result<Clock::time_point> ParseTime(std::string_view s) {
  std::string str(s);
  auto bad = [&] {
    return Fail("\"" + str + "\" is not an RFC 3339 UTC time like 2026-12-02T09:10:00.123Z");
  };
  int y, mo, d, h, mi, sec, used = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) !=
          6 ||
      used != 19) {
    return bad();
  }
  std::size_t i = 19;
  long long ms = 0;
  if (i < str.size() && str[i] == '.') {
    ++i;
    int digits = 0;
    while (i < str.size() && str[i] >= '0' && str[i] <= '9') {
      if (digits < 3) ms = ms * 10 + (str[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad();
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  if (i + 1 != str.size() || (str[i] != 'Z' && str[i] != 'z')) return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  // Clock counts nanoseconds in 64 bits: 1678 to 2262. A job's times are near the present;
  // a year outside 1970..2261 is a damaged file, not a time to overflow on.
  if (y < 1970 || y > 2261) {
    return Fail("\"" + str + "\" is out of range: job times are between 1970 and 2261");
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t t = ::timegm(&tm);
  return Clock::time_point(std::chrono::seconds(t)) + std::chrono::milliseconds(ms);
}

std::string NewJobId() {
  auto now = Clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d%03dZ-", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf + Hex(Random64(), 8);
}

std::string ToJson(const Job& job) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["id"] = job.id;
  j["repo"] = job.repo;
  j["import_path"] = job.import_path;
  j["tag"] = job.tag;
  j["commit"] = job.commit;
  j["source"] = job.source;
  j["attempts"] = job.attempts;
  j["created"] = FormatTime(job.created);
  j["next_attempt"] = FormatTime(job.next_attempt);
  j["last_error"] = job.last_error;
  if (job.result_json.empty()) {
    j["result"] = nullptr;
  } else {
    j["result"] = nlohmann::ordered_json::parse(job.result_json, nullptr, false);
  }
  j["finished"] = job.finished == Clock::time_point{} ? "" : FormatTime(job.finished);
  return j.dump() + "\n";
}

Result<Job> FromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return Fail("not valid JSON");
  if (!j.is_object()) return Fail("not a JSON object");
  auto str = [&](const char* key, bool required, std::string* out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) return Fail(std::string("key \"") + key + "\" is missing");
      return Ok();
    }
    if (!it->is_string()) return Fail(std::string("key \"") + key + "\" is not a string");
    *out = it->get<std::string>();
    if (required && out->empty()) return Fail(std::string("key \"") + key + "\" is empty");
    return Ok();
  };
  std::string format;
  if (auto s = str("format", true, &format); !s) return s.error();
  if (format != kFormat) {
    return Fail("format \"" + format + "\" is not " + std::string(kFormat));
  }
  Job job;
  if (auto s = str("id", true, &job.id); !s) return s.error();
  if (!ValidId(job.id)) return Fail("id \"" + job.id + "\" is not [A-Za-z0-9._-]{1,128}");
  if (auto s = str("repo", true, &job.repo); !s) return s.error();
  if (auto s = str("import_path", true, &job.import_path); !s) return s.error();
  if (auto s = str("tag", true, &job.tag); !s) return s.error();
  if (auto s = str("commit", false, &job.commit); !s) return s.error();
  if (auto s = str("source", false, &job.source); !s) return s.error();
  if (auto s = str("last_error", false, &job.last_error); !s) return s.error();
  if (auto it = j.find("attempts"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > 1000000)
      return Fail("key \"attempts\" is not a non-negative integer");
    job.attempts = it->get<int>();
  }
  struct {
    const char* key;
    Clock::time_point* out;
  } times[] = {
      {"created", &job.created}, {"next_attempt", &job.next_attempt}, {"finished", &job.finished}};
  for (const auto& t : times) {
    std::string v;
    if (auto s = str(t.key, false, &v); !s) return s.error();
    if (v.empty()) continue;
    auto tp = ParseTime(v);
    if (!tp) return Fail(std::string("key \"") + t.key + "\": " + tp.message());
    *t.out = *tp;
  }
  if (auto it = j.find("result"); it != j.end() && !it->is_null()) job.result_json = it->dump();
  return job;
}

// --- Owner ---------------------------------------------------------------------------

Owner::Owner(fs::path root, std::string id, int fd)
    : root_(std::move(root)), id_(std::move(id)), fd_(fd) {}

Owner::Owner(Owner&& o) noexcept
    : root_(std::move(o.root_)), id_(std::move(o.id_)), fd_(std::exchange(o.fd_, -1)) {}

Owner::~Owner() {
  if (fd_ < 0) return;
  // Removing the (empty) claim directory first, then the lock: a claim directory without
  // a lock file means a dead owner to RequeueStale; a non-empty one is left for it.
  ::rmdir((root_ / "claimed" / id_).c_str());
  ::unlink((root_ / "owners" / (id_ + ".lock")).c_str());
  ::close(fd_);
}

// --- Spool ---------------------------------------------------------------------------

// --- Intake journals (format in spool.hpp) ----------------------------------------------

namespace {
// The checksum field of a record: CRC-32 of the JSON, 8 lower-case hex digits.
std::string RecordChecksum(std::string_view json) {
  return Hex(
      crc32_z(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(json.data()), json.size()), 8);
}
}  // namespace

std::string IntakeRecord(const Job& job) {
  std::string json = ToJson(job);  // one line (nlohmann escapes newlines in strings) + "\n"
  json.pop_back();
  return RecordChecksum(json) + " " + json + "\n";
}

Result<IntakeJournal> ReadIntakeJournal(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Errno(file, "cannot open", errno));
  IntakeJournal out;
  std::string line;
  std::size_t number = 0;
  std::size_t bad_line = 0;  // the last unusable line, 0: none
  while (std::getline(in, line)) {
    ++number;
    const bool terminated = !in.eof();
    std::string why;
    if (!terminated) {
      why = "no newline (a record cut short)";
    } else if (line.size() < 10 || line[8] != ' ') {
      why = "not \"<crc32> <job>\"";
    } else {
      std::string_view json(line.data() + 9, line.size() - 9);
      if (line.compare(0, 8, RecordChecksum(json)) != 0) {
        why = "checksum mismatch";
      } else if (auto job = FromJson(json); !job) {
        why = job.message();
      } else {
        out.jobs.push_back(std::move(*job));
        continue;
      }
    }
    if (bad_line != 0) out.damaged = true;  // a second bad line: not just a torn tail
    bad_line = number;
    out.last_bad = file.string() + ":" + std::to_string(number) + ": " + why;
  }
  if (in.bad()) return Fail(Errno(file, "cannot read", errno));
  // Only the last record may be unusable: cut short when its writer died before its
  // fdatasync returned, so it was never acknowledged. Anything else is damage.
  if (bad_line != 0 && bad_line != number) out.damaged = true;
  return out;
}

namespace {

// The spool is shared by the daemon's user and every git user, through its group (the
// spool directory is setgid and group-writable). A subdirectory made by whoever comes
// first, with that process's umask (a git user's is often 022), would shut the others
// out; so a new subdirectory takes the spool directory's own permission bits.
Status MakeSharedSubdir(const fs::path& root, const char* sub) {
  const fs::path d = root / sub;
  struct stat st;
  const bool existed = ::stat(d.c_str(), &st) == 0;
  if (auto s = fsio::MakeDirs(d); !s) return s;
  struct stat rs;
  if (!existed && ::stat(root.c_str(), &rs) == 0) {
    (void)::chmod(d.c_str(), rs.st_mode & 07777);  // another process's directory: EPERM, fine
  }
  return Ok();
}

}  // namespace

Result<Spool> Spool::Open(const fs::path& dir) {
  if (dir.empty() || !dir.is_absolute()) {
    return Fail("spool directory \"" + dir.string() + "\" must be an absolute path");
  }
  if (auto s = fsio::MakeDirs(dir); !s) return s.error();
  for (const char* sub :
       {"tmp", "queue", "claimed", "owners", "done", "failed", "corrupt", "intake"}) {
    if (auto s = MakeSharedSubdir(dir, sub); !s) return s.error();
  }
  return Spool(dir);
}

// --- Enqueue with group commit ----------------------------------------------------------

// One written job waiting to be committed. Lives on its caller's stack; the caller waits
// (under GroupCommit::mu) until the batch that took it sets `done`.
struct BatchEntry {
  fs::path tmp;     // the written file in tmp/
  fs::path target;  // queue/<id>.job
  int fd = -1;      // open on tmp, still to be synced and closed by the leader
  Status status = Ok();
  bool done = false;
};

struct Spool::GroupCommit {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<BatchEntry*> open;  // written, waiting for the next batch
  bool committing = false;        // a leader is committing a batch now
  CommitStats stats;
  std::function<void(std::size_t)> hook;  // tests
};

Spool::Spool(fs::path dir) : dir_(std::move(dir)), group_(std::make_shared<GroupCommit>()) {}

namespace {

// Commits one batch (called by its leader without the lock): see the group commit
// invariant in spool.hpp. Sets every entry's status; closes every fd; leaves no file in
// tmp/ (a failed entry's temporary is removed).
void CommitBatch(const fs::path& queue, const std::vector<BatchEntry*>& batch) {
  auto fail_entry = [](BatchEntry* e, Status s) {
    if (e->fd >= 0) ::close(e->fd);
    e->fd = -1;
    ::unlink(e->tmp.c_str());
    e->status = std::move(s);
  };
  auto fail_all = [&](const Status& s) {
    for (BatchEntry* e : batch) {
      if (e->status) fail_entry(e, s);
    }
  };
  UniqueFd qfd(::open(queue.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!qfd) return fail_all(Fail(Errno(queue, "cannot open the queue directory", errno)));
  // 1. The data of every file durable. syncfs reports write-back errors of the file
  // system since qfd was opened (Linux >= 5.8), i.e. those of this batch's files.
  if (batch.size() == 1) {
    if (::fsync(batch[0]->fd) != 0) {
      return fail_entry(batch[0], Fail(Errno(batch[0]->tmp, "fsync", errno)));
    }
  } else if (::syncfs(qfd.get()) != 0) {
    return fail_all(Fail(Errno(queue, "syncfs of the spool's file system", errno)));
  }
  // 2. Into queue/ (each rename is atomic; a job appears complete or not at all).
  bool renamed = false;
  for (BatchEntry* e : batch) {
    int fd = std::exchange(e->fd, -1);
    if (::close(fd) != 0) {
      fail_entry(e, Fail(Errno(e->tmp, "close", errno)));
      continue;
    }
    if (::rename(e->tmp.c_str(), e->target.c_str()) != 0) {
      fail_entry(e, Fail(Errno(e->target, "rename", errno)));
      continue;
    }
    renamed = true;
  }
  // 3. The new names durable, once for the batch.
  if (renamed && ::fsync(qfd.get()) != 0) {
    Status s = Fail(Errno(queue, "fsync", errno));
    for (BatchEntry* e : batch) {
      if (e->status) e->status = s;  // renamed: in queue/, but its name may not be durable
    }
  }
}

}  // namespace

Status PrepareJob(Job& job) {
  if (job.id.empty()) job.id = NewJobId();
  if (!ValidId(job.id)) return Fail("job id \"" + job.id + "\" is not [A-Za-z0-9._-]{1,128}");
  if (job.repo.empty() || job.import_path.empty() || job.tag.empty()) {
    return Fail("job " + job.id + ": repo, import_path and tag are required");
  }
  auto now = Clock::now();
  if (job.created == Clock::time_point{}) job.created = now;
  if (job.next_attempt == Clock::time_point{}) job.next_attempt = now;
  return Ok();
}

namespace {

// Checks `job`, fills in id and times, and writes it to a new file in tmp/ (not synced):
// the part of an enqueue each caller does alone.
Status PrepareEntry(const fs::path& dir, Job& job, BatchEntry& e) {
  if (auto s = PrepareJob(job); !s) return s;

  e.target = dir / "queue" / (job.id + std::string(kSuffix));
  e.tmp = dir / "tmp" /
          (std::string(fsio::kTempPrefix) + std::to_string(::getpid()) + "-" + Hex(Random64(), 16) +
           std::string(kSuffix));
  e.fd = ::open(e.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (e.fd < 0) return Fail(Errno(e.tmp, "cannot create", errno));
  const std::string data = ToJson(job);
  const char* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    ssize_t w = ::write(e.fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(e.fd);
      e.fd = -1;
      ::unlink(e.tmp.c_str());
      return Fail(Errno(e.tmp, "write", err));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return Ok();
}

}  // namespace

std::vector<Status> Spool::EnqueueBatch(std::vector<Job>& jobs) const {
  std::vector<Status> out(jobs.size(), Ok());
  std::vector<BatchEntry> entries(jobs.size());
  std::vector<BatchEntry*> batch;
  batch.reserve(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    out[i] = PrepareEntry(dir_, jobs[i], entries[i]);
    if (out[i]) batch.push_back(&entries[i]);
  }
  if (!batch.empty()) CommitBatch(dir_ / "queue", batch);
  {
    std::lock_guard lock(group_->mu);
    group_->stats.batches += batch.empty() ? 0 : 1;
    group_->stats.jobs += batch.size();
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (out[i]) out[i] = entries[i].status;
  }
  return out;
}

Result<std::string> Spool::Enqueue(Job job) const {
  // Written by this thread, outside any lock; only syncing and renaming are batched.
  BatchEntry me;
  if (auto s = PrepareEntry(dir_, job, me); !s) return s.error();

  GroupCommit& g = *group_;
  std::unique_lock lock(g.mu);
  g.open.push_back(&me);
  while (!me.done) {
    if (g.committing) {
      g.cv.wait(lock);
      continue;
    }
    // Lead: take everything written so far (this job included) as one batch.
    g.committing = true;
    std::vector<BatchEntry*> batch;
    batch.swap(g.open);
    auto hook = g.hook;
    lock.unlock();
    if (hook) hook(batch.size());
    CommitBatch(dir_ / "queue", batch);
    lock.lock();
    for (BatchEntry* e : batch) e->done = true;
    g.stats.batches += 1;
    g.stats.jobs += batch.size();
    g.committing = false;
    g.cv.notify_all();
  }
  if (!me.status) return me.status.error();
  return job.id;
}

std::optional<Job> Spool::Waiting(const std::string& id) const {
  if (!ValidId(id)) return std::nullopt;
  auto text = ReadFile(dir_ / "queue" / (id + std::string(kSuffix)));
  if (!text) return std::nullopt;
  auto job = FromJson(*text);
  if (!job || job->id != id) return std::nullopt;
  return std::move(*job);
}

Spool::CommitStats Spool::Stats() const {
  std::lock_guard lock(group_->mu);
  CommitStats stats = group_->stats;
  stats.waiting = group_->open.size();
  return stats;
}

void Spool::SetBatchObserver(std::function<void(std::size_t)> observer) const {
  std::lock_guard lock(group_->mu);
  group_->hook = std::move(observer);
}

Result<Owner> Spool::Register() const {
  std::string id = SafeHostname() + "-" + std::to_string(::getpid()) + "-" + Hex(Random64(), 8);
  fs::path tmp = dir_ / "tmp" / (std::string(fsio::kTempPrefix) + id + ".lock");
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(Errno(tmp, "cannot create owner lock", errno));
  Owner owner(dir_, id, fd);  // from here on the destructor cleans up
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return Fail(Errno(tmp, "flock", errno));
  // The lock file appears in owners/ already locked, and the claim directory only after
  // it: no one can take a starting owner for a dead one.
  if (auto s = Move(tmp, dir_ / "owners" / (id + ".lock")); !s) {
    ::unlink(tmp.c_str());
    return s.error();
  }
  if (::mkdir((dir_ / "claimed" / id).c_str(), 0755) != 0) {
    return Fail(Errno(dir_ / "claimed" / id, "cannot create claim directory", errno));
  }
  if (auto s = fsio::SyncDir(dir_ / "claimed"); !s) return s.error();
  return owner;
}

bool Spool::Known(const std::string& id) const {
  const std::string name = id + std::string(kSuffix);
  struct stat st;
  for (const char* sub : {"queue", "done", "failed", "corrupt"}) {
    if (::stat((dir_ / sub / name).c_str(), &st) == 0) return true;
  }
  auto owners = ListDir(dir_ / "claimed");
  if (!owners) return false;
  for (const auto& o : *owners) {
    if (::stat((dir_ / "claimed" / o / name).c_str(), &st) == 0) return true;
  }
  return false;
}

// Called with the dead owner's lock held (RequeueStale), so no one else replays it at the
// same time. Idempotent: a crash midway replays again, and jobs already in the spool are
// skipped by id.
Result<int> Spool::ReplayIntake(const std::string& owner) const {
  const fs::path journal = dir_ / "intake" / (owner + ".log");
  // Replayers of one journal take turns (the owner's lock may be gone already); a later
  // one finds every id in the spool.
  UniqueFd lock(::open(journal.c_str(), O_RDONLY | O_CLOEXEC));
  if (!lock) {
    if (errno == ENOENT) return 0;
    return Fail(Errno(journal, "cannot open", errno));
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return 0;  // being replayed by another daemon right now
    return Fail(Errno(journal, "flock", errno));
  }
  auto read = ReadIntakeJournal(journal);
  if (!read) return read.error();
  std::vector<Job> missing;
  for (auto& job : read->jobs) {
    if (!Known(job.id)) missing.push_back(std::move(job));
  }
  auto statuses = EnqueueBatch(missing);
  for (const auto& s : statuses) {
    if (!s) return Fail(journal.string() + ": cannot re-queue a job: " + s.message());
  }
  if (read->damaged) {
    // Kept for a person to look at; the usable records are queued.
    fs::path to = dir_ / "corrupt" / (owner + ".log");
    if (::rename(journal.c_str(), to.c_str()) == 0) {
      to += ".reason";
      (void)WriteDurably(dir_ / "tmp", to,
                         "intake journal with unusable records; last: " + read->last_bad + "\n");
      (void)fsio::SyncDir(dir_ / "corrupt");
    }
  }
  ::unlink(journal.c_str());
  (void)fsio::SyncDir(dir_ / "intake");
  return static_cast<int>(missing.size());
}

Result<int> Spool::RequeueStale() const {
  auto claimed = ListDir(dir_ / "claimed");
  if (!claimed) return claimed.error();
  auto journals = ListDir(dir_ / "intake");
  if (!journals) return journals.error();
  // Owners with claimed jobs or an intake journal (an intake that stopped with jobs it
  // could not queue has removed its claim directory but left its journal).
  std::set<std::string> owners(claimed->begin(), claimed->end());
  for (const auto& j : *journals) {
    if (j.size() > 4 && j.ends_with(".log") && j[0] != '.')
      owners.insert(j.substr(0, j.size() - 4));
  }
  int requeued = 0;
  for (const auto& o : owners) {
    fs::path lock = dir_ / "owners" / (o + ".lock");
    UniqueFd fd(::open(lock.c_str(), O_RDWR | O_CLOEXEC));
    if (fd) {
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) continue;  // alive
        return Fail(Errno(lock, "flock", errno));
      }
    } else if (errno != ENOENT) {
      return Fail(Errno(lock, "cannot open owner lock", errno));
    }
    // Dead. The jobs its intake journal made durable, unless already in the spool.
    auto replayed = ReplayIntake(o);
    if (!replayed) return replayed.error();
    requeued += *replayed;
    // Its claimed jobs go back to the queue, unchanged (the attempt did not finish).
    fs::path cdir = dir_ / "claimed" / o;
    auto names = ListDir(cdir);
    if (!names) {
      if (Absent(cdir)) continue;  // another daemon cleaned it up meanwhile
      return names.error();
    }
    for (const auto& n : *names) {
      fs::path from = cdir / n;
      if (!IsJobName(n)) {
        ::unlink(from.c_str());
        continue;
      }
      if (::rename(from.c_str(), (dir_ / "queue" / n).c_str()) == 0) {
        ++requeued;
      } else if (errno != ENOENT) {
        return Fail(Errno(from, "cannot re-queue", errno));
      }
    }
    if (auto s = fsio::SyncDir(dir_ / "queue"); !s) return s.error();
    ::rmdir(cdir.c_str());
    ::unlink(lock.c_str());
    (void)fsio::SyncDir(dir_ / "claimed");
  }
  return requeued;
}

Result<int> Spool::RemoveStaleTemporaries(std::chrono::seconds age) const {
  auto names = ListDir(dir_ / "tmp");
  if (!names) return names.error();
  const auto cutoff = std::filesystem::file_time_type::clock::now() - age;
  int removed = 0;
  for (const auto& n : *names) {
    std::error_code ec;
    fs::path p = dir_ / "tmp" / n;
    auto t = fs::last_write_time(p, ec);
    if (ec || t > cutoff) continue;
    if (fs::remove(p, ec) && !ec) ++removed;
  }
  return removed;
}

Result<int> Spool::RemoveFinishedBefore(std::filesystem::file_time_type cutoff) const {
  auto names = ListDir(dir_ / "done");
  if (!names) return names.error();
  int removed = 0;
  for (const auto& n : *names) {
    if (!n.ends_with(kSuffix)) continue;
    std::error_code ec;
    const fs::path p = dir_ / "done" / n;
    auto t = fs::last_write_time(p, ec);
    if (ec || t >= cutoff) continue;
    if (fs::remove(p, ec) && !ec) ++removed;
  }
  if (removed > 0) (void)fsio::SyncDir(dir_ / "done");
  return removed;
}

Result<ClaimResult> Spool::Claim(const Owner& owner, Clock::time_point now) const {
  ClaimResult out;
  auto names = ListDir(dir_ / "queue");
  if (!names) return names.error();
  const fs::path cdir = dir_ / "claimed" / owner.id();

  std::string transient;  // a read error that is not the file's fault
  auto set_aside = [&](const fs::path& from, const std::string& name, const std::string& why) {
    fs::path to = dir_ / "corrupt" / name;
    if (!Absent(to)) to += "." + Hex(Random64(), 8);
    if (::rename(from.c_str(), to.c_str()) != 0) return;  // someone else moved it
    (void)fsio::SyncDir(dir_ / "corrupt");
    fs::path reason = to;
    reason += ".reason";
    (void)WriteDurably(dir_ / "tmp", reason, why + "\n");
    out.set_aside.push_back({to.string(), why});
  };
  // Reads and checks a job file; on failure sets it aside (unless it vanished) and
  // returns nothing.
  auto load = [&](const fs::path& p, const std::string& name) -> std::optional<Job> {
    int err = 0;
    auto text = ReadFile(p, &err);
    if (!text) {
      // Out of descriptors or memory, or an I/O error: the file may be fine, so it stays
      // (the claim fails and is tried again). Anything else is the file's own fault.
      if (err == EMFILE || err == ENFILE || err == ENOMEM || err == EIO || err == EAGAIN) {
        transient = text.message();
      } else if (err != ENOENT) {
        set_aside(p, name, text.message());
      }
      return std::nullopt;
    }
    auto job = FromJson(*text);
    if (!job) {
      set_aside(p, name, p.string() + ": " + job.message());
      return std::nullopt;
    }
    if (job->id != IdOf(name)) {
      set_aside(p, name, p.string() + ": id \"" + job->id + "\" does not match the file name");
      return std::nullopt;
    }
    return std::move(*job);
  };

  for (const auto& name : *names) {
    if (!IsJobName(name)) continue;
    fs::path q = dir_ / "queue" / name;
    auto job = load(q, name);
    if (!job) continue;
    if (job->next_attempt > now) {
      if (!out.next_due || job->next_attempt < *out.next_due) out.next_due = job->next_attempt;
      continue;
    }
    fs::path c = cdir / name;
    if (::rename(q.c_str(), c.c_str()) != 0) {
      if (errno == ENOENT && Present(cdir)) continue;  // another daemon took it
      return Fail(Errno(q, "cannot claim", errno));
    }
    // The file we renamed may be a newer version than the one we read (re-queued by
    // someone meanwhile): trust only what is in our claim directory now.
    auto claimed = load(c, name);
    if (!claimed) continue;
    if (claimed->next_attempt > now) {
      if (auto s = Move(c, q); !s) return s.error();
      continue;
    }
    if (auto s = fsio::SyncDir(cdir); !s) return s.error();
    out.job = std::move(*claimed);
    return out;
  }
  if (!transient.empty() && out.set_aside.empty()) return Fail(transient);
  return out;
}

namespace {
// Rewrites the claimed file with `job`'s content, then moves it to `dest_dir` in one rename.
Status Finish(const fs::path& root, const Owner& owner, const Job& job, const char* dest_dir) {
  const std::string name = job.id + std::string(kSuffix);
  fs::path c = root / "claimed" / owner.id() / name;
  if (!Present(c)) return Fail(c.string() + ": job " + job.id + " is not claimed by this daemon");
  if (auto s = WriteDurably(root / "tmp", c, ToJson(job)); !s) return s;
  return Move(c, root / dest_dir / name);
}
}  // namespace

Status Spool::Complete(const Owner& owner, Job job) const {
  if (job.finished == Clock::time_point{}) job.finished = Clock::now();
  return Finish(dir_, owner, job, "done");
}

Status Spool::Retry(const Owner& owner, Job job, const std::string& error,
                    Clock::time_point when) const {
  job.attempts += 1;
  job.last_error = error;
  job.next_attempt = when;
  return Finish(dir_, owner, job, "queue");
}

Status Spool::MarkFailed(const Owner& owner, Job job, const std::string& reason) const {
  job.last_error = reason;
  job.finished = Clock::now();
  return Finish(dir_, owner, job, "failed");
}

Status Spool::Release(const Owner& owner, const Job& job) const {
  const std::string name = job.id + std::string(kSuffix);
  return Move(dir_ / "claimed" / owner.id() / name, dir_ / "queue" / name);
}

Result<std::vector<Spool::Entry>> Spool::List(State state) const {
  std::vector<std::pair<fs::path, std::string>> files;  // (dir, owner)
  switch (state) {
    case State::kQueued:
      files.push_back({dir_ / "queue", ""});
      break;
    case State::kDone:
      files.push_back({dir_ / "done", ""});
      break;
    case State::kFailed:
      files.push_back({dir_ / "failed", ""});
      break;
    case State::kCorrupt:
      files.push_back({dir_ / "corrupt", ""});
      break;
    case State::kClaimed: {
      auto owners = ListDir(dir_ / "claimed");
      if (!owners) return owners.error();
      for (const auto& o : *owners) files.push_back({dir_ / "claimed" / o, o});
      break;
    }
  }
  std::vector<Entry> out;
  for (const auto& [dir, owner] : files) {
    auto names = ListDir(dir);
    if (!names) {
      if (state == State::kClaimed && Absent(dir)) continue;
      return names.error();
    }
    for (const auto& name : *names) {
      Entry e{state, {}, owner};
      if (state == State::kCorrupt) {
        if (name.size() > 7 && name.substr(name.size() - 7) == ".reason") continue;
        if (name.rfind(fsio::kTempPrefix, 0) == 0) continue;
        e.job.id = name;
        auto reason = ReadFile(dir / (name + ".reason"));
        e.job.last_error = reason ? *reason : "(no reason recorded)";
        while (!e.job.last_error.empty() && e.job.last_error.back() == '\n')
          e.job.last_error.pop_back();
        out.push_back(std::move(e));
        continue;
      }
      if (!IsJobName(name)) continue;
      auto text = ReadFile(dir / name);
      if (!text) {
        if (Absent(dir / name)) continue;  // moved on while we listed
        e.job.id = IdOf(name);
        e.job.last_error = text.message();
      } else if (auto job = FromJson(*text); job) {
        e.job = std::move(*job);
      } else {
        e.job.id = IdOf(name);
        e.job.last_error = "unreadable job file: " + job.message();
      }
      out.push_back(std::move(e));
    }
  }
  if (state == State::kQueued) {
    // Jobs still only in an intake journal wait as well (before their turn in queue/).
    std::set<std::string> seen;
    for (const auto& e : out) seen.insert(e.job.id);
    auto journals = ListDir(dir_ / "intake");
    if (!journals) return journals.error();
    for (const auto& name : *journals) {
      auto journal = ReadIntakeJournal(dir_ / "intake" / name);
      if (!journal) continue;  // removed while we listed
      for (auto& job : journal->jobs) {
        if (seen.count(job.id) || Known(job.id)) continue;
        seen.insert(job.id);
        out.push_back(Entry{state, std::move(job), ""});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Entry& a, const Entry& b) { return a.job.id < b.job.id; });
  return out;
}

Result<std::size_t> Spool::QueueDepth() const {
  auto names = ListDir(dir_ / "queue");
  if (!names) return names.error();
  return static_cast<std::size_t>(std::count_if(names->begin(), names->end(), IsJobName));
}

Status Spool::RetryFailed(const std::string& id) const {
  if (!ValidId(id)) return Fail("\"" + id + "\" is not a job id");
  const std::string name = id + std::string(kSuffix);
  fs::path f = dir_ / "failed" / name;
  int err = 0;
  auto text = ReadFile(f, &err);
  if (!text) {
    if (err == ENOENT) return Fail("job " + id + " is not in failed/ (see `modpub jobs --failed`)");
    return text.error();
  }
  auto job = FromJson(*text);
  if (!job) return Fail(f.string() + ": " + job.message());
  job->attempts = 0;
  job->next_attempt = Clock::now();
  job->finished = {};
  if (auto s = WriteDurably(dir_ / "tmp", f, ToJson(*job)); !s) return s;
  return Move(f, dir_ / "queue" / name);
}

Wake Poke(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) return Wake::kNotRunning;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Wake::kBusy;  // out of descriptors here says nothing about the daemon
  static const char kMsg[] = "wake";
  ssize_t n = ::sendto(fd.get(), kMsg, sizeof kMsg - 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  if (n == static_cast<ssize_t>(sizeof kMsg - 1)) return Wake::kDelivered;
  // ENOENT: no socket file; ECONNREFUSED: a file left by a daemon that is gone (a datagram
  // socket nobody has bound); EACCES: not ours to judge, say busy rather than "down".
  return errno == ENOENT || errno == ECONNREFUSED || errno == ENOTSOCK ? Wake::kNotRunning
                                                                       : Wake::kBusy;
}

// --- held jobs (pre-receive) ------------------------------------------------------------

Status Spool::Hold(const std::string& key, Job job) const {
  if (!ValidId(key)) return Fail("held job key \"" + key + "\" is not [A-Za-z0-9._-]{1,128}");
  if (auto s = PrepareJob(job); !s) return s;
  // Made on first use: a spool of an older modpub has no held/, and its readers (modpub
  // jobs, another user) may not be allowed to create it.
  if (auto s = MakeSharedSubdir(dir_, "held"); !s) return s;
  return WriteDurably(dir_ / "tmp", dir_ / "held" / (key + std::string(kSuffix)), ToJson(job));
}

Result<bool> Spool::ReleaseHeld(const std::string& key) const {
  if (!ValidId(key)) return false;
  const fs::path from = dir_ / "held" / (key + std::string(kSuffix));
  int err = 0;
  auto text = ReadFile(from, &err);
  if (!text) {
    if (err == ENOENT) return false;
    return text.error();
  }
  auto job = FromJson(*text);
  if (!job || !ValidId(job->id)) {
    return Fail(from.string() + ": not a job file (" +
                (job ? "bad id \"" + job->id + "\"" : job.message()) + ")");
  }
  // Due now, counted from the release: the push has just completed.
  job->next_attempt = Clock::now();
  const fs::path to = dir_ / "queue" / (job->id + std::string(kSuffix));
  if (auto s = WriteDurably(dir_ / "tmp", to, ToJson(*job)); !s) return s.error();
  if (::unlink(from.c_str()) != 0 && errno != ENOENT) return Fail(Errno(from, "unlink", errno));
  (void)fsio::SyncDir(dir_ / "held");
  return true;
}

Result<std::vector<Spool::Held>> Spool::ListHeld() const {
  std::vector<Held> out;
  if (Absent(dir_ / "held")) return out;
  auto names = ListDir(dir_ / "held");
  if (!names) return names.error();
  for (const auto& n : *names) {
    if (!IsJobName(n)) continue;
    const fs::path p = dir_ / "held" / n;
    std::error_code ec;
    const auto mtime = fs::last_write_time(p, ec);
    if (ec) continue;  // released or dropped meanwhile
    Held h;
    h.key = IdOf(n);
    h.since =
        std::chrono::time_point_cast<Clock::duration>(fs::file_time_type::clock::to_sys(mtime));
    auto text = ReadFile(p);
    if (!text) continue;
    auto job = FromJson(*text);
    if (!job) {
      h.problem = job.message();
    } else {
      h.job = std::move(*job);
    }
    out.push_back(std::move(h));
  }
  return out;
}

Status Spool::DropHeld(const std::string& key) const {
  if (!ValidId(key)) return Fail("held job key \"" + key + "\" is not [A-Za-z0-9._-]{1,128}");
  const fs::path p = dir_ / "held" / (key + std::string(kSuffix));
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return Fail(Errno(p, "unlink", errno));
  return fsio::SyncDir(dir_ / "held");
}

}  // namespace modpub::jobs
