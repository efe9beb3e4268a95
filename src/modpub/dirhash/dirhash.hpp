// Package dirhash: the "h1:" hashes recorded in go.sum and the checksum database.
//
// Hash1 (x/mod sumdb/dirhash.Hash1) over a set of files is
//   "h1:" + base64(sha256(lines))
// where lines is, for each file sorted by name (bytewise, as Go's sort.Strings),
// "<hex sha256 of contents>  <name>\n". For a module zip a name is
// "<module>@<version>/<path in module>" (dirhash.HashZip hashes the zip's entry names).
// A name containing a newline is rejected (the summary would be ambiguous).
//
// The go.mod hash of a version (the "/go.mod h1:" line of go.sum) is Hash1 over ONE
// file named just "go.mod" -- not "<module>@<version>/go.mod": the go command's goModSum
// (go 1.19 src/cmd/go/internal/modfetch/fetch.go:585) passes the bare name. Checked
// against go.sum lines in go's own test data, e.g. example.com/version v1.1.0/go.mod.
//
// Sha256 is an incremental SHA-256 (OpenSSL's libcrypto does the arithmetic; this package
// does no I/O).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::dirhash {

using Digest = std::array<std::uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, std::size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Finishes the hash; the object may not be updated afterwards.
  Digest Finish();
  static Digest Of(std::string_view data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lower-case hexadecimal, as Go's "%x".
std::string Hex(const Digest& d);
// Standard base64 (RFC 4648 alphabet, '=' padding), as Go's base64.StdEncoding.
std::string Base64(std::string_view bytes);

struct FileDigest {
  std::string name;  // "<module>@<version>/<path>"
  Digest sha256;
};

// Hash1 over the given files (any order; they are sorted by name here; duplicate names
// each contribute a line, as in x/mod). Error, with x/mod's wording, if a name contains
// a newline: "dirhash: filenames with newlines are not supported".
Result<std::string> Hash1(std::vector<FileDigest> files);
// The go.mod hash: Hash1 over {"go.mod": gomod}. It does not depend on the module path
// or version; the overload taking them exists for call sites that have them at hand.
std::string HashGoMod(std::string_view gomod);
std::string HashGoMod(std::string_view module_path, std::string_view version,
                      std::string_view gomod);

}  // namespace modpub::dirhash
