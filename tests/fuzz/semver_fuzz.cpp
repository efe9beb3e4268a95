// Fuzzes semver (versions come from tags, go.mod requires, proxy URLs and @v/list files).
// Invariants: Canonical is "" exactly for invalid input; a canonical version is valid, its
// own canonical form, compares equal to the input and keeps its major and pre-release;
// Compare is antisymmetric and reflexive on valid versions.
#include "modpub/semver/semver.hpp"

#include "fuzz_support.hpp"

using namespace modpub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  // Two versions from one input: split at the first NUL or newline.
  const std::size_t cut = in.find_first_of(std::string_view("\0\n", 2));
  const std::string_view a = in.substr(0, cut);
  const std::string_view b = cut == std::string_view::npos ? "" : in.substr(cut + 1);

  const bool valid = semver::IsValid(a);
  const std::string canon = semver::Canonical(a);
  FUZZ_CHECK(canon.empty() == !valid, std::string(a));
  if (valid) {
    FUZZ_CHECK(semver::IsValid(canon), canon);
    FUZZ_CHECK(semver::Canonical(canon) == canon, canon);
    FUZZ_CHECK(semver::Compare(a, canon) == 0, std::string(a));
    FUZZ_CHECK(semver::Major(a) == semver::Major(canon), std::string(a));
    FUZZ_CHECK(semver::Prerelease(a) == semver::Prerelease(canon), std::string(a));
    FUZZ_CHECK(semver::Build(canon).empty(), canon);
    FUZZ_CHECK(semver::MajorMinor(a).starts_with(semver::Major(a) + "."), std::string(a));
    // A canonical version re-prints identically.
    if (a == canon) FUZZ_CHECK(semver::Canonical(a) == a, canon);
  } else {
    FUZZ_CHECK(
        semver::Major(a).empty() && semver::Prerelease(a).empty() && semver::Build(a).empty(),
        std::string(a));
  }
  FUZZ_CHECK(semver::Compare(a, a) == 0, std::string(a));
  const int ab = semver::Compare(a, b);
  FUZZ_CHECK(ab == -semver::Compare(b, a), std::string(in));
  FUZZ_CHECK((ab == 0) == (semver::Canonical(a) == semver::Canonical(b)), std::string(in));
  return 0;
}
