#include "modpub/storage/open.hpp"

#include <filesystem>
#include <string_view>

#include "modpub/storage/athens_disk.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "modpub/storage/s3.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr char kSupported[] =
    "supported: file:///abs/dir (GOPROXY tree), "
    "athens-disk:///abs/dir (Athens disk storage), "
    "s3://bucket/prefix?endpoint=http://host:port&region=R&layout=goproxy|athens (S3 bucket)";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The absolute directory a "<scheme>://" URL names, from what follows "//".
Result<fs::path> ParseDir(const std::string& url, std::string_view rest) {
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Fail("storage URL \"" + url + "\": a query or fragment is not allowed");
  }
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with("/")) {
    return Fail("storage URL \"" + url +
                "\": the path must be absolute, as in file:///abs/dir (three slashes); "
                "a relative path or a host name is not allowed");
  }
  std::string decoded;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      decoded += rest[i];
      continue;
    }
    int hi = i + 1 < rest.size() ? HexValue(rest[i + 1]) : -1;
    int lo = i + 2 < rest.size() ? HexValue(rest[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      return Fail("storage URL \"" + url + "\": malformed %-escape in the path");
    }
    decoded += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  fs::path p(decoded);
  for (const auto& elem : p) {
    if (elem == "." || elem == "..") {
      return Fail("storage URL \"" + url + "\": \".\" and \"..\" are not allowed in the path");
    }
  }
  p = p.lexically_normal();
  if (p != "/" && !p.has_filename()) p = p.parent_path();  // drop a trailing slash
  return p;
}

}  // namespace

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) {
    return Fail("storage URL \"" + url + "\" has no scheme; " + kSupported);
  }
  std::string scheme = url.substr(0, sep);
  std::string_view rest = std::string_view(url).substr(sep + 3);
  if (scheme == "file") {
    auto dir = ParseDir(url, rest);
    if (!dir) return dir.error();
    return std::unique_ptr<Backend>(std::make_unique<FsTree>(url, *dir));
  }
  if (scheme == "athens-disk") {
    auto dir = ParseDir(url, rest);
    if (!dir) return dir.error();
    return std::unique_ptr<Backend>(std::make_unique<AthensDisk>(url, *dir));
  }
  if (scheme == "s3") {
    auto where = ParseS3Url(url);
    if (!where) return where.error();
    auto creds = s3::LoadCredentials();
    if (!creds) return Fail("storage URL \"" + url + "\": " + creds.message());
    return std::unique_ptr<Backend>(std::make_unique<S3Backend>(url, *where, *creds));
  }
  return Fail("storage URL \"" + url + "\": unknown scheme \"" + scheme + "\"; " + kSupported);
}

Status CheckUrl(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) {
    return Fail("storage URL \"" + url + "\" has no scheme; " + kSupported);
  }
  std::string scheme = url.substr(0, sep);
  if (scheme == "file" || scheme == "athens-disk") {
    auto dir = ParseDir(url, std::string_view(url).substr(sep + 3));
    return dir ? Status(Ok()) : Status(dir.error());
  }
  if (scheme == "s3") {
    auto where = ParseS3Url(url);
    return where ? Status(Ok()) : Status(where.error());
  }
  return Fail("storage URL \"" + url + "\": unknown scheme \"" + scheme + "\"; " + kSupported);
}

}  // namespace modpub::storage
