// Local files for the backends: comparing a stored file with what a publish would write,
// describing a difference with the hashes a user can check (h1 as in go.sum), and writing
// a version's files. The disk backends use all of it; S3 describes a differing zip with it
// (downloaded to a local file first), and `modpub verify` reads and hashes stored files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"
#include "modpub/fsio/atomic_file.hpp"
#include "modpub/storage/backend.hpp"

namespace modpub::storage::local {

// Does `path` exist (as anything, symlinks not followed)?
Result<bool> Exists(const std::filesystem::path& path);

// Compares the stored file `stored` with `expected` bytes / with the local file
// `expected`: absent, same, or different (a directory or other non-file is different).
Result<PartState> CompareBytes(const std::filesystem::path& stored, std::string_view expected);
Result<PartState> CompareFile(const std::filesystem::path& stored,
                              const std::filesystem::path& expected);

// "stored h1:…, new h1:…" for a module zip; for a stored file that is not a readable zip,
// says so and gives its size and sha256.
std::string DescribeZipDifference(const std::filesystem::path& stored, std::string_view new_sum);
// "stored h1:…, new h1:…" for a go.mod of `module_path`@`version`.
std::string DescribeModDifference(const std::filesystem::path& stored, std::string_view module_path,
                                  std::string_view version, std::string_view new_sum);
// "stored sha256:…, new sha256:…".
std::string DescribeBytesDifference(const std::filesystem::path& stored, std::string_view expected);

// dirhash.HashZip: the h1 of a module zip file, over its entries as named in the zip.
Result<std::string> HashZip(const std::filesystem::path& zip);

// Stores the detached signature `sig` of `module_version` as file `target` (in the rule
// of backend.hpp: written if absent, nothing if the same, kept if different), creating
// its directory; for FinishPut.
Result<SignatureWrite> PutSignature(const std::filesystem::path& target, std::string_view sig,
                                    std::string_view module_version);

// The stored zip, .mod and .info of `files`' version (`zip`, `mod`, `info`; `names` the
// same three as messages call them) compared with what the publish would write, each
// difference described with its hashes: the first three parts Decide reads.
Result<std::vector<StoredPart>> CompareVersionFiles(const VersionFiles& files,
                                                    const std::filesystem::path& zip,
                                                    const std::filesystem::path& mod,
                                                    const std::filesystem::path& info,
                                                    const std::vector<std::string>& names);

// Writes one file of a version: a temporary in `dir`, filled by `fill`, synced, then renamed
// to `target` unless that name is taken (false: nothing was replaced). A step boundary
// (fsio/env.hpp) comes before and after the rename, where a crash leaves distinct states.
Result<bool> WriteNewFile(const std::filesystem::path& dir, const std::filesystem::path& target,
                          const std::function<Status(fsio::AtomicFile&)>& fill);

// Reads a whole small file (at most `limit` bytes; larger is an error).
Result<std::string> ReadFile(const std::filesystem::path& path, std::size_t limit);

// The size of a regular file, or nullopt if `path` is absent or not a regular file.
Result<std::optional<std::uint64_t>> RegularFileSize(const std::filesystem::path& path);

// The module paths under `root`, sorted, each once: every directory below `root` (hidden
// ones, starting with ".", skipped) is shown to `module_of` with its path relative to
// `root` and its depth (0 = directly in root); a non-empty answer is a module path, and
// the directory is not descended into. An absent `root` holds no module.
Result<std::vector<std::string>> FindModules(
    const std::filesystem::path& root,
    const std::function<std::string(const std::filesystem::path& rel, int depth)>& module_of);

}  // namespace modpub::storage::local
