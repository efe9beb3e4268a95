#include "modpub/storage/sumdb_store.hpp"

#include <filesystem>
#include <mutex>

#include "modpub/storage/s3.hpp"
#include "modpub/storage/s3_client.hpp"
#include "modpub/storage/s3_url.hpp"

namespace modpub::storage {
namespace {

// The checksum database's objects: tree heads, tiles (8 KiB), lookups. Anything bigger
// is not ours.
constexpr std::size_t kObjectLimit = 4u << 20;

class S3ObjectStore final : public sumdb::ObjectStore {
 public:
  S3ObjectStore(std::string url, const S3Url& where, s3::Credentials creds,
                std::chrono::milliseconds deadline)
      : url_(std::move(url)),
        prefix_(where.prefix.empty() ? "" : where.prefix + "/"),
        deadline_(deadline),
        writer_(s3::RandomWriterId()) {
    client_ = NewS3Client(url_, where, std::move(creds));
  }

  const std::string& Where() const override { return url_; }

  Result<std::optional<sumdb::StoredObject>> Get(const std::string& name) override {
    auto r = client_->Get(prefix_ + name, kObjectLimit, Start());
    if (!r) return r.error();
    if (r->status == 404) return std::optional<sumdb::StoredObject>();
    return std::optional<sumdb::StoredObject>({std::move(r->body), std::move(r->etag)});
  }

  Result<std::optional<std::string>> Create(const std::string& name,
                                            std::string_view data) override {
    if (auto st = CheckConditionalWrites(); !st) return st.error();
    s3::PutCondition cond;
    cond.if_none_match_any = true;
    return Put(name, data, cond);
  }

  Result<std::optional<std::string>> Swap(const std::string& name, std::string_view data,
                                          const std::string& etag) override {
    if (auto st = CheckConditionalWrites(); !st) return st.error();
    s3::PutCondition cond;
    cond.if_match = etag;
    return Put(name, data, cond);
  }

 private:
  // Before the first write: a server that ignores If-None-Match / If-Match (npm s3rver
  // does) would let two appenders both "win" a swap and fork the log. So a probe object
  // is created twice with If-None-Match: *; the second must be refused (412). Once per
  // store; a failed check is asked again at the next write.
  Status CheckConditionalWrites() {
    std::lock_guard g(probe_mu_);
    if (probed_) return Ok();
    const std::string key = prefix_ + ".modpub-probe/" + writer_;
    s3::PutCondition create;
    create.if_none_match_any = true;
    for (int i = 0; i < 2; ++i) {
      auto r = client_->Put(key, "probe\n", create, writer_, Start());
      if (!r) return r.error();
      if (i == 1 && r->status != 412) {
        (void)client_->Delete(key);
        return Fail(url_ +
                    ": this S3 server ignores conditional writes (If-None-Match: * was "
                    "accepted twice); several appenders could fork the checksum database. "
                    "Use a server that honours If-None-Match and If-Match (AWS S3, MinIO, the "
                    "shared s3-test-server)");
      }
    }
    (void)client_->Delete(key);
    probed_ = true;
    return Ok();
  }

  Deadline Start() const {
    return Deadline::After(deadline_, "storage_deadline_ms in modpub.toml");
  }

  // 200: written; 412 (or 404 for If-Match on nothing): the condition did not hold.
  Result<std::optional<std::string>> Put(const std::string& name, std::string_view data,
                                         const s3::PutCondition& c) {
    auto r = client_->Put(prefix_ + name, data, c, writer_, Start());
    if (!r) return r.error();
    if (r->status == 412 || r->status == 404) return std::optional<std::string>();
    return std::optional<std::string>(std::move(r->etag));
  }

  std::string url_;
  std::string prefix_;
  std::chrono::milliseconds deadline_;
  std::string writer_;
  std::unique_ptr<s3::Client> client_;
  std::mutex probe_mu_;
  bool probed_ = false;
};

}  // namespace

Result<std::shared_ptr<sumdb::ObjectStore>> OpenS3ObjectStore(const std::string& url,
                                                              std::chrono::milliseconds deadline) {
  auto where = ParseS3Url(url);
  if (!where) return where.error();
  auto creds = s3::LoadCredentials();
  if (!creds) return Fail("checksum database \"" + url + "\": " + creds.message());
  return std::shared_ptr<sumdb::ObjectStore>(
      std::make_shared<S3ObjectStore>(url, *where, std::move(*creds), deadline));
}

Status CheckSumdbLocation(const std::string& where) {
  if (where.starts_with("s3://")) {
    auto parsed = ParseS3Url(where);
    return parsed ? Status(Ok()) : Status(parsed.error());
  }
  if (where.find("://") != std::string::npos) {
    return Fail("\"" + where + "\": a checksum database is an absolute directory or an s3:// URL");
  }
  if (!std::filesystem::path(where).is_absolute()) {
    return Fail("\"" + where + "\": the checksum database directory must be absolute");
  }
  return Ok();
}

Result<sumdb::Log> OpenSumdbLog(const std::string& where,
                                std::shared_ptr<const sign::Signer> signer,
                                std::chrono::milliseconds deadline) {
  if (auto st = CheckSumdbLocation(where); !st) return st.error();
  if (!where.starts_with("s3://")) return sumdb::Log::Open(where);
  auto store = OpenS3ObjectStore(where, deadline);
  if (!store) return store.error();
  return sumdb::Log::OpenObjects(std::move(*store), std::move(signer));
}

}  // namespace modpub::storage
