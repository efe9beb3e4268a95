#include "modpub/http/proxy_path.hpp"

#include "modpub/module/module.hpp"

namespace modpub::http {

namespace {

using Kind = ProxyRequest::Kind;

ProxyRequest Route(Kind kind) {
  ProxyRequest r;
  r.kind = kind;
  return r;
}

// <module>/@latest, <module>/@v/list, <module>/@v/<version>.<ext>.
Result<ProxyRequest> ParseModuleRoute(std::string_view rel) {
  std::string_view escaped;
  std::string_view file;
  bool latest = false;
  if (rel.ends_with("/@latest")) {
    escaped = rel.substr(0, rel.size() - 8);
    latest = true;
  } else {
    auto at = rel.find("/@v/");
    if (at == std::string_view::npos) return Route(Kind::kNotFound);
    escaped = rel.substr(0, at);
    file = rel.substr(at + 4);
  }
  auto path = module::UnescapePath(escaped);
  if (!path) return Fail("bad request: " + path.message());
  ProxyRequest r = Route(latest ? Kind::kLatest : file == "list" ? Kind::kList : Kind::kNotFound);
  r.module_path = std::move(*path);
  if (r.kind != Kind::kNotFound) return r;

  struct Ext {
    std::string_view ext;
    storage::VersionPart part;
  };
  for (const Ext& e :
       {Ext{".info", storage::VersionPart::kInfo}, Ext{".mod", storage::VersionPart::kMod},
        Ext{".zip", storage::VersionPart::kZip}, Ext{".sig", storage::VersionPart::kSig}}) {
    if (!file.ends_with(e.ext)) continue;
    auto version = module::UnescapeVersion(file.substr(0, file.size() - e.ext.size()));
    if (!version) return Fail("bad request: " + version.message());
    r.kind = Kind::kPart;
    r.version = std::move(*version);
    r.part = e.part;
    return r;
  }
  return r;  // below a valid module, but no such file
}

// Consumes one or more ASCII digits at the front of `s`.
bool TakeDigits(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  s.remove_prefix(n);
  return n > 0;
}

// The shape of a lookup's <module>@<version>: a module part without '@', then
// vN.N.N, then nothing, "+incompatible", or "-" and anything without '@'. Checked by hand,
// in linear time: std::regex matches by recursion, one stack frame per character, and
// the fuzzer overflowed the stack with a 31 KB path through it.
bool ModVersionShape(std::string_view mv) {
  const auto at = mv.find('@');
  if (at == 0 || at == std::string_view::npos) return false;
  std::string_view v = mv.substr(at + 1);
  if (!v.starts_with('v')) return false;
  v.remove_prefix(1);
  for (int i = 0; i < 3; ++i) {
    if (!TakeDigits(v)) return false;
    if (i < 2) {
      if (!v.starts_with('.')) return false;
      v.remove_prefix(1);
    }
  }
  if (v.empty() || v == "+incompatible") return true;
  return v.front() == '-' && v.find('@') == std::string_view::npos;
}

// <name>/supported, <name>/latest, <name>/lookup/<module>@<version>, <name>/tile/...
Result<ProxyRequest> ParseSumdbRoute(std::string_view rest, std::string_view sumdb_name) {
  auto slash = rest.find('/');
  if (sumdb_name.empty() || slash == std::string_view::npos ||
      rest.substr(0, slash) != sumdb_name) {
    ProxyRequest r;
    r.not_found = "not found: no such checksum database";
    return r;
  }
  const std::string_view sub = rest.substr(slash + 1);
  if (sub == "supported") return Route(Kind::kSumdbSupported);
  if (sub == "latest") return Route(Kind::kSumdbLatest);
  if (sub.starts_with("lookup/")) {
    const std::string mv(sub.substr(7));
    if (!ModVersionShape(mv)) return Fail("invalid module@version syntax");
    const auto at = mv.find('@');
    auto path = module::UnescapePath(mv.substr(0, at));
    if (!path) return Fail("bad request: " + path.message());
    auto version = module::UnescapeVersion(mv.substr(at + 1));
    if (!version) return Fail("bad request: " + version.message());
    ProxyRequest r = Route(Kind::kSumdbLookup);
    r.module_path = std::move(*path);
    r.version = std::move(*version);
    return r;
  }
  if (sub.starts_with("tile/")) {
    auto tile = sumdb::ParseTilePath(sub);
    if (!tile) return Fail("invalid tile syntax");
    ProxyRequest r = Route(Kind::kSumdbTile);
    r.tile = *tile;
    return r;
  }
  return Route(Kind::kNotFound);
}

}  // namespace

Result<ProxyRequest> ParseProxyPath(std::string_view rel, std::string_view sumdb_name) {
  if (rel.starts_with("sumdb/")) return ParseSumdbRoute(rel.substr(6), sumdb_name);
  return ParseModuleRoute(rel);
}

}  // namespace modpub::http
