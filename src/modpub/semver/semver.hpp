// Package semver: semantic version strings as the go command understands them.
//
// A version is "v" followed by MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], where the
// shorthands vMAJOR and vMAJOR.MINOR stand for vMAJOR.0.0 and vMAJOR.MINOR.0 and numbers
// have no leading zeros. This mirrors golang.org/x/mod/semver (v0.7.0) exactly, which the
// differential tests check against the real package:
//  * IsValid("v1.2") is true, Canonical("v1.2") is "v1.2.0", Canonical drops "+build".
//  * Compare orders invalid versions before all valid ones, and equal among themselves.
//  * Major("v2.1.0") is "v2"; every function returns "" for an invalid version.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modpub::semver {

bool IsValid(std::string_view v);
// The canonical form "vMAJOR.MINOR.PATCH[-PRERELEASE]" (build suffix dropped), or "".
std::string Canonical(std::string_view v);
// "vMAJOR", or "" if invalid.
std::string Major(std::string_view v);
// "vMAJOR.MINOR", or "" if invalid.
std::string MajorMinor(std::string_view v);
// "-PRERELEASE" including the dash, or "".
std::string Prerelease(std::string_view v);
// "+BUILD" including the plus, or "".
std::string Build(std::string_view v);
// -1, 0 or +1. Invalid versions compare equal to each other and less than valid ones.
int Compare(std::string_view a, std::string_view b);
// The larger of a and b by Compare; a if equal.
std::string Max(std::string_view a, std::string_view b);
// Sorts in increasing Compare order; ties (e.g. build suffixes) broken by string order.
void Sort(std::vector<std::string>& versions);

}  // namespace modpub::semver
