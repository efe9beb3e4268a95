// An s3:// storage URL (the grammar s3.hpp documents), parsed into where the backend
// stores and how it is set up. Pure string work, kept apart from the backend's I/O and
// tested on its own; s3.hpp includes it for the backend's users.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::storage {

struct S3Url {
  enum class Layout { kGoproxy, kAthens };
  std::string bucket;
  std::string prefix;  // "" or "a/b" (no leading or trailing slash)
  std::string endpoint;
  std::string region = "us-east-1";
  Layout layout = Layout::kGoproxy;
  int attempts = 10;
  std::string cache_dir;                   // serving cache; "" = a private temporary directory
  std::uint64_t cache_bytes = 1ull << 30;  // its bound (cache_mib)
};
// Parses an s3:// URL (everything after "s3://"); the error names the URL and the rule.
Result<S3Url> ParseS3Url(const std::string& url);

// Decodes the %XX escapes of a part of storage URL `url` (file paths, S3 prefixes and
// query values alike); a malformed escape or %00 is an error naming the URL.
Result<std::string> PercentDecode(const std::string& url, std::string_view part);

}  // namespace modpub::storage
