// The SHA-256 of a local file, read once in large chunks. What S3's SigV4 signs as the
// payload hash of a PUT (x-amz-content-sha256), so it must be known before the upload
// starts; modzip computes it once per built zip so that no backend reads the zip twice.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "modpub/base/result.hpp"

namespace modpub::fsio {

struct FileSha256 {
  std::string hex;         // lower-case hexadecimal, 64 characters
  std::uint64_t size = 0;  // bytes read
};

// Fails, naming the file and the system error, if it cannot be opened or read.
Result<FileSha256> Sha256OfFile(const std::filesystem::path& file);

}  // namespace modpub::fsio
