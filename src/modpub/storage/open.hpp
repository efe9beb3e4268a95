// Choosing a storage backend by URL.
//
//   file:///abs/dir          a GOPROXY tree (fs_tree.hpp)
//   athens-disk:///abs/dir   Athens's disk layout (athens_disk.hpp)
//   s3://bucket/prefix?endpoint=…&region=…&layout=goproxy|athens   an S3 bucket (s3.hpp);
//                            credentials are loaded here (AWS_* variables or credentials file)
//
// The path must be absolute: "file://rel/dir" (a host part) and bare paths are refused,
// as are a query or fragment, "." or ".." elements, and unknown schemes, each with a
// message saying what is accepted. "%XX" escapes in the path are decoded (a GOPROXY
// URL is a URL). "file://localhost/abs" is accepted as RFC 8089 allows. Opening touches
// nothing on disk; the directory is created by the first publish.
#pragma once

#include <memory>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::storage {

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url);

// The syntax checks of OpenBackend alone, with its messages: a known scheme, an absolute
// path, an s3:// URL that parses. Loads no credentials and touches nothing, so that a
// configuration can be checked where the storage is not reachable.
Status CheckUrl(const std::string& url);

}  // namespace modpub::storage
