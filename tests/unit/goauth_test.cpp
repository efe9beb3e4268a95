// http::goauth: the GOAUTH output of `modpub goauth`, its URL prefix rules and refusals.
#include "modpub/http/goauth.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace modpub::http::goauth {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

std::vector<Url> Prefixes(std::initializer_list<const char*> texts) {
  std::vector<Url> out;
  for (const char* t : texts) {
    auto url = ParsePrefix(t);
    EXPECT_TRUE(url.ok()) << t << ": " << url.message();
    if (url) out.push_back(*url);
  }
  return out;
}

TEST(GoAuth, LoopbackHosts) {
  for (const char* h :
       {"127.0.0.1", "127.255.0.9", "localhost", "LocalHost", "[::1]", "[0:0:0:0:0:0:0:1]"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"10.1.2.3", "128.0.0.1", "127.1", "127.0.0.1.example.com",
                        "localhost.example.com", "[::2]", "::1", "[::ffff:10.0.0.1]", ""}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(GoAuth, PrefixesAcceptHttpsAndLoopbackHttp) {
  auto p = ParsePrefix("https://Goproxy.Corp.example:8443/goproxy/");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->host, "goproxy.corp.example");
  EXPECT_EQ(p->port, 8443);
  EXPECT_EQ(p->path, "/goproxy");
  EXPECT_EQ(UrlLine(*p), "https://Goproxy.Corp.example:8443/goproxy");
  EXPECT_EQ(ParsePrefix("https://h")->port, 443);
  EXPECT_EQ(ParsePrefix("http://localhost")->port, 80);
  for (const char* ok : {"http://127.0.0.1:8080", "http://[::1]:1/x", "http://localhost"}) {
    EXPECT_TRUE(ParsePrefix(ok).ok()) << ok;
  }
}

TEST(GoAuth, PlainHttpToOtherHostsIsRefusedNamingTheRule) {
  auto r = ParsePrefix("http://10.1.2.3");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.message(), HasSubstr("--url http://10.1.2.3"));
  EXPECT_THAT(r.message(), HasSubstr("never sent over plain http to a non-loopback host"));
  EXPECT_FALSE(ParsePrefix("http://goproxy.corp.example").ok());
  EXPECT_FALSE(ParsePrefix("http://127.0.0.1.nip.io").ok());
}

TEST(GoAuth, MalformedPrefixesAreRefused) {
  for (const char* bad :
       {"goproxy.corp.example", "ftp://h", "HTTPS://h", "https://", "https://:443", "https://h:0",
        "https://h:65536", "https://h:8x", "https://user@h", "https://h/x?y=1", "https://h/#f",
        "https://h/a b", "https://h/\n\nX-Evil: 1", "https://[::1", "https://[::1]x"}) {
    EXPECT_FALSE(ParsePrefix(bad).ok()) << bad;
  }
}

TEST(GoAuth, UrlUnderAPrefixGetsTheLineGoWillMatch) {
  auto prefixes = Prefixes({"https://goproxy.corp.example:443/goproxy", "http://127.0.0.1:9"});
  EXPECT_THAT(LineFor(prefixes, "https://goproxy.corp.example/goproxy/corp.example/x/@v/list"),
              Optional(std::string("https://goproxy.corp.example/goproxy")));
  EXPECT_THAT(LineFor(prefixes, "https://GOPROXY.corp.example/goproxy"),
              Optional(std::string("https://GOPROXY.corp.example/goproxy")));
  EXPECT_THAT(LineFor(prefixes, "http://127.0.0.1:9/m/@v/list?x=1"),
              Optional(std::string("http://127.0.0.1:9")));
}

TEST(GoAuth, UrlOutsideThePrefixesGetsNothing) {
  auto prefixes = Prefixes({"https://goproxy.corp.example/goproxy"});
  for (const char* url :
       {"https://goproxy.corp.example/goproxyx/m/@v/list", "https://goproxy.corp.example/other",
        "https://goproxy.corp.example", "http://goproxy.corp.example/goproxy/m",
        "https://goproxy.corp.example:8443/goproxy/m",
        "https://proxy.golang.org/corp.example/m/@v/list",
        "https://goproxy.corp.example.evil.com/goproxy", "not a url"}) {
    EXPECT_EQ(LineFor(prefixes, url), std::nullopt) << url;
  }
}

TEST(GoAuth, WithoutPrefixesTheUrlsOwnHostIfHttpsOrLoopback) {
  EXPECT_THAT(LineFor({}, "https://h.example:8443/a/b?go-get=1"),
              Optional(std::string("https://h.example:8443")));
  EXPECT_THAT(LineFor({}, "http://localhost:3000/m"),
              Optional(std::string("http://localhost:3000")));
  EXPECT_EQ(LineFor({}, "http://10.1.2.3/m"), std::nullopt);
}

TEST(GoAuth, OnlyA401AsksForCredentials) {
  EXPECT_TRUE(AsksForCredentials("HTTP/1.1 401 Unauthorized\nWww-Authenticate: Basic\n\n"));
  EXPECT_TRUE(AsksForCredentials("HTTP/2.0 401 \n\n"));
  EXPECT_TRUE(AsksForCredentials(""));
  EXPECT_FALSE(AsksForCredentials("HTTP/2.0 404 Not Found\n\n"));
  EXPECT_FALSE(AsksForCredentials("HTTP/1.1 403 Forbidden\nX: 401 \n\n"));
  EXPECT_FALSE(AsksForCredentials("HTTP/1.1 4010 x\n\n"));
}

TEST(GoAuth, OutputFormat) {
  EXPECT_EQ(CredentialSet({"https://a.example", "https://b.example/p"}, "tok"),
            "https://a.example\nhttps://b.example/p\n\nAuthorization: Bearer tok\n\n");
  EXPECT_EQ(CredentialSet({}, "tok"), "");
}

TEST(GoAuth, TokensLoseOneNewlineAndMustBeOneWord) {
  EXPECT_EQ(*CleanToken("abc\n", "t"), "abc");
  EXPECT_EQ(*CleanToken("abc\r\n", "t"), "abc");
  EXPECT_EQ(*CleanToken("a.b-c_d~e+f/g=", "t"), "a.b-c_d~e+f/g=");
  EXPECT_THAT(CleanToken("\n", "token file f").message(),
              HasSubstr("token file f: the token is empty"));
  for (const char* bad : {"", "abc\n\n", "a b", "a\tb", " abc", "abc \n", "a\x7f", "a\x01"}) {
    auto r = CleanToken(bad, "t");
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_THAT(CleanToken("ab c", "t").message(), HasSubstr("at byte 3"));
}

class TokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("goauth-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& content, mode_t mode) {
    const auto path = dir_ / "token";
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(TokenFile, PrivateOrGroupReadableIsRead) {
  EXPECT_EQ(*ReadTokenFile(Write("s3cret\n", 0600)), "s3cret");
  EXPECT_EQ(*ReadTokenFile(Write("s3cret", 0640)), "s3cret");
  EXPECT_EQ(*ReadTokenFile(Write("s3cret", 0400)), "s3cret");
}

TEST_F(TokenFile, OpenToOthersIsRefused) {
  for (mode_t mode : {0644, 0604, 0602, 0660, 0666}) {
    auto r = ReadTokenFile(Write("s3cret\n", mode));
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_THAT(r.message(), HasSubstr("chmod 600"));
  }
  EXPECT_THAT(ReadTokenFile(Write("x", 0644)).message(), HasSubstr("mode 0644"));
}

TEST_F(TokenFile, MissingEmptyDirectoryOrHugeIsRefused) {
  EXPECT_THAT(ReadTokenFile((dir_ / "absent").string()).message(), HasSubstr("cannot open"));
  EXPECT_THAT(ReadTokenFile(Write("\n", 0600)).message(), HasSubstr("empty"));
  EXPECT_THAT(ReadTokenFile(dir_.string()).message(), HasSubstr("not a regular file"));
  EXPECT_THAT(ReadTokenFile(Write(std::string(70000, 'a'), 0600)).message(),
              HasSubstr("larger than 64 KiB"));
}

}  // namespace
}  // namespace modpub::http::goauth
