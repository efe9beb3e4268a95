// Package sign: Ed25519 keys and signed notes in Go's format (golang.org/x/mod
// sumdb/note), so that the go command itself can verify what modpub signs.
//
// Key formats (x/mod note):
//   signer key    "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || 32-byte Ed25519 seed)>"
//   verifier key  "<name>+<hash>+<base64(0x01 || 32-byte Ed25519 public key)>"
// where <hash> is 8 lower-case hex digits: the first 4 bytes (big-endian) of
// SHA-256(name || "\n" || 0x01 || public key). A name is non-empty valid UTF-8 without
// '+' and without Unicode white space.
//
// A signed note is "<text>\n" followed by one line per signature,
// "— <name> <base64(key hash (4 bytes, big-endian) || Ed25519 signature)>\n", where the
// text ends in a newline and holds no control characters other than newline. Ed25519 is
// deterministic: signing a text twice with one key gives identical bytes.
//
// Verification follows note.Open with one known verifier: an error names the reason
// with x/mod's wording ("malformed note", "invalid signature for key <name>+<hash>",
// "note has no verifiable signatures").
//
// OpenSSL 3 (EVP_PKEY_ED25519) does the arithmetic; every OpenSSL handle is RAII.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "modpub/base/result.hpp"

namespace modpub::sign {

// Go's base64.StdEncoding.DecodeString (padding required; '\r' and '\n' ignored).
Result<std::string> Base64Decode(std::string_view in);

// note's isValidName.
bool IsValidName(std::string_view name);

// The key hash of `name` and the algorithm-prefixed public key (0x01 || 32 bytes).
std::uint32_t KeyHash(std::string_view name, std::string_view alg_pubkey);

class Verifier {
 public:
  // Parses a verifier key; errors with note.NewVerifier's words ("malformed verifier id",
  // "invalid verifier hash", "unknown verifier algorithm"): callers name the key.
  static Result<Verifier> Parse(std::string_view vkey);

  const std::string& name() const { return name_; }
  std::uint32_t key_hash() const { return hash_; }
  // Verifies an Ed25519 signature of `msg`.
  bool Verify(std::string_view msg, std::string_view sig) const;

 private:
  std::string name_;
  std::uint32_t hash_ = 0;
  std::array<unsigned char, 32> pub_{};
};

class Signer {
 public:
  // Parses a signer key; errors as note.NewSigner.
  static Result<Signer> Parse(std::string_view skey);

  const std::string& name() const { return name_; }
  std::uint32_t key_hash() const { return hash_; }
  // The 64-byte Ed25519 signature of `msg`.
  std::string Sign(std::string_view msg) const;
  // The verifier key matching this signer.
  std::string VerifierKey() const;

 private:
  std::string name_;
  std::uint32_t hash_ = 0;
  std::array<unsigned char, 32> seed_{};
  std::array<unsigned char, 32> pub_{};
};

struct KeyPair {
  std::string signer;    // PRIVATE+KEY+...
  std::string verifier;  // <name>+<hash>+...
};
// A fresh key pair from the OpenSSL random generator. Fails for an invalid name.
Result<KeyPair> GenerateKey(std::string_view name);

// note.Sign with one signer: fails unless `text` ends in "\n". Like note.Sign it checks
// nothing else: a text holding another control character or invalid UTF-8 is signed, but
// no one can open the note (OpenNote: "malformed note"). Callers sign texts they made.
Result<std::string> SignNote(std::string_view text, const Signer& signer);

// note.Open with one known verifier: returns the note's text when a signature by
// `verifier` is present and valid (signatures by unknown keys are ignored).
Result<std::string> OpenNote(std::string_view msg, const Verifier& verifier);

}  // namespace modpub::sign
