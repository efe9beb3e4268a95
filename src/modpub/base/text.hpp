// Small text helpers for messages every layer writes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace modpub {

// "1 job", "2 jobs": `n` and the noun in the number it takes.
inline std::string Plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// `s` with each %XX escape decoded once ('+' stays a plus sign). A '%' not followed by two
// hex digits is kept as it is when `strict` is false (a request path), and makes the
// result nullopt when it is true (a URL part or a query parameter read exactly).
inline std::optional<std::string> PercentDecode(std::string_view s, bool strict) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? hex(s[i + 1]) : -1;
    const int lo = hi >= 0 ? hex(s[i + 2]) : -1;
    if (lo >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '%' && strict) {
      return std::nullopt;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace modpub
