// What a Log is made of (log.hpp): one interface, two implementations — a state
// directory (log.cpp) and an object store (object_log.cpp). Internal to the sumdb layer.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "modpub/sumdb/log.hpp"

namespace modpub::sumdb {

class Log::Impl {
 public:
  virtual ~Impl() = default;
  // The directory or the object store's URL, for messages and logs.
  virtual const std::string& Where() const = 0;
  // Appends `texts` (checked by the caller: valid record texts, each with a RecordKey) in
  // one commit, all or nothing: when any of them conflicts with a logged record, nothing
  // is appended and that text's result is the kConflict (the others then say nothing).
  virtual Result<std::vector<AppendResult>> Append(const std::vector<std::string>& texts) = 0;
  virtual Status BindVerifier(const std::string& verifier_key) = 0;
  virtual Result<TreeHead> Latest() = 0;
  virtual Result<std::optional<std::int64_t>> Lookup(const std::string& key) = 0;
  virtual Result<std::string> ReadRecord(std::int64_t id) = 0;
  virtual Result<std::optional<std::string>> ReadTile(const Tile& t) = 0;
};

// Checks what Append requires of every text; the error names the text and the rule.
Status CheckRecordTexts(const std::vector<std::string>& texts);

}  // namespace modpub::sumdb
