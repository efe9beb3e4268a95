// Small text helpers for messages every layer writes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modpub {

// "1 job", "2 jobs": `n` and the noun in the number it takes.
inline std::string Plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace modpub
