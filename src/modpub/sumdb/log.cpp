#include "modpub/sumdb/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "modpub/fsio/atomic_file.hpp"
#include "modpub/fsio/env.hpp"
#include "modpub/sign/sign.hpp"
#include "modpub/sumdb/log_impl.hpp"

namespace modpub::sumdb {
namespace fs = std::filesystem;
using fsio::UniqueFd;

namespace {

constexpr std::size_t kHashSize = 32;

std::string Errno(const fs::path& p, const char* what) {
  return p.string() + ": " + what + ": " + std::strerror(errno);
}

Result<UniqueFd> OpenFile(const fs::path& p, int flags) {
  UniqueFd fd(::open(p.c_str(), flags | O_CLOEXEC, 0666));
  if (!fd) return Fail(Errno(p, "cannot open"));
  return fd;
}

Status PRead(int fd, const fs::path& p, void* buf, std::size_t n, std::int64_t off) {
  auto* out = static_cast<char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out + done, n - done, off + static_cast<std::int64_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(Errno(p, "read"));
    if (r == 0) return Fail(p.string() + ": shorter than the committed tree: the log is damaged");
    done += static_cast<std::size_t>(r);
  }
  return Ok();
}

Status PWrite(int fd, const fs::path& p, const void* buf, std::size_t n, std::int64_t off) {
  const auto* in = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, in + done, n - done, off + static_cast<std::int64_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(Errno(p, "write"));
    done += static_cast<std::size_t>(r);
  }
  return Ok();
}

Result<std::int64_t> FileSize(int fd, const fs::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Fail(Errno(p, "stat"));
  return static_cast<std::int64_t>(st.st_size);
}

std::uint64_t GetLE64(const unsigned char* b) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}
void PutLE64(unsigned char* b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Parses the `tree` file.
Result<TreeHead> ParseTreeFile(const std::string& text, const fs::path& p) {
  auto t = ParseTree(text);
  if (!t || FormatTree(t->n, t->hash) != text) {
    return Fail(p.string() + ": not a tree head: the log is damaged");
  }
  return *t;
}

}  // namespace

// The log in a state directory (the layout and commit protocol of log.hpp).
class LocalLog final : public Log::Impl {
 public:
  explicit LocalLog(fs::path d) : dir(std::move(d)), where(dir.string()) {}

  const std::string& Where() const override { return where; }
  Result<std::vector<AppendResult>> Append(const std::vector<std::string>& texts) override;
  Status BindVerifier(const std::string& verifier_key) override;
  Result<TreeHead> Latest() override;
  Result<std::optional<std::int64_t>> Lookup(const std::string& key) override;
  Result<std::string> ReadRecord(std::int64_t id) override;
  Result<std::optional<std::string>> ReadTile(const Tile& t) override;

  fs::path dir;
  std::string where;
  std::mutex mu;
  TreeHead loaded;  // the committed tree this object has indexed
  std::unordered_map<std::string, std::int64_t> index;

  fs::path P(const char* name) const { return dir / name; }

  // Reads the committed tree head (n = 0 when the log was never written).
  Result<TreeHead> ReadHead() {
    const fs::path p = P("tree");
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) return TreeHead{};
      return Fail(Errno(p, "cannot open"));
    }
    char buf[256];
    std::string text;
    for (;;) {
      ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail(Errno(p, "read"));
      if (r == 0) break;
      text.append(buf, static_cast<std::size_t>(r));
      if (text.size() > 4096) break;
    }
    return ParseTreeFile(text, p);
  }

  HashReader FileHashReader(int fd) const {
    fs::path p = P("hashes");
    return [fd, p](const std::vector<std::int64_t>& idx) -> Result<std::vector<Hash>> {
      std::vector<Hash> out(idx.size());
      for (std::size_t i = 0; i < idx.size(); ++i) {
        auto st =
            PRead(fd, p, out[i].data(), kHashSize, idx[i] * static_cast<std::int64_t>(kHashSize));
        if (!st) return st.error();
      }
      return out;
    };
  }

  // Reads the [start, end) byte ranges of records first..first+count-1.
  Result<std::vector<std::string>> ReadRecords(std::int64_t first, std::int64_t count) {
    std::vector<std::string> out;
    if (count <= 0) return out;
    auto off_fd = OpenFile(P("offsets"), O_RDONLY);
    if (!off_fd) return off_fd.error();
    auto rec_fd = OpenFile(P("records"), O_RDONLY);
    if (!rec_fd) return rec_fd.error();
    // Ends of records first-1 .. first+count-1.
    std::int64_t from = first == 0 ? 0 : first - 1;
    std::vector<unsigned char> raw(static_cast<std::size_t>(first + count - from) * 8);
    if (auto st = PRead(off_fd->get(), P("offsets"), raw.data(), raw.size(), from * 8); !st) {
      return st.error();
    }
    std::vector<std::uint64_t> ends;
    for (std::size_t i = 0; i < raw.size(); i += 8) ends.push_back(GetLE64(&raw[i]));
    std::uint64_t start = first == 0 ? 0 : ends[0];
    std::size_t e0 = first == 0 ? 0 : 1;
    std::uint64_t total_end = ends.back();
    if (total_end < start) return Fail(P("offsets").string() + ": offsets go backwards: damaged");
    std::string blob(total_end - start, '\0');
    if (auto st = PRead(rec_fd->get(), P("records"), blob.data(), blob.size(),
                        static_cast<std::int64_t>(start));
        !st) {
      return st.error();
    }
    std::uint64_t prev = start;
    for (std::size_t i = e0; i < ends.size(); ++i) {
      if (ends[i] < prev || ends[i] > total_end) {
        return Fail(P("offsets").string() + ": offsets go backwards: damaged");
      }
      out.push_back(blob.substr(prev - start, ends[i] - prev));
      prev = ends[i];
    }
    return out;
  }

  // Catches up with the committed tree (mu held).
  Status Refresh() {
    auto head = ReadHead();
    if (!head) return head.error();
    if (head->n == loaded.n && head->hash == loaded.hash) return Ok();
    if (head->n <= loaded.n) {  // the log was replaced under us: start over
      loaded = TreeHead{};
      index.clear();
    }
    if (head->n > 0) {
      auto fd = OpenFile(P("hashes"), O_RDONLY);
      if (fd && loaded.n > 0) {  // the tree we indexed must still be the log's prefix
        auto old = TreeHash(loaded.n, FileHashReader(fd->get()));
        if (!old || *old != loaded.hash) {
          loaded = TreeHead{};
          index.clear();
        }
      }
      if (!fd) return fd.error();
      auto size = FileSize(fd->get(), P("hashes"));
      if (!size) return size.error();
      if (*size < StoredHashCount(head->n) * static_cast<std::int64_t>(kHashSize)) {
        return Fail(P("hashes").string() + ": shorter than the committed tree of " +
                    std::to_string(head->n) + " records: the log is damaged");
      }
      auto th = TreeHash(head->n, FileHashReader(fd->get()));
      if (!th) return th.error();
      if (*th != head->hash) {
        return Fail(dir.string() + ": the stored hashes do not give the committed tree hash " +
                    HashBase64(head->hash) + ": the log is damaged");
      }
    }
    auto recs = ReadRecords(loaded.n, head->n - loaded.n);
    if (!recs) return recs.error();
    if (!recs->empty()) {
      // Every new record must give exactly the stored hashes: a record or hash changed
      // in place is damage, reported rather than served.
      auto fd = OpenFile(P("hashes"), O_RDONLY);
      if (!fd) return fd.error();
      HashReader reader = FileHashReader(fd->get());
      for (std::size_t i = 0; i < recs->size(); ++i) {
        const std::int64_t id = loaded.n + static_cast<std::int64_t>(i);
        auto want = StoredHashes(id, RecordHash((*recs)[i]), reader);
        if (!want) return want.error();
        std::vector<std::int64_t> idx;
        for (std::size_t k = 0; k < want->size(); ++k) {
          idx.push_back(StoredHashIndex(0, id) + static_cast<std::int64_t>(k));
        }
        auto have = reader(idx);
        if (!have) return have.error();
        if (*have != *want) {
          return Fail(dir.string() + ": record " + std::to_string(id) +
                      " does not match its stored hashes: the log is damaged");
        }
      }
    }
    for (std::size_t i = 0; i < recs->size(); ++i) {
      index.emplace(RecordKey((*recs)[i]), loaded.n + static_cast<std::int64_t>(i));
    }
    loaded = *head;
    return Ok();
  }

  // On a conflict, appends nothing and returns results where only that text's is set.
  Result<std::vector<AppendResult>> AppendLocked(const std::vector<std::string>& texts) {
    std::vector<AppendResult> results(texts.size());
    std::vector<std::string> fresh;                      // texts to append, in order
    std::unordered_map<std::string, std::size_t> batch;  // key -> index in fresh
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string& t = texts[i];
      std::string key = RecordKey(t);
      if (auto it = index.find(key); it != index.end()) {
        auto old = ReadRecords(it->second, 1);
        if (!old) return old.error();
        if ((*old)[0] != t) {
          std::vector<AppendResult> out(texts.size());
          out[i] = {AppendOutcome::kConflict, it->second,
                    key + " is already logged (record " + std::to_string(it->second) +
                        ") with other hashes: logged\n" + (*old)[0] + "new\n" + t +
                        "a record is never rewritten"};
          return out;
        }
        results[i] = {AppendOutcome::kPresent, it->second, ""};
        continue;
      }
      if (auto it = batch.find(key); it != batch.end()) {
        if (fresh[it->second] != t) return Fail("sumdb: two different records for " + key);
        results[i] = {AppendOutcome::kPresent, loaded.n + static_cast<std::int64_t>(it->second),
                      ""};
        continue;
      }
      batch.emplace(key, fresh.size());
      results[i] = {AppendOutcome::kAppended, loaded.n + static_cast<std::int64_t>(fresh.size()),
                    ""};
      fresh.push_back(t);
    }
    if (fresh.empty()) return results;

    const std::int64_t n0 = loaded.n;
    auto rec = OpenFile(P("records"), O_RDWR | O_CREAT);
    if (!rec) return rec.error();
    auto off = OpenFile(P("offsets"), O_RDWR | O_CREAT);
    if (!off) return off.error();
    auto hs = OpenFile(P("hashes"), O_RDWR | O_CREAT);
    if (!hs) return hs.error();
    // Cut back what a crashed appender left beyond the committed tree.
    std::uint64_t rec_end = 0;
    if (n0 > 0) {
      unsigned char b[8];
      if (auto st = PRead(off->get(), P("offsets"), b, 8, (n0 - 1) * 8); !st) return st.error();
      rec_end = GetLE64(b);
    }
    const std::int64_t hash_end = StoredHashCount(n0) * static_cast<std::int64_t>(kHashSize);
    for (auto [fd, p, len] :
         {std::tuple{rec->get(), P("records"), static_cast<std::int64_t>(rec_end)},
          std::tuple{off->get(), P("offsets"), n0 * 8},
          std::tuple{hs->get(), P("hashes"), hash_end}}) {
      auto size = FileSize(fd, p);
      if (!size) return size.error();
      if (*size < len) {
        return Fail(p.string() + ": shorter than the committed tree: the log is damaged");
      }
      if (*size > len && ::ftruncate(fd, len) != 0) return Fail(Errno(p, "truncate"));
    }
    HashReader reader = FileHashReader(hs->get());
    std::int64_t hpos = hash_end;
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      const std::int64_t id = n0 + static_cast<std::int64_t>(k);
      const std::string& t = fresh[k];
      if (auto st = PWrite(rec->get(), P("records"), t.data(), t.size(),
                           static_cast<std::int64_t>(rec_end));
          !st) {
        return st.error();
      }
      rec_end += t.size();
      unsigned char b[8];
      PutLE64(b, rec_end);
      if (auto st = PWrite(off->get(), P("offsets"), b, 8, id * 8); !st) return st.error();
      auto hashes = StoredHashes(id, RecordHash(t), reader);
      if (!hashes) return hashes.error();
      for (const auto& h : *hashes) {
        if (auto st = PWrite(hs->get(), P("hashes"), h.data(), kHashSize, hpos); !st) {
          return st.error();
        }
        hpos += static_cast<std::int64_t>(kHashSize);
      }
      fsio::StepBoundary();
    }
    const std::int64_t n1 = n0 + static_cast<std::int64_t>(fresh.size());
    auto th = TreeHash(n1, reader);
    if (!th) return th.error();
    for (auto [fd, p] : {std::pair{rec->get(), P("records")}, std::pair{off->get(), P("offsets")},
                         std::pair{hs->get(), P("hashes")}}) {
      if (::fsync(fd) != 0) return Fail(Errno(p, "fsync"));
    }
    fsio::StepBoundary();
    // The commit point.
    auto tree = fsio::AtomicFile::Create(dir);
    if (!tree) return tree.error();
    if (auto st = tree->Append(FormatTree(n1, *th)); !st) return st.error();
    if (auto st = tree->CommitReplace(P("tree")); !st) return st.error();
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      index.emplace(RecordKey(fresh[k]), n0 + static_cast<std::int64_t>(k));
    }
    loaded = TreeHead{n1, *th};
    return results;
  }
};

// Takes the appenders' lock and catches up, then runs `fn`.
template <class Fn>
auto Locked(LocalLog& impl, Fn fn) -> decltype(fn()) {
  std::lock_guard g(impl.mu);
  if (auto st = fsio::MakeDirs(impl.dir); !st) return st.error();
  auto lock = fsio::FileLock::Acquire(impl.dir / "lock");
  if (!lock) return lock.error();
  if (auto st = fsio::RemoveStaleTemporaries(impl.dir); !st) return st.error();
  if (auto st = impl.Refresh(); !st) return st.error();
  return fn();
}

Result<std::vector<AppendResult>> LocalLog::Append(const std::vector<std::string>& texts) {
  return Locked(*this, [&] { return AppendLocked(texts); });
}

Status LocalLog::BindVerifier(const std::string& verifier_key) {
  auto r = Locked(*this, [&]() -> Result<bool> {
    const fs::path p = P("verifier");
    std::string line = verifier_key + "\n";
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      char buf[512];
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) return Fail(Errno(p, "read"));
      std::string bound(buf, static_cast<std::size_t>(n));
      if (bound != line) {
        while (!bound.empty() && bound.back() == '\n') bound.pop_back();
        return Fail(where + " is the checksum database of key " + bound + ", not of " +
                    verifier_key + ": go clients pinned to the first key would reject it");
      }
      return true;
    }
    if (errno != ENOENT) return Fail(Errno(p, "cannot open"));
    auto tmp = fsio::AtomicFile::Create(dir);
    if (!tmp) return tmp.error();
    if (auto st = tmp->Append(line); !st) return st.error();
    return tmp->CommitNoReplace(p);
  });
  if (!r) return r.error();
  return Ok();
}

Result<TreeHead> LocalLog::Latest() {
  std::lock_guard g(mu);
  if (auto st = Refresh(); !st) return st.error();
  return loaded;
}

Result<std::optional<std::int64_t>> LocalLog::Lookup(const std::string& key) {
  std::lock_guard g(mu);
  if (auto st = Refresh(); !st) return st.error();
  auto it = index.find(key);
  if (it == index.end()) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(it->second);
}

Result<std::string> LocalLog::ReadRecord(std::int64_t id) {
  std::lock_guard g(mu);
  if (auto st = Refresh(); !st) return st.error();
  if (id < 0 || id >= loaded.n) {
    return Fail("sumdb: no record " + std::to_string(id) + " in a log of " +
                std::to_string(loaded.n));
  }
  auto r = ReadRecords(id, 1);
  if (!r) return r.error();
  return std::move((*r)[0]);
}

Result<std::optional<std::string>> LocalLog::ReadTile(const Tile& t) {
  std::lock_guard g(mu);
  if (auto st = Refresh(); !st) return st.error();
  if (t.h != kTileHeight || !TileInTree(t, loaded.n)) return std::optional<std::string>();
  const std::int64_t start = t.n << t.h;
  if (t.l == -1) {
    auto recs = ReadRecords(start, t.w);
    if (!recs) return recs.error();
    std::string out;
    for (std::size_t i = 0; i < recs->size(); ++i) {
      auto f = FormatRecord(start + static_cast<std::int64_t>(i), (*recs)[i]);
      if (!f) return Fail("sumdb: record " + std::to_string(start + i) + ": " + f.message());
      out += *f;
    }
    return std::optional<std::string>(std::move(out));
  }
  auto fd = OpenFile(P("hashes"), O_RDONLY);
  if (!fd) return fd.error();
  auto data = ReadTileData(t, FileHashReader(fd->get()));
  if (!data) return data.error();
  return std::optional<std::string>(std::move(*data));
}

Status CheckRecordTexts(const std::vector<std::string>& texts) {
  for (const std::string& t : texts) {
    if (!IsValidRecordText(t)) return Fail("sumdb: malformed record " + t);
    if (RecordKey(t).empty()) return Fail("sumdb: record has no module and version: " + t);
  }
  return Ok();
}

Log::Log(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Log::Log(Log&&) noexcept = default;
Log& Log::operator=(Log&&) noexcept = default;
Log::~Log() = default;

Result<Log> Log::Open(const fs::path& dir) {
  if (!dir.is_absolute()) return Fail(dir.string() + ": the log directory must be absolute");
  return Log(std::make_unique<LocalLog>(dir.lexically_normal()));
}

const std::string& Log::where() const { return impl_->Where(); }

Result<std::vector<AppendResult>> Log::Append(const std::vector<std::string>& texts) {
  if (auto st = CheckRecordTexts(texts); !st) return st.error();
  auto r = impl_->Append(texts);
  if (!r) return r.error();
  for (const AppendResult& a : *r) {
    if (a.outcome == AppendOutcome::kConflict) return Fail("sumdb: " + a.message);
  }
  return r;
}

Result<AppendResult> Log::AppendModule(const std::string& path, const std::string& version,
                                       const std::string& sum, const std::string& gomod_sum) {
  std::vector<std::string> texts{ModuleRecord(path, version, sum, gomod_sum)};
  if (auto st = CheckRecordTexts(texts); !st) return st.error();
  auto r = impl_->Append(texts);
  if (!r) return r.error();
  return (*r)[0];
}

Status Log::BindVerifier(const std::string& verifier_key) {
  return impl_->BindVerifier(verifier_key);
}

Result<TreeHead> Log::Latest() { return impl_->Latest(); }

Result<std::optional<std::int64_t>> Log::Lookup(const std::string& path,
                                                const std::string& version) {
  return impl_->Lookup(path + "@" + version);
}

Result<std::string> Log::ReadRecord(std::int64_t id) { return impl_->ReadRecord(id); }

Result<std::optional<std::string>> Log::ReadTile(const Tile& t) { return impl_->ReadTile(t); }

}  // namespace modpub::sumdb
