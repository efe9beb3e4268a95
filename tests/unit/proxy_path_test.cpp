// Unit tests for http::ParseProxyPath, the router's pure parse of a request path.

#include "modpub/http/proxy_path.hpp"

#include <gtest/gtest.h>

namespace modpub::http {
namespace {

using Kind = ProxyRequest::Kind;
constexpr std::string_view kName = "sum.corp.example";

TEST(ProxyPath, ModuleRoutesAreUnescaped) {
  auto r = ParseProxyPath("corp.example/!lib/@v/v1.0.0-!r!c.1.zip", kName);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->kind, Kind::kPart);
  EXPECT_EQ(r->module_path, "corp.example/Lib");
  EXPECT_EQ(r->version, "v1.0.0-RC.1");
  EXPECT_EQ(r->part, storage::VersionPart::kZip);
  EXPECT_EQ(ParseProxyPath("corp.example/lib/@v/list", kName)->kind, Kind::kList);
  EXPECT_EQ(ParseProxyPath("corp.example/lib/@latest", kName)->kind, Kind::kLatest);
}

TEST(ProxyPath, UnknownFileBelowAModuleIsNotFoundButNamesTheModule) {
  // The handler authorizes the module before answering 404.
  auto r = ParseProxyPath("corp.example/lib/@v/v1.0.0.tar", kName);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kNotFound);
  EXPECT_EQ(r->module_path, "corp.example/lib");
  auto none = ParseProxyPath("healthz", kName);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, Kind::kNotFound);
  EXPECT_EQ(none->module_path, "");
}

TEST(ProxyPath, MalformedPathsAndVersionsAreRefused) {
  EXPECT_EQ(ParseProxyPath("corp.example/Lib/@v/list", kName).message(),
            "bad request: invalid escaped module path \"corp.example/Lib\"");
  EXPECT_FALSE(ParseProxyPath("corp.example/../../@v/list", kName).ok());
  EXPECT_FALSE(ParseProxyPath("corp.example/lib/@v/../../x.info", kName).ok());
  EXPECT_EQ(
      ParseProxyPath("sumdb/sum.corp.example/lookup/corp.example/lib@master", kName).message(),
      "invalid module@version syntax");
  EXPECT_EQ(ParseProxyPath("sumdb/sum.corp.example/tile/8/0/0", kName).message(),
            "invalid tile syntax");
}

// The lookup's shape is checked in linear time: a regex over 1 MB of version used to
// overflow the stack (found by the proxy_path fuzz target with 31 KB).
TEST(ProxyPath, LookupShapeOfEveryLengthAndForm) {
  const std::string pre = "sumdb/sum.corp.example/lookup/";
  auto big = ParseProxyPath(pre + "corp.example/lib@v1.0.0-" + std::string(1 << 20, 'x'), kName);
  EXPECT_TRUE(big.ok() || big.message() != "invalid module@version syntax")
      << "long but well-formed: judged by its content, not crashed";
  for (const char* bad :
       {"@v1.0.0", "corp.example/lib", "corp.example/lib@1.0.0", "corp.example/lib@v1.0",
        "corp.example/lib@v1.0.0x", "corp.example/lib@v1.0.0-a@b", "corp.example/lib@v1..0",
        "corp.example/lib@v1.0.0+meta"}) {
    EXPECT_EQ(ParseProxyPath(pre + bad, kName).message(), "invalid module@version syntax") << bad;
  }
  for (const char* good : {"corp.example/lib@v1.0.0", "corp.example/lib@v2.0.0+incompatible",
                           "corp.example/lib@v1.0.0-pre.1", "corp.example/lib@v1.0.0-0.2024+x"}) {
    auto r = ParseProxyPath(pre + good, kName);
    EXPECT_NE(r.ok() ? std::string() : r.message(), "invalid module@version syntax") << good;
  }
}

TEST(ProxyPath, ChecksumDatabaseRoutes) {
  auto lookup = ParseProxyPath("sumdb/sum.corp.example/lookup/corp.example/!lib@v1.0.0", kName);
  ASSERT_TRUE(lookup.ok()) << lookup.message();
  EXPECT_EQ(lookup->kind, Kind::kSumdbLookup);
  EXPECT_EQ(lookup->module_path, "corp.example/Lib");
  EXPECT_EQ(lookup->version, "v1.0.0");
  auto tile = ParseProxyPath("sumdb/sum.corp.example/tile/8/data/001.p/5", kName);
  ASSERT_TRUE(tile.ok());
  EXPECT_EQ(tile->kind, Kind::kSumdbTile);
  EXPECT_EQ(tile->tile, (sumdb::Tile{8, -1, 1, 5}));
  EXPECT_EQ(ParseProxyPath("sumdb/sum.corp.example/supported", kName)->kind, Kind::kSumdbSupported);
  EXPECT_EQ(ParseProxyPath("sumdb/sum.corp.example/latest", kName)->kind, Kind::kSumdbLatest);
  // Another database, or none served: not found, whatever follows.
  for (std::string_view name : {std::string_view("other.example"), std::string_view("")}) {
    auto r = ParseProxyPath("sumdb/sum.corp.example/tile/8/0/0", name);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, Kind::kNotFound);
    EXPECT_EQ(r->not_found, "not found: no such checksum database");
  }
}

}  // namespace
}  // namespace modpub::http
