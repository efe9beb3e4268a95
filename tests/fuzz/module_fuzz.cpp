// Fuzzes module paths, import paths, file paths and "!"-escaping (proxy URLs, tags, zip
// entries and go.mod lines all reach these). Invariants: escaping and unescaping are
// inverse on everything either accepts; a valid module path is a valid import path; a
// path's major-version split re-joins to the path; Check implies CheckPath and a valid
// version; a pseudo-version is a valid version.
#include "fuzz_support.hpp"
#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"

using namespace modpub;

namespace {

void Path(std::string_view p) {
  const bool module_ok = module::CheckPath(p).ok();
  const bool import_ok = module::CheckImportPath(p).ok();
  (void)module::CheckFilePath(p);
  if (module_ok) FUZZ_CHECK(import_ok, std::string(p));

  auto esc = module::EscapePath(p);
  FUZZ_CHECK(esc.ok() == module_ok, std::string(p));
  if (esc) {
    for (char c : *esc) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), *esc);
    auto back = module::UnescapePath(*esc);
    FUZZ_CHECK(back && *back == p, *esc);
  }
  // The other way: what unescapes must escape back to the same text.
  if (auto un = module::UnescapePath(p)) {
    FUZZ_CHECK(module::CheckPath(*un).ok(), *un);
    auto again = module::EscapePath(*un);
    FUZZ_CHECK(again && *again == p, *un);
  }

  const module::PathVersion pv = module::SplitPathVersion(p);
  if (pv.ok) FUZZ_CHECK(pv.prefix + pv.path_major == p, std::string(p));
}

void Version(std::string_view v) {
  if (auto esc = module::EscapeVersion(v)) {
    auto back = module::UnescapeVersion(*esc);
    FUZZ_CHECK(back && *back == v, *esc);
  }
  if (auto un = module::UnescapeVersion(v)) {
    auto again = module::EscapeVersion(*un);
    FUZZ_CHECK(again && *again == v, *un);
  }
  if (module::IsPseudoVersion(v)) FUZZ_CHECK(semver::IsValid(v), std::string(v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::Bytes(data, size);
  // "<path>@<version>" as in a checksum database lookup; no "@": the input is both.
  const std::size_t at = in.rfind('@');
  const std::string_view path = in.substr(0, at);
  const std::string_view version = at == std::string_view::npos ? in : in.substr(at + 1);
  Path(path);
  Version(version);
  if (module::Check(path, version).ok()) {
    FUZZ_CHECK(module::CheckPath(path).ok() && semver::IsValid(version), std::string(in));
    const module::PathVersion pv = module::SplitPathVersion(path);
    FUZZ_CHECK(pv.ok && module::MatchPathMajor(version, pv.path_major), std::string(in));
  }
  const module::PathVersion pv = module::SplitPathVersion(path);
  if (pv.ok) {
    FUZZ_CHECK(module::MatchPathMajor(version, pv.path_major) ==
                   module::CheckPathMajor(version, pv.path_major).ok(),
               std::string(in));
    (void)module::PathMajorPrefix(pv.path_major);
  }
  return 0;
}
