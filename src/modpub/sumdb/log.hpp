// The checksum database's transparency log: append-only, crash-safe, shared by the
// processes that publish (appenders) and the ones that serve it (readers). It lives in a
// state directory on one machine (Open, below) or in an object store that any number of
// machines share (OpenObjects; object_log.hpp gives that layout and protocol). Both
// give the same records, hashes and tiles for the same appends.
//
// State directory layout:
//   records   the record texts, concatenated (each ends in "\n", none holds a blank line)
//   offsets   8 bytes (little-endian) per record: the end offset of record i in `records`
//   hashes    the stored hashes (tlog.hpp), 32 bytes each, at StoredHashIndex positions
//   tree      the committed tree head "go.sum database tree\n<N>\n<hash>\n" (unsigned)
//   lock      flock(2) file serializing appenders
//   verifier  the verifier key the log is served with (BindVerifier), once known
//
// Commit protocol: an appender (holding the lock) cuts the three data files back to the
// committed size N of `tree` (removing what a crashed appender left), appends, fsyncs
// them, and only then replaces `tree` atomically (write, fsync, rename, fsync dir). So a
// crash at any point leaves the tree of `tree` intact and its bytes never change: a
// record, once committed, is never rewritten, and a restart continues the same tree.
// Readers take no lock: they read `tree` first and then only bytes below its size.
// A log whose files are shorter than `tree` says, or whose tree hash does not match the
// stored hashes, is reported as damaged and never appended to.
//
// Each module version has at most one record (the go command looks records up by
// module@version): appending the same record again is a no-op, appending another record
// for a module version already in the log is refused.
//
// A Log object caches the lookup index of the records it has seen; every public method
// first catches up with the committed tree. Methods are thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace modpub::sign {
class Signer;
}  // namespace modpub::sign

namespace modpub::sumdb {

enum class AppendOutcome {
  kAppended,  // committed now
  kPresent,   // the same record was already logged
  kConflict,  // another record is logged for the module version: nothing appended
};

struct AppendResult {
  AppendOutcome outcome = AppendOutcome::kAppended;
  std::int64_t id = 0;  // the record's index in the log (kConflict: the logged one)
  std::string message;  // kConflict: both records, for the user
};

class ObjectStore;

class Log {
 public:
  class Impl;  // a state directory (log.cpp) or an object store (object_log.cpp)

  // Opens the log in `dir` (created with the first Append if missing). Touches nothing.
  static Result<Log> Open(const std::filesystem::path& dir);
  // Opens the log kept in `store` (object_log.hpp). Appending needs `signer` (the tree heads
  // stored there are signed when written); without one the log is read-only. Touches nothing.
  static Log OpenObjects(std::shared_ptr<ObjectStore> store,
                         std::shared_ptr<const sign::Signer> signer);
  explicit Log(std::unique_ptr<Impl> impl);
  Log(Log&&) noexcept;
  Log& operator=(Log&&) noexcept;
  ~Log();

  // The state directory or the object store's URL (for messages).
  const std::string& where() const;

  // Appends the record of one module version (ModuleRecord), unless the same is present;
  // other hashes for a module version already logged are a kConflict (naming both).
  Result<AppendResult> AppendModule(const std::string& path, const std::string& version,
                                    const std::string& sum, const std::string& gomod_sum);
  // Appends records (valid record texts, each with a key RecordKey) in one commit. All or
  // nothing: a conflicting record fails the batch. Results in the order given.
  Result<std::vector<AppendResult>> Append(const std::vector<std::string>& texts);

  // Binds the log to the key its tree heads are signed with: the first call records
  // `verifier_key` in the state directory; later calls fail unless it is the same key.
  // (go clients pin the key: serving one log under two keys would break them all.)
  Status BindVerifier(const std::string& verifier_key);

  // The committed tree head, verified against the stored hashes when first seen.
  Result<TreeHead> Latest();
  // The record id of `path`@`version`, or nullopt.
  Result<std::optional<std::int64_t>> Lookup(const std::string& path, const std::string& version);
  // The text of record `id` (< Latest().n).
  Result<std::string> ReadRecord(std::int64_t id);
  // The data of tile t as the sumdb serves it (hash tile, or data tile "<id>\n<text>\n"...),
  // or nullopt when the committed tree does not hold all of it.
  Result<std::optional<std::string>> ReadTile(const Tile& t);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace modpub::sumdb
