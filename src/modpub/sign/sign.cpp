#include "modpub/sign/sign.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <memory>
#include <utility>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/module/gotext.hpp"

namespace modpub::sign {
namespace {

constexpr unsigned char kAlgEd25519 = 1;
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // "— " (U+2014, space)

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// strings.Cut-like "chop" of x/mod note.
std::pair<std::string_view, std::string_view> Chop(std::string_view s, std::string_view sep) {
  auto i = s.find(sep);
  if (i == std::string_view::npos) return {s, {}};
  return {s.substr(0, i), s.substr(i + sep.size())};
}

// strconv.ParseUint(s, 16, 32) for the 8-digit hashes (length checked by the caller).
bool ParseHex32(std::string_view s, std::uint32_t* out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v * 16 + static_cast<std::uint64_t>(d);
    if (v > 0xFFFFFFFFu) return false;
  }
  *out = static_cast<std::uint32_t>(v);
  return true;
}

std::string Hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string BigEndian(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  return s;
}

Result<std::array<unsigned char, 32>> PublicFromSeed(const std::array<unsigned char, 32>& seed) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) return Fail("OpenSSL cannot load an Ed25519 private key");
  std::array<unsigned char, 32> pub{};
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != pub.size()) {
    return Fail("OpenSSL cannot derive an Ed25519 public key");
  }
  return pub;
}

std::string AlgKey(const std::array<unsigned char, 32>& key) {
  std::string s(1, static_cast<char>(kAlgEd25519));
  s.append(reinterpret_cast<const char*>(key.data()), key.size());
  return s;
}

// Note text rule of note.Open: valid UTF-8, no control character but newline.
bool ValidNoteBytes(std::string_view msg) {
  for (std::size_t i = 0; i < msg.size();) {
    auto d = module::DecodeRune(msg.substr(i));
    if ((d.rune < 0x20 && d.rune != '\n') || (d.rune == module::kRuneError && d.width == 1)) {
      return false;
    }
    i += d.width;
  }
  return true;
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || !module::IsValidUTF8(name) || name.find('+') != std::string_view::npos) {
    return false;
  }
  for (std::size_t i = 0; i < name.size();) {
    auto d = module::DecodeRune(name.substr(i));
    if (module::IsSpace(d.rune)) return false;
    i += d.width;
  }
  return true;
}

std::uint32_t KeyHash(std::string_view name, std::string_view alg_pubkey) {
  dirhash::Sha256 h;
  h.Update(name);
  h.Update("\n");
  h.Update(alg_pubkey);
  auto d = h.Finish();
  return (std::uint32_t{d[0]} << 24) | (std::uint32_t{d[1]} << 16) | (std::uint32_t{d[2]} << 8) |
         std::uint32_t{d[3]};
}

// Go's base64.StdEncoding.DecodeString: padded alphabet, '\r' and '\n' ignored.
Result<std::string> Base64Decode(std::string_view in) {
  std::string s;
  for (char c : in) {
    if (c != '\r' && c != '\n') s += c;
  }
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) return Fail("illegal base64 data");
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + k];
      if (c == '=') {
        if (i + 4 != s.size() || k < 2) return Fail("illegal base64 data");
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return Fail("illegal base64 data");
      v[k] = val(c);
      if (v[k] < 0) return Fail("illegal base64 data");
    }
    std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) |
                      (static_cast<std::uint32_t>(v[1]) << 12) |
                      (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

Result<Verifier> Verifier::Parse(std::string_view vkey) {
  auto [name, rest] = Chop(vkey, "+");
  auto [hash16, key64] = Chop(rest, "+");
  std::uint32_t hash = 0;
  bool hash_ok = ParseHex32(hash16, &hash);
  auto key = Base64Decode(key64);
  if (hash16.size() != 8 || !hash_ok || !key || !IsValidName(name) || key->empty()) {
    return Fail("malformed verifier id");
  }
  if (hash != KeyHash(name, *key)) return Fail("invalid verifier hash");
  if (static_cast<unsigned char>((*key)[0]) != kAlgEd25519) {
    return Fail("unknown verifier algorithm");
  }
  if (key->size() != 33) return Fail("malformed verifier id");
  Verifier v;
  v.name_ = std::string(name);
  v.hash_ = hash;
  std::copy(key->begin() + 1, key->end(), v.pub_.begin());
  return v;
}

bool Verifier::Verify(std::string_view msg, std::string_view sig) const {
  if (sig.size() != 64) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub_.data(), pub_.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (!key || !ctx) throw std::bad_alloc();
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
}

Result<Signer> Signer::Parse(std::string_view skey) {
  auto [priv1, r1] = Chop(skey, "+");
  auto [priv2, r2] = Chop(r1, "+");
  auto [name, r3] = Chop(r2, "+");
  auto [hash16, key64] = Chop(r3, "+");
  std::uint32_t hash = 0;
  bool hash_ok = ParseHex32(hash16, &hash);
  auto key = Base64Decode(key64);
  if (priv1 != "PRIVATE" || priv2 != "KEY" || hash16.size() != 8 || !hash_ok || !key ||
      !IsValidName(name) || key->empty()) {
    return Fail("malformed verifier id");
  }
  if (static_cast<unsigned char>((*key)[0]) != kAlgEd25519) {
    return Fail("unknown verifier algorithm");
  }
  if (key->size() != 33) return Fail("malformed verifier id");
  Signer s;
  s.name_ = std::string(name);
  s.hash_ = hash;
  std::copy(key->begin() + 1, key->end(), s.seed_.begin());
  auto pub = PublicFromSeed(s.seed_);
  if (!pub) return pub.error();
  s.pub_ = *pub;
  if (hash != KeyHash(name, AlgKey(s.pub_))) return Fail("invalid verifier hash");
  return s;
}

std::string Signer::Sign(std::string_view msg) const {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed_.data(), seed_.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (!key || !ctx) throw std::bad_alloc();
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1 ||
      len != 64) {
    throw std::logic_error("OpenSSL Ed25519 signing failed with a valid key");
  }
  return sig;
}

std::string Signer::VerifierKey() const {
  return name_ + "+" + Hex8(hash_) + "+" + dirhash::Base64(AlgKey(pub_));
}

Result<KeyPair> GenerateKey(std::string_view name) {
  if (!IsValidName(name)) {
    return Fail("invalid key name " + module::Quote(name) +
                ": it must be non-empty UTF-8 without '+' or white space");
  }
  std::array<unsigned char, 32> seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return Fail("OpenSSL's random generator failed");
  }
  auto pub = PublicFromSeed(seed);
  if (!pub) return pub.error();
  std::string alg_pub = AlgKey(*pub);
  std::string hash = Hex8(KeyHash(name, alg_pub));
  KeyPair kp;
  kp.signer = "PRIVATE+KEY+" + std::string(name) + "+" + hash + "+" + dirhash::Base64(AlgKey(seed));
  kp.verifier = std::string(name) + "+" + hash + "+" + dirhash::Base64(alg_pub);
  return kp;
}

Result<std::string> SignNote(std::string_view text, const Signer& signer) {
  if (text.empty() || text.back() != '\n') return Fail("malformed note");
  std::string sig = BigEndian(signer.key_hash()) + signer.Sign(text);
  std::string out(text);
  out += "\n";
  out += kSigPrefix;
  out += signer.name();
  out += " ";
  out += dirhash::Base64(sig);
  out += "\n";
  return out;
}

Result<std::string> OpenNote(std::string_view msg, const Verifier& verifier) {
  if (!ValidNoteBytes(msg)) return Fail("malformed note");
  auto split = msg.rfind("\n\n");
  if (split == std::string_view::npos) return Fail("malformed note");
  std::string_view text = msg.substr(0, split + 1);
  std::string_view sigs = msg.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return Fail("malformed note");
  int num = 0;
  bool verified = false;
  while (!sigs.empty()) {
    auto nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs = sigs.substr(nl + 1);
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) return Fail("malformed note");
    line = line.substr(kSigPrefix.size());
    auto [name, b64] = Chop(line, " ");
    auto sig = Base64Decode(b64);
    if (!sig || !IsValidName(name) || b64.empty() || sig->size() < 5) {
      return Fail("malformed note");
    }
    std::uint32_t hash = (std::uint32_t{static_cast<unsigned char>((*sig)[0])} << 24) |
                         (std::uint32_t{static_cast<unsigned char>((*sig)[1])} << 16) |
                         (std::uint32_t{static_cast<unsigned char>((*sig)[2])} << 8) |
                         std::uint32_t{static_cast<unsigned char>((*sig)[3])};
    if (++num > 100) return Fail("malformed note");
    if (name != verifier.name() || hash != verifier.key_hash()) continue;  // unknown key
    if (verified) continue;  // a repeated signature by the same key
    if (!verifier.Verify(text, std::string_view(*sig).substr(4))) {
      return Fail("invalid signature for key " + std::string(name) + "+" + Hex8(hash));
    }
    verified = true;
  }
  if (!verified) return Fail("note has no verifiable signatures");
  return std::string(text);
}

}  // namespace modpub::sign
