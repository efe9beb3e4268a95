// storage/s3: URL parsing, credentials, the client's signing, listing and retries, and
// the S3 backend under injected faults. Cases every backend shares are in
// storage_conformance_test.cpp. Tests needing ../shared/s3-test-server skip without it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <set>

#include "modpub/dirhash/dirhash.hpp"
#include "modpub/storage/open.hpp"
#include "modpub/storage/s3.hpp"
#include "modpub/storage/s3_client.hpp"
#include "support/s3_server.hpp"
#include "support/storage_fixtures.hpp"
#include "support/temp_repo.hpp"

namespace modpub::storage {
namespace {

namespace fs = std::filesystem;
using ::modpub::testing::Fabricator;
using ::modpub::testing::S3TestServer;
using ::modpub::testing::TempDir;
using ::modpub::testing::WriteAll;
using ::testing::HasSubstr;
using ::testing::Not;

// Sets or unsets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

#define REQUIRE_S3()                                                   \
  do {                                                                 \
    if (auto why = ::modpub::testing::S3Unavailable(); !why.empty()) { \
      GTEST_SKIP() << why;                                             \
    }                                                                  \
  } while (0)

s3::Client MakeClient(const S3TestServer& server, std::string secret = testing::kS3SecretKey,
                      int attempts = 10) {
  s3::ClientConfig c;
  c.endpoint = server.endpoint();
  c.bucket = testing::kS3Bucket;
  c.credentials = {testing::kS3AccessKey, std::move(secret), ""};
  c.max_attempts = attempts;
  c.backoff_base = std::chrono::milliseconds(5);
  return s3::Client(c);
}

// --- URLs -------------------------------------------------------------------------------

TEST(ParseS3Url, AcceptsBucketPrefixAndParameters) {
  auto u = ParseS3Url(
      "s3://modules/go/proxy/?endpoint=http://127.0.0.1:9000/&region=eu-west-1&layout=athens"
      "&attempts=3");
  ASSERT_TRUE(u.ok()) << u.message();
  EXPECT_EQ(u->bucket, "modules");
  EXPECT_EQ(u->prefix, "go/proxy");
  EXPECT_EQ(u->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(u->region, "eu-west-1");
  EXPECT_EQ(u->layout, S3Url::Layout::kAthens);
  EXPECT_EQ(u->attempts, 3);
  auto d = ParseS3Url("s3://modules");
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(d->prefix, "");
  EXPECT_EQ(d->layout, S3Url::Layout::kGoproxy);
  EXPECT_EQ(d->endpoint, "https://s3.us-east-1.amazonaws.com");
  auto e = ParseS3Url("s3://modules/a%20b?endpoint=http%3A%2F%2F127.0.0.1%3A9");
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_EQ(e->prefix, "a b");
  EXPECT_EQ(e->endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(e->cache_dir, "");
  auto c = ParseS3Url("s3://modules/x?cache_dir=/var/cache/modpub%20s3&cache_mib=64");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->cache_dir, "/var/cache/modpub s3");
  EXPECT_EQ(c->cache_bytes, 64ull << 20);
}

TEST(ParseS3Url, RefusesBadUrls) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"s3://", "not a valid bucket name"},
      {"s3://UPPER/x", "not a valid bucket name"},
      {"s3://b/x", "not a valid bucket name"},
      {"s3://modules/a//b", "empty, \".\" or \"..\""},
      {"s3://modules/a/../b", "empty, \".\" or \"..\""},
      {"s3://modules/x?layout=git", "layout \"git\" is unknown"},
      {"s3://modules/x?endpoint=ftp://h", "must be http://host[:port]"},
      {"s3://modules/x?endpoint=http://h/path", "without a path"},
      {"s3://modules/x?bucket=y", "unknown parameter \"bucket\""},
      {"s3://modules/x?attempts=0", "attempts must be"},
      {"s3://modules/x#frag", "fragment"},
      {"s3://modules/%zz", "malformed %-escape"},
      {"s3://modules/x?cache_dir=relative/dir", "cache_dir must be an absolute local path"},
      {"s3://modules/x?cache_mib=0", "cache_mib must be"},
      {"s3://modules/x?cache_mib=lots", "cache_mib must be"},
  };
  // Credentials never go into a URL (URLs are printed): the message does not echo it.
  auto creds = ParseS3Url("s3://modules/x?endpoint=http://AK:hunter2pw@127.0.0.1:9");
  ASSERT_FALSE(creds.ok());
  EXPECT_THAT(creds.message(), HasSubstr("may not carry credentials"));
  EXPECT_THAT(creds.message(), Not(HasSubstr("hunter2pw")));
  for (const auto& [url, why] : bad) {
    auto u = ParseS3Url(url);
    ASSERT_FALSE(u.ok()) << url;
    EXPECT_THAT(u.message(), HasSubstr(why)) << url;
    EXPECT_THAT(u.message(), HasSubstr(url)) << url;
    auto b = OpenBackend(url);
    EXPECT_FALSE(b.ok()) << url;
  }
}

// --- credentials ------------------------------------------------------------------------

TEST(S3Credentials, FromEnvironmentThenFile) {
  TempDir tmp;
  WriteAll(tmp.path() / "credentials",
           "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n"
           "[ci]\n# comment\naws_access_key_id=CI\naws_secret_access_key=cisecret\n"
           "aws_session_token = tok\n");
  {
    ScopedEnv a("AWS_ACCESS_KEY_ID", "ENVKEY"), s("AWS_SECRET_ACCESS_KEY", "envsecret"),
        t("AWS_SESSION_TOKEN", std::nullopt);
    auto c = s3::LoadCredentials();
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->access_key_id, "ENVKEY");
    EXPECT_EQ(c->secret_access_key, "envsecret");
  }
  ScopedEnv a("AWS_ACCESS_KEY_ID", std::nullopt), s("AWS_SECRET_ACCESS_KEY", std::nullopt),
      t("AWS_SESSION_TOKEN", std::nullopt),
      f("AWS_SHARED_CREDENTIALS_FILE", (tmp.path() / "credentials").string());
  {
    ScopedEnv p("AWS_PROFILE", std::nullopt);
    auto c = s3::LoadCredentials();
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->access_key_id, "DEF");
    EXPECT_EQ(c->secret_access_key, "defsecret");
  }
  {
    ScopedEnv p("AWS_PROFILE", "ci");
    auto c = s3::LoadCredentials();
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->access_key_id, "CI");
    EXPECT_EQ(c->session_token, "tok");
  }
  {
    ScopedEnv p("AWS_PROFILE", "nope");
    auto c = s3::LoadCredentials();
    ASSERT_FALSE(c.ok());
    EXPECT_THAT(c.message(), HasSubstr("[nope]"));
  }
  {
    ScopedEnv p("AWS_SHARED_CREDENTIALS_FILE", (tmp.path() / "absent").string());
    auto c = s3::LoadCredentials();
    ASSERT_FALSE(c.ok());
    EXPECT_THAT(c.message(), HasSubstr("AWS_ACCESS_KEY_ID"));
    auto b = OpenBackend("s3://modules/x?endpoint=http://127.0.0.1:1");
    ASSERT_FALSE(b.ok());
    EXPECT_THAT(b.message(), HasSubstr("credentials"));
  }
}

// --- client pieces ----------------------------------------------------------------------

TEST(S3Client, UriEncodeIsS3Canonical) {
  EXPECT_EQ(s3::UriEncode("a/b@v/v1.0.0-!r!c1+incompatible.zip", true),
            "a/b%40v/v1.0.0-%21r%21c1%2Bincompatible.zip");
  EXPECT_EQ(s3::UriEncode("a/b c~_.-", false), "a%2Fb%20c~_.-");
}

TEST(S3Client, ParsesListingPages) {
  std::vector<s3::ObjectInfo> out;
  auto token = s3::ParseListPage(
      "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>abc=</NextContinuationToken>"
      "<Contents><Key>a&amp;b/@v/list</Key><ETag>&quot;x&quot;</ETag><Size>12</Size></Contents>"
      "<Contents><Key>c</Key><Size>0</Size></Contents></ListBucketResult>",
      out);
  ASSERT_TRUE(token.ok()) << token.message();
  EXPECT_EQ(*token, "abc=");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "a&b/@v/list");
  EXPECT_EQ(out[0].etag, "\"x\"");
  EXPECT_EQ(out[0].size, 12u);
  EXPECT_FALSE(s3::ParseListPage("<Error/>", out).ok());
  EXPECT_FALSE(
      s3::ParseListPage("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", out)
          .ok());
}

// --- against the strict server -----------------------------------------------------------

TEST(S3Client, WrongSecretIsASignatureErrorWithoutTheSecret) {
  REQUIRE_S3();
  S3TestServer server;
  ASSERT_TRUE(server.running());
  auto client = MakeClient(server, "not-the-secret-xyz");
  auto r = client.Put("k", "data", {}, "");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(r.message(), HasSubstr("signature"));
  EXPECT_THAT(r.message(), Not(HasSubstr("not-the-secret-xyz")));
  EXPECT_EQ(client.requests(), 1u);  // a 403 is not retried

  // Through the backend, as `modpub publish` sees it.
  ScopedEnv a("AWS_ACCESS_KEY_ID", testing::kS3AccessKey),
      s("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz");
  auto b = OpenBackend("s3://modules/p?endpoint=" + server.endpoint());
  ASSERT_TRUE(b.ok()) << b.message();
  TempDir tmp;
  Fabricator fab(tmp.path());
  auto put = (*b)->Put(fab.Make("corp.example/lib", "v1.0.0"));
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(put.message(), HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(put.message(), Not(HasSubstr("not-the-secret-xyz")));

  ScopedEnv a2("AWS_ACCESS_KEY_ID", "unknown-key"), s2("AWS_SECRET_ACCESS_KEY", "x");
  auto b2 = OpenBackend("s3://modules/p?endpoint=" + server.endpoint());
  auto put2 = (*b2)->Put(fab.Make("corp.example/lib", "v1.0.0"));
  ASSERT_FALSE(put2.ok());
  EXPECT_THAT(put2.message(), HasSubstr("InvalidAccessKeyId"));
}

TEST(S3Client, ConditionalPutsAndEtags) {
  REQUIRE_S3();
  S3TestServer server;
  ASSERT_TRUE(server.running());
  auto client = MakeClient(server);
  s3::PutCondition create;
  create.if_none_match_any = true;
  auto first = client.Put("dir/@v/x+y", "one", create, "w1");
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->status, 200);
  auto again = client.Put("dir/@v/x+y", "two", create, "w2");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->status, 412);
  auto got = client.Get("dir/@v/x+y", 100);
  ASSERT_TRUE(got.ok()) << got.message();
  EXPECT_EQ(got->body, "one");
  EXPECT_EQ(got->writer, "w1");
  EXPECT_EQ(got->etag, first->etag);

  s3::PutCondition cas;
  cas.if_match = "\"0000\"";
  auto stale = client.Put("dir/@v/x+y", "two", cas, "");
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, 412);
  cas.if_match = first->etag;
  auto swapped = client.Put("dir/@v/x+y", "two", cas, "");
  ASSERT_TRUE(swapped.ok());
  EXPECT_EQ(swapped->status, 200);
  EXPECT_EQ(client.Get("dir/@v/x+y", 100)->body, "two");
  auto missing = client.Get("dir/absent", 100);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  auto too_big = client.Get("dir/@v/x+y", 2);
  EXPECT_FALSE(too_big.ok());
}

TEST(S3Client, PutFileSignsAKnownHashOrHashesTheFile) {
  REQUIRE_S3();
  S3TestServer server;
  ASSERT_TRUE(server.running());
  auto client = MakeClient(server);
  TempDir tmp;
  const std::string body(300000, 'z');
  WriteAll(tmp.path() / "f.bin", body);
  const std::string good = dirhash::Hex(dirhash::Sha256::Of(body));
  s3::PutCondition create;
  create.if_none_match_any = true;

  auto hashed = client.PutFile("a", tmp.path() / "f.bin", create, "w");  // hash unknown
  ASSERT_TRUE(hashed.ok()) << hashed.message();
  EXPECT_EQ(hashed->status, 200);
  auto given = client.PutFile("b", tmp.path() / "f.bin", create, "w", good);
  ASSERT_TRUE(given.ok()) << given.message();
  EXPECT_EQ(given->status, 200);
  EXPECT_EQ(client.Get("b", body.size())->body, body);

  // A hash that is not the file's: the server refuses the body, nothing is stored, and
  // the error says why.
  const std::string wrong = dirhash::Hex(dirhash::Sha256::Of("something else"));
  auto bad = client.PutFile("c", tmp.path() / "f.bin", create, "w", wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("XAmzContentSHA256Mismatch"));
  EXPECT_THAT(bad.message(), HasSubstr("c"));
  auto missing = client.Get("c", body.size());
  ASSERT_TRUE(missing.ok()) << missing.message();
  EXPECT_EQ(missing->status, 404);

  // Through the backend: a wrong zip_sha256 stores no part of the version.
  S3TestServer::UseTestCredentials();
  auto b = OpenBackend("s3://modules/p?endpoint=" + server.endpoint());
  ASSERT_TRUE(b.ok()) << b.message();
  Fabricator fab(tmp.path());
  VersionFiles f = fab.Make("corp.example/lib", "v1.0.0");
  f.zip_sha256 = wrong;
  auto put = (*b)->Put(f);
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(put.message(), HasSubstr("XAmzContentSHA256Mismatch"));
  auto left = client.List("p/");
  ASSERT_TRUE(left.ok()) << left.message();
  EXPECT_TRUE(left->empty());
  f.zip_sha256 = dirhash::Hex(dirhash::Sha256::Of(::modpub::testing::ReadAll(f.zip)));
  auto ok = (*b)->Put(f);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->outcome, PutOutcome::kPublished);
}

TEST(S3Client, ListingFollowsContinuationTokens) {
  REQUIRE_S3();
  S3TestServer server;
  ASSERT_TRUE(server.running());
  auto client = MakeClient(server);
  constexpr int kKeys = 1003;  // the server answers 1000 keys per page
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto c = MakeClient(server);
      for (int i = t; i < kKeys; i += 4)
        ASSERT_TRUE(c.Put("p/" + std::to_string(i), "x", {}, "").ok());
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(client.Put("q/other", "x", {}, "").ok());
  auto keys = client.List("p/");
  ASSERT_TRUE(keys.ok()) << keys.message();
  std::set<std::string> names;
  for (const auto& o : *keys) names.insert(o.key);
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(keys->size(), static_cast<std::size_t>(kKeys));
}

TEST(S3Client, RetriesServerErrorsThenGivesUp) {
  REQUIRE_S3();
  S3TestServer server({"--fail-rate", "1.0", "--fail-codes", "503"});
  ASSERT_TRUE(server.running());
  auto client = MakeClient(server, testing::kS3SecretKey, 3);
  auto r = client.Get("k", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("after 3 attempts"));
  EXPECT_THAT(r.message(), HasSubstr("SlowDown"));
  EXPECT_EQ(client.requests(), 3u);
}

TEST(S3Client, UnreachableEndpointIsRetriedThenNamed) {
  s3::ClientConfig c;
  c.endpoint = "http://127.0.0.1:1";
  c.bucket = "modules";
  c.credentials = {"a", "b", ""};
  c.max_attempts = 2;
  c.backoff_base = std::chrono::milliseconds(1);
  s3::Client client(c);
  auto r = client.Get("k", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("http://127.0.0.1:1"));
  EXPECT_EQ(client.requests(), 2u);
}

// Every request may fail (503/500) or have its answer dropped after the write happened:
// publishes still complete, each version once in the list, no partial object.
TEST(S3Backend, PublishesCompleteUnderInjectedFaults) {
  REQUIRE_S3();
  S3TestServer server(
      {"--fail-rate", "0.2", "--fail-codes", "503,500", "--drop-rate", "0.2", "--seed", "7"});
  ASSERT_TRUE(server.running());
  S3TestServer::UseTestCredentials();
  TempDir tmp;
  Fabricator fab(tmp.path());
  constexpr int kVersions = 12;
  for (const std::string layout : {"goproxy", "athens"}) {
    SCOPED_TRACE(layout);
    auto b = OpenBackend("s3://modules/" + layout + "?endpoint=" + server.endpoint() +
                         "&layout=" + layout + "&attempts=20");
    ASSERT_TRUE(b.ok()) << b.message();
    std::vector<VersionFiles> published;
    for (int i = 0; i < kVersions; ++i) {
      auto f = fab.Make("corp.example/lib", "v1.0." + std::to_string(i));
      auto r = (*b)->Put(f);
      ASSERT_TRUE(r.ok()) << r.message();
      EXPECT_EQ(r->outcome, PutOutcome::kPublished) << r->message;
      published.push_back(f);
    }
    auto vs = (*b)->ListVersions("corp.example/lib");
    ASSERT_TRUE(vs.ok()) << vs.message();
    ASSERT_EQ(vs->size(), published.size());
    for (const auto& v : *vs) EXPECT_EQ(v.state, VersionState::kComplete) << v.version;
    // Stored bytes are exactly what was published.
    auto client = MakeClient(server);
    for (const auto& f : published) {
      std::string key = layout + "/corp.example/lib/@v/" + f.version;
      auto zip = client.Get(key + ".zip", 1 << 20);
      ASSERT_TRUE(zip.ok()) << zip.message();
      EXPECT_EQ(zip->body, testing::ReadAll(f.zip));
      // Served through the cache: a retried download starts its file again.
      auto served = (*b)->LocalFile(f.path, f.version, VersionPart::kZip);
      ASSERT_TRUE(served.ok()) << served.message();
      ASSERT_TRUE(served->has_value());
      EXPECT_EQ(testing::ReadAll(**served), testing::ReadAll(f.zip));
    }
    if (layout == "goproxy") {
      auto list = client.Get("goproxy/corp.example/lib/@v/list", 1 << 20);
      ASSERT_TRUE(list.ok()) << list.message();
      std::string expected;  // semver order: v1.0.9 before v1.0.10
      for (int i = 0; i < kVersions; ++i) expected += "v1.0." + std::to_string(i) + "\n";
      EXPECT_EQ(list->body, expected);
    }
  }
}

// Serving (`modpub serve --from s3://…`): parts are downloaded once into the cache
// directory, which stays within cache_mib (least recently used files go first), and is
// found again by a backend opened later on the same directory.
TEST(S3Backend, ServesFromABoundedLocalCache) {
  REQUIRE_S3();
  S3TestServer server;
  ASSERT_TRUE(server.running());
  S3TestServer::UseTestCredentials();
  TempDir tmp;
  Fabricator fab(tmp.path());
  const fs::path cache = tmp.path() / "cache";
  const std::string url = "s3://modules/serve?endpoint=" + server.endpoint() +
                          "&cache_dir=" + cache.string() + "&cache_mib=1";
  auto opened = OpenBackend(url);
  ASSERT_TRUE(opened.ok()) << opened.message();
  auto* b = dynamic_cast<S3Backend*>(opened->get());
  ASSERT_NE(b, nullptr);
  // Four 400 KiB zips (the backend stores bytes as given): more than the 1 MiB bound.
  std::vector<VersionFiles> versions;
  for (int i = 0; i < 4; ++i) {
    auto f = fab.Make("corp.example/big", "v1.0." + std::to_string(i));
    std::string bytes(400u << 10, '\0');
    for (std::size_t j = 0; j < bytes.size(); ++j) {
      bytes[j] = static_cast<char>((j * 2654435761u + static_cast<unsigned>(i) * 97u) >> 13);
    }
    WriteAll(f.zip, bytes);
    auto r = b->Put(f);
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->outcome, PutOutcome::kPublished) << r->message;
    versions.push_back(f);
  }
  auto cached_bytes = [&] {
    std::uintmax_t total = 0;
    for (const auto& e : fs::directory_iterator(cache)) {
      EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-")) << e.path();
      total += e.file_size();
    }
    return total;
  };
  auto serve = [&](S3Backend& backend, const VersionFiles& f) {
    auto p = backend.LocalFile(f.path, f.version, VersionPart::kZip);
    ASSERT_TRUE(p.ok()) << p.message();
    ASSERT_TRUE(p->has_value());
    EXPECT_EQ(testing::ReadAll(**p), testing::ReadAll(f.zip));
  };
  for (const auto& f : versions) {
    serve(*b, f);
    EXPECT_LE(cached_bytes(), 1u << 20);
  }
  // The last one is served from the cache, without a request.
  auto before = b->client().requests();
  serve(*b, versions.back());
  EXPECT_EQ(b->client().requests(), before);
  // The first one was evicted: downloaded again.
  serve(*b, versions.front());
  EXPECT_GT(b->client().requests(), before);
  EXPECT_LE(cached_bytes(), 1u << 20);
  // Absent objects are nullopt and leave nothing behind.
  auto absent = b->LocalFile("corp.example/big", "v1.9.9", VersionPart::kZip);
  ASSERT_TRUE(absent.ok()) << absent.message();
  EXPECT_FALSE(absent->has_value());
  cached_bytes();
  // A backend opened later on the same directory (a restart) uses what is cached.
  auto reopened = OpenBackend(url);
  ASSERT_TRUE(reopened.ok()) << reopened.message();
  auto* again = dynamic_cast<S3Backend*>(reopened->get());
  ASSERT_NE(again, nullptr);
  serve(*again, versions.front());
  EXPECT_EQ(again->client().requests(), 0u);
}

}  // namespace
}  // namespace modpub::storage
