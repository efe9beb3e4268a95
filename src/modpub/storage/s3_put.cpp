#include "modpub/storage/s3_put.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/storage/local_part.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr int kListAttempts = 40;   // compare-and-swap rounds on the list object
constexpr int kCreateAttempts = 4;  // a key that vanishes between PUT and GET

// Compares a download with a local file piece by piece: nothing is held in memory.
class CompareSink : public s3::Sink {
 public:
  explicit CompareSink(const fs::path& file) : file_(file) {}
  void Reset() override {
    fd_ = fsio::UniqueFd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
    equal_ = static_cast<bool>(fd_);
    error_ = fd_ ? "" : file_.string() + ": open: " + std::strerror(errno);
  }
  bool Write(const char* data, std::size_t n) override {
    if (!equal_) return true;  // drain; the answer is known
    buf_.resize(n);
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_.get(), buf_.data() + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        error_ = file_.string() + ": read: " + std::strerror(errno);
        equal_ = false;
        return true;
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got != n || std::memcmp(buf_.data(), data, n) != 0) equal_ = false;
    return true;
  }
  // After the download: equal, and the local file ends where the download did?
  Result<bool> Equal() {
    if (!error_.empty()) return Fail(error_);
    if (!equal_) return false;
    char c;
    ssize_t r = ::read(fd_.get(), &c, 1);
    return r == 0;
  }

 private:
  fs::path file_;
  fsio::UniqueFd fd_;
  bool equal_ = false;
  std::string error_;
  std::vector<char> buf_;
};

// Writes a download to a local file (to describe a differing stored zip).
class FileSink : public s3::Sink {
 public:
  explicit FileSink(fs::path file) : file_(std::move(file)) {}
  void Reset() override { out_.open(file_, std::ios::binary | std::ios::trunc); }
  bool Write(const char* data, std::size_t n) override {
    out_.write(data, static_cast<std::streamsize>(n));
    return static_cast<bool>(out_);
  }
  void Close() { out_.close(); }

 private:
  fs::path file_;
  std::ofstream out_;
};

// Before compare-and-swap round `attempt` (> 0): another writer changed the list between
// our read and our write. Jittered, so that writers that collided do not collide again.
void BackOffAfterConflict(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int ceiling = std::min(10 << std::min(attempt, 6), 500);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(ceiling / 2, ceiling)(rng)));
}

s3::PutCondition CreateOnly() {
  s3::PutCondition cond;
  cond.if_none_match_any = true;
  return cond;
}

}  // namespace

S3Backend::PutOperation::PutOperation(S3Backend& backend, const VersionFiles& files, Keys keys,
                                      std::uint64_t zip_size, Deadline deadline)
    : backend_(backend),
      client_(*backend.client_),
      f_(files),
      k_(std::move(keys)),
      zip_size_(zip_size),
      mv_(files.path + "@" + files.version),
      writer_(s3::RandomWriterId()),
      names_(backend.PartNames(k_)),
      deadline_(std::move(deadline)) {}

Result<PutResult> S3Backend::PutOperation::Run() {
  auto parts = ReadSnapshot();
  if (!parts) return parts.error();
  const std::string sig_name = k_.name + ".sig";
  auto store_sig = [this] { return StoreSignature(); };
  Decision d = Decide(mv_, *parts, /*resumable=*/true);
  if (auto done = NothingToWrite(d)) return FinishPut(f_, *done, sig_name, store_sig);

  auto created = CreateObjects(d.first_absent);
  if (!created) return created.error();
  if (auto* refused = std::get_if<PutResult>(&*created)) return *refused;
  // The commit point reports "published": the last object (athens), else the list entry.
  bool committed_by_us = std::get<Created>(*created) == Created::kByUs;
  if (backend_.goproxy()) {
    auto added = AddToList();
    if (!added) return added.error();
    committed_by_us = *added;
  }
  PutResult r = committed_by_us ? PutResult{PutOutcome::kPublished, d.message}
                                : PutResult{PutOutcome::kUnchanged, ""};
  return FinishPut(f_, std::move(r), sig_name, store_sig);
}

Result<std::vector<StoredPart>> S3Backend::PutOperation::ReadSnapshot() {
  auto snap = backend_.ReadSnapshot(k_, f_.path, deadline_);
  if (!snap) return snap.error();
  list_ = std::move(snap->list);
  const auto& objects = snap->objects;
  std::vector<StoredPart> parts(names_.size());
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i].name = names_[i];
  for (std::size_t i = 0; i < 3; ++i) {
    auto it = std::find_if(objects.begin(), objects.end(),
                           [&](const s3::ObjectInfo& o) { return o.key == PartKey(i); });
    if (it == objects.end()) continue;
    auto seen = ComparePart(i, it->size);
    if (!seen) return seen.error();
    parts[i].state = seen->state;
    parts[i].difference = seen->difference;
  }
  if (backend_.goproxy()) {
    parts[3].state = Listed(list_.versions, f_.version) ? PartState::kSame : PartState::kAbsent;
  }
  return parts;
}

Result<S3Backend::PutOperation::CreateOutcome> S3Backend::PutOperation::CreateObjects(
    std::size_t first_absent) {
  CreateOutcome last = Created::kByOther;
  for (std::size_t i = first_absent; i < 3; ++i) {
    auto c = Create(i);
    if (!c) return c.error();
    if (std::holds_alternative<PutResult>(*c)) return *c;
    last = *c;
  }
  return last;
}

// A 412 means another writer got there first (or our own write whose answer was lost):
// compare what it stored.
Result<S3Backend::PutOperation::CreateOutcome> S3Backend::PutOperation::Create(std::size_t part) {
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    auto r = part == 0 ? client_.PutFile(PartKey(part), f_.zip, CreateOnly(), writer_,
                                         f_.zip_sha256, deadline_)
                       : client_.Put(PartKey(part), part == 1 ? f_.mod : f_.info, CreateOnly(),
                                     writer_, deadline_);
    if (!r) return r.error();
    if (r->status == 200) return CreateOutcome(Created::kByUs);
    auto seen = ComparePart(part, std::nullopt);
    if (!seen) return seen.error();
    if (seen->state == PartState::kAbsent) continue;  // removed meanwhile: try again
    if (seen->state == PartState::kSame) {
      return CreateOutcome(seen->writer == writer_ ? Created::kByUs : Created::kByOther);
    }
    return CreateOutcome(PutResult{
        PutOutcome::kRefused, mv_ +
                                  " was stored with different content by another writer while this "
                                  "publish ran (" +
                                  names_[part] + ": " + seen->difference +
                                  "); nothing was overwritten"});
  }
  return Fail(PartKey(part) + ": appeared and disappeared " + std::to_string(kCreateAttempts) +
              " times while " + mv_ + " was being published; something else deletes objects");
}

Result<bool> S3Backend::PutOperation::AddToList() {
  for (int attempt = 0; attempt < kListAttempts; ++attempt) {
    if (attempt > 0) BackOffAfterConflict(attempt);
    auto lo = attempt == 0 ? Result<ListObject>(std::move(list_))
                           : backend_.ReadList(k_.list, f_.path, deadline_);
    if (!lo) return lo.error();
    if (Listed(lo->versions, f_.version)) return lo->writer == writer_;
    s3::PutCondition cond;
    if (lo->exists) {
      cond.if_match = lo->etag.empty() ? "\"\"" : lo->etag;
    } else {
      cond.if_none_match_any = true;
    }
    // Lines of the old list that were no versions are not written again.
    auto r =
        client_.Put(k_.list, VersionListWith(lo->versions, f_.version), cond, writer_, deadline_);
    if (!r) return r.error();
    if (r->status == 200) return true;
  }
  return Fail(k_.list + ": could not add " + mv_ + " to the list object: it changed " +
              std::to_string(kListAttempts) +
              " times between read and write (too many concurrent writers?); "
              "publish again to complete");
}

// Created only if absent; a 412 means another writer stored one first, compared like any
// other part.
Result<SignatureWrite> S3Backend::PutOperation::StoreSignature() {
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    auto seen = CompareSmall(k_.sig, f_.sig, false);
    if (!seen) return seen.error();
    if (seen->state == PartState::kSame) return SignatureWrite{SignatureWrite::kAlreadyStored, ""};
    if (seen->state == PartState::kDifferent) {
      return SignatureWrite{SignatureWrite::kDifferent, seen->difference};
    }
    auto put = client_.Put(k_.sig, f_.sig, CreateOnly(), writer_, deadline_);
    if (!put) return put.error();
    if (put->status == 200) return SignatureWrite{SignatureWrite::kWritten, ""};
    // 412: stored meanwhile (or our own write whose answer was lost): compare again.
  }
  return Fail(k_.sig + ": appeared and disappeared " + std::to_string(kCreateAttempts) +
              " times while " + mv_ + " was being signed; something else deletes objects");
}

const std::string& S3Backend::PutOperation::PartKey(std::size_t part) const {
  return part == 0 ? k_.zip : part == 1 ? k_.mod : k_.info;
}

Result<S3Backend::PutOperation::Seen> S3Backend::PutOperation::ComparePart(
    std::size_t part, std::optional<std::uint64_t> known_size) {
  if (part == 0) return CompareZip(known_size);
  if (part == 1) return CompareSmall(k_.mod, f_.mod, true);
  return CompareSmall(k_.info, f_.info, false);
}

Result<S3Backend::PutOperation::Seen> S3Backend::PutOperation::CompareSmall(
    const std::string& key, const std::string& expected, bool is_mod) {
  auto r = client_.Get(key, kSmallLimit, deadline_);
  if (!r) return r.error();
  Seen s;
  if (r->status == 404) return s;
  s.writer = r->writer;
  s.state = r->body == expected ? PartState::kSame : PartState::kDifferent;
  if (s.state == PartState::kDifferent) {
    s.difference = is_mod ? "stored " + dirhash::HashGoMod(f_.path, f_.version, r->body) +
                                ", new " + f_.gomod_sum
                          : "stored sha256:" + dirhash::Hex(dirhash::Sha256::Of(r->body)) +
                                ", new sha256:" + dirhash::Hex(dirhash::Sha256::Of(expected));
  }
  return s;
}

// With the size from the listing, a zip of another size differs without a download.
Result<S3Backend::PutOperation::Seen> S3Backend::PutOperation::CompareZip(
    std::optional<std::uint64_t> known_size) {
  Seen s;
  if (known_size && *known_size != zip_size_) {
    s.state = PartState::kDifferent;
  } else {
    CompareSink sink(f_.zip);
    auto r = client_.GetTo(k_.zip, sink, deadline_);
    if (!r) return r.error();
    if (r->status == 404) return s;
    s.writer = r->writer;
    auto eq = sink.Equal();
    if (!eq) return eq.error();
    s.state = *eq ? PartState::kSame : PartState::kDifferent;
  }
  if (s.state == PartState::kDifferent) s.difference = DescribeZip();
  return s;
}

std::string S3Backend::PutOperation::DescribeZip() {
  fs::path tmp = fs::temp_directory_path() / ("modpub-s3-" + writer_ + ".zip");
  FileSink sink(tmp);
  auto r = client_.GetTo(k_.zip, sink, deadline_);
  sink.Close();
  std::string out = r ? local::DescribeZipDifference(tmp, f_.sum)
                      : "stored zip unreadable (" + r.message() + "), new " + f_.sum;
  std::error_code ec;
  fs::remove(tmp, ec);
  return out;
}

}  // namespace modpub::storage
