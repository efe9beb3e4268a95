#include "modpub/storage/open.hpp"

#include <filesystem>
#include <string_view>

#include "modpub/storage/athens_disk.hpp"
#include "modpub/storage/bounded.hpp"
#include "modpub/storage/fs_tree.hpp"
#include "modpub/storage/s3.hpp"

namespace modpub::storage {
namespace fs = std::filesystem;

namespace {

constexpr char kSupported[] =
    "supported: file:///abs/dir (GOPROXY tree), "
    "athens-disk:///abs/dir (Athens disk storage), "
    "s3://bucket/prefix?endpoint=http://host:port&region=R&layout=goproxy|athens (S3 bucket)";

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
  auto decoded = PercentDecode(url, rest);
  if (!decoded) return decoded.error();
  fs::path p(*decoded);
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

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url, const OpenOptions& options) {
  auto sep = url.find("://");
  if (sep == std::string::npos) {
    return Fail("storage URL \"" + url + "\" has no scheme; " + kSupported);
  }
  std::string scheme = url.substr(0, sep);
  std::string_view rest = std::string_view(url).substr(sep + 3);
  if (scheme == "file") {
    auto dir = ParseDir(url, rest);
    if (!dir) return dir.error();
    return Bounded(std::make_unique<FsTree>(url, *dir),
                   {options.deadline, options.deadline_setting});
  }
  if (scheme == "athens-disk") {
    auto dir = ParseDir(url, rest);
    if (!dir) return dir.error();
    return Bounded(std::make_unique<AthensDisk>(url, *dir),
                   {options.deadline, options.deadline_setting});
  }
  if (scheme == "s3") {
    auto where = ParseS3Url(url);
    if (!where) return where.error();
    auto creds = s3::LoadCredentials();
    if (!creds) return Fail("storage URL \"" + url + "\": " + creds.message());
    return std::unique_ptr<Backend>(std::make_unique<S3Backend>(
        url, *where, *creds, options.deadline, options.deadline_setting));
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
