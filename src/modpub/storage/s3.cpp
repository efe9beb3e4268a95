#include "modpub/storage/s3.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <variant>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/local_part.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kSmallLimit = 16u << 20;   // go.mod limit; .info and list are smaller
constexpr std::uint64_t kMinZip = 22;            // an end-of-central-directory record alone
constexpr int kListAttempts = 40;                // compare-and-swap rounds on the list object
constexpr int kCreateAttempts = 4;               // a key that vanishes between PUT and GET
constexpr char kAthensSigDir[] = ".modpub-sig";  // athens layout: where signatures go

constexpr char kSupported[] =
    "s3://<bucket>/<prefix>?endpoint=http://host:port&region=us-east-1&layout=goproxy|athens";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(const std::string& url, std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      return Fail("storage URL \"" + url + "\": malformed %-escape");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return false;
    }
  }
  return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

std::string RandomWriterId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out += kHex[rng() & 15];
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

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

// The names of a version's parts in write order, for messages and Classify.
std::vector<std::string> PartNames(const std::string& name, bool goproxy) {
  std::vector<std::string> out = {name + ".zip", name + ".mod", name + ".info"};
  if (goproxy) out.push_back("list entry");
  return out;
}

}  // namespace

Result<S3Url> ParseS3Url(const std::string& url) {
  constexpr std::string_view kScheme = "s3://";
  if (!std::string_view(url).starts_with(kScheme)) {
    return Fail("storage URL \"" + url + "\" is not an s3:// URL; " + kSupported);
  }
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  if (rest.find('#') != std::string_view::npos) {
    return Fail("storage URL \"" + url + "\": a fragment is not allowed");
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Url u;
  auto slash = rest.find('/');
  u.bucket = std::string(rest.substr(0, slash));
  if (!ValidBucket(u.bucket)) {
    return Fail("storage URL \"" + url + "\": \"" + u.bucket +
                "\" is not a valid bucket name (3 to 63 of a-z 0-9 . -); " + kSupported);
  }
  if (slash != std::string_view::npos) {
    auto prefix = PercentDecode(url, rest.substr(slash + 1));
    if (!prefix) return prefix.error();
    std::string p = *prefix;
    while (!p.empty() && p.back() == '/') p.pop_back();
    std::size_t start = 0;
    while (start <= p.size() && !p.empty()) {
      std::size_t end = p.find('/', start);
      if (end == std::string::npos) end = p.size();
      std::string_view elem = std::string_view(p).substr(start, end - start);
      if (elem.empty() || elem == "." || elem == "..") {
        return Fail("storage URL \"" + url +
                    "\": the prefix may not hold empty, \".\" or \"..\" elements");
      }
      start = end + 1;
    }
    u.prefix = p;
  }
  bool have_endpoint = false;
  std::size_t start = 0;
  while (start < query.size()) {
    std::size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view kv = query.substr(start, amp - start);
    start = amp + 1;
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    std::string key(kv.substr(0, eq));
    auto value = PercentDecode(url, eq == std::string_view::npos ? "" : kv.substr(eq + 1));
    if (!value) return value.error();
    if (key == "endpoint") {
      std::string e = *value;
      while (!e.empty() && e.back() == '/') e.pop_back();
      auto scheme_end = e.find("://");
      std::string scheme = scheme_end == std::string::npos ? "" : e.substr(0, scheme_end);
      if ((scheme != "http" && scheme != "https") || e.size() == scheme_end + 3 ||
          e.find('/', scheme_end + 3) != std::string::npos) {
        return Fail("storage URL \"" + url + "\": endpoint \"" + *value +
                    "\" must be http://host[:port] or https://host[:port], without a path");
      }
      if (e.find('@') != std::string::npos) {
        return Fail(
            "storage URL: the endpoint may not carry credentials (user:password@); "
            "use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the credentials file");
      }
      u.endpoint = e;
      have_endpoint = true;
    } else if (key == "region") {
      if (value->empty()) return Fail("storage URL \"" + url + "\": empty region");
      u.region = *value;
    } else if (key == "layout") {
      if (*value == "goproxy") {
        u.layout = S3Url::Layout::kGoproxy;
      } else if (*value == "athens") {
        u.layout = S3Url::Layout::kAthens;
      } else {
        return Fail("storage URL \"" + url + "\": layout \"" + *value +
                    "\" is unknown; use layout=goproxy or layout=athens");
      }
    } else if (key == "attempts") {
      char* end = nullptr;
      long n = std::strtol(value->c_str(), &end, 10);
      if (value->empty() || *end != '\0' || n < 1 || n > 100) {
        return Fail("storage URL \"" + url + "\": attempts must be a number from 1 to 100");
      }
      u.attempts = static_cast<int>(n);
    } else if (key == "cache_dir") {
      if (value->empty() || value->front() != '/') {
        return Fail("storage URL \"" + url + "\": cache_dir must be an absolute local path");
      }
      u.cache_dir = *value;
    } else if (key == "cache_mib") {
      char* end = nullptr;
      long long n = std::strtoll(value->c_str(), &end, 10);
      if (value->empty() || *end != '\0' || n < 1 || n > (1ll << 30)) {
        return Fail("storage URL \"" + url + "\": cache_mib must be a number of MiB, at least 1");
      }
      u.cache_bytes = static_cast<std::uint64_t>(n) << 20;
    } else {
      return Fail("storage URL \"" + url + "\": unknown parameter \"" + key +
                  "\" (known: endpoint, region, layout, attempts, cache_dir, cache_mib)");
    }
  }
  if (!have_endpoint) u.endpoint = "https://s3." + u.region + ".amazonaws.com";
  return u;
}

// The serving cache (s3.hpp): files named by the sha256 of their key, an index of sizes
// and last use in memory, least recently used files removed beyond the bound.
class S3Backend::Cache {
 public:
  Cache(std::string dir, std::uint64_t max_bytes) : dir_(std::move(dir)), max_(max_bytes) {}
  ~Cache() {
    std::error_code ec;
    if (owned_ && !dir_.empty()) fs::remove_all(dir_, ec);
  }

  // The cached file of `key`, or nullopt if it is not cached.
  Result<std::optional<fs::path>> Find(const std::string& key) {
    std::lock_guard g(mu_);
    if (auto st = OpenLocked(); !st) return st.error();
    auto it = entries_.find(Name(key));
    if (it == entries_.end()) return std::optional<fs::path>();
    it->second.last_use = ++tick_;
    return std::optional<fs::path>(fs::path(dir_) / it->first);
  }

  // Downloads `key` into the cache; nullopt when the object is absent.
  Result<std::optional<fs::path>> Fetch(s3::Client& client, const std::string& key) {
    fs::path tmp;
    {
      std::lock_guard g(mu_);
      if (auto st = OpenLocked(); !st) return st.error();
      tmp = fs::path(dir_) / (".tmp-" + RandomWriterId());
    }
    class ToFile : public s3::Sink {
     public:
      explicit ToFile(int fd) : fd_(fd) {}
      void Reset() override {
        failed_ = ::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0;
        if (failed_) error_ = errno;
      }
      bool Write(const char* data, std::size_t n) override {
        while (n > 0 && !failed_) {
          ssize_t w = ::write(fd_, data, n);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) {
            failed_ = true;
            error_ = errno;
            break;
          }
          data += w;
          n -= static_cast<std::size_t>(w);
        }
        return !failed_;
      }
      int error() const { return failed_ ? error_ : 0; }

     private:
      int fd_;
      bool failed_ = false;
      int error_ = 0;
    };
    std::error_code ec;
    fsio::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return Fail(tmp.string() + ": create: " + std::strerror(errno));
    ToFile sink(fd.get());
    auto r = client.GetTo(key, sink);
    const int werr = sink.error();
    fd = fsio::UniqueFd();
    if (!r || r->status != 200 || werr != 0) {
      fs::remove(tmp, ec);
      if (!r) return r.error();
      if (werr != 0) return Fail(tmp.string() + ": write: " + std::strerror(werr));
      return std::optional<fs::path>();  // 404: absent, not cached
    }
    std::uint64_t size = fs::file_size(tmp, ec);
    if (ec) size = 0;  // only the bound's bookkeeping is off; the file is whole
    const std::string name = Name(key);
    const fs::path target = fs::path(dir_) / name;
    // Another request may have cached the same immutable object meanwhile: same bytes.
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      int err = errno;
      fs::remove(tmp, ec);
      return Fail(target.string() + ": rename: " + std::strerror(err));
    }
    std::lock_guard g(mu_);
    auto& e = entries_[name];
    total_ = total_ - e.size + size;
    e.size = size;
    e.last_use = ++tick_;
    EvictLocked(name);
    return std::optional<fs::path>(target);
  }

 private:
  struct Entry {
    std::uint64_t size = 0;
    std::uint64_t last_use = 0;
  };
  static std::string Name(const std::string& key) { return dirhash::Hex(dirhash::Sha256::Of(key)); }
  // Creates (or indexes, after a restart) the cache directory on first use.
  Status OpenLocked() {
    if (opened_) return Ok();
    if (dir_.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "modpub-s3-cache-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) {
        return Fail(tmpl + ": cannot create the S3 serving cache: " + std::strerror(errno));
      }
      dir_ = tmpl;
      owned_ = true;
    } else {
      if (auto st = fsio::MakeDirs(dir_); !st) return st.error();
      std::error_code ec;
      for (const auto& de : fs::directory_iterator(dir_, ec)) {
        const std::string n = de.path().filename().string();
        if (n.starts_with(".tmp-")) {
          fs::remove(de.path(), ec);  // left by an interrupted download
        } else if (n.size() == 64 && de.is_regular_file(ec)) {
          auto size = de.file_size(ec);
          entries_[n] = {ec ? 0 : size, 0};
          total_ += ec ? 0 : size;
        }
      }
      if (ec) return Fail(dir_ + ": cannot read the S3 serving cache: " + ec.message());
    }
    opened_ = true;
    return Ok();
  }
  // Removes least recently used files until the cache fits (never `keep`, just fetched).
  // A file being served stays readable: the server holds it open.
  void EvictLocked(const std::string& keep) {
    while (total_ > max_ && entries_.size() > 1) {
      auto victim = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->first == keep) continue;
        if (victim == entries_.end() || it->second.last_use < victim->second.last_use) victim = it;
      }
      std::error_code ec;
      fs::remove(fs::path(dir_) / victim->first, ec);
      total_ -= victim->second.size;
      entries_.erase(victim);
    }
  }

  std::mutex mu_;
  std::string dir_;
  std::uint64_t max_;
  bool owned_ = false;
  bool opened_ = false;
  std::map<std::string, Entry> entries_;
  std::uint64_t total_ = 0;
  std::uint64_t tick_ = 0;
};

S3Backend::~S3Backend() = default;

Result<std::optional<fs::path>> S3Backend::LocalFile(const std::string& path,
                                                     const std::string& version, VersionPart part) {
  auto k = Locate(path, version);
  if (!k) return k.error();
  const std::string& key = part == VersionPart::kInfo  ? k->info
                           : part == VersionPart::kMod ? k->mod
                           : part == VersionPart::kZip ? k->zip
                                                       : k->sig;
  auto hit = cache_->Find(key);
  if (!hit) return hit.error();
  if (*hit) return hit;
  return cache_->Fetch(*client_, key);
}

S3Backend::S3Backend(std::string url, S3Url where, s3::Credentials credentials)
    : url_(std::move(url)), where_(std::move(where)) {
  s3::ClientConfig c;
  c.endpoint = where_.endpoint;
  c.region = where_.region;
  c.bucket = where_.bucket;
  c.credentials = std::move(credentials);
  c.max_attempts = where_.attempts;
  client_ = std::make_unique<s3::Client>(std::move(c));
  cache_ = std::make_unique<Cache>(where_.cache_dir, where_.cache_bytes);
}

Result<std::string> S3Backend::ModuleDir(const std::string& path) const {
  if (auto st = module::CheckPath(path); !st) return st.error();
  std::string p = path;
  if (where_.layout == S3Url::Layout::kGoproxy) {
    auto e = module::EscapePath(path);
    if (!e) return e.error();
    p = *e;
  }
  return (where_.prefix.empty() ? "" : where_.prefix + "/") + p + "/@v/";
}

Result<S3Backend::Keys> S3Backend::Locate(const std::string& path,
                                          const std::string& version) const {
  if (auto st = ValidateModuleVersion(path, version); !st) return st.error();
  auto dir = ModuleDir(path);
  if (!dir) return dir.error();
  Keys k;
  k.dir = *dir;
  k.name = version;
  if (where_.layout == S3Url::Layout::kGoproxy) {
    auto ev = module::EscapeVersion(version);
    if (!ev) return ev.error();
    k.name = *ev;
    k.list = k.dir + "list";
  }
  k.zip = k.dir + k.name + ".zip";
  k.mod = k.dir + k.name + ".mod";
  k.info = k.dir + k.name + ".info";
  if (where_.layout == S3Url::Layout::kGoproxy) {
    k.sig = k.dir + k.name + ".sig";
  } else {
    // Outside <path>/@v/: Athens lists a module's keys and must see only its 3 per version.
    k.sig = (where_.prefix.empty() ? "" : where_.prefix + "/") + kAthensSigDir + "/" + path + "/" +
            version + ".sig";
  }
  return k;
}

struct S3Backend::ListObject {
  bool exists = false;
  std::string etag;
  std::string writer;
  std::vector<std::string> versions;
};

Result<S3Backend::ListObject> S3Backend::ReadList(const std::string& key) {
  ListObject lo;
  if (key.empty()) return lo;
  auto r = client_->Get(key, kSmallLimit);
  if (!r) return r.error();
  if (r->status == 404) return lo;
  lo.exists = true;
  lo.etag = r->etag;
  lo.writer = r->writer;
  lo.versions = ParseVersionList(r->body);
  return lo;
}

struct S3Backend::Snapshot {
  std::vector<s3::ObjectInfo> objects;  // keys starting with "<dir><name>."
  ListObject list;                      // empty (exists = false) for the athens layout
};

// The two reads are independent, so they go out together, on two of the client's
// connections: one round trip instead of two at the start of every publish (on S3 a round
// trip is tens of milliseconds; the test server s3d answers each GET after a ~40 ms
// delayed ACK).
Result<S3Backend::Snapshot> S3Backend::ReadSnapshot(const Keys& k) {
  std::future<Result<ListObject>> list;
  if (!k.list.empty()) {
    list = std::async(std::launch::async, [this, &k] { return ReadList(k.list); });
  }
  auto objects = client_->List(k.dir + k.name + ".");
  Snapshot snap;
  if (list.valid()) {
    auto lo = list.get();
    if (!lo) return lo.error();
    snap.list = std::move(*lo);
  }
  if (!objects) return objects.error();
  snap.objects = std::move(*objects);
  return snap;
}

Result<StoredVersion> S3Backend::Examine(const Keys& k, const std::string& version,
                                         const std::vector<s3::ObjectInfo>& objects, bool listed) {
  const bool goproxy = where_.layout == S3Url::Layout::kGoproxy;
  const std::string keys[] = {k.zip, k.mod, k.info};
  const std::uint64_t min_size[] = {kMinZip, 1, 1};
  std::vector<bool> present;
  std::vector<std::string> problems;
  for (int i = 0; i < 3; ++i) {
    auto it = std::find_if(objects.begin(), objects.end(),
                           [&](const s3::ObjectInfo& o) { return o.key == keys[i]; });
    present.push_back(it != objects.end());
    if (it != objects.end() && it->size < min_size[i]) {
      problems.push_back(k.name +
                         (i == 0   ? ".zip"
                          : i == 1 ? ".mod"
                                   : ".info") +
                         " is truncated (" + std::to_string(it->size) + " bytes)");
    }
  }
  if (goproxy) present.push_back(listed);
  StoredVersion sv = Classify(version, PartNames(k.name, goproxy), present, /*resumable=*/true);
  if (!problems.empty()) {
    sv.state = VersionState::kDamaged;
    for (const auto& p : problems) sv.detail += (sv.detail.empty() ? "" : "; ") + p;
  }
  return sv;
}

Result<PutResult> S3Backend::Put(const VersionFiles& f) {
  const std::string mv = f.path + "@" + f.version;
  const bool goproxy = where_.layout == S3Url::Layout::kGoproxy;
  auto k = Locate(f.path, f.version);
  if (!k) return k.error();
  std::error_code ec;
  const auto zip_size = fs::file_size(f.zip, ec);
  if (ec) return Fail(f.zip.string() + ": " + ec.message());
  const std::string writer = RandomWriterId();
  const auto names = PartNames(k->name, goproxy);

  // The state of one stored part compared with what this publish writes: the rule's
  // input, and after a 412 the verdict on the object another writer stored.
  struct Seen {
    PartState state = PartState::kAbsent;
    std::string difference;
    std::string writer;
  };
  auto compare_small = [&](const std::string& key, const std::string& expected,
                           bool is_mod) -> Result<Seen> {
    auto r = client_->Get(key, kSmallLimit);
    if (!r) return r.error();
    Seen s;
    if (r->status == 404) return s;
    s.writer = r->writer;
    s.state = r->body == expected ? PartState::kSame : PartState::kDifferent;
    if (s.state == PartState::kDifferent) {
      s.difference = is_mod ? "stored " + dirhash::HashGoMod(f.path, f.version, r->body) +
                                  ", new " + f.gomod_sum
                            : "stored sha256:" + dirhash::Hex(dirhash::Sha256::Of(r->body)) +
                                  ", new sha256:" + dirhash::Hex(dirhash::Sha256::Of(expected));
    }
    return s;
  };
  auto describe_zip = [&](const std::string& key) -> std::string {
    fs::path tmp = fs::temp_directory_path() / ("modpub-s3-" + writer + ".zip");
    FileSink sink(tmp);
    auto r = client_->GetTo(key, sink);
    sink.Close();
    std::string out = r ? local::DescribeZipDifference(tmp, f.sum)
                        : "stored zip unreadable (" + r.message() + "), new " + f.sum;
    fs::remove(tmp, ec);
    return out;
  };
  auto compare_zip = [&](const std::string& key,
                         std::optional<std::uint64_t> known_size) -> Result<Seen> {
    Seen s;
    if (known_size && *known_size != zip_size) {
      s.state = PartState::kDifferent;
    } else {
      CompareSink sink(f.zip);
      auto r = client_->GetTo(key, sink);
      if (!r) return r.error();
      if (r->status == 404) return s;
      s.writer = r->writer;
      auto eq = sink.Equal();
      if (!eq) return eq.error();
      s.state = *eq ? PartState::kSame : PartState::kDifferent;
    }
    if (s.state == PartState::kDifferent) s.difference = describe_zip(key);
    return s;
  };
  auto compare_part = [&](int i, std::optional<std::uint64_t> size) -> Result<Seen> {
    if (i == 0) return compare_zip(k->zip, size);
    if (i == 1) return compare_small(k->mod, f.mod, true);
    return compare_small(k->info, f.info, false);
  };

  // 1. What is stored, compared with what we would write (rule in backend.hpp).
  auto snap = ReadSnapshot(*k);
  if (!snap) return snap.error();
  const auto& objects = snap->objects;
  Result<ListObject> list = std::move(snap->list);
  const std::string part_keys[] = {k->zip, k->mod, k->info};
  std::vector<StoredPart> parts(names.size());
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i].name = names[i];
  for (int i = 0; i < 3; ++i) {
    auto it = std::find_if(objects.begin(), objects.end(),
                           [&](const s3::ObjectInfo& o) { return o.key == part_keys[i]; });
    if (it == objects.end()) continue;
    auto seen = compare_part(i, it->size);
    if (!seen) return seen.error();
    parts[i].state = seen->state;
    parts[i].difference = seen->difference;
  }
  if (goproxy) {
    parts[3].state = Contains(list->versions, f.version) ? PartState::kSame : PartState::kAbsent;
  }
  // The optional signature, once the version is complete (backend.hpp): created only if
  // absent; a 412 means another writer stored one first, compared like any other part.
  auto with_signature = [&](PutResult r) -> Result<PutResult> {
    if (f.sig.empty()) return r;
    for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
      auto seen = compare_small(k->sig, f.sig, false);
      if (!seen) return seen.error();
      if (seen->state == PartState::kSame) return r;
      if (seen->state == PartState::kDifferent) {
        return PutResult{PutOutcome::kRefused,
                         mv + ": its stored signature " + k->name +
                             ".sig differs from the new one (signed with another key?); kept, "
                             "not overwritten (" +
                             seen->difference + ")"};
      }
      s3::PutCondition cond;
      cond.if_none_match_any = true;
      auto put = client_->Put(k->sig, f.sig, cond, writer);
      if (!put) return put.error();
      if (put->status == 200) return SignatureAdded(r);
      // 412: stored meanwhile (or our own write whose answer was lost): compare again.
    }
    return Fail(k->sig + ": appeared and disappeared " + std::to_string(kCreateAttempts) +
                " times while " + mv + " was being signed; something else deletes objects");
  };

  Decision d = Decide(mv, parts, /*resumable=*/true);
  if (auto done = NothingToWrite(d)) {
    if (done->outcome == PutOutcome::kRefused) return *done;
    return with_signature(*done);
  }

  // 2. The missing objects, each create-only. A 412 means another writer got there first
  // (or our own write whose answer was lost): compare what it stored.
  enum class Created { kByUs, kByOther };
  using CreateOutcome = std::variant<Created, PutResult>;
  auto create = [&](int i) -> Result<CreateOutcome> {
    for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
      s3::PutCondition cond;
      cond.if_none_match_any = true;
      auto r = i == 0 ? client_->PutFile(part_keys[i], f.zip, cond, writer, f.zip_sha256)
                      : client_->Put(part_keys[i], i == 1 ? f.mod : f.info, cond, writer);
      if (!r) return r.error();
      if (r->status == 200) return CreateOutcome(Created::kByUs);
      auto seen = compare_part(i, std::nullopt);
      if (!seen) return seen.error();
      if (seen->state == PartState::kAbsent) continue;  // removed meanwhile: try again
      if (seen->state == PartState::kSame) {
        return CreateOutcome(seen->writer == writer ? Created::kByUs : Created::kByOther);
      }
      return CreateOutcome(
          PutResult{PutOutcome::kRefused,
                    mv +
                        " was stored with different content by another writer while this "
                        "publish ran (" +
                        names[i] + ": " + seen->difference + "); nothing was overwritten"});
    }
    return Fail(part_keys[i] + ": appeared and disappeared " + std::to_string(kCreateAttempts) +
                " times while " + mv + " was being published; something else deletes objects");
  };
  bool committed_by_us = false;
  for (std::size_t i = d.first_absent; i < 3; ++i) {
    auto c = create(static_cast<int>(i));
    if (!c) return c.error();
    if (auto* refused = std::get_if<PutResult>(&*c)) return *refused;
    committed_by_us = std::get<Created>(*c) == Created::kByUs;
  }

  // 3. The list entry, by compare-and-swap on the list object's ETag.
  if (goproxy) {
    committed_by_us = false;
    bool done = false;
    for (int attempt = 0; attempt < kListAttempts && !done; ++attempt) {
      if (attempt > 0) {
        // Another writer changed the list between our read and our write: back off.
        thread_local std::mt19937_64 rng{std::random_device{}()};
        int ceiling = std::min(10 << std::min(attempt, 6), 500);
        std::this_thread::sleep_for(std::chrono::milliseconds(
            std::uniform_int_distribution<int>(ceiling / 2, ceiling)(rng)));
      }
      auto lo = attempt == 0 ? std::move(list) : ReadList(k->list);
      if (!lo) return lo.error();
      if (Contains(lo->versions, f.version)) {
        committed_by_us = lo->writer == writer;
        done = true;
        break;
      }
      std::vector<std::string> updated = lo->versions;
      updated.push_back(f.version);
      semver::Sort(updated);
      updated.erase(std::unique(updated.begin(), updated.end()), updated.end());
      std::string text;
      for (const auto& v : updated) text += v + "\n";
      s3::PutCondition cond;
      if (lo->exists) {
        cond.if_match = lo->etag.empty() ? "\"\"" : lo->etag;
      } else {
        cond.if_none_match_any = true;
      }
      auto r = client_->Put(k->list, text, cond, writer);
      if (!r) return r.error();
      if (r->status == 200) {
        committed_by_us = true;
        done = true;
      }
    }
    if (!done) {
      return Fail(k->list + ": could not add " + mv + " to the list object: it changed " +
                  std::to_string(kListAttempts) +
                  " times between read and write (too many concurrent writers?); "
                  "publish again to complete");
    }
  }
  if (!committed_by_us) return with_signature(PutResult{PutOutcome::kUnchanged, ""});
  return with_signature(PutResult{PutOutcome::kPublished, d.message});
}

Result<std::optional<StoredVersion>> S3Backend::Stat(const std::string& path,
                                                     const std::string& version) {
  auto k = Locate(path, version);
  if (!k) return k.error();
  auto snap = ReadSnapshot(*k);
  if (!snap) return snap.error();
  const auto& objects = snap->objects;
  bool listed = Contains(snap->list.versions, version);
  auto sv = Examine(*k, version, objects, listed);
  if (!sv) return sv.error();
  bool any = listed;
  for (const auto& key : {k->zip, k->mod, k->info}) {
    any = any || std::any_of(objects.begin(), objects.end(),
                             [&](const s3::ObjectInfo& o) { return o.key == key; });
  }
  if (!any) return std::optional<StoredVersion>();
  return std::optional<StoredVersion>(std::move(*sv));
}

Result<std::vector<StoredVersion>> S3Backend::ListVersions(const std::string& path) {
  auto dir = ModuleDir(path);
  if (!dir) return dir.error();
  const bool goproxy = where_.layout == S3Url::Layout::kGoproxy;
  auto objects = client_->List(*dir);
  if (!objects) return objects.error();
  auto list = ReadList(goproxy ? *dir + "list" : "");
  if (!list) return list.error();
  std::set<std::string> candidates(list->versions.begin(), list->versions.end());
  for (const auto& o : *objects) {
    std::string rel = o.key.substr(dir->size());
    if (rel.find('/') != std::string::npos) continue;
    for (std::string_view ext : {".zip", ".mod", ".info"}) {
      if (!rel.ends_with(ext)) continue;
      std::string name = rel.substr(0, rel.size() - ext.size());
      if (goproxy) {
        auto v = module::UnescapeVersion(name);
        if (v) candidates.insert(*v);
      } else {
        candidates.insert(name);
      }
    }
  }
  std::vector<StoredVersion> out;
  for (const auto& v : candidates) {
    auto k = Locate(path, v);
    if (!k) continue;  // not something modpub stores
    auto sv = Examine(*k, v, *objects, Contains(list->versions, v));
    if (!sv) return sv.error();
    out.push_back(std::move(*sv));
  }
  std::stable_sort(out.begin(), out.end(), [](const StoredVersion& a, const StoredVersion& b) {
    return semver::Compare(a.version, b.version) < 0;
  });
  return out;
}

Result<std::vector<std::string>> S3Backend::ListModules() {
  const std::string prefix = where_.prefix.empty() ? "" : where_.prefix + "/";
  auto objects = client_->List(prefix);
  if (!objects) return objects.error();
  std::vector<std::string> out;
  for (const auto& o : *objects) {
    std::string rel = o.key.substr(prefix.size());
    auto at = rel.find("/@v/");
    if (at == std::string::npos) continue;
    std::string path = rel.substr(0, at);
    if (where_.layout == S3Url::Layout::kGoproxy) {
      auto p = module::UnescapePath(path);
      if (!p) continue;
      path = *p;
    }
    if (module::CheckPath(path)) out.push_back(path);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace modpub::storage
