// What a GOPROXY or checksum database request path asks for (http/proxy.hpp lists the
// routes), parsed and validated before anything is looked up: pure, no storage, no I/O.
// The proxy's handlers answer from the result; the fuzz target tests/fuzz/proxy_path_fuzz.cpp
// drives it with arbitrary paths.
//
// Input: the request path below the proxy's prefix, without its leading "/", after the
// one percent-decoding cpp-httplib does (e.g. "corp.example/!lib/@v/v1.0.0.zip",
// "sumdb/sum.corp.example/lookup/corp.example/!lib@v1.0.0").
//
// Invariants of a parsed request (checked by the fuzz target):
//  * module_path is a valid module path and version a valid file-name element
//    (module::UnescapePath / UnescapeVersion accepted them), so neither can name a file
//    outside the storage root;
//  * the path is the only one that parses to this result: escaping module_path and
//    version again and re-forming the route gives back the input, byte for byte.
#pragma once

#include <string>
#include <string_view>

#include "modpub/base/result.hpp"
#include "modpub/storage/backend.hpp"
#include "modpub/sumdb/tlog.hpp"

namespace modpub::http {

struct ProxyRequest {
  enum class Kind {
    kNotFound,        // no such route: 404 with `not_found` as the body
    kList,            // <module>/@v/list
    kLatest,          // <module>/@latest
    kPart,            // <module>/@v/<version>.info|.mod|.zip|.sig
    kSumdbSupported,  // sumdb/<name>/supported
    kSumdbLatest,     // sumdb/<name>/latest
    kSumdbLookup,     // sumdb/<name>/lookup/<module>@<version>
    kSumdbTile,       // sumdb/<name>/tile/8/<L>/<N>[.p/<W>] (L may be "data")
  };
  Kind kind = Kind::kNotFound;
  std::string not_found = "not found";  // kNotFound: the answer's text
  // Unescaped: kList, kLatest, kPart, kSumdbLookup; also kNotFound for a path below a
  // valid module ("<module>/@v/x"), which the handler authorizes before answering 404.
  std::string module_path;
  std::string version;                                      // unescaped: kPart, kSumdbLookup
  storage::VersionPart part = storage::VersionPart::kInfo;  // kPart
  sumdb::Tile tile;                                         // kSumdbTile
};

// Parses `rel`. `sumdb_name` is the name of the checksum database served ("" for none): a
// sumdb/ path naming another is kNotFound ("not found: no such checksum database").
// Error (answered 400, the message as the body): a module path or version that does not
// unescape to a valid one ("bad request: <why>"), a lookup not shaped <module>@<semver>
// ("invalid module@version syntax"), a tile path that is not canonical ("invalid tile
// syntax").
Result<ProxyRequest> ParseProxyPath(std::string_view rel, std::string_view sumdb_name);

}  // namespace modpub::http
