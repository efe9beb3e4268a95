#include "modpub/storage/s3.hpp"

#include <algorithm>
#include <future>
#include <set>

#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/probe.hpp"
#include "modpub/storage/s3_cache.hpp"
#include "modpub/storage/s3_put.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMinZip = 22;            // an end-of-central-directory record alone
constexpr char kAthensSigDir[] = ".modpub-sig";  // athens layout: where signatures go

}  // namespace

std::unique_ptr<s3::Client> NewS3Client(const std::string& url, const S3Url& where,
                                        s3::Credentials credentials) {
  s3::ClientConfig c;
  c.endpoint = where.endpoint;
  c.region = where.region;
  c.bucket = where.bucket;
  c.credentials = std::move(credentials);
  c.max_attempts = where.attempts;
  c.storage = url;
  return std::make_unique<s3::Client>(std::move(c));
}

S3Backend::S3Backend(std::string url, S3Url where, s3::Credentials credentials,
                     std::chrono::milliseconds deadline, std::string deadline_setting)
    : url_(std::move(url)),
      where_(std::move(where)),
      deadline_(deadline),
      deadline_setting_(std::move(deadline_setting)) {
  client_ = NewS3Client(url_, where_, std::move(credentials));
  cache_ = std::make_unique<s3::DownloadCache>(where_.cache_dir, where_.cache_bytes);
}

S3Backend::~S3Backend() = default;

Result<PutResult> S3Backend::Put(const VersionFiles& f) {
  auto k = Locate(f.path, f.version);
  if (!k) return k.error();
  std::error_code ec;
  const auto zip_size = fs::file_size(f.zip, ec);
  if (ec) return Fail(f.zip.string() + ": " + ec.message());
  return PutOperation(*this, f, std::move(*k), zip_size, StartOperation()).Run();
}

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
  return cache_->Fetch(*client_, key, StartOperation());
}

std::vector<std::string> S3Backend::PartNames(const Keys& k) const {
  std::vector<std::string> out = {k.name + ".zip", k.name + ".mod", k.name + ".info"};
  if (goproxy()) out.push_back("list entry");
  return out;
}

Result<std::string> S3Backend::ModuleDir(const std::string& path) const {
  if (auto st = module::CheckPath(path); !st) return st.error();
  std::string p = path;
  if (goproxy()) {
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
  if (goproxy()) {
    auto ev = module::EscapeVersion(version);
    if (!ev) return ev.error();
    k.name = *ev;
    k.list = k.dir + "list";
  }
  k.zip = k.dir + k.name + ".zip";
  k.mod = k.dir + k.name + ".mod";
  k.info = k.dir + k.name + ".info";
  if (goproxy()) {
    k.sig = k.dir + k.name + ".sig";
  } else {
    // Outside <path>/@v/: Athens lists a module's keys and must see only its 3 per version.
    k.sig = (where_.prefix.empty() ? "" : where_.prefix + "/") + kAthensSigDir + "/" + path + "/" +
            version + ".sig";
  }
  return k;
}

Result<S3Backend::ListObject> S3Backend::ReadList(const std::string& key, const std::string& path,
                                                  const Deadline& deadline) {
  ListObject lo;
  if (key.empty()) return lo;
  auto r = client_->Get(key, kSmallLimit, deadline);
  if (!r) return r.error();
  if (r->status == 404) return lo;
  lo.exists = true;
  lo.etag = r->etag;
  lo.writer = r->writer;
  VersionList parsed = ParseVersionList(r->body, path);
  lo.versions = std::move(parsed.versions);
  lo.junk = std::move(parsed.junk);
  return lo;
}

// The two reads are independent, so they go out together, on two of the client's
// connections: one round trip instead of two at the start of every publish (on S3 a round
// trip is tens of milliseconds; the test server s3d answers each GET after a ~40 ms
// delayed ACK).
Result<S3Backend::Snapshot> S3Backend::ReadSnapshot(const Keys& k, const std::string& path,
                                                    const Deadline& deadline) {
  std::future<Result<ListObject>> list;
  if (!k.list.empty()) {
    list = std::async(std::launch::async,
                      [this, &k, &path, &deadline] { return ReadList(k.list, path, deadline); });
  }
  auto objects = client_->List(k.dir + k.name + ".", deadline);
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
  if (goproxy()) present.push_back(listed);
  StoredVersion sv = Classify(version, PartNames(k), present, /*resumable=*/true);
  if (!problems.empty()) {
    sv.state = VersionState::kDamaged;
    for (const auto& p : problems) sv.detail += (sv.detail.empty() ? "" : "; ") + p;
  }
  return sv;
}

Result<std::optional<StoredVersion>> S3Backend::Stat(const std::string& path,
                                                     const std::string& version) {
  auto k = Locate(path, version);
  if (!k) return k.error();
  auto snap = ReadSnapshot(*k, path, StartOperation());
  if (!snap) return snap.error();
  const auto& objects = snap->objects;
  bool listed = Listed(snap->list.versions, version);
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
  const Deadline deadline = StartOperation();
  auto objects = client_->List(*dir, deadline);
  if (!objects) return objects.error();
  auto list = ReadList(goproxy() ? *dir + "list" : "", path, deadline);
  if (!list) return list.error();
  std::set<std::string> candidates(list->versions.begin(), list->versions.end());
  for (const auto& o : *objects) {
    std::string rel = o.key.substr(dir->size());
    if (rel.find('/') != std::string::npos) continue;
    for (std::string_view ext : {".zip", ".mod", ".info"}) {
      if (!rel.ends_with(ext)) continue;
      std::string name = rel.substr(0, rel.size() - ext.size());
      if (goproxy()) {
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
    auto sv = Examine(*k, v, *objects, Listed(list->versions, v));
    if (!sv) return sv.error();
    out.push_back(std::move(*sv));
  }
  SortBySemver(out);
  for (const auto& j : list->junk) out.push_back(JunkEntry(j));
  return out;
}

Result<std::vector<std::string>> S3Backend::ListModules() {
  const std::string prefix = where_.prefix.empty() ? "" : where_.prefix + "/";
  auto objects = client_->List(prefix, StartOperation());
  if (!objects) return objects.error();
  std::vector<std::string> out;
  for (const auto& o : *objects) {
    std::string rel = o.key.substr(prefix.size());
    auto at = rel.find("/@v/");
    if (at == std::string::npos) continue;
    std::string path = rel.substr(0, at);
    if (goproxy()) {
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

Status S3Backend::Probe(const std::string& name) {
  if (auto st = CheckProbeName(url_, name); !st) return st;
  const std::string key =
      (where_.prefix.empty() ? "" : where_.prefix + "/") + kProbeDir + "/" + name;
  const std::string data = "modpub doctor probe " + name + "\n";
  const Deadline deadline = StartOperation();
  s3::PutCondition create_only;
  create_only.if_none_match_any = true;
  auto put = client_->Put(key, data, create_only, s3::RandomWriterId(), deadline);
  if (!put) return put.error();
  if (put->status != 200) {
    return Fail(url_ + ": probe object " + key + " exists already (HTTP " +
                std::to_string(put->status) + "): another probe uses this name; left as it is");
  }
  // Stored: from here on the object is deleted whatever the read finds.
  auto got = client_->Get(key, data.size() + 1, deadline);
  Status read = Ok();
  if (!got) {
    read = got.error();
  } else if (got->status != 200 || got->body != data) {
    read = Fail(url_ + ": probe object " + key + " read back " +
                (got->status != 200 ? "HTTP " + std::to_string(got->status) : "other bytes"));
  }
  if (auto del = client_->Delete(key); !del) {
    return Fail((read ? url_ + ": probe" : read.message()) +
                "; could not delete the probe object " + key + ": " + del.message() +
                " (delete it by hand)");
  }
  return read;
}

}  // namespace modpub::storage
