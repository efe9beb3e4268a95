// Fuzzes the TOML configuration (config/config.hpp ParseConfig, from a string): modpubd
// and the hooks read it at start, and a broken file must get an error naming the line,
// never a crash. Invariants: an error names the source; a configuration that loads prints
// (EffectiveToml) a file that loads again and prints the same (but for the first comment
// line, which names the source; configurations with secrets, which are not printed, are
// only required to print).
#include "fuzz_support.hpp"
#include "modpub/config/config.hpp"

using namespace modpub;

namespace {

std::string WithoutFirstLine(const std::string& s) { return s.substr(s.find('\n') + 1); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  auto cfg = config::ParseConfig(in, "fuzz.toml");
  if (!cfg) {
    FUZZ_CHECK(cfg.message().starts_with("fuzz.toml"), cfg.message());
    return 0;
  }
  const std::string effective = config::EffectiveToml(*cfg);
  if (effective.find("(set, not shown)") != std::string::npos) return 0;
  auto again = config::ParseConfig(effective, "effective.toml");
  FUZZ_CHECK(again.ok(), effective + "\n-> " + (again ? "" : again.message()));
  const std::string twice = config::EffectiveToml(*again);
  FUZZ_CHECK(WithoutFirstLine(twice) == WithoutFirstLine(effective), effective + "\nvs\n" + twice);
  return 0;
}
