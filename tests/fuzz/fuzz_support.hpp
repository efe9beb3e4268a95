// What every fuzz target shares: the input as a string_view, and a check that, unlike
// assert(), stays on in every build type and aborts with the broken invariant named (so
// libFuzzer saves the input as a crash and prints the message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace modpub::fuzz {

inline std::string_view Bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void Broken(const char* file, int line, const char* what,
                                std::string_view detail) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n  %.*s\n", file, line, what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace modpub::fuzz

// FUZZ_CHECK(cond, detail): aborts when `cond` is false; `detail` (a string) says with what.
#define FUZZ_CHECK(cond, detail)                                              \
  do {                                                                        \
    if (!(cond)) ::modpub::fuzz::Broken(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
