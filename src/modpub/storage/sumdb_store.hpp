// Where the checksum database lives: a state directory on this machine (sumdb/log.hpp)
// or a bucket that every node shares (sumdb/object_log.hpp), named by one string:
//
//   /var/lib/modpub/state/sumdb            a directory (absolute)
//   s3://bucket/prefix?endpoint=…&region=… an S3 bucket, with the query of a storage URL
//                                          (s3.hpp; layout and cache_* mean nothing here)
//
// In a bucket, the objects go under <prefix>/ exactly as go requests them below a
// checksum database URL (latest, tile/…, lookup/…), plus the commit point `head`. Each
// request is an S3 GET or a conditional PUT (If-None-Match: * to create, If-Match to swap
// `head` and `latest`) through s3::Client (retries with backoff; one overall deadline per
// request, `deadline`). A server that ignores conditional writes (npm s3rver) could not
// serialize appenders: the first write of a store checks that the server refuses a second
// create-only PUT of one probe object, and fails with a message saying so if it does not.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "modpub/base/result.hpp"
#include "modpub/storage/deadline.hpp"
#include "modpub/sumdb/log.hpp"
#include "modpub/sumdb/object_log.hpp"

namespace modpub::sign {
class Signer;
}  // namespace modpub::sign

namespace modpub::storage {

// Opens the log at `where` (see above). `signer`: needed to append to a bucket (its tree
// heads are signed when written); may be null for reading. Loads S3 credentials as the
// s3:// backend does; touches nothing else.
Result<sumdb::Log> OpenSumdbLog(const std::string& where,
                                std::shared_ptr<const sign::Signer> signer,
                                std::chrono::milliseconds deadline = kDefaultDeadline);

// The syntax check alone: an absolute directory or an s3:// URL that parses.
Status CheckSumdbLocation(const std::string& where);

// The objects of a bucket as a sumdb::ObjectStore (tests and tools use it directly).
Result<std::shared_ptr<sumdb::ObjectStore>> OpenS3ObjectStore(
    const std::string& url, std::chrono::milliseconds deadline = kDefaultDeadline);

}  // namespace modpub::storage
