#include "modpub/storage/s3_url.hpp"
#include "modpub/base/text.hpp"

#include <cctype>
#include <cstdlib>
#include <string_view>

namespace modpub::storage {

namespace {

constexpr char kSupported[] =
    "s3://<bucket>/<prefix>?endpoint=http://host:port&region=us-east-1&layout=goproxy|athens";

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

// The key prefix from the URL's path: decoded, without trailing slashes; empty, "." and
// ".." elements are refused.
Result<std::string> ParsePrefix(const std::string& url, std::string_view raw) {
  auto prefix = PercentDecode(url, raw);
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
  return p;
}

Result<std::string> ParseEndpoint(const std::string& url, const std::string& value) {
  std::string e = value;
  while (!e.empty() && e.back() == '/') e.pop_back();
  auto scheme_end = e.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : e.substr(0, scheme_end);
  if ((scheme != "http" && scheme != "https") || e.size() == scheme_end + 3 ||
      e.find('/', scheme_end + 3) != std::string::npos) {
    return Fail("storage URL \"" + url + "\": endpoint \"" + value +
                "\" must be http://host[:port] or https://host[:port], without a path");
  }
  if (e.find('@') != std::string::npos) {
    // Without the URL: it carries the very credentials that must never be printed.
    return Fail(
        "storage URL: the endpoint may not carry credentials (user:password@); "
        "use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the credentials file");
  }
  return e;
}

// Sets the field of `u` that query parameter `key` names (`have_endpoint` records an
// endpoint, whose default depends on the region, which may come later in the query).
Status ApplyParameter(const std::string& url, const std::string& key, const std::string& value,
                      S3Url& u, bool& have_endpoint) {
  if (key == "endpoint") {
    auto e = ParseEndpoint(url, value);
    if (!e) return e.error();
    u.endpoint = *e;
    have_endpoint = true;
  } else if (key == "region") {
    if (value.empty()) return Fail("storage URL \"" + url + "\": empty region");
    u.region = value;
  } else if (key == "layout") {
    if (value == "goproxy") {
      u.layout = S3Url::Layout::kGoproxy;
    } else if (value == "athens") {
      u.layout = S3Url::Layout::kAthens;
    } else {
      return Fail("storage URL \"" + url + "\": layout \"" + value +
                  "\" is unknown; use layout=goproxy or layout=athens");
    }
  } else if (key == "attempts") {
    char* end = nullptr;
    long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < 1 || n > 100) {
      return Fail("storage URL \"" + url + "\": attempts must be a number from 1 to 100");
    }
    u.attempts = static_cast<int>(n);
  } else if (key == "cache_dir") {
    if (value.empty() || value.front() != '/') {
      return Fail("storage URL \"" + url + "\": cache_dir must be an absolute local path");
    }
    u.cache_dir = value;
  } else if (key == "cache_mib") {
    char* end = nullptr;
    long long n = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < 1 || n > (1ll << 30)) {
      return Fail("storage URL \"" + url + "\": cache_mib must be a number of MiB, at least 1");
    }
    u.cache_bytes = static_cast<std::uint64_t>(n) << 20;
  } else {
    return Fail("storage URL \"" + url + "\": unknown parameter \"" + key +
                "\" (known: endpoint, region, layout, attempts, cache_dir, cache_mib)");
  }
  return Ok();
}

}  // namespace

Result<std::string> PercentDecode(const std::string& url, std::string_view s) {
  auto out = modpub::PercentDecode(s, /*strict=*/true);
  if (!out || out->find('\0') != std::string::npos) {
    return Fail("storage URL \"" + url + "\": malformed %-escape");
  }
  return std::move(*out);
}

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
    auto prefix = ParsePrefix(url, rest.substr(slash + 1));
    if (!prefix) return prefix.error();
    u.prefix = *prefix;
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
    if (auto st = ApplyParameter(url, key, *value, u, have_endpoint); !st) return st.error();
  }
  if (!have_endpoint) u.endpoint = "https://s3." + u.region + ".amazonaws.com";
  return u;
}

}  // namespace modpub::storage
