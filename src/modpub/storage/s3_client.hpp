// A small S3 REST client over libcurl, for the s3:// backend (s3.hpp) and its tests.
//
// What it promises:
//  * Every request is signed with AWS Signature Version 4 (libcurl's CURLOPT_AWS_SIGV4)
//    over path-style URLs <endpoint>/<bucket>/<key>. libcurl 7.88 signs every header it
//    is given but does not hash upload bodies itself nor canonicalize query strings, so
//    this client sends `x-amz-content-sha256` with the real payload hash (a file is read
//    once to hash it, then streamed), URI-encodes keys as S3's canonical form does, and
//    writes query parameters already sorted, each as name=value.
//  * Bodies are streamed: an upload from a file is read piece by piece
//    (CURLOPT_READFUNCTION), a download goes to a caller-supplied sink; only small objects
//    (.mod, .info, list, listings) are held in memory, with a size limit.
//  * Connections are reused: the client keeps a pool of curl easy handles (one per
//    concurrent caller), and curl keeps each handle's connections open between requests.
//  * Transient failures are retried with exponential backoff and full jitter: connection
//    errors, timeouts, an answer cut off, HTTP 5xx (InternalError, SlowDown). A request
//    that was retried may have been applied before its answer was lost: callers make
//    writes conditional (If-None-Match / If-Match) and interpret a 412 after a retry.
//  * Every call may be given a Deadline (deadline.hpp), shared by the calls of one storage
//    operation: each try's transfer is limited to what is left of it, no retry starts once
//    it is spent and no backoff pause outlasts it. The failure then reads
//    "<storage>: S3 PUT bucket/key: no answer within the 30 s storage deadline (…)".
//    Without one (the default, for tools and tests) only the per-try limits apply.
//  * Credentials never appear in a message or a log line.
// Thread-safe: one Client may be used by several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/storage/deadline.hpp"

namespace modpub::storage::curl {
struct Api;
}  // namespace modpub::storage::curl

namespace modpub::storage::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

// The standard AWS variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
// else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// $HOME/.aws/credentials), profile AWS_PROFILE or "default". The error says where it
// looked; it never contains a secret.
Result<Credentials> LoadCredentials();

struct ClientConfig {
  std::string endpoint;  // "http://127.0.0.1:9000" (scheme, host, port; no path)
  std::string region = "us-east-1";
  std::string bucket;
  Credentials credentials;
  int max_attempts = 10;  // per request, including the first
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_cap{2000};
  long connect_timeout_s = 10;
  // A transfer slower than 1 byte/s for this long is abandoned (and retried).
  long stall_timeout_s = 30;
  // The storage URL, put before a deadline failure so that it names the storage.
  std::string storage;
};

// The parts of an S3 answer that callers look at.
struct Response {
  long status = 0;
  std::string etag;     // as sent, with quotes
  std::string writer;   // x-amz-meta-modpub-writer, if any
  std::string body;     // small bodies and error documents only
  std::string code;     // S3 error code from an error body ("PreconditionFailed", ...)
  std::string message;  // S3 error message, if any
};

// Preconditions of a PUT.
struct PutCondition {
  bool if_none_match_any = false;  // If-None-Match: * (create only)
  std::string if_match;            // If-Match: <etag> (compare-and-swap), if not empty
};

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
};

// Receives a download piece by piece. `Reset` is called before every attempt (a retried
// download starts again); `Write` returns false to abort the transfer.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Reset() = 0;
  virtual bool Write(const char* data, std::size_t n) = 0;
};

class Client {
 public:
  explicit Client(ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const { return config_; }

  // GET of a small object: status 200 with body, 404 for a missing key, or an Error for
  // anything else (after retries). Bodies over `limit` bytes are an error.
  Result<Response> Get(const std::string& key, std::size_t limit, const Deadline& deadline = {});
  // GET streamed into `sink` (status 200/404 as above).
  Result<Response> GetTo(const std::string& key, Sink& sink, const Deadline& deadline = {});
  // PUT of bytes / of a local file, with preconditions and the writer id as metadata.
  // Returns 200 or 412 (precondition failed) or 404 (If-Match on a missing key); other
  // statuses are an Error. SigV4 signs the payload's SHA-256, so PutFile reads the file
  // once before uploading it unless the caller knows the hash (`sha256_hex`, lower-case
  // hex). A wrong hash stores nothing: the server refuses the upload
  // (XAmzContentSHA256Mismatch), which is reported as an Error.
  Result<Response> Put(const std::string& key, std::string_view data, const PutCondition& cond,
                       const std::string& writer, const Deadline& deadline = {});
  Result<Response> PutFile(const std::string& key, const std::filesystem::path& file,
                           const PutCondition& cond, const std::string& writer,
                           const std::string& sha256_hex = {}, const Deadline& deadline = {});
  // DELETE (tests and tools only; the backend never deletes).
  Status Delete(const std::string& key);
  // Every key starting with `prefix` (ListObjectsV2, following continuation tokens; one
  // deadline for all pages).
  Result<std::vector<ObjectInfo>> List(const std::string& prefix, const Deadline& deadline = {});

  // Requests sent so far, retries included (for tests and benchmarks).
  std::uint64_t requests() const;

 private:
  struct Request;
  struct Handle;
  // Sends `req`, retrying transient failures (see above) until its deadline.
  Result<Response> Perform(Request& req);
  // The failure of `req` once its deadline is spent; `last` is the last try's problem.
  Error DeadlineFailure(const Request& req, int attempts, const std::string& last) const;
  // One try of `req` on `h`: the answer; nullopt after a transient failure (connection,
  // timeout, HTTP 5xx), described in `*transient` for Perform to retry; or an Error that
  // retrying cannot cure.
  Result<std::optional<Response>> Attempt(const curl::Api& api, Handle& h, const Request& req,
                                          const std::string& sigv4, std::string* transient);
  std::string ObjectUrl(const std::string& key) const;
  std::unique_ptr<Handle> Acquire(const curl::Api& api);
  void Release(std::unique_ptr<Handle> h);

  ClientConfig config_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
  std::uint64_t requests_ = 0;
};

// 32 random hex digits: a Put's writer id (x-amz-meta-modpub-writer, s3.hpp), and a name
// no other writer picks for a temporary file.
std::string RandomWriterId();

// S3's canonical URI encoding: every byte except A-Z a-z 0-9 - _ . ~ is %XX-encoded;
// '/' too unless `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

// Parses the Contents of a ListObjectsV2 answer; returns the continuation token (empty
// when the listing is complete).
Result<std::string> ParseListPage(std::string_view xml, std::vector<ObjectInfo>& out);

}  // namespace modpub::storage::s3
