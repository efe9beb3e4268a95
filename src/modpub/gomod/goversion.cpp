// Go version ordering (cmd/go/internal/gover's parse and Compare). See goversion.hpp.
#include "modpub/gomod/goversion.hpp"

#include <optional>
#include <string>
#include <tuple>

namespace modpub::gomod {
namespace {

struct Parsed {
  long major = 0, minor = 0;
  long patch = -1;  // -1: absent
  std::string kind;
  long pre = -1;  // -1: absent
};

// A decimal number at the start of `s` (removed from it), no leading zeros past the first
// digit; nullopt when there is none.
std::optional<long> CutInt(std::string_view& s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 9) ++i;
  if (i == 0 || (i > 1 && s[0] == '0') || (i < s.size() && s[i] >= '0' && s[i] <= '9')) {
    return std::nullopt;
  }
  long n = std::stol(std::string(s.substr(0, i)));
  s.remove_prefix(i);
  return n;
}

std::optional<Parsed> Parse(std::string_view s) {
  Parsed v;
  auto major = CutInt(s);
  if (!major) return std::nullopt;
  v.major = *major;
  if (s.empty()) {  // "1" is "1.0.0"
    v.patch = 0;
    return v;
  }
  if (s[0] != '.') return std::nullopt;
  s.remove_prefix(1);
  auto minor = CutInt(s);
  if (!minor) return std::nullopt;
  v.minor = *minor;
  if (s.empty()) {
    if (v.major == 1 && v.minor < 21) v.patch = 0;  // before 1.21, "1.N" meant "1.N.0"
    return v;
  }
  if (s[0] == '.') {
    s.remove_prefix(1);
    auto patch = CutInt(s);
    if (!patch || !s.empty()) return std::nullopt;
    v.patch = *patch;
    return v;
  }
  std::size_t i = 0;
  while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
  if (i == 0) return std::nullopt;
  v.kind = std::string(s.substr(0, i));
  s.remove_prefix(i);
  if (s.empty()) return v;
  auto pre = CutInt(s);
  if (!pre || !s.empty()) return std::nullopt;
  v.pre = *pre;
  return v;
}

}  // namespace

int CompareGoVersions(std::string_view a, std::string_view b) {
  auto x = Parse(a), y = Parse(b);
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
  auto key = [](const Parsed& v) { return std::tie(v.major, v.minor, v.patch, v.kind, v.pre); };
  if (key(*x) < key(*y)) return -1;
  return key(*y) < key(*x) ? 1 : 0;
}

bool IsValidGoVersion(std::string_view v) { return Parse(v).has_value(); }

bool LanguageAtLeast(std::string_view v, int minor) {
  auto p = Parse(v);
  return p && (p->major > 1 || (p->major == 1 && p->minor >= minor));
}

}  // namespace modpub::gomod
