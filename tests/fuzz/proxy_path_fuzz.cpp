// Fuzzes the GOPROXY and checksum database router (http/proxy_path.hpp): every request
// path reaches it before any file is named. Invariants (the header's): what parses names a
// valid module path and a valid version, with no "..", NUL or "/" escaping the storage
// root; re-forming the route from the parsed request gives back the input byte for byte.
#include "fuzz_support.hpp"
#include "modpub/http/proxy_path.hpp"
#include "modpub/module/module.hpp"

using namespace modpub;
using Kind = http::ProxyRequest::Kind;

namespace {

constexpr std::string_view kSumdb = "sum.corp.example";

std::string_view Ext(storage::VersionPart p) {
  switch (p) {
    case storage::VersionPart::kInfo:
      return ".info";
    case storage::VersionPart::kMod:
      return ".mod";
    case storage::VersionPart::kZip:
      return ".zip";
    case storage::VersionPart::kSig:
      return ".sig";
  }
  return "";
}

// The request path that asks for `r`, formed the way the go command forms it.
std::string Reform(const http::ProxyRequest& r) {
  const std::string sumdb = "sumdb/" + std::string(kSumdb) + "/";
  auto path = [&] { return *module::EscapePath(r.module_path); };
  auto version = [&] { return *module::EscapeVersion(r.version); };
  switch (r.kind) {
    case Kind::kList:
      return path() + "/@v/list";
    case Kind::kLatest:
      return path() + "/@latest";
    case Kind::kPart:
      return path() + "/@v/" + version() + std::string(Ext(r.part));
    case Kind::kSumdbSupported:
      return sumdb + "supported";
    case Kind::kSumdbLatest:
      return sumdb + "latest";
    case Kind::kSumdbLookup:
      return sumdb + "lookup/" + path() + "@" + version();
    case Kind::kSumdbTile:
      return sumdb + sumdb::TilePath(r.tile);
    case Kind::kNotFound:
      break;
  }
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view rel = fuzz::Bytes(data, size);
  auto r = http::ParseProxyPath(rel, kSumdb);
  const std::string in(rel);
  if (!r) {
    FUZZ_CHECK(!r.message().empty(), in);
    return 0;
  }
  // The parse does not depend on which database is served, unless it is about sumdb/.
  if (!rel.starts_with("sumdb/")) {
    auto other = http::ParseProxyPath(rel, "");
    FUZZ_CHECK(other && other->kind == r->kind && other->module_path == r->module_path, in);
  }
  if (!r->module_path.empty()) FUZZ_CHECK(module::CheckPath(r->module_path).ok(), in);
  if (r->kind == Kind::kNotFound) {
    FUZZ_CHECK(!r->not_found.empty(), in);
    return 0;
  }
  if (r->kind == Kind::kPart || r->kind == Kind::kSumdbLookup) {
    FUZZ_CHECK(!r->version.empty() && r->version.find('/') == std::string::npos &&
                   r->version.find('\0') == std::string::npos && r->version != "." &&
                   r->version != "..",
               in);
    FUZZ_CHECK(module::EscapeVersion(r->version).ok(), in);
  }
  if (r->kind == Kind::kList || r->kind == Kind::kLatest || r->kind == Kind::kPart ||
      r->kind == Kind::kSumdbLookup) {
    FUZZ_CHECK(!r->module_path.empty(), in);
  }
  const std::string again = Reform(*r);
  FUZZ_CHECK(again == rel, in + " re-formed as " + again);
  return 0;
}
