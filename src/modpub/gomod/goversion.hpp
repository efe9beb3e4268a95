// Go release versions as the go command orders them (cmd/go/internal/gover), and the range
// of go commands modpub publishes for.
//
// A version is "1.N" (a language version), "1.NkindK" (a pre-release: alpha, beta, rc) or
// "1.N.P" (a release), without the "go" prefix: the form of a go.mod go line. Order:
// major, minor, then patch (absent before present), then kind ("" < alpha < beta < rc),
// then the pre-release number: 1.21 < 1.21rc1 < 1.21.0 < 1.21.1 < 1.22. For minor
// versions before 21 a missing patch is ".0" (1.20 == 1.20.0), as in the go command.
// A malformed version sorts before every valid one, and equal to every malformed one.
#pragma once

#include <string_view>

namespace modpub::gomod {

// The go commands a published version must be fetchable by, with the same hashes: every
// release from the oldest to the newest (both checked end to end by the test suite).
inline constexpr std::string_view kOldestGo = "1.19";
inline constexpr std::string_view kNewestGo = "1.26.8";

// <0, 0, >0 as a sorts before, equal to, after b.
int CompareGoVersions(std::string_view a, std::string_view b);

// Whether `v` is a well-formed go version.
bool IsValidGoVersion(std::string_view v);

// Whether the language version of `v` (its major.minor) is at least 1.`minor`; false for a
// malformed `v`.
bool LanguageAtLeast(std::string_view v, int minor);

}  // namespace modpub::gomod
