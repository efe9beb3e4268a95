#include "modpub/storage/s3_client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/fsio/digest.hpp"
#include "modpub/storage/curl_lib.hpp"

namespace modpub::storage::s3 {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr std::size_t kListPageLimit = 16u << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    auto semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent.starts_with("#")) {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// The text of the first <tag>…</tag> in `xml` at or after `pos`; nullopt if none.
std::optional<std::string> Element(std::string_view xml, std::string_view tag, std::size_t pos = 0,
                                   std::size_t* end = nullptr) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  auto a = xml.find(open, pos);
  if (a == std::string_view::npos) return std::nullopt;
  a += open.size();
  auto b = xml.find(close, a);
  if (b == std::string_view::npos) return std::nullopt;
  if (end) *end = b + close.size();
  return XmlUnescape(xml.substr(a, b - a));
}

std::string EmptySha256() { return dirhash::Hex(dirhash::Sha256::Of("")); }

bool RetryableCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds Backoff(const ClientConfig& c, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto ceiling = c.backoff_base.count() << std::min(attempt, 16);
  ceiling = std::min<long long>(ceiling, c.backoff_cap.count());
  // Full jitter: writers that failed together do not come back together.
  std::uniform_int_distribution<long long> d(ceiling / 2, std::max<long long>(ceiling, 1));
  return std::chrono::milliseconds(d(rng));
}

}  // namespace

std::string RandomWriterId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out += kHex[rng() & 15];
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::string> ParseListPage(std::string_view xml, std::vector<ObjectInfo>& out) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return Fail("not a ListObjectsV2 answer");
  }
  std::size_t pos = 0;
  for (;;) {
    auto start = xml.find("<Contents>", pos);
    if (start == std::string_view::npos) break;
    auto stop = xml.find("</Contents>", start);
    if (stop == std::string_view::npos) return Fail("truncated ListObjectsV2 answer");
    std::string_view item = xml.substr(start, stop - start);
    ObjectInfo o;
    auto key = Element(item, "Key");
    if (!key) return Fail("ListObjectsV2 entry without a key");
    o.key = *key;
    o.size = std::strtoull(Element(item, "Size").value_or("0").c_str(), nullptr, 10);
    o.etag = Element(item, "ETag").value_or("");
    out.push_back(std::move(o));
    pos = stop;
  }
  if (Element(xml, "IsTruncated").value_or("false") != "true") return std::string();
  auto token = Element(xml, "NextContinuationToken");
  if (!token || token->empty()) return Fail("truncated listing without a continuation token");
  return *token;
}

Result<Credentials> LoadCredentials() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  Credentials c;
  c.access_key_id = env("AWS_ACCESS_KEY_ID");
  c.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
  c.session_token = env("AWS_SESSION_TOKEN");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  if (!c.access_key_id.empty() || !c.secret_access_key.empty()) {
    return Fail("S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
  }
  fs::path file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) {
    std::string home = env("HOME");
    if (!home.empty()) file = fs::path(home) / ".aws" / "credentials";
  }
  std::string profile = env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::ifstream in(file);
  if (file.empty() || !in) {
    return Fail(
        "S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write "
        "them to the shared credentials file (" +
        (file.empty() ? std::string("$HOME/.aws/credentials") : file.string()) + ", not found)");
  }
  // INI: [profile] sections of key = value lines.
  Credentials fc;
  std::string line, section;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = Trim(std::string_view(t).substr(1, t.size() - 2));
      continue;
    }
    if (section != profile) continue;
    auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string k = Lower(Trim(std::string_view(t).substr(0, eq)));
    std::string v = Trim(std::string_view(t).substr(eq + 1));
    if (k == "aws_access_key_id") fc.access_key_id = v;
    if (k == "aws_secret_access_key") fc.secret_access_key = v;
    if (k == "aws_session_token") fc.session_token = v;
  }
  if (fc.access_key_id.empty() || fc.secret_access_key.empty()) {
    return Fail("S3 credentials: profile [" + profile + "] in " + file.string() +
                " lacks aws_access_key_id or aws_secret_access_key");
  }
  return fc;
}

// --- the client --------------------------------------------------------------------------

struct Client::Handle {
  std::unique_ptr<CURL, curl::EasyDeleter> curl;
};

struct Client::Request {
  std::string method;  // GET HEAD PUT DELETE
  std::string url;
  std::string what;  // "S3 PUT bucket/key" for messages
  std::vector<std::string> headers;
  std::string payload_sha256;
  // Upload source: bytes or a file.
  std::string_view bytes;
  const fs::path* file = nullptr;
  std::uint64_t upload_size = 0;
  // Download target: a sink for 2xx answers, else `body` (limited).
  Sink* sink = nullptr;
  std::size_t body_limit = kErrorBodyLimit;
  Deadline deadline;  // of the storage operation this request is part of
};

namespace {

// Per-attempt transfer state, reached from curl's callbacks.
struct Transfer {
  CURL* curl = nullptr;
  const curl::Api* api = nullptr;
  Response* resp = nullptr;
  Sink* sink = nullptr;
  std::size_t body_limit = 0;
  bool too_large = false;
  bool sink_failed = false;
  // Upload.
  std::string_view bytes;
  std::uint64_t offset = 0;
  int fd = -1;
  bool read_failed = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new answer (after "100 Continue"): forget the old
    t->resp->etag.clear();
    t->resp->writer.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = Lower(line.substr(0, colon));
  if (name == "etag") t->resp->etag = Trim(line.substr(colon + 1));
  if (name == "x-amz-meta-modpub-writer") t->resp->writer = Trim(line.substr(colon + 1));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  long status = 0;
  t->api->easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->sink && status >= 200 && status < 300) {
    if (!t->sink->Write(data, len)) {
      t->sink_failed = true;
      return 0;
    }
    return len;
  }
  std::size_t limit = status >= 200 && status < 300 ? t->body_limit : kErrorBodyLimit;
  if (t->resp->body.size() + len > limit) {
    t->too_large = true;
    return 0;
  }
  t->resp->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t want = size * n;
  if (t->fd >= 0) {
    for (;;) {
      ssize_t got = ::read(t->fd, buf, want);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        t->read_failed = true;
        return CURL_READFUNC_ABORT;
      }
      t->offset += static_cast<std::uint64_t>(got);
      return static_cast<size_t>(got);
    }
  }
  std::size_t left = t->bytes.size() - static_cast<std::size_t>(t->offset);
  std::size_t k = std::min(left, want);
  std::memcpy(buf, t->bytes.data() + t->offset, k);
  t->offset += k;
  return k;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  if (t->fd >= 0) {
    if (::lseek(t->fd, static_cast<off_t>(offset), SEEK_SET) < 0) return CURL_SEEKFUNC_FAIL;
  } else if (static_cast<std::size_t>(offset) > t->bytes.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->offset = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

using HeaderPtr = std::unique_ptr<curl_slist, curl::SlistDeleter>;

// The request headers libcurl signs and sends: the payload hash SigV4 needs (libcurl does
// not hash bodies itself), the session token of temporary credentials, the caller's own.
HeaderPtr HeaderList(const curl::Api& api, const std::string& payload_sha256,
                     const std::string& session_token, const std::vector<std::string>& extra,
                     bool is_put) {
  HeaderPtr headers(nullptr, curl::SlistDeleter{&api});
  auto add_header = [&](const std::string& h) {
    curl_slist* n = api.slist_append(headers.get(), h.c_str());
    if (!n) throw std::bad_alloc();
    headers.release();
    headers.reset(n);
  };
  add_header("x-amz-content-sha256: " + payload_sha256);
  if (!session_token.empty()) add_header("x-amz-security-token: " + session_token);
  for (const auto& h : extra) add_header(h);
  if (is_put) add_header("Content-Type: application/octet-stream");
  return headers;
}

// What every request sets: where, how it is signed, limits, and the callbacks into `t`.
void SetCommonOptions(const curl::Api& api, CURL* curl, const ClientConfig& c,
                      const std::string& url, const std::string& sigv4, curl_slist* headers,
                      Transfer& t) {
  api.easy_setopt(curl, CURLOPT_URL, url.c_str());
  api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  api.easy_setopt(curl, CURLOPT_USERNAME, c.credentials.access_key_id.c_str());
  api.easy_setopt(curl, CURLOPT_PASSWORD, c.credentials.secret_access_key.c_str());
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, c.connect_timeout_s);
  api.easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api.easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, c.stall_timeout_s);
  api.easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  api.easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  api.easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  api.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

// The method, and for a PUT where its body comes from: `bytes`, or the file behind `t`.
void SetMethodOptions(const curl::Api& api, CURL* curl, const std::string& method, bool from_file,
                      std::string_view bytes, std::uint64_t upload_size, Transfer& t) {
  if (method == "HEAD") {
    api.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT" && !from_file) {
    // Small bodies (.mod, .info, list) go as request fields: libcurl 7.88 then sends no
    // "Expect: 100-continue" (it does for every upload), saving a round trip per part.
    api.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    api.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(bytes.size()));
    api.easy_setopt(curl, CURLOPT_POSTFIELDS, bytes.data());
  } else if (method == "PUT") {
    api.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    api.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload_size));
    api.easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    api.easy_setopt(curl, CURLOPT_READDATA, &t);
    api.easy_setopt(curl, CURLOPT_SEEKFUNCTION, OnSeek);
    api.easy_setopt(curl, CURLOPT_SEEKDATA, &t);
    api.easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
  } else if (method != "GET") {
    api.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
}

}  // namespace

Client::Client(ClientConfig config) : config_(std::move(config)) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
}

Client::~Client() = default;

std::uint64_t Client::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

std::unique_ptr<Client::Handle> Client::Acquire(const curl::Api& api) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = std::unique_ptr<CURL, curl::EasyDeleter>(api.easy_init(), curl::EasyDeleter{&api});
  if (!h->curl) throw std::bad_alloc();  // libcurl's only reason to fail
  return h;
}

void Client::Release(std::unique_ptr<Handle> h) {
  std::lock_guard<std::mutex> l(mu_);
  idle_.push_back(std::move(h));
}

std::string Client::ObjectUrl(const std::string& key) const {
  return config_.endpoint + "/" + UriEncode(config_.bucket, false) + "/" + UriEncode(key, true);
}

Result<Response> Client::Perform(Request& req) {
  auto loaded = curl::Load();
  if (!loaded) return loaded.error();
  const curl::Api& api = **loaded;
  auto handle = Acquire(api);
  struct Returner {
    Client* c;
    std::unique_ptr<Handle>& h;
    ~Returner() { c->Release(std::move(h)); }
  } returner{this, handle};

  const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
  std::string last_problem;
  for (int attempt = 0; attempt < config_.max_attempts; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(
          std::min(Backoff(config_, attempt - 1), req.deadline.Remaining()));
    }
    if (req.deadline.Expired()) return DeadlineFailure(req, attempt, last_problem);
    {
      std::lock_guard<std::mutex> l(mu_);
      ++requests_;
    }
    auto answer = Attempt(api, *handle, req, sigv4, &last_problem);
    if (!answer) return answer.error();
    if (*answer) return std::move(**answer);
    if (req.deadline.Expired()) return DeadlineFailure(req, attempt + 1, last_problem);
    spdlog::debug("S3 {}: {} (attempt {}), retrying", req.what, last_problem, attempt + 1);
  }
  return Fail(req.what + ": failed after " + std::to_string(config_.max_attempts) +
              " attempts, the last with " + last_problem + " (endpoint " + config_.endpoint + ")");
}

Error Client::DeadlineFailure(const Request& req, int attempts, const std::string& last) const {
  std::string out = config_.storage.empty() ? "" : config_.storage + ": ";
  out += req.what + ": " + req.deadline.Exceeded();
  if (attempts > 0) {
    out += "; " + std::to_string(attempts) + " attempt(s) to endpoint " + config_.endpoint +
           ", the last with " + last;
  }
  return Fail(out);
}

Result<std::optional<Response>> Client::Attempt(const curl::Api& api, Handle& h, const Request& req,
                                                const std::string& sigv4, std::string* transient) {
  CURL* curl = h.curl.get();
  Response resp;
  Transfer t;
  t.curl = curl;
  t.api = &api;
  t.resp = &resp;
  t.sink = req.sink;
  t.body_limit = req.body_limit;
  fsio::UniqueFd fd;
  if (req.file) {
    fd = fsio::UniqueFd(::open(req.file->c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Fail(req.file->string() + ": open: " + std::strerror(errno));
    t.fd = fd.get();
  } else {
    t.bytes = req.bytes;
  }
  if (req.sink) req.sink->Reset();

  // curl_easy_reset keeps the handle's open connections: they are reused.
  api.easy_reset(curl);
  auto headers = HeaderList(api, req.payload_sha256, config_.credentials.session_token, req.headers,
                            req.method == "PUT");
  SetCommonOptions(api, curl, config_, req.url, sigv4, headers.get(), t);
  SetMethodOptions(api, curl, req.method, req.file != nullptr, req.bytes, req.upload_size, t);
  if (req.deadline.bounded()) {
    // The whole try, connecting included, ends with the operation's deadline (at least
    // 1 ms: 0 would mean no limit to libcurl).
    long left_ms = static_cast<long>(std::max<std::int64_t>(req.deadline.Remaining().count(), 1));
    api.easy_setopt(curl, CURLOPT_TIMEOUT_MS, left_ms);
  }
  CURLcode rc = api.easy_perform(curl);
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);

  if (t.read_failed) {
    return Fail(req.file->string() + ": read failed while uploading to " + req.what);
  }
  if (t.sink_failed) return Fail(req.what + ": download aborted by its receiver");
  if (t.too_large) {
    return Fail(req.what + ": answer larger than " + std::to_string(req.body_limit) + " bytes");
  }
  if (rc != CURLE_OK) {
    *transient = api.easy_strerror(rc);
    if (RetryableCurlError(rc)) return std::optional<Response>();
    return Fail(req.what + ": " + *transient + " (endpoint " + config_.endpoint + ")");
  }
  if (resp.status >= 300 || resp.status < 200) {
    resp.code = Element(resp.body, "Code").value_or("");
    resp.message = Element(resp.body, "Message").value_or("");
  }
  if (resp.status >= 500) {
    *transient = "HTTP " + std::to_string(resp.status) +
                 (resp.code.empty() ? std::string() : " " + resp.code);
    return std::optional<Response>();
  }
  return std::optional<Response>(std::move(resp));
}

namespace {

// A message a user can act on for an S3 error answer; never echoes a credential.
std::string Describe(const std::string& what, const Response& r) {
  std::string out = what + ": HTTP " + std::to_string(r.status);
  if (!r.code.empty()) out += " " + r.code;
  if (r.code == "SignatureDoesNotMatch") {
    return out +
           ": the server rejected the request signature; the secret access key "
           "(AWS_SECRET_ACCESS_KEY or the credentials file) does not belong to the access key id";
  }
  if (r.code == "InvalidAccessKeyId") {
    return out + ": the server does not know the access key id (AWS_ACCESS_KEY_ID)";
  }
  if (r.code == "RequestTimeTooSkewed") return out + ": the local clock is off";
  if (!r.message.empty()) out += ": " + r.message.substr(0, 300);
  return out;
}

}  // namespace

Result<Response> Client::Get(const std::string& key, std::size_t limit, const Deadline& deadline) {
  Request req;
  req.deadline = deadline;
  req.method = "GET";
  req.url = ObjectUrl(key);
  req.what = "S3 GET " + config_.bucket + "/" + key;
  req.payload_sha256 = EmptySha256();
  req.body_limit = limit;
  auto r = Perform(req);
  if (!r) return r.error();
  if (r->status != 200 && r->status != 404) return Fail(Describe(req.what, *r));
  if (r->status == 404 && r->code == "NoSuchBucket") return Fail(Describe(req.what, *r));
  return r;
}

Result<Response> Client::GetTo(const std::string& key, Sink& sink, const Deadline& deadline) {
  Request req;
  req.deadline = deadline;
  req.method = "GET";
  req.url = ObjectUrl(key);
  req.what = "S3 GET " + config_.bucket + "/" + key;
  req.payload_sha256 = EmptySha256();
  req.sink = &sink;
  auto r = Perform(req);
  if (!r) return r.error();
  if (r->status != 200 && r->status != 404) return Fail(Describe(req.what, *r));
  if (r->status == 404 && r->code == "NoSuchBucket") return Fail(Describe(req.what, *r));
  return r;
}

namespace {

void AddConditions(std::vector<std::string>& headers, const PutCondition& cond,
                   const std::string& writer) {
  if (cond.if_none_match_any) headers.push_back("If-None-Match: *");
  if (!cond.if_match.empty()) headers.push_back("If-Match: " + cond.if_match);
  if (!writer.empty()) headers.push_back("x-amz-meta-modpub-writer: " + writer);
}

Result<Response> CheckPut(const std::string& what, Result<Response> r) {
  if (!r) return r;
  if (r->status == 200 || r->status == 412) return r;
  if (r->status == 404 && r->code != "NoSuchBucket") return r;  // If-Match on a missing key
  return Fail(Describe(what, *r));
}

}  // namespace

Result<Response> Client::Put(const std::string& key, std::string_view data,
                             const PutCondition& cond, const std::string& writer,
                             const Deadline& deadline) {
  Request req;
  req.deadline = deadline;
  req.method = "PUT";
  req.url = ObjectUrl(key);
  req.what = "S3 PUT " + config_.bucket + "/" + key;
  req.payload_sha256 = dirhash::Hex(dirhash::Sha256::Of(data));
  req.bytes = data;
  req.upload_size = data.size();
  AddConditions(req.headers, cond, writer);
  return CheckPut(req.what, Perform(req));
}

Result<Response> Client::PutFile(const std::string& key, const fs::path& file,
                                 const PutCondition& cond, const std::string& writer,
                                 const std::string& sha256_hex, const Deadline& deadline) {
  fsio::FileSha256 digest{sha256_hex, 0};
  if (sha256_hex.empty()) {
    auto hashed = fsio::Sha256OfFile(file);
    if (!hashed) return hashed.error();
    digest = std::move(*hashed);
  } else {
    std::error_code ec;
    digest.size = fs::file_size(file, ec);
    if (ec) return Fail(file.string() + ": " + ec.message());
  }
  Request req;
  req.deadline = deadline;
  req.method = "PUT";
  req.url = ObjectUrl(key);
  req.what = "S3 PUT " + config_.bucket + "/" + key;
  req.payload_sha256 = std::move(digest.hex);
  req.file = &file;
  req.upload_size = digest.size;
  AddConditions(req.headers, cond, writer);
  return CheckPut(req.what, Perform(req));
}

Status Client::Delete(const std::string& key) {
  Request req;
  req.method = "DELETE";
  req.url = ObjectUrl(key);
  req.what = "S3 DELETE " + config_.bucket + "/" + key;
  req.payload_sha256 = EmptySha256();
  auto r = Perform(req);
  if (!r) return r.error();
  if (r->status != 204 && r->status != 200 && r->status != 404) {
    return Fail(Describe(req.what, *r));
  }
  return Ok();
}

Result<std::vector<ObjectInfo>> Client::List(const std::string& prefix, const Deadline& deadline) {
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    // Sorted by name, each as name=value: libcurl signs the query as given.
    std::string query;
    if (!token.empty()) query += "continuation-token=" + UriEncode(token, false) + "&";
    query += "list-type=2&prefix=" + UriEncode(prefix, false);
    Request req;
    req.deadline = deadline;
    req.method = "GET";
    req.url = config_.endpoint + "/" + UriEncode(config_.bucket, false) + "?" + query;
    req.what = "S3 LIST " + config_.bucket + "/" + prefix;
    req.payload_sha256 = EmptySha256();
    req.body_limit = kListPageLimit;
    auto r = Perform(req);
    if (!r) return r.error();
    if (r->status != 200) return Fail(Describe(req.what, *r));
    auto next = ParseListPage(r->body, out);
    if (!next) return Fail(req.what + ": " + next.message());
    if (next->empty()) break;
    if (*next == token) return Fail(req.what + ": the server repeated its continuation token");
    token = *next;
  }
  return out;
}

}  // namespace modpub::storage::s3
