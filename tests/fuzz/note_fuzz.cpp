// Fuzzes signed notes and keys (sign/sign.hpp): `modpub verify` opens the .sig files of a
// storage or a GOPROXY URL, and keys come from files and flags. Uses x/mod's documented
// example key (PeterNeumann).
// Invariants: an opened note's text is the note's beginning and ends in a newline; a valid
// note text, once signed, opens again to itself, and not with a changed byte in the
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

// A note text that note.Open can return: valid UTF-8, no control character but newline.
bool ValidText(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\n') return false;
    const std::size_t n = c < 0x80             ? 1
                          : (c & 0xe0) == 0xc0 ? 2
                          : (c & 0xf0) == 0xe0 ? 3
                          : (c & 0xf8) == 0xf0 ? 4
                                               : 0;  // a continuation byte or 0xf8..0xff
    if (n == 0 || i + n > text.size()) return false;
    // Overlong forms, surrogates and code points past U+10FFFF are RuneError in Go.
    std::uint32_t r = n == 1 ? c : c & (0x7f >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      r = (r << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (r < kMin[n] || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return false;
    i += n;
  }
  return true;
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

  // SignNote, as x/mod's note.Sign, checks only the final newline: a text holding another
  // control character or invalid UTF-8 is signed but can never be opened.
  if (auto note = sign::SignNote(in, signer)) {
    auto text = sign::OpenNote(*note, verifier);
    if (ValidText(in)) FUZZ_CHECK(text && *text == in, *note);
    std::string bad = *note;
    const std::size_t at = bad.size() - 10;  // inside the signature, clear of base64 padding
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
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
