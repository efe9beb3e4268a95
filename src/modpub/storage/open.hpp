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
//
// Every operation of the opened backend has an overall deadline (deadline.hpp): enforced
// in the S3 client for s3://, by running each operation on a thread of its own for the
// local filesystem backends (bounded.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/storage/deadline.hpp"

namespace modpub::storage {

struct OpenOptions {
  // Each operation's budget; zero or less: none.
  std::chrono::milliseconds deadline = kDefaultDeadline;
  // Where a user changes it, named by the failure at the deadline.
  std::string deadline_setting =
      "storage_deadline_ms in modpub.toml, --storage-deadline of modpub publish";
};

Result<std::unique_ptr<Backend>> OpenBackend(const std::string& url,
                                             const OpenOptions& options = {});

// The syntax checks of OpenBackend alone, with its messages: a known scheme, an absolute
// path, an s3:// URL that parses. Loads no credentials and touches nothing, so that a
// configuration can be checked where the storage is not reachable.
Status CheckUrl(const std::string& url);

}  // namespace modpub::storage
