#include "modpub/fsio/digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/fsio/atomic_file.hpp"

namespace modpub::fsio {

namespace {
// Large enough that the syscalls cost nothing next to the hashing, small enough to stay
// in the cache.
constexpr std::size_t kChunk = 1 << 20;
}  // namespace

Result<FileSha256> Sha256OfFile(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(file.string() + ": open: " + std::strerror(errno));
  dirhash::Sha256 h;
  std::vector<char> buf(kChunk);
  FileSha256 d;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(file.string() + ": read: " + std::strerror(errno));
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<std::size_t>(n));
    d.size += static_cast<std::uint64_t>(n);
  }
  d.hex = dirhash::Hex(h.Finish());
  return d;
}

}  // namespace modpub::fsio
