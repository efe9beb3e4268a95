// Package semver: semantic version strings as the go command understands them.
//
// A version is "v" followed by MAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]], where the
// shorthands vMAJOR and vMAJOR.MINOR stand for vMAJOR.0.0 and vMAJOR.MINOR.0 (and take
// no suffixes), numbers have no leading zeros, PRERELEASE and BUILD are non-empty
// dot-separated identifiers over [0-9A-Za-z-], and numeric PRERELEASE identifiers have
// no leading zeros. This mirrors golang.org/x/mod/semver (v0.7.0) exactly, which the
// differential tests check against the real package:
//  * IsValid("v1.2") is true, Canonical("v1.2") is "v1.2.0", Canonical drops "+build".
//  * Compare orders invalid versions before all valid ones, and equal among themselves.
//  * Major("v2.1.0") is "v2"; every function returns "" for an invalid version.
//
// All functions are pure and thread-safe; none of them fails: "" (or "less than") is how
// an invalid version is reported, as in x/mod.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modpub::semver {

bool IsValid(std::string_view v);
// The canonical form "vMAJOR.MINOR.PATCH[-PRERELEASE]" (missing parts filled in, build
// suffix dropped), or "" if invalid. Two versions compare equal iff their canonical forms
// are the same string.
std::string Canonical(std::string_view v);
// "vMAJOR", or "" if invalid.
std::string Major(std::string_view v);
// "vMAJOR.MINOR" (".0" filled in for "vMAJOR"), or "" if invalid.
std::string MajorMinor(std::string_view v);
// "-PRERELEASE" including the dash, or "".
std::string Prerelease(std::string_view v);
// "+BUILD" including the plus, or "".
std::string Build(std::string_view v);
// -1, 0 or +1 by semver precedence (build suffixes ignored). Invalid versions compare
// equal to each other and less than valid ones.
int Compare(std::string_view a, std::string_view b);
// Canonicalizes both, then returns the greater by Compare; b (canonical) if they are
// equal. x/mod deprecates this; kept for parity.
std::string Max(std::string_view a, std::string_view b);
// Sorts in increasing Compare order; ties (e.g. build suffixes, invalid versions) broken
// by byte-wise string order (x/mod's ByVersion).
void Sort(std::vector<std::string>& versions);

}  // namespace modpub::semver
