#include "modpub/jwt/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <stdexcept>
#include <utility>

namespace modpub::jwt {

struct KeySet::Key {
  std::string kid;
  Alg alg = Alg::kRS256;
  std::shared_ptr<EVP_PKEY> pkey;
  std::optional<Clock::time_point> keep_until;  // set once the key left the JWKS
};

namespace {

using json = nlohmann::json;
using Key = KeySet::Key;

constexpr int kMaxDepth = 32;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// RFC 7515's base64url: no padding, and the unused bits of the last character zero, so that
// every byte string has exactly one encoding.
std::optional<std::string> B64UrlDecode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = B64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// Parses a JSON object, refusing duplicate member names and nesting deeper than kMaxDepth.
Result<json> ParseObject(std::string_view text, std::string_view what) {
  std::vector<std::set<std::string>> names;
  bool duplicate = false, deep = false;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth > kMaxDepth) deep = true;
    if (ev == json::parse_event_t::object_start) names.emplace_back();
    if (ev == json::parse_event_t::object_end && !names.empty()) names.pop_back();
    if (ev == json::parse_event_t::key && !names.empty() &&
        !names.back().insert(parsed.get<std::string>()).second)
      duplicate = true;
    return true;
  };
  json j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(std::string(what) + " is not valid JSON");
  if (duplicate) return Fail(std::string(what) + " has a duplicate member name");
  if (deep) return Fail(std::string(what) + " is nested deeper than 32 levels");
  if (!j.is_object())
    return Fail(std::string(what) + " is a JSON " + j.type_name() + ", not an object");
  return j;
}

std::string Str(const json& obj, const char* member) {
  auto it = obj.find(member);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A base64url member of a JWK, decoded; an error names the member.
Result<std::string> B64Member(const json& jwk, const char* member) {
  auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string()) return Fail(std::string("has no ") + member);
  auto bytes = B64UrlDecode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return Fail(std::string(member) + " is not base64url");
  return *bytes;
}

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* p) { return {p, EVP_PKEY_free}; }

Result<std::shared_ptr<EVP_PKEY>> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Fail("is not a valid public key");
  auto owned = Own(pkey);
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return Fail("is not a valid public key");
  return owned;
}

Result<std::shared_ptr<EVP_PKEY>> RsaKey(const json& jwk) {
  auto n = B64Member(jwk, "n");
  if (!n) return n.error();
  auto e = B64Member(jwk, "e");
  if (!e) return e.error();
  const auto* nb = reinterpret_cast<const unsigned char*>(n->data());
  const auto* eb = reinterpret_cast<const unsigned char*>(e->data());
  Bignum bn(BN_bin2bn(nb, static_cast<int>(n->size()), nullptr));
  Bignum be(BN_bin2bn(eb, static_cast<int>(e->size()), nullptr));
  if (!bn || !be) return Fail("is not a valid public key");
  const int bits = BN_num_bits(bn.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits)
    return Fail("is an RSA key of " + std::to_string(bits) + " bits; modpub accepts " +
                std::to_string(kMinRsaBits) + " to " + std::to_string(kMaxRsaBits));
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1)
    return Fail("is not a valid public key");
  return FromData("RSA", bld.get());
}

Result<std::shared_ptr<EVP_PKEY>> EcKey(const json& jwk) {
  if (Str(jwk, "crv") != "P-256") return Fail("is an EC key on " + Str(jwk, "crv") + ", not P-256");
  auto x = B64Member(jwk, "x");
  if (!x) return x.error();
  auto y = B64Member(jwk, "y");
  if (!y) return y.error();
  if (x->size() != 32 || y->size() != 32) return Fail("has x or y not of 32 bytes (P-256)");
  std::string point = "\x04" + *x + *y;  // uncompressed SEC 1 point
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    return Fail("is not a valid public key");
  return FromData("EC", bld.get());
}

Result<std::shared_ptr<EVP_PKEY>> OkpKey(const json& jwk) {
  if (Str(jwk, "crv") != "Ed25519")
    return Fail("is an OKP key on " + Str(jwk, "crv") + ", not Ed25519 (a signing curve)");
  auto x = B64Member(jwk, "x");
  if (!x) return x.error();
  if (x->size() != 32) return Fail("has x not of 32 bytes (Ed25519)");
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (p == nullptr) return Fail("is not a valid public key");
  return Own(p);
}

// The usage members (use, key_ops) and the type: which Alg the key verifies.
Result<Alg> KeyAlg(const json& jwk) {
  if (jwk.contains("use") && Str(jwk, "use") != "sig")
    return Fail("has use \"" + Str(jwk, "use") + "\", not \"sig\"");
  if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), json("verify")) == ops->end())
      return Fail("has key_ops without \"verify\"");
  }
  const std::string kty = Str(jwk, "kty");
  Alg alg;
  if (kty == "RSA") {
    alg = Alg::kRS256;
  } else if (kty == "EC") {
    alg = Alg::kES256;
  } else if (kty == "OKP") {
    alg = Alg::kEdDSA;
  } else if (kty == "oct") {
    return Fail("is a symmetric (oct) key; modpub verifies only public-key signatures");
  } else {
    return Fail("has kty \"" + kty + "\"; modpub uses RSA, EC (P-256) and OKP (Ed25519)");
  }
  if (jwk.contains("alg") && Str(jwk, "alg") != AlgName(alg))
    return Fail("has alg \"" + Str(jwk, "alg") + "\"; a " + kty + " key is used only for " +
                std::string(AlgName(alg)));
  return alg;
}

Result<Key> ParseKey(const json& jwk) {
  if (!jwk.is_object())
    return Fail(std::string("is a JSON ") + jwk.type_name() + ", not an object");
  Key key;
  key.kid = Str(jwk, "kid");
  if (key.kid.empty()) return Fail("has no kid (a token names its key by kid)");
  auto alg = KeyAlg(jwk);
  if (!alg) return alg.error();
  key.alg = *alg;
  auto pkey = key.alg == Alg::kRS256   ? RsaKey(jwk)
              : key.alg == Alg::kES256 ? EcKey(jwk)
                                       : OkpKey(jwk);
  if (!pkey) return pkey.error();
  key.pkey = std::move(*pkey);
  return key;
}

}  // namespace

std::optional<Alg> AlgFromName(std::string_view name) {
  for (Alg a : {Alg::kRS256, Alg::kES256, Alg::kEdDSA})
    if (AlgName(a) == name) return a;
  return std::nullopt;
}

std::string_view AlgName(Alg alg) {
  switch (alg) {
    case Alg::kRS256:
      return "RS256";
    case Alg::kES256:
      return "ES256";
    case Alg::kEdDSA:
      return "EdDSA";
  }
  return "?";
}

Result<KeySet> KeySet::Parse(std::string_view jwks_json) {
  auto doc = ParseObject(jwks_json, "JWKS");
  if (!doc) return Fail(doc.message() + " (a JWKS is {\"keys\": [...]})");
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array())
    return Fail("JWKS has no \"keys\" array (a JWKS is {\"keys\": [...]})");
  KeySet set;
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const json& jwk = (*keys)[i];
    auto key = ParseKey(jwk);
    std::string kid = jwk.is_object() ? Str(jwk, "kid") : std::string();
    if (key && set.Find(key->kid) != nullptr) key = Fail("repeats a kid seen before");
    if (!key) {
      set.skipped_.push_back({std::move(kid), i, key.message()});
      continue;
    }
    set.keys_.push_back(std::make_shared<const Key>(std::move(*key)));
  }
  if (set.keys_.empty()) {
    std::string why;
    for (const auto& s : set.skipped_)
      why += "; key " + std::to_string(s.index) + (s.kid.empty() ? "" : " (" + s.kid + ")") + " " +
             s.reason;
    return Fail("JWKS has no usable signing key" + why);
  }
  return set;
}

KeySet KeySet::Merge(const KeySet& older, const KeySet& newer, Clock::time_point now,
                     std::chrono::seconds keep_for) {
  KeySet out = newer;
  for (const auto& key : older.keys_) {
    if (newer.Find(key->kid) != nullptr) continue;
    auto kept = std::make_shared<Key>(*key);
    const auto deadline = now + keep_for;
    if (!kept->keep_until || *kept->keep_until > deadline) kept->keep_until = deadline;
    if (*kept->keep_until <= now) continue;
    out.keys_.push_back(std::move(kept));
  }
  return out;
}

std::vector<std::string> KeySet::kids() const {
  std::vector<std::string> out;
  for (const auto& k : keys_) out.push_back(k->kid);
  return out;
}

const KeySet::Key* KeySet::Find(std::string_view kid) const {
  for (const auto& k : keys_)
    if (k->kid == kid) return k.get();
  return nullptr;
}

Status Policy::Check() const {
  if (issuer.empty()) return Fail("JWT policy: issuer is empty; set the provider's issuer URL");
  if (audiences.empty())
    return Fail("JWT policy: audiences is empty; set the audience (client id) tokens carry");
  if (algorithms.empty())
    return Fail("JWT policy: algorithms is empty; allow RS256, ES256 or EdDSA");
  if (clock_skew.count() < 0) return Fail("JWT policy: clock_skew is negative");
  if (max_token_bytes == 0) return Fail("JWT policy: max_token_bytes is 0");
  return Ok();
}

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kMalformed:
      return "malformed";
    case Reason::kTooLarge:
      return "too_large";
    case Reason::kUnsupportedAlg:
      return "unsupported_alg";
    case Reason::kAlgKeyMismatch:
      return "alg_key_mismatch";
    case Reason::kUnknownKid:
      return "unknown_kid";
    case Reason::kBadSignature:
      return "bad_signature";
    case Reason::kExpired:
      return "expired";
    case Reason::kNotYetValid:
      return "not_yet_valid";
    case Reason::kWrongIssuer:
      return "wrong_issuer";
    case Reason::kWrongAudience:
      return "wrong_audience";
    case Reason::kMissingClaim:
      return "missing_claim";
    case Reason::kBadPolicy:
      return "bad_policy";
  }
  return "?";
}

const Verified& VerifyResult::value() const {
  if (!verified_) throw std::logic_error("jwt::VerifyResult: value() of a failure");
  return *verified_;
}

Reason VerifyResult::reason() const {
  if (verified_) throw std::logic_error("jwt::VerifyResult: reason() of a success");
  return reason_;
}

const std::string& VerifyResult::message() const {
  if (verified_) throw std::logic_error("jwt::VerifyResult: message() of a success");
  return message_;
}

namespace {

// The three parts of a compact JWS, decoded, with the header parsed and checked.
struct Parts {
  std::string_view signing_input;  // header "." payload, as sent
  std::string payload;
  std::string signature;
  std::string kid;
  Alg alg = Alg::kRS256;
};

VerifyResult Refuse(Reason r, std::string message) { return VerifyResult(r, std::move(message)); }

// The header: alg, crit, kid. unsupported_alg before anything else about keys.
std::optional<VerifyResult> CheckHeader(const json& header, const Policy& policy, Parts& parts) {
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string())
    return Refuse(Reason::kMalformed, "token header has no alg string");
  const std::string name = alg->get<std::string>();
  auto known = AlgFromName(name);
  if (!known)
    return Refuse(
        Reason::kUnsupportedAlg,
        "token alg \"" + name + "\" is not accepted; modpub verifies RS256, ES256 and EdDSA");
  if (std::find(policy.algorithms.begin(), policy.algorithms.end(), *known) ==
      policy.algorithms.end())
    return Refuse(Reason::kUnsupportedAlg, "token alg " + name + " is not allowed by the policy");
  parts.alg = *known;
  if (header.contains("crit"))
    return Refuse(Reason::kMalformed, "token header has crit; no JWS extension is supported");
  auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty())
    return Refuse(Reason::kUnknownKid, "token header has no kid string naming its key");
  parts.kid = kid->get<std::string>();
  return std::nullopt;
}

// Size, shape and base64url of the three parts, then the header.
std::optional<VerifyResult> Split(std::string_view token, const Policy& policy, Parts& parts) {
  if (token.size() > policy.max_token_bytes)
    return Refuse(Reason::kTooLarge, "token is " + std::to_string(token.size()) +
                                         " bytes, more than the limit of " +
                                         std::to_string(policy.max_token_bytes));
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos)
    return Refuse(Reason::kMalformed, "token is not header.payload.signature");
  if (token.find('.', dot2 + 1) != std::string_view::npos)
    return Refuse(Reason::kMalformed,
                  "token has more than three parts (an encrypted JWE is not supported)");
  auto header = B64UrlDecode(token.substr(0, dot1));
  auto payload = B64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = B64UrlDecode(token.substr(dot2 + 1));
  if (!header || !payload || !signature)
    return Refuse(Reason::kMalformed, "token part is not base64url (unpadded, A-Z a-z 0-9 - _)");
  auto h = ParseObject(*header, "token header");
  if (!h) return Refuse(Reason::kMalformed, h.message());
  if (auto refused = CheckHeader(*h, policy, parts)) return refused;
  if (signature->empty()) return Refuse(Reason::kMalformed, "token has an empty signature");
  parts.signing_input = token.substr(0, dot2);
  parts.payload = std::move(*payload);
  parts.signature = std::move(*signature);
  return std::nullopt;
}

// RFC 7515 ES256: r||s, 32 bytes each, big-endian; OpenSSL wants DER.
std::optional<std::string> EcdsaRawToDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
  EcdsaSig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(b, 32, nullptr);
  BIGNUM* s = BN_bin2bn(b + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool SignatureVerifies(const Key& key, const Parts& parts) {
  std::string sig = parts.signature;
  if (key.alg == Alg::kES256) {
    auto der = EcdsaRawToDer(sig);
    if (!der) return false;
    sig = std::move(*der);
  }
  if (key.alg == Alg::kEdDSA && sig.size() != 64) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  const EVP_MD* md = key.alg == Alg::kEdDSA ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(parts.signing_input.data()),
                          parts.signing_input.size()) == 1;
}

// exp, nbf, iat must be numbers when present (exp must be present: checked later).
std::optional<VerifyResult> CheckTypes(const json& claims) {
  for (const char* name : {"exp", "nbf", "iat"}) {
    auto it = claims.find(name);
    if (it != claims.end() && !it->is_number())
      return Refuse(Reason::kMalformed, std::string("claim ") + name +
                                            " must be a NumericDate (a number), not a JSON " +
                                            it->type_name());
  }
  return std::nullopt;
}

std::optional<VerifyResult> CheckIssuerAudience(const json& claims, const Policy& policy) {
  auto iss = claims.find("iss");
  if (iss == claims.end()) return Refuse(Reason::kMissingClaim, "token has no iss claim");
  if (!iss->is_string() || iss->get_ref<const std::string&>() != policy.issuer)
    return Refuse(Reason::kWrongIssuer, "token iss " + iss->dump() + " is not " + policy.issuer);
  auto aud = claims.find("aud");
  if (aud == claims.end()) return Refuse(Reason::kMissingClaim, "token has no aud claim");
  std::vector<std::string> auds;
  if (aud->is_string()) auds.push_back(aud->get<std::string>());
  for (const auto& a : aud->is_array() ? *aud : json::array()) {
    if (!a.is_string()) return Refuse(Reason::kMalformed, "claim aud holds a non-string");
    auds.push_back(a.get<std::string>());
  }
  if (!aud->is_string() && !aud->is_array())
    return Refuse(Reason::kMalformed, "claim aud must be a string or an array of strings");
  for (const auto& want : policy.audiences)
    if (std::find(auds.begin(), auds.end(), want) != auds.end()) return std::nullopt;
  return Refuse(Reason::kWrongAudience, "token aud " + aud->dump() + " holds none of the policy's");
}

std::optional<VerifyResult> CheckTimes(const json& claims, const Policy& policy,
                                       Clock::time_point now) {
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double skew = static_cast<double>(policy.clock_skew.count());
  auto exp = claims.find("exp");
  if (exp == claims.end()) return Refuse(Reason::kMissingClaim, "token has no exp claim");
  if (!(t < exp->get<double>() + skew))
    return Refuse(Reason::kExpired, "token expired (exp " + exp->dump() + ")");
  auto nbf = claims.find("nbf");
  if (nbf != claims.end() && t + skew < nbf->get<double>())
    return Refuse(Reason::kNotYetValid, "token is not valid before nbf " + nbf->dump());
  return std::nullopt;
}

}  // namespace

VerifyResult Verify(std::string_view token, const KeySet& keys, const Policy& policy,
                    Clock::time_point now) {
  if (auto bad = policy.Check(); !bad) return Refuse(Reason::kBadPolicy, bad.message());
  Parts parts;
  if (auto refused = Split(token, policy, parts)) return std::move(*refused);
  const Key* key = keys.Find(parts.kid);
  if (key == nullptr || (key->keep_until && *key->keep_until <= now))
    return Refuse(Reason::kUnknownKid, "no key has kid \"" + parts.kid + "\"");
  if (key->alg != parts.alg)
    return Refuse(Reason::kAlgKeyMismatch, "token alg " + std::string(AlgName(parts.alg)) +
                                               " does not match key \"" + parts.kid + "\" (" +
                                               std::string(AlgName(key->alg)) + ")");
  if (key->alg != Alg::kRS256 && parts.signature.size() != 64)
    return Refuse(Reason::kBadSignature, "token " + std::string(AlgName(key->alg)) +
                                             " signature is " +
                                             std::to_string(parts.signature.size()) +
                                             " bytes, not 64 (RFC 7515: ES256 is r||s, never DER)");
  if (!SignatureVerifies(*key, parts))
    return Refuse(Reason::kBadSignature,
                  "token signature does not verify with key \"" + parts.kid + "\"");
  auto claims = ParseObject(parts.payload, "token payload");
  if (!claims) return Refuse(Reason::kMalformed, claims.message());
  if (auto refused = CheckTypes(*claims)) return std::move(*refused);
  if (auto refused = CheckIssuerAudience(*claims, policy)) return std::move(*refused);
  if (auto refused = CheckTimes(*claims, policy, now)) return std::move(*refused);
  auto sub = claims->find("sub");
  if (sub == claims->end() || !sub->is_string())
    return Refuse(Reason::kMissingClaim, "token has no sub string naming its principal");
  std::string subject = sub->get<std::string>();  // before claims is moved from
  Verified v{std::move(*claims), std::move(parts.kid), parts.alg, std::move(subject)};
  return v;
}

Result<std::vector<std::string>> StringsAt(const json& claims, std::string_view dotted_path) {
  const json* at = &claims;
  std::string_view rest = dotted_path;
  while (!rest.empty()) {
    if (!at->is_object())
      return Fail("claim path " + std::string(dotted_path) + ": a JSON " + at->type_name() +
                  " is on the way, not an object");
    auto whole = at->find(std::string(rest));
    if (whole != at->end()) {
      at = &*whole;
      break;
    }
    const auto dot = rest.find('.');
    auto it = at->find(std::string(rest.substr(0, dot)));
    if (it == at->end()) return std::vector<std::string>{};
    at = &*it;
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  if (at->is_null()) return std::vector<std::string>{};
  if (at->is_string()) return std::vector<std::string>{at->get<std::string>()};
  std::vector<std::string> out;
  if (at->is_array()) {
    for (const auto& e : *at) {
      if (!e.is_string())
        return Fail("claim " + std::string(dotted_path) + " holds a JSON " + e.type_name() +
                    "; it must be a string or an array of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  return Fail("claim " + std::string(dotted_path) + " is a JSON " + at->type_name() +
              "; it must be a string or an array of strings");
}

}  // namespace modpub::jwt
