// Test-side JOSE for the unit tests: keys made with OpenSSL (RSA, EC P-256, Ed25519), their
// public JWKs, and compact JWS tokens signed with them (tests/unit/jwt_test.cpp,
// jwt_verifier_test.cpp). Header-only; inline so that each test file may include it.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "modpub/dirhash/dirhash.hpp"

namespace modpub::testing::jose {

using json = nlohmann::json;

using Pkey = std::shared_ptr<EVP_PKEY>;

inline std::string B64Url(std::string_view bytes) {
  std::string s = dirhash::Base64(bytes);
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  s.erase(std::remove(s.begin(), s.end(), '='), s.end());
  return s;
}

inline std::optional<std::string> DecodeB64Url(std::string s) {
  std::replace(s.begin(), s.end(), '-', '+');
  std::replace(s.begin(), s.end(), '_', '/');
  while (s.size() % 4 != 0) s.push_back('=');
  std::string out(s.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - std::count(s.begin(), s.end(), '='));
  return out;
}

inline Pkey Generate(const char* type, const char* arg = nullptr, std::size_t bits = 0) {
  EVP_PKEY* p = nullptr;
  if (std::string_view(type) == "RSA") p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits);
  if (std::string_view(type) == "EC") p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", arg);
  if (std::string_view(type) == "ED25519") p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (p == nullptr) throw std::runtime_error("key generation failed");
  return Pkey(p, EVP_PKEY_free);
}

inline std::string BnParam(const Pkey& k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k.get(), name, &bn) != 1) throw std::runtime_error(name);
  std::string out(static_cast<std::size_t>(pad ? pad : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

// The public JWK of `k`.
inline json Jwk(const Pkey& k, const std::string& kid) {
  if (EVP_PKEY_is_a(k.get(), "RSA"))
    return {{"kty", "RSA"},
            {"kid", kid},
            {"n", B64Url(BnParam(k, OSSL_PKEY_PARAM_RSA_N))},
            {"e", B64Url(BnParam(k, OSSL_PKEY_PARAM_RSA_E))}};
  if (EVP_PKEY_is_a(k.get(), "EC"))
    return {{"kty", "EC"},
            {"kid", kid},
            {"crv", "P-256"},
            {"x", B64Url(BnParam(k, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
            {"y", B64Url(BnParam(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  std::string raw(32, '\0');
  std::size_t len = raw.size();
  EVP_PKEY_get_raw_public_key(k.get(), reinterpret_cast<unsigned char*>(raw.data()), &len);
  return {{"kty", "OKP"}, {"kid", kid}, {"crv", "Ed25519"}, {"x", B64Url(raw)}};
}

// The signature of `input` as OpenSSL makes it (DER for ECDSA).
inline std::string RawSign(const Pkey& k, std::string_view input) {
  const EVP_MD* md = EVP_PKEY_is_a(k.get(), "ED25519") ? nullptr : EVP_sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1)
    throw std::runtime_error("sign");
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
  sig.resize(len);
  return sig;
}

// ECDSA DER -> RFC 7515's r||s.
inline std::string DerToRaw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

inline std::string Jws(const json& header, std::string_view payload, const Pkey& k,
                       bool der = false) {
  const std::string input = B64Url(header.dump()) + "." + B64Url(payload);
  std::string sig = RawSign(k, input);
  if (EVP_PKEY_is_a(k.get(), "EC") && !der) sig = DerToRaw(sig);
  return input + "." + B64Url(sig);
}

inline std::string Hs256(const json& header, const json& claims, std::string_view secret) {
  const std::string input = B64Url(header.dump()) + "." + B64Url(claims.dump());
  unsigned char mac[32];
  std::size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &len);
  return input + "." + B64Url(std::string(reinterpret_cast<char*>(mac), len));
}

inline std::string PublicPem(const Pkey& k) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), k.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace modpub::testing::jose
