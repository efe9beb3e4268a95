// Fuzzes the `@v/list` reader (storage/backend.hpp ParseVersionList), used for the file on
// disk and the S3 object alike: a list is read before every publish and every listing.
// Invariants: every entry kept is a version go accepts for the module's path (no junk line
// survives: go would take it for a version); reading the entries written one per line
// gives the same entries and no junk; Listed finds every entry; the list a publish writes
// back names the version it adds and holds no junk.
#include <spdlog/spdlog.h>

#include "fuzz_support.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "modpub/storage/backend.hpp"

using namespace modpub;

namespace {
constexpr std::string_view kModule = "corp.example/fuzz";
}

// The reader logs each dropped line: quiet here, or the log is most of the work.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const storage::VersionList list = storage::ParseVersionList(in, kModule);
  const std::vector<std::string>& versions = list.versions;
  std::string text;
  for (const auto& v : versions) {
    // A version go accepts for this path (module.Check): canonical, v0/v1 or +incompatible.
    FUZZ_CHECK(module::Check(kModule, v).ok(), v);
    FUZZ_CHECK(semver::Canonical(v) == v || v.ends_with("+incompatible"), v);
    FUZZ_CHECK(storage::Listed(versions, v), v);
    text += v + "\n";
  }
  const storage::VersionList again = storage::ParseVersionList(text, kModule);
  FUZZ_CHECK(again.versions == versions && again.junk.empty(), text);
  // What a publish writes back (the list with one more version) lists that version.
  const std::string grown = storage::VersionListWith(versions, "v1.2.3");
  const storage::VersionList after = storage::ParseVersionList(grown, kModule);
  FUZZ_CHECK(storage::Listed(after.versions, "v1.2.3") && after.junk.empty(), grown);
  return 0;
}
