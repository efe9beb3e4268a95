// One S3Backend::Put (s3.hpp, "Writes"), split into the steps the immutability rule of
// backend.hpp takes on S3, over the state they share:
//  1. ReadSnapshot: the version's objects and the list object, read together (one round
//     trip), and each stored part compared with what this publish writes;
//  2. Decide (backend.hpp): refused, unchanged, or the first part to write;
//  3. CreateObjects: the missing objects, each create-only (If-None-Match: *);
//  4. AddToList (goproxy layout): the list entry, by compare-and-swap on the list object's
//     ETag (If-Match), re-read and retried when another writer changed it meanwhile;
// and then the optional signature, create-only too (StoreSignature, through FinishPut).
// A 412 on a create means the object exists: it is read back and compared. Every object
// carries this operation's random writer id, so that a write of ours whose answer was lost
// (the client retried it and met the 412) is recognised as our own.
// Internal to the S3 backend: s3.cpp and s3_put.cpp include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "modpub/storage/s3.hpp"

namespace modpub::storage {

class S3Backend::PutOperation {
 public:
  // `keys` from backend.Locate(files.path, files.version); `zip_size`: files.zip's size.
  // `deadline`: the whole Put's (deadline.hpp): every request and pause of every step.
  PutOperation(S3Backend& backend, const VersionFiles& files, Keys keys, std::uint64_t zip_size,
               Deadline deadline);
  PutOperation(const PutOperation&) = delete;
  PutOperation& operator=(const PutOperation&) = delete;

  // The steps in order; what Put returns.
  Result<PutResult> Run();

 private:
  // One stored part compared with what this publish writes: the rule's input, and after a
  // 412 the verdict on the object another writer (or our lost write) stored.
  struct Seen {
    PartState state = PartState::kAbsent;
    std::string difference;
    std::string writer;
  };
  // Who stored an object that now holds this publish's bytes, or why the Put is refused.
  enum class Created { kByUs, kByOther };
  using CreateOutcome = std::variant<Created, PutResult>;

  // 1. The parts in write order, compared; keeps the list object for step 4.
  Result<std::vector<StoredPart>> ReadSnapshot();
  // 3. Parts `first_absent`..2: a refusal, or who stored the last of them (kByOther when
  // there is none to store).
  Result<CreateOutcome> CreateObjects(std::size_t first_absent);
  Result<CreateOutcome> Create(std::size_t part);
  // 4. Whether this operation added the list entry (false: another writer had).
  Result<bool> AddToList();
  Result<SignatureWrite> StoreSignature();

  const std::string& PartKey(std::size_t part) const;
  Result<Seen> ComparePart(std::size_t part, std::optional<std::uint64_t> known_size);
  Result<Seen> CompareSmall(const std::string& key, const std::string& expected, bool is_mod);
  Result<Seen> CompareZip(std::optional<std::uint64_t> known_size);
  // "stored h1:…, new h1:…" for the stored zip, downloaded to a temporary file to hash it.
  std::string DescribeZip();

  S3Backend& backend_;
  s3::Client& client_;
  const VersionFiles& f_;
  const Keys k_;
  const std::uint64_t zip_size_;
  const std::string mv_;      // "path@version", for messages
  const std::string writer_;  // x-amz-meta-modpub-writer of every object this Put writes
  const std::vector<std::string> names_;
  const Deadline deadline_;
  ListObject list_;  // as step 1 read it: the first compare-and-swap round starts from it
};

}  // namespace modpub::storage
