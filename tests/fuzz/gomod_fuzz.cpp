// Fuzzes the go.mod readers (a pushed tag's go.mod is outside input). Invariants: what
// ParseModule accepts, the go command's quick scan (ModulePath) reads the same way, and
// GoVersion agrees with it; the go.mod synthesized for a valid module path parses back to
// that path; AutoQuote's output reads back as the quoted text.
#include "fuzz_support.hpp"
#include "modpub/gomod/gomod.hpp"
#include "modpub/module/module.hpp"

using namespace modpub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  const std::string quick = gomod::ModulePath(in);
  const std::string go = gomod::GoVersion(in);
  if (auto m = gomod::ParseModule(in)) {
    FUZZ_CHECK(m->path == quick, m->path + " vs " + quick);
    FUZZ_CHECK(m->line >= 1, m->path);
    FUZZ_CHECK(m->go_version == go, m->go_version + " vs " + go);
  } else {
    FUZZ_CHECK(!m.message().empty(), std::string(in));
  }

  // The first line of the input as a module path: the go.mod the go command writes for a
  // module without one must name it, for both readers.
  const std::string_view path = in.substr(0, in.find('\n'));
  if (module::CheckPath(path).ok()) {
    const std::string legacy = gomod::LegacyGoMod(path);
    auto m = gomod::ParseModule(legacy);
    FUZZ_CHECK(m && m->path == path, legacy);
    FUZZ_CHECK(gomod::ModulePath(legacy) == path, legacy);
  }
  // Any text, quoted as go.mod quotes it, reads back as itself on a module line (the quick
  // scan cuts at "//" whatever the quoting, so only texts without it).
  if (path.find("//") == std::string_view::npos && path.find('\r') == std::string_view::npos &&
      !path.empty()) {
    const std::string line = "module " + gomod::AutoQuote(path) + "\n";
    if (auto m = gomod::ParseModule(line)) FUZZ_CHECK(m->path == path, line);
  }
  return 0;
}
