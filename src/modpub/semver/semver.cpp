// Semantic versions, mirroring golang.org/x/mod/semver v0.7.0. See semver.hpp.

#include "modpub/semver/semver.hpp"

#include <algorithm>
#include <optional>

namespace modpub::semver {
namespace {

// The parts of a valid version, as views into the string that was parsed. For the
// shorthand forms the missing minor/patch are "0" (string literals).
struct Parsed {
  std::string_view major;
  std::string_view minor;
  std::string_view patch;
  std::string_view prerelease;  // "" or "-..." including the dash
  std::string_view build;       // "" or "+..." including the plus
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsIdentChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool IsNumeric(std::string_view s) { return std::all_of(s.begin(), s.end(), IsDigit); }

// Consumes a decimal number without a redundant leading zero from the front of `s`.
std::optional<std::string_view> TakeNumber(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && IsDigit(s[n])) ++n;
  if (n == 0 || (n > 1 && s[0] == '0')) return std::nullopt;
  std::string_view num = s.substr(0, n);
  s.remove_prefix(n);
  return num;
}

// Consumes a prerelease ("-" then identifiers, up to a '+' or the end) or a build suffix
// ("+" then identifiers, up to the end) from the front of `s`; the caller has checked
// the leading separator. Identifiers are non-empty, dot-separated, over [0-9A-Za-z-];
// numeric prerelease identifiers must not have a leading zero (build ones may).
std::optional<std::string_view> TakeSuffix(std::string_view& s, bool prerelease) {
  size_t i = 1;
  size_t start = i;
  auto ident_ok = [&](size_t end) {
    std::string_view ident = s.substr(start, end - start);
    if (ident.empty()) return false;
    return !(prerelease && ident.size() > 1 && ident[0] == '0' && IsNumeric(ident));
  };
  for (; i < s.size() && !(prerelease && s[i] == '+'); ++i) {
    if (s[i] == '.') {
      if (!ident_ok(i)) return std::nullopt;
      start = i + 1;
    } else if (!IsIdentChar(s[i])) {
      return std::nullopt;
    }
  }
  if (!ident_ok(i)) return std::nullopt;
  std::string_view taken = s.substr(0, i);
  s.remove_prefix(i);
  return taken;
}

std::optional<Parsed> Parse(std::string_view v) {
  if (v.empty() || v[0] != 'v') return std::nullopt;
  v.remove_prefix(1);
  Parsed p;
  auto major = TakeNumber(v);
  if (!major) return std::nullopt;
  p.major = *major;
  if (v.empty()) {  // "vMAJOR"
    p.minor = "0";
    p.patch = "0";
    return p;
  }
  if (v[0] != '.') return std::nullopt;
  v.remove_prefix(1);
  auto minor = TakeNumber(v);
  if (!minor) return std::nullopt;
  p.minor = *minor;
  if (v.empty()) {  // "vMAJOR.MINOR"
    p.patch = "0";
    return p;
  }
  if (v[0] != '.') return std::nullopt;
  v.remove_prefix(1);
  auto patch = TakeNumber(v);
  if (!patch) return std::nullopt;
  p.patch = *patch;
  if (!v.empty() && v[0] == '-') {
    auto pre = TakeSuffix(v, /*prerelease=*/true);
    if (!pre) return std::nullopt;
    p.prerelease = *pre;
  }
  if (!v.empty() && v[0] == '+') {
    auto build = TakeSuffix(v, /*prerelease=*/false);
    if (!build) return std::nullopt;
    p.build = *build;
  }
  if (!v.empty()) return std::nullopt;
  return p;
}

// Numbers without leading zeros: longer is larger, equal lengths compare as strings.
int CompareNumbers(std::string_view x, std::string_view y) {
  if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
  int c = x.compare(y);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Semver precedence of two prereleases (each "" or "-a.b.c"): no prerelease ranks
// highest; identifiers compare left to right, numeric ones numerically and below
// alphanumeric ones; a longer list wins when one is a prefix of the other.
int ComparePrerelease(std::string_view x, std::string_view y) {
  if (x == y) return 0;
  if (x.empty()) return 1;
  if (y.empty()) return -1;
  while (!x.empty() && !y.empty()) {
    x.remove_prefix(1);  // the leading '-' or '.'
    y.remove_prefix(1);
    std::string_view dx = x.substr(0, x.find('.'));
    std::string_view dy = y.substr(0, y.find('.'));
    x.remove_prefix(dx.size());
    y.remove_prefix(dy.size());
    if (dx == dy) continue;
    bool nx = IsNumeric(dx);
    bool ny = IsNumeric(dy);
    if (nx != ny) return nx ? -1 : 1;
    if (nx && dx.size() != dy.size()) return dx.size() < dy.size() ? -1 : 1;
    return dx < dy ? -1 : 1;
  }
  return x.empty() ? -1 : 1;
}

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

}  // namespace

bool IsValid(std::string_view v) { return Parse(v).has_value(); }

std::string Canonical(std::string_view v) {
  auto p = Parse(v);
  if (!p) return "";
  return Join({"v", p->major, ".", p->minor, ".", p->patch, p->prerelease});
}

std::string Major(std::string_view v) {
  auto p = Parse(v);
  if (!p) return "";
  return Join({"v", p->major});
}

std::string MajorMinor(std::string_view v) {
  auto p = Parse(v);
  if (!p) return "";
  return Join({"v", p->major, ".", p->minor});
}

std::string Prerelease(std::string_view v) {
  auto p = Parse(v);
  return p ? std::string(p->prerelease) : std::string();
}

std::string Build(std::string_view v) {
  auto p = Parse(v);
  return p ? std::string(p->build) : std::string();
}

int Compare(std::string_view a, std::string_view b) {
  auto pa = Parse(a);
  auto pb = Parse(b);
  if (!pa || !pb) {
    if (!pa && !pb) return 0;
    return pa ? 1 : -1;
  }
  if (int c = CompareNumbers(pa->major, pb->major); c != 0) return c;
  if (int c = CompareNumbers(pa->minor, pb->minor); c != 0) return c;
  if (int c = CompareNumbers(pa->patch, pb->patch); c != 0) return c;
  return ComparePrerelease(pa->prerelease, pb->prerelease);
}

std::string Max(std::string_view a, std::string_view b) {
  std::string ca = Canonical(a);
  std::string cb = Canonical(b);
  return Compare(ca, cb) > 0 ? ca : cb;
}

void Sort(std::vector<std::string>& versions) {
  // The tie-break makes this a strict weak order whose only ties are equal strings, so
  // the result is the same as x/mod's (unstable) sort.Sort.
  std::sort(versions.begin(), versions.end(), [](const std::string& a, const std::string& b) {
    int c = Compare(a, b);
    return c != 0 ? c < 0 : a < b;
  });
}

}  // namespace modpub::semver
