// Package dirhash: the "h1:" hashes recorded in go.sum and the checksum database.
//
// Hash1 (x/mod sumdb/dirhash.Hash1) over a set of files is
//   "h1:" + base64(sha256(lines))
// where lines is, for each file sorted by name, "<hex sha256 of contents>  <name>\n"
// and a name is "<module>@<version>/<path in module>". A name containing a newline is
// rejected (the hash would be ambiguous).
// The go.mod hash of a version is Hash1 over the single file "<module>@<version>/go.mod".
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

std::string Hex(const Digest& d);
std::string Base64(std::string_view bytes);

struct FileDigest {
  std::string name;  // "<module>@<version>/<path>"
  Digest sha256;
};

// Hash1 over the given files (any order; they are sorted by name here).
Result<std::string> Hash1(std::vector<FileDigest> files);
// The go.mod hash: Hash1 over {"<module>@<version>/go.mod": gomod}.
std::string HashGoMod(std::string_view module_path, std::string_view version,
                      std::string_view gomod);

}  // namespace modpub::dirhash
