// An S3 (or MinIO, or any S3-compatible) bucket as module storage:
//
//   s3://<bucket>/<prefix>?endpoint=http://127.0.0.1:9000&region=us-east-1&layout=goproxy
//
// `endpoint` (scheme://host[:port], addressed path-style: <endpoint>/<bucket>/<key>;
// default https://s3.<region>.amazonaws.com), `region` (default us-east-1), `layout`
// (goproxy, the default, or athens), `attempts` (per request, default 10), `cache_dir` and
// `cache_mib` (the serving cache, see below); parsed by ParseS3Url (s3_url.hpp). The prefix
// may be empty. Credentials: s3_client.hpp's LoadCredentials (AWS_* variables or the shared
// credentials file), loaded when the backend is opened; never logged.
//
// Layouts (keys below <prefix>/):
//   goproxy  <escaped path>/@v/{<escaped v>.zip, .mod, .info, list}: a GOPROXY tree, as
//            fs_tree.hpp writes on disk; a static server or proxy in front of the bucket
//            serves it to `go` as is.
//   athens   <path>/@v/<version>.{zip,mod,info}: the keys Athens's S3 storage reads; no
//            list object. Athens (gomods/athens pkg/storage/s3) lists a module's versions
//            from its keys ending in .info and counts a version as present when exactly
//            those 3 keys exist, so .info is written last. Athens reads from the bucket
//            root: give no prefix (s3://bucket?…&layout=athens) for an Athens to serve it.
//
// Writes (the immutability rule of backend.hpp, with Decide/Classify; a Put's steps are
// S3Backend::PutOperation, s3_put.hpp): the parts are zip, .mod, .info (and, for goproxy,
// the list entry), in that order. There are no locks in S3, so every object is written
// create-only (`If-None-Match: *`); a 412 means the object exists: it is read back and
// compared, identical → the publish goes on (another writer stored the same bytes),
// different → refused, nothing overwritten. The `list` object is updated by
// compare-and-swap on its ETag (`If-Match`, or `If-None-Match: *` when it does not exist
// yet), re-read and retried on a 412 a bounded number of times, so writers on several
// machines sharing a bucket never lose an entry. Each object carries
// `x-amz-meta-modpub-writer` (a random id per Put) so that a write whose answer was lost
// and whose retry met a 412 is recognised as this Put's own.
// An interrupted publish leaves a prefix of the parts (each object is whole or absent:
// S3 PUTs are atomic), completed by publishing the same content again (resumable). The
// Put that stores the last part ("commit point": the list entry, or .info for athens)
// reports "published"; concurrent Puts of identical content report "unchanged".
// Zips are uploaded from the local file in pieces, never held in memory.
// Damage detection: a version whose parts are not a prefix of the write order (e.g. .info
// without zip, listed without files) or whose objects are visibly broken (a zip shorter
// than 22 bytes, an empty .mod or .info) is reported as damaged and never repaired.
// Signatures (VersionFiles::sig, backend.hpp): goproxy `<dir>/<escaped v>.sig` beside the
// parts; athens `<prefix>/.modpub-sig/<path>/<version>.sig`, outside `<path>/@v/` so that
// Athens's key listing sees only its 3 keys per version. Written create-only once the
// version is complete; the same → nothing, different → refused, never overwritten.
// Serving (LocalFile, for `modpub serve --from s3://…`; s3_cache.hpp): a version part is
// downloaded once, streamed to a temporary file in the cache directory
// (`cache_dir=/abs/dir`, default a private temporary directory removed with the backend)
// and renamed into place; cached files are reused without asking S3 again, because
// stored parts are immutable (Put never overwrites; an object an operator deletes or
// replaces by hand may be served stale from the cache until it is evicted or the cache
// directory is cleared). Absent objects are not cached. The cache is bounded (`cache_mib`,
// default 1024): least recently used files are removed beyond it. The version list is
// never cached: ListVersions reads the bucket.
// Deadline (deadline.hpp): each operation (Put, Stat, ListVersions, ListModules,
// LocalFile) has one overall budget, given when the backend is opened, shared by all its
// requests and their retries; its failure names this URL, the request and the budget.
// A server that ignores conditional writes (npm s3rver) cannot give these guarantees:
// concurrent writers of one module could then lose list entries; a single writer works.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modpub/storage/backend.hpp"
#include "modpub/storage/s3_client.hpp"
#include "modpub/storage/s3_url.hpp"

namespace modpub::storage {

namespace s3 {
class DownloadCache;
}  // namespace s3

// The client for the bucket of s3:// URL `url` (parsed as `where`), named by it in
// messages; the backend and the checksum database's store (sumdb_store.hpp) share it.
std::unique_ptr<s3::Client> NewS3Client(const std::string& url, const S3Url& where,
                                        s3::Credentials credentials);

class S3Backend : public Backend {
 public:
  // `deadline`: each operation's budget (<= 0: none); `deadline_setting` names where it is
  // configured, for the failure's message.
  S3Backend(std::string url, S3Url where, s3::Credentials credentials,
            std::chrono::milliseconds deadline = kDefaultDeadline,
            std::string deadline_setting = "");
  ~S3Backend() override;

  const std::string& Name() const override { return url_; }
  Result<PutResult> Put(const VersionFiles& files) override;
  Result<std::optional<StoredVersion>> Stat(const std::string& path,
                                            const std::string& version) override;
  Result<std::vector<StoredVersion>> ListVersions(const std::string& path) override;
  Result<std::vector<std::string>> ListModules() override;
  // Serving (`modpub serve --from s3://…`): downloads the object into the local cache and
  // returns the cached file; nullopt when the object is absent (not cached).
  Result<std::optional<std::filesystem::path>> LocalFile(const std::string& path,
                                                         const std::string& version,
                                                         VersionPart part) override;
  // <prefix>/.modpub-doctor/<name>: a create-only PUT, a GET compared with what was put,
  // and a DELETE (the one object modpub ever deletes: its own probe; the DELETE is sent
  // whatever the GET found).
  Status Probe(const std::string& name) override;

  // The keys of path@version's parts (zip, mod, info) and of its module's list object
  // (goproxy only; empty for athens). Fails unless ValidateModuleVersion accepts them.
  struct Keys {
    std::string dir;  // "<prefix>/<path>/@v/" (path escaped for goproxy)
    std::string zip, mod, info, list;
    std::string sig;   // detached signature: "<dir><name>.sig" (goproxy) or, for athens,
                       // "<prefix>/.modpub-sig/<path>/<version>.sig", outside <path>/@v/
    std::string name;  // the version as it appears in key names
  };
  Result<Keys> Locate(const std::string& path, const std::string& version) const;

  s3::Client& client() { return *client_; }

 private:
  // One Put, step by step (s3_put.hpp).
  class PutOperation;

  // The list object as read: its versions, and what a compare-and-swap on it needs.
  struct ListObject {
    bool exists = false;
    std::string etag;
    std::string writer;
    std::vector<std::string> versions;
    std::vector<ListJunk> junk;  // lines dropped (ParseVersionList)
  };
  // The objects of one version and the list object, as Put and Stat begin by reading.
  struct Snapshot {
    std::vector<s3::ObjectInfo> objects;  // keys starting with "<dir><name>."
    ListObject list;                      // empty (exists = false) for the athens layout
  };

  // The most a small object (.mod, .info, list, a signature) may hold: go.mod's limit.
  static constexpr std::size_t kSmallLimit = 16u << 20;

  bool goproxy() const { return where_.layout == S3Url::Layout::kGoproxy; }
  // The names of a version's parts in write order, for messages and Classify.
  std::vector<std::string> PartNames(const Keys& k) const;
  Result<std::string> ModuleDir(const std::string& path) const;
  Result<StoredVersion> Examine(const Keys& k, const std::string& version,
                                const std::vector<s3::ObjectInfo>& objects, bool listed);
  // `path`: the module whose list `key` is, for the warnings about lines that are dropped.
  Result<ListObject> ReadList(const std::string& key, const std::string& path,
                              const Deadline& deadline);
  Result<Snapshot> ReadSnapshot(const Keys& k, const std::string& path, const Deadline& deadline);
  // The deadline of an operation starting now.
  Deadline StartOperation() const { return Deadline::After(deadline_, deadline_setting_); }

  std::string url_;
  S3Url where_;
  std::unique_ptr<s3::Client> client_;
  std::unique_ptr<s3::DownloadCache> cache_;
  std::chrono::milliseconds deadline_;
  std::string deadline_setting_;
};

}  // namespace modpub::storage
