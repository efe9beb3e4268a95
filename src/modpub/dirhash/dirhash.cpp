// The "h1:" hash of x/mod's sumdb/dirhash, over digests computed elsewhere. See
// dirhash.hpp.

#include "modpub/dirhash/dirhash.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace modpub::dirhash {

// OpenSSL can only fail here on allocation failure or a broken library; neither is an
// expected failure of the input, so they are reported as logic errors (see result.hpp).
struct Sha256::Impl {
  struct CtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx{EVP_MD_CTX_new()};
  bool finished = false;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw std::logic_error("dirhash: cannot initialise SHA-256 (libcrypto)");
  }
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, std::size_t n) {
  if (impl_->finished) throw std::logic_error("dirhash: Sha256::Update after Finish");
  if (n == 0) return;
  if (EVP_DigestUpdate(impl_->ctx.get(), data, n) != 1) {
    throw std::logic_error("dirhash: SHA-256 update failed (libcrypto)");
  }
}

Digest Sha256::Finish() {
  if (impl_->finished) throw std::logic_error("dirhash: Sha256::Finish called twice");
  impl_->finished = true;
  Digest d{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), d.data(), &len) != 1 || len != d.size()) {
    throw std::logic_error("dirhash: SHA-256 final failed (libcrypto)");
  }
  return d;
}

Digest Sha256::Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

std::string Hex(const Digest& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * d.size());
  for (std::uint8_t b : d) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  // One or two bytes left: pad the last group of four with '='.
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += rest == 2 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Hash1(std::vector<FileDigest> files) {
  // A newline in a name would let two different file sets produce the same summary.
  for (const FileDigest& f : files) {
    if (f.name.find('\n') != std::string::npos) {
      return Fail("dirhash: filenames with newlines are not supported");
    }
  }
  // Bytewise order, like Go's sort.Strings; stable so equal names keep a defined order
  // (their lines differ only if their digests do, and both lines are hashed).
  std::stable_sort(files.begin(), files.end(),
                   [](const FileDigest& a, const FileDigest& b) { return a.name < b.name; });
  Sha256 summary;
  for (const FileDigest& f : files) {
    summary.Update(Hex(f.sha256));
    summary.Update("  ");
    summary.Update(f.name);
    summary.Update("\n");
  }
  Digest d = summary.Finish();
  return "h1:" + Base64(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string HashGoMod(std::string_view gomod) {
  // A single well-formed name cannot fail.
  return std::move(Hash1({{"go.mod", Sha256::Of(gomod)}}).value());
}

std::string HashGoMod(std::string_view /*module_path*/, std::string_view /*version*/,
                      std::string_view gomod) {
  return HashGoMod(gomod);
}

}  // namespace modpub::dirhash
