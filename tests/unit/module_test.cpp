// Unit tests for modpub::module (and the Go text helpers in gotext.hpp). Cases are
// modelled on x/mod's module tests plus the edge cases modpub cares about; exact error
// messages were checked against x/mod (the differential test in tests/oracle compares
// every function with x/mod on generated inputs).

#include "modpub/module/module.hpp"

#include <gtest/gtest.h>

#include <string>

#include "modpub/module/gotext.hpp"

namespace modpub::module {
namespace {

std::string ErrorOf(const Status& s) { return s.ok() ? "ok" : s.message(); }
template <class T>
std::string ErrorOf(const Result<T>& r) {
  return r.ok() ? "ok:" + r.value() : r.message();
}

struct PathCase {
  std::string path;
  bool module_ok;
  bool import_ok;
  bool file_ok;
};

const PathCase kPathCases[] = {
    {"x.y/z", true, true, true},
    {"x.y", true, true, true},
    {"", false, false, false},
    {"x.y/\xFFz", false, false, false},
    {"/x.y/z", false, false, false},
    {"x./z", false, false, false},
    {".x/z", false, true, true},
    {"-x/z", false, false, true},
    {"x..y/z", true, true, true},
    {"x.y/z/../../w", false, false, false},
    {"x.y//z", false, false, false},
    {"x.y/z/", false, false, false},
    {"x.y/z/v0", false, true, true},
    {"x.y/z/v1", false, true, true},
    {"x.y/z/v2", true, true, true},
    {"x.y/z/v2.0", false, true, true},
    {"x.y/z/v02", false, true, true},
    {"x.y/z/v", true, true, true},
    {"x.y/z/V2", true, true, true},
    {"X.y/z", false, true, true},
    {"x/z", false, true, true},
    {"!x.y/z", false, false, true},
    {"_x.y/z", false, true, true},
    {"x.y/z!", false, false, true},
    {"x.y/z\"", false, false, false},
    {"x.y/z#", false, false, true},
    {"x.y/z$", false, false, true},
    {"x.y/z%", false, false, true},
    {"x.y/z&", false, false, true},
    {"x.y/z'", false, false, false},
    {"x.y/z(", false, false, true},
    {"x.y/z*", false, false, false},
    {"x.y/z++", false, true, true},
    {"x.y/z,", false, false, true},
    {"x.y/z-", true, true, true},
    {"x.y/z.t", true, true, true},
    {"x.y/z:", false, false, false},
    {"x.y/z;", false, false, false},
    {"x.y/z<", false, false, false},
    {"x.y/z=", false, false, true},
    {"x.y/z>", false, false, false},
    {"x.y/z?", false, false, false},
    {"x.y/z@", false, false, true},
    {"x.y/z[", false, false, true},
    {"x.y/z\\", false, false, false},
    {"x.y/z]", false, false, true},
    {"x.y/z^", false, false, true},
    {"x.y/z_", true, true, true},
    {"x.y/z`", false, false, false},
    {"x.y/z{", false, false, true},
    {"x.y/z|", false, false, false},
    {"x.y/z}", false, false, true},
    {"x.y/z~", true, true, true},
    {"x.y/z z", false, false, true},
    {"x.y/z\tz", false, false, false},
    {"x.y/x.foo", true, true, true},
    {"x.y/aux.foo", false, false, false},
    {"x.y/prn", false, false, false},
    {"x.y/PrN", false, false, false},
    {"x.y/prn2", true, true, true},
    {"x.y/com", true, true, true},
    {"x.y/com1", false, false, false},
    {"x.y/COM9.txt.go", false, false, false},
    {"x.y/com0", true, true, true},
    {"x.y/lpt1.txt", false, false, false},
    {"x.y/calm1", true, true, true},
    {"x.y/z~0", false, false, true},
    {"x.y/z~09", false, false, true},
    {"x.y/z~09.go", false, false, true},
    {"x.y/z09", true, true, true},
    {"x.y/z09~", true, true, true},
    {"x.y/z09~09z", true, true, true},
    {"x.y/z09~09z~09", false, false, true},
    {"github.com/!123/logrus", false, false, true},
    {"github.com/user/unicode/испытание", false, false, true},
    {"x.y/日本語", false, false, true},
    {"x.y/a\u0301", false, false, false},  // a combining mark is not a letter
    {"x.y/\u0663", false, false, false},   // ARABIC-INDIC DIGIT THREE is not a letter
    {"x.y/\U0001F600", false, false, false},
    {"x.y/\xED\xA0\x80", false, false, false},  // an encoded surrogate is invalid UTF-8
    {"x.y/\xC0\xAF", false, false, false},      // overlong
    {"../x", false, false, false},
    {"./y", false, false, false},
    {"x:y", false, false, false},
    {"\\temp\\foo", false, false, false},
    {".gitignore", false, true, true},
    {".github/ISSUE_TEMPLATE", false, true, true},
    {"x☺y", false, false, false},
    {"gopkg.in/yaml.v2", true, true, true},
    {"gopkg.in/yaml.v0", true, true, true},
    {"gopkg.in/yaml.v2-unstable", true, true, true},
    {"gopkg.in/yaml", false, true, true},
    {"gopkg.in/yaml.v02", false, true, true},
    {"gopkg.in/user/yaml.v3", true, true, true},
};

TEST(ModuleTest, PathChecksAgreeWithTable) {
  for (const PathCase& c : kPathCases) {
    EXPECT_EQ(CheckPath(c.path).ok(), c.module_ok) << c.path << ": " << ErrorOf(CheckPath(c.path));
    EXPECT_EQ(CheckImportPath(c.path).ok(), c.import_ok)
        << c.path << ": " << ErrorOf(CheckImportPath(c.path));
    EXPECT_EQ(CheckFilePath(c.path).ok(), c.file_ok)
        << c.path << ": " << ErrorOf(CheckFilePath(c.path));
    // Escaping succeeds exactly for valid module paths.
    EXPECT_EQ(EscapePath(c.path).ok(), c.module_ok) << c.path;
    // SplitPathVersion never loses bytes.
    PathVersion pv = SplitPathVersion(c.path);
    EXPECT_EQ(pv.prefix + pv.path_major, c.path);
  }
}

TEST(ModuleTest, PathErrorMessages) {
  EXPECT_EQ(ErrorOf(CheckPath("")), R"(malformed module path "": empty string)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/\xFFz")), R"(malformed module path "x.y/\xffz": invalid UTF-8)");
  EXPECT_EQ(ErrorOf(CheckPath("-x.y")), R"(malformed module path "-x.y": leading dash)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y//z")), R"(malformed module path "x.y//z": double slash)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/")), R"(malformed module path "x.y/": trailing slash)");
  EXPECT_EQ(ErrorOf(CheckPath("/x.y")), R"(malformed module path "/x.y": empty path element)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/..")),
            R"(malformed module path "x.y/..": invalid path element "..")");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/.z")),
            R"(malformed module path "x.y/.z": leading dot in path element)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/z.")),
            R"(malformed module path "x.y/z.": trailing dot in path element)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/a+b")), R"(malformed module path "x.y/a+b": invalid char '+')");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/é")), R"(malformed module path "x.y/é": invalid char 'é')");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/a\tb")),
            R"(malformed module path "x.y/a\tb": invalid char '\t')");
  EXPECT_EQ(
      ErrorOf(CheckPath("x.y/Con.go")),
      R"(malformed module path "x.y/Con.go": "Con" disallowed as path element component on Windows)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/a~1")),
            R"(malformed module path "x.y/a~1": trailing tilde and digits in path element)");
  EXPECT_EQ(ErrorOf(CheckPath("xy/z")),
            R"(malformed module path "xy/z": missing dot in first path element)");
  EXPECT_EQ(ErrorOf(CheckPath("X.y/z")),
            R"(malformed module path "X.y/z": invalid char 'X' in first path element)");
  EXPECT_EQ(ErrorOf(CheckPath("x_y.z")),
            R"(malformed module path "x_y.z": invalid char '_' in first path element)");
  EXPECT_EQ(ErrorOf(CheckPath("x.y/z/v1")), R"(malformed module path "x.y/z/v1": invalid version)");
  EXPECT_EQ(ErrorOf(CheckPath("gopkg.in/yaml")),
            R"(malformed module path "gopkg.in/yaml": invalid version)");
  EXPECT_EQ(ErrorOf(CheckImportPath("a/b c")),
            R"(malformed import path "a/b c": invalid char ' ')");
  EXPECT_EQ(ErrorOf(CheckImportPath("-a")), R"(malformed import path "-a": leading dash)");
  EXPECT_EQ(ErrorOf(CheckFilePath("a/\U0001F600.txt")),
            "malformed file path \"a/\U0001F600.txt\": invalid char '\U0001F600'");
  EXPECT_EQ(ErrorOf(CheckFilePath("a/\u200b")),
            R"(malformed file path "a/\u200b": invalid char '\u200b')");
  EXPECT_EQ(
      ErrorOf(CheckFilePath("a/nul")),
      R"(malformed file path "a/nul": "nul" disallowed as path element component on Windows)");
  EXPECT_EQ(ErrorOf(CheckFilePath("a/\"b\"")),
            R"(malformed file path "a/\"b\"": invalid char '"')");
  EXPECT_EQ(ErrorOf(CheckFilePath("a/b'")), R"(malformed file path "a/b'": invalid char '\'')");
  EXPECT_EQ(ErrorOf(CheckFilePath("-a/.b/c~1")), "ok");
}

TEST(ModuleTest, Check) {
  struct {
    const char* path;
    const char* version;
    const char* want;
  } cases[] = {
      {"rsc.io/quote", "0.1.0", "rsc.io/quote@0.1.0: invalid version: not a semantic version"},
      {"rsc io/quote", "v1.0.0", R"(malformed module path "rsc io/quote": invalid char ' ')"},
      {"github.com/go-yaml/yaml", "v0.8.0", "ok"},
      {"github.com/go-yaml/yaml", "v1.0.0", "ok"},
      {"github.com/go-yaml/yaml", "v1.2", "ok"},  // valid, not canonical: accepted
      {"github.com/go-yaml/yaml", "v2.0.0",
       "github.com/go-yaml/yaml@v2.0.0: invalid version: should be v0 or v1, not v2"},
      {"github.com/go-yaml/yaml/v2", "v1.0.0",
       "github.com/go-yaml/yaml/v2@v1.0.0: invalid version: should be v2, not v1"},
      {"github.com/go-yaml/yaml/v2", "v2.1.5", "ok"},
      {"github.com/go-yaml/yaml/v2", "v3.0.0",
       "github.com/go-yaml/yaml/v2@v3.0.0: invalid version: should be v2, not v3"},
      {"gopkg.in/yaml.v0", "v0.8.0", "ok"},
      {"gopkg.in/yaml.v0", "v1.0.0",
       "gopkg.in/yaml.v0@v1.0.0: invalid version: should be v0, not v1"},
      {"gopkg.in/yaml.v1", "v0.8.0",
       "gopkg.in/yaml.v1@v0.8.0: invalid version: should be v1, not v0"},
      {"gopkg.in/yaml.v1", "v1.0.0", "ok"},
      {"gopkg.in/check.v1", "v0.0.0",
       "gopkg.in/check.v1@v0.0.0: invalid version: should be v1, not v0"},
      {"gopkg.in/check.v1", "v0.0.0-20160102150405-abcdef123456", "ok"},
      {"gopkg.in/yaml.v2", "v2.1.5", "ok"},
      {"gopkg.in/yaml.v2-unstable", "v2.1.5", "ok"},
      {"rsc.io/quote", "v17.0.0",
       "rsc.io/quote@v17.0.0: invalid version: should be v0 or v1, not v17"},
      {"rsc.io/quote", "v17.0.0+incompatible", "ok"},
      {"rsc.io/quote/v17", "v17.0.0+incompatible", "ok"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ErrorOf(Check(c.path, c.version)), c.want) << c.path << "@" << c.version;
  }
}

TEST(ModuleTest, SplitPathVersion) {
  struct {
    const char* path;
    const char* prefix;
    const char* major;
    bool ok;
  } cases[] = {
      {"x.y/z", "x.y/z", "", true},
      {"x.y/z/v2", "x.y/z", "/v2", true},
      {"x.y/z/v3", "x.y/z", "/v3", true},
      {"x.y/z/v10", "x.y/z", "/v10", true},
      {"x.y/v", "x.y/v", "", true},
      {"x.y/z/v1", "x.y/z/v1", "", false},
      {"x.y/z/v0", "x.y/z/v0", "", false},
      {"x.y/z/v02", "x.y/z/v02", "", false},
      {"x.y/z/v2.1", "x.y/z/v2.1", "", false},
      {"x.y/z/v2.", "x.y/z/v2.", "", false},
      {"x.y/zv2", "x.y/zv2", "", true},
      {"v2", "v2", "", true},
      {"/v2", "", "/v2", true},
      {"x.y/z/2", "x.y/z/2", "", true},
      {"gopkg.in/yaml.v0", "gopkg.in/yaml", ".v0", true},
      {"gopkg.in/yaml.v1", "gopkg.in/yaml", ".v1", true},
      {"gopkg.in/yaml.v2", "gopkg.in/yaml", ".v2", true},
      {"gopkg.in/yaml.v2-unstable", "gopkg.in/yaml", ".v2-unstable", true},
      {"gopkg.in/yaml.v00", "gopkg.in/yaml.v00", "", false},
      {"gopkg.in/yaml", "gopkg.in/yaml", "", false},
      {"gopkg.in/yaml/v2", "gopkg.in/yaml/v2", "", false},
      {"gopkg.in/yaml.v", "gopkg.in/yaml.v", "", false},
  };
  for (const auto& c : cases) {
    PathVersion pv = SplitPathVersion(c.path);
    EXPECT_EQ(pv.prefix, c.prefix) << c.path;
    EXPECT_EQ(pv.path_major, c.major) << c.path;
    EXPECT_EQ(pv.ok, c.ok) << c.path;
  }
}

TEST(ModuleTest, EscapeAndUnescapePath) {
  EXPECT_EQ(ErrorOf(EscapePath("ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789")),
            "ok:ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789");
  EXPECT_EQ(ErrorOf(EscapePath("github.com/GoogleCloudPlatform/omega")),
            "ok:github.com/!google!cloud!platform/omega");
  EXPECT_EQ(ErrorOf(EscapePath("github.com/Sirupsen/logrus")), "ok:github.com/!sirupsen/logrus");
  EXPECT_EQ(ErrorOf(EscapePath("github.com/x/A.v2")), "ok:github.com/x/!a.v2");
  EXPECT_EQ(ErrorOf(EscapePath("Github.com/x")),
            R"(malformed module path "Github.com/x": invalid char 'G' in first path element)");

  EXPECT_EQ(ErrorOf(UnescapePath("github.com/!google!cloud!platform/omega")),
            "ok:github.com/GoogleCloudPlatform/omega");
  EXPECT_EQ(ErrorOf(UnescapePath("github.com/GoogleCloudPlatform/omega")),
            R"(invalid escaped module path "github.com/GoogleCloudPlatform/omega")");
  for (const char* bad :
       {"github.com/!google!cloud!platform!/omega", "github.com/!0google/omega",
        "github.com/!_google/omega", "github.com/!!google/omega", "x.y/z!", "x.y/é"}) {
    EXPECT_EQ(ErrorOf(UnescapePath(bad)), "invalid escaped module path " + Quote(bad)) << bad;
  }
  EXPECT_EQ(ErrorOf(UnescapePath("")),
            R"(invalid escaped module path "": malformed module path "": empty string)");
  EXPECT_EQ(
      ErrorOf(UnescapePath("!x.y/z")),
      R"(invalid escaped module path "!x.y/z": malformed module path "X.y/z": invalid char 'X' in first path element)");
}

TEST(ModuleTest, EscapeAndUnescapeVersion) {
  EXPECT_EQ(ErrorOf(EscapeVersion("v1.2.3")), "ok:v1.2.3");
  EXPECT_EQ(ErrorOf(EscapeVersion("v1.2.3-RC1")), "ok:v1.2.3-!r!c1");
  EXPECT_EQ(ErrorOf(EscapeVersion("master")), "ok:master");
  EXPECT_EQ(ErrorOf(EscapeVersion("v1~1")), "ok:v1~1");  // checked as a file name only
  EXPECT_EQ(ErrorOf(EscapeVersion("con")), R"(version "con" invalid: disallowed version string)");
  EXPECT_EQ(ErrorOf(EscapeVersion("com1.2")),
            R"(version "com1.2" invalid: disallowed version string)");
  EXPECT_EQ(ErrorOf(EscapeVersion("v1!")), R"(version "v1!" invalid: disallowed version string)");
  EXPECT_EQ(ErrorOf(EscapeVersion("a/b")), R"(version "a/b" invalid: disallowed version string)");
  EXPECT_EQ(ErrorOf(EscapeVersion("")), R"(version "" invalid: disallowed version string)");
  EXPECT_EQ(ErrorOf(EscapeVersion("\xff")), R"(version "\xff" invalid: disallowed version string)");
  // Letters pass the file-name check but cannot be escaped: x/mod's internal error.
  EXPECT_EQ(ErrorOf(EscapeVersion("vé")), "internal error: inconsistency in EscapePath");

  EXPECT_EQ(ErrorOf(UnescapeVersion("v1.2.3-!r!c1")), "ok:v1.2.3-RC1");
  EXPECT_EQ(ErrorOf(UnescapeVersion("v1.2.3-RC1")), R"(invalid escaped version "v1.2.3-RC1")");
  EXPECT_EQ(ErrorOf(UnescapeVersion("v1!")), R"(invalid escaped version "v1!")");
  EXPECT_EQ(ErrorOf(UnescapeVersion("!1")), R"(invalid escaped version "!1")");
  EXPECT_EQ(ErrorOf(UnescapeVersion("")), R"(invalid escaped version "": empty path element)");
  EXPECT_EQ(
      ErrorOf(UnescapeVersion("!con")),
      R"(invalid escaped version "Con": "Con" disallowed as path element component on Windows)");
  EXPECT_EQ(ErrorOf(UnescapeVersion("a:b")), R"(invalid escaped version "a:b": invalid char ':')");
  EXPECT_EQ(ErrorOf(UnescapeVersion("v1~1")), "ok:v1~1");
}

TEST(ModuleTest, MatchAndCheckPathMajor) {
  struct {
    const char* v;
    const char* path_major;
    bool want;
  } cases[] = {
      {"v0.0.0", "", true},
      {"v0.0.0", "/v2", false},
      {"v0.0.0", ".v0", true},
      {"v0.0.0-20190510104115-cbcb75029529", ".v1", true},
      {"v0.0.0-20190510104115-cbcb75029529", ".v1-unstable", true},
      {"v0.0.0-20190510104115-cbcb75029529", "/v1", false},
      {"v1.0.0", "/v2", false},
      {"v1.0.0", ".v1", true},
      {"v1.0.0", ".v1-unstable", true},
      {"v1.0.0", "/v1-unstable", false},
      {"v2.0.0+incompatible", "", true},
      {"v2.0.0+incompatible", "/v2", true},
      {"v2.0.0", "", false},
      {"v2.0.0", "/v2", true},
      {"v2.0.0", ".v2", true},
      {"bad", "", false},
      {"bad", "/", true},  // x/mod does not validate: "" == Major("bad")
      {"v1.0.0", "v1", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MatchPathMajor(c.v, c.path_major), c.want) << c.v << " " << c.path_major;
    EXPECT_EQ(CheckPathMajor(c.v, c.path_major).ok(), c.want) << c.v << " " << c.path_major;
  }
  EXPECT_EQ(ErrorOf(CheckPathMajor("v2.0.0", "")),
            R"(version "v2.0.0" invalid: should be v0 or v1, not v2)");
  EXPECT_EQ(ErrorOf(CheckPathMajor("v1.0.0", "/v2")),
            R"(version "v1.0.0" invalid: should be v2, not v1)");
  EXPECT_EQ(ErrorOf(CheckPathMajor("v1.0.0", ".v2-unstable")),
            R"(version "v1.0.0" invalid: should be v2, not v1)");
  EXPECT_EQ(ErrorOf(CheckPathMajor("v1.0.0", "v2")),
            R"(version "v1.0.0" invalid: should be v2, not v1)");
  EXPECT_EQ(ErrorOf(CheckPathMajor("junk", "/v2")),
            R"(version "junk" invalid: should be v2, not )");
}

TEST(ModuleTest, PathMajorPrefix) {
  EXPECT_EQ(PathMajorPrefix(""), "");
  EXPECT_EQ(PathMajorPrefix("/v2"), "v2");
  EXPECT_EQ(PathMajorPrefix(".v0"), "v0");
  EXPECT_EQ(PathMajorPrefix(".v2-unstable"), "v2");
  // x/mod panics on these.
  EXPECT_EQ(PathMajorPrefix("v2"), "");
  EXPECT_EQ(PathMajorPrefix("/v2-unstable"), "");
  EXPECT_EQ(PathMajorPrefix("/v2.1"), "");
  EXPECT_EQ(PathMajorPrefix("/x"), "");
}

TEST(ModuleTest, IsPseudoVersion) {
  for (const char* v :
       {"v0.0.0-20060102150405-hash", "v1.0.0-20060102150405-hash", "v2.0.0-20060102150405-hash",
        "v0.0.1-0.20060102150405-hash", "v1.2.4-0.20060102150405-hash",
        "v1.2.100000000000000000-0.20060102150405-hash", "v1.2.3-pre.0.20060102150405-hash",
        "v0.0.0--.0.20060102150405-hash", "v1.0.1-0.20060102150405-hash+metadata",
        "v2.0.1-0.20060102150405-hash+incompatible",
        "v2.3.0-pre.0.20060102150405-hash+incompatible", "v0.0.0-0.20060102150405-hash",
        "v1.2.3-a.b.0.99999999999999-X"}) {
    EXPECT_TRUE(IsPseudoVersion(v)) << v;
  }
  for (const char* v :
       {"v0.0.0", "v1.2.3", "v1.2.3-pre", "v1.0.0+metadata", "v1.2.3-20060102150405-hash",
        "v0.0.0-2006010215040-hash", "v0.0.0-200601021504050-hash", "v0.0.1-1.20060102150405-hash",
        "v0.0.1-0.20060102150405-ha.sh", "v0.0.1-0.20060102150405-",
        "v0.0.1-10.20060102150405-hash", "v0.0.0+a-20060102150405-hash", "v0.0-20060102150405-hash",
        "---"}) {
    EXPECT_FALSE(IsPseudoVersion(v)) << v;
  }
}

TEST(GoTextTest, DecodeRune) {
  EXPECT_EQ(DecodeRune("a").rune, U'a');
  EXPECT_EQ(DecodeRune("é").rune, U'é');
  EXPECT_EQ(DecodeRune("é").width, 2u);
  EXPECT_EQ(DecodeRune("\U0010FFFF").width, 4u);
  EXPECT_EQ(DecodeRune("\xEF\xBF\xBD").width, 3u);  // a real U+FFFD
  for (const char* bad :
       {"\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF0\x80\x80\x80",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xE2\x82", "\xC3"}) {
    DecodedRune d = DecodeRune(bad);
    EXPECT_EQ(d.rune, kRuneError) << Quote(bad);
    EXPECT_EQ(d.width, 1u) << Quote(bad);
  }
  EXPECT_TRUE(IsValidUTF8("abc é 日本 \U0001F600"));
  EXPECT_FALSE(IsValidUTF8("abc\xED\xBF\xBF"));
}

TEST(GoTextTest, UnicodeTables) {
  EXPECT_TRUE(IsLetter(U'a'));
  EXPECT_TRUE(IsLetter(U'Z'));
  EXPECT_TRUE(IsLetter(U'é'));
  EXPECT_TRUE(IsLetter(U'日'));
  EXPECT_TRUE(IsLetter(U'ǅ'));       // titlecase
  EXPECT_TRUE(IsLetter(U'\u02B0'));  // modifier letter
  EXPECT_FALSE(IsLetter(U'1'));
  EXPECT_FALSE(IsLetter(U'_'));
  EXPECT_FALSE(IsLetter(U'\u0301'));  // combining mark
  EXPECT_FALSE(IsLetter(U'\u2167'));  // ROMAN NUMERAL EIGHT is a number (Nl)
  EXPECT_FALSE(IsLetter(0x110000));
  EXPECT_TRUE(IsPrint(U' '));
  EXPECT_FALSE(IsPrint(U'\u00A0'));  // only ASCII space is printable among spaces
  EXPECT_FALSE(IsPrint(U'\u200B'));
  EXPECT_TRUE(IsPrint(U'\U0001F600'));
  EXPECT_FALSE(IsPrint(0x7F));
}

TEST(GoTextTest, Quote) {
  EXPECT_EQ(Quote(""), R"("")");
  EXPECT_EQ(Quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quote(std::string("\a\b\f\n\r\t\v\x00\x7f", 9)), R"("\a\b\f\n\r\t\v\x00\x7f")");
  EXPECT_EQ(Quote("é日\U0001F600"), "\"é日\U0001F600\"");
  EXPECT_EQ(Quote("\u00A0\u200B\U000E0001"), R"("\u00a0\u200b\U000e0001")");
  EXPECT_EQ(Quote("\xff\xC3"), R"("\xff\xc3")");
  EXPECT_EQ(Quote("'"), R"("'")");
  EXPECT_EQ(QuoteRune(U'\''), R"('\'')");
  EXPECT_EQ(QuoteRune(U'"'), R"('"')");
  EXPECT_EQ(QuoteRune(U'é'), "'é'");
  EXPECT_EQ(QuoteRune(0xD800), "'\uFFFD'");
  EXPECT_EQ(QuoteRune(U'\u0301'), "'\u0301'");  // marks are printable
  EXPECT_EQ(QuoteRune(0x0378), R"('\u0378')");  // unassigned
}

}  // namespace
}  // namespace modpub::module
