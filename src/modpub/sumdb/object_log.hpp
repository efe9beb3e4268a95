// The checksum database in an object store (S3, MinIO; storage/s3_sumdb.hpp) that several
// machines append to and serve from at once (Log::OpenObjects).
//
// Objects, by name under the store's prefix:
//   head                        the commit point (not for go): JSON with the tree size n,
//                               its hash, the size `prev` it grew from, the records
//                               prev..n-1 themselves, the verifier key, the signed note of
//                               tree n and the id of the writer
//   latest                      the signed tree head (note) of the newest tree whose files
//                               below are all written: what go fetches first
//   tile/8/<L>/<N>[.p/<W>]      hash tiles, exactly as Go's sumdb serves them
//   tile/8/data/<N>[.p/<W>]     data tiles: records "<id>\n<text>\n", concatenated
//   lookup/<path>@<version>     (both !-escaped as go requests them) "<id>\n<text>\n" and the
//                               signed note of the first tree holding the record: a
//                               lookup answer as is
// So everything go asks a checksum database for is a static object: nginx or a CDN in
// front of the bucket (or a copy of it) serves the database, and so does any modpubd.
//
// Appending (any number of appenders on any machines):
//  1. Read `head` (with its ETag). If `latest` is older than it, "roll forward" first:
//     write the tiles, data tiles and lookups that head's records add, then `latest`.
//  2. Decide each new record against the log: its lookup object (or what this appender
//     saw since) says whether the module version is logged, with which text.
//  3. Replace `head` by a compare-and-swap (If-Match on its ETag; If-None-Match: * for
//     the first): tree prev = head's n, with every record this appender has pending —
//     the other threads' too (group commit), so an appender that loses a race carries
//     more records into its next try and contention raises throughput.
//  4. Roll the new head forward (1).
// Losing the swap (412) means another appender committed: read `head` again and start
// over (a random pause of a few ms first). A swap retried after a lost answer may have
// been applied: the head read back then carries this try's writer id, and counts as won.
// Why it is safe:
//  * `head` is the only object ever replaced, and only by a swap; every other object
//    but `latest` is created once (If-None-Match: *) and never rewritten. Its bytes are a
//    function of the committed log (Ed25519 signatures are deterministic), so two
//    appenders rolling the same head forward write the same bytes; an object found with
//    other bytes is damage, reported and never overwritten.
//  * Nothing is written before the swap, so a losing or crashing appender leaves no
//    trace; a head is swapped in only after its predecessor was rolled forward, so at
//    most one head's files are ever missing, and its records are in `head` itself for
//    whoever rolls it forward (the next appender, or any Append on any machine).
//  * Rolling forward recomputes the tree hash from the previous tree's tiles and the
//    head's records and refuses a head that does not match it (damage).
//  * `latest` only moves forward (a swap from an older tree), and is written after the
//    files of its tree, so a reader that sees tree N finds all of its tiles and lookups.
// One record per module version holds across appenders: the swap orders all commits, and
// step 2 ran against exactly the tree the swap replaced.
//
// Reading (Latest, Lookup, ReadRecord, ReadTile) follows `latest`. Tiles and lookups are
// immutable and cached in memory; Latest reads `latest` every time, the others reuse it
// for a second unless what they are asked for lies beyond it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::sumdb {

struct StoredObject {
  std::string data;
  std::string etag;  // the store's version tag, for Swap
};

// The few operations the log needs from an object store, on names relative to the
// store's prefix. Implementations retry transient failures themselves; a write retried
// after a lost answer may have been applied, which the log accounts for (see above).
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Where the store is ("s3://bucket/prefix"), for messages.
  virtual const std::string& Where() const = 0;
  // The object, or nullopt when there is none.
  virtual Result<std::optional<StoredObject>> Get(const std::string& name) = 0;
  // Create-only: the new object's tag when stored, nullopt when `name` exists already
  // (nothing written).
  virtual Result<std::optional<std::string>> Create(const std::string& name,
                                                    std::string_view data) = 0;
  // Compare-and-swap: replaces `name` if its tag is still `etag` and returns the new tag;
  // nullopt when it is not (or the object is gone), nothing written.
  virtual Result<std::optional<std::string>> Swap(const std::string& name, std::string_view data,
                                                  const std::string& etag) = 0;
};

// The name of the lookup object of `path`@`version` ("lookup/" + escaped path + "@" +
// escaped version); fails for what go could not look up.
Result<std::string> LookupObjectName(std::string_view path, std::string_view version);

}  // namespace modpub::sumdb
