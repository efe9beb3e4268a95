// Fuzzes signed notes and keys (sign/sign.hpp): `modpub verify` opens the .sig files of a
// storage or a GOPROXY URL, and keys come from files and flags. Uses x/mod's documented
// example key (PeterNeumann).
// Invariants: an opened note's text is the note's beginning and ends in a newline; a text
// that can be signed opens again to itself, and not with a changed byte in the
// signature; keys that parse print back (a signer's verifier key parses, with its name and
// hash); base64 decodes what it encodes.
#include "fuzz_support.hpp"
#include "modpub/dirhash/dirhash.hpp"
#include "modpub/sign/sign.hpp"

using namespace modpub;

namespace {

constexpr char kSigner[] =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kVerifier[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

template <typename T>
const T& Key(const char* text) {
  static const T key = [text] {
    auto k = T::Parse(text);
    if (!k) fuzz::Broken(__FILE__, __LINE__, "the example key parses", k.message());
    return std::move(*k);
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const auto& signer = Key<sign::Signer>(kSigner);
  const auto& verifier = Key<sign::Verifier>(kVerifier);

  if (auto text = sign::OpenNote(in, verifier)) {
    FUZZ_CHECK(in.starts_with(*text) && text->ends_with("\n"), *text);
  } else {
    FUZZ_CHECK(!text.message().empty(), std::string(in));
  }

  if (auto note = sign::SignNote(in, signer)) {
    auto text = sign::OpenNote(*note, verifier);
    FUZZ_CHECK(text && *text == in, *note);
    std::string bad = *note;
    bad[bad.size() - 3] = bad[bad.size() - 3] == 'A' ? 'B' : 'A';  // inside the signature
    FUZZ_CHECK(!sign::OpenNote(bad, verifier).ok(), bad);
  }

  if (auto v = sign::Verifier::Parse(in)) {
    FUZZ_CHECK(sign::IsValidName(v->name()) && in.starts_with(v->name() + "+"), v->name());
  }
  if (auto s = sign::Signer::Parse(in)) {
    auto v = sign::Verifier::Parse(s->VerifierKey());
    FUZZ_CHECK(v && v->name() == s->name() && v->key_hash() == s->key_hash(), s->VerifierKey());
  }
  if (auto bytes = sign::Base64Decode(in)) {
    auto again = sign::Base64Decode(dirhash::Base64(*bytes));
    FUZZ_CHECK(again && *again == *bytes, std::string(in));
  }
  return 0;
}
