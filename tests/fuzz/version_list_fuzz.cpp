// Fuzzes the `@v/list` reader (storage/backend.hpp ParseVersionList), used for the file on
// disk and the S3 object alike: a list is read before every publish and every listing.
// Invariants: no entry is empty or holds a newline, a trailing space or CR; reading the
// entries written one per line gives the same entries; Listed finds every entry; the
// list a publish writes back names the version it adds.
#include "fuzz_support.hpp"
#include "modpub/storage/backend.hpp"

using namespace modpub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const std::vector<std::string> versions = storage::ParseVersionList(in);
  std::string text;
  for (const auto& v : versions) {
    FUZZ_CHECK(!v.empty(), std::string(in));
    FUZZ_CHECK(v.find('\n') == std::string::npos, v);
    FUZZ_CHECK(v.back() != ' ' && v.back() != '\r', v);
    FUZZ_CHECK(storage::Listed(versions, v), v);
    text += v + "\n";
  }
  FUZZ_CHECK(storage::ParseVersionList(text) == versions, text);
  // What a publish writes back (the list with one more version) lists that version.
  const std::string grown = storage::VersionListWith(versions, "v1.2.3");
  FUZZ_CHECK(storage::Listed(storage::ParseVersionList(grown), "v1.2.3"), grown);
  return 0;
}
