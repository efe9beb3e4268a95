// Differential test: modpub::semver and modpub::module against golang.org/x/mod itself.
//
// Generates a fixed, seeded set of inputs (random strings over alphabets chosen to hit
// every rule, grammar-built versions and paths, mutations of those, and hand-picked edge
// cases), asks the xmod-oracle (tests/oracle/*.go) for x/mod's answers in one batch, and
// requires our answers to be identical: verdicts, values AND error messages, for every op.
//
// The only deliberate difference: x/mod's PathMajorPrefix panics on malformed input
// where ours returns "" (see module.hpp), so an oracle "panic:" must meet our "".

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/module/module.hpp"
#include "modpub/semver/semver.hpp"
#include "oracle.hpp"

namespace modpub {
namespace {

using Call = std::vector<std::string>;

// ---------------------------------------------------------------------------------------
// Our side of the oracle protocol: the same ops, rendered with the same conventions.

std::string Render(const Status& s) { return s.ok() ? "ok" : "err:" + s.message(); }
std::string Render(const Result<std::string>& r) {
  return r.ok() ? "ok:" + r.value() : "err:" + r.message();
}
std::string Render(bool b) { return b ? "true" : "false"; }

using Op = std::function<std::string(const Call&)>;

const std::map<std::string, Op, std::less<>>& OurOps() {
  static const std::map<std::string, Op, std::less<>> ops = {
      {"semver.IsValid", [](const Call& c) { return Render(semver::IsValid(c[1])); }},
      {"semver.Canonical", [](const Call& c) { return semver::Canonical(c[1]); }},
      {"semver.Major", [](const Call& c) { return semver::Major(c[1]); }},
      {"semver.MajorMinor", [](const Call& c) { return semver::MajorMinor(c[1]); }},
      {"semver.Prerelease", [](const Call& c) { return semver::Prerelease(c[1]); }},
      {"semver.Build", [](const Call& c) { return semver::Build(c[1]); }},
      {"semver.Compare", [](const Call& c) { return std::to_string(semver::Compare(c[1], c[2])); }},
      {"semver.Max", [](const Call& c) { return semver::Max(c[1], c[2]); }},
      {"semver.Sort",
       [](const Call& c) {
         std::vector<std::string> list(c.begin() + 1, c.end());
         semver::Sort(list);
         std::string joined;
         for (size_t i = 0; i < list.size(); ++i) joined += (i ? "\n" : "") + list[i];
         return joined;
       }},
      {"module.CheckPath", [](const Call& c) { return Render(module::CheckPath(c[1])); }},
      {"module.CheckImportPath",
       [](const Call& c) { return Render(module::CheckImportPath(c[1])); }},
      {"module.CheckFilePath", [](const Call& c) { return Render(module::CheckFilePath(c[1])); }},
      {"module.Check", [](const Call& c) { return Render(module::Check(c[1], c[2])); }},
      {"module.CheckPathMajor",
       [](const Call& c) { return Render(module::CheckPathMajor(c[1], c[2])); }},
      {"module.EscapePath", [](const Call& c) { return Render(module::EscapePath(c[1])); }},
      {"module.UnescapePath", [](const Call& c) { return Render(module::UnescapePath(c[1])); }},
      {"module.EscapeVersion", [](const Call& c) { return Render(module::EscapeVersion(c[1])); }},
      {"module.UnescapeVersion",
       [](const Call& c) { return Render(module::UnescapeVersion(c[1])); }},
      {"module.SplitPathVersion",
       [](const Call& c) {
         module::PathVersion pv = module::SplitPathVersion(c[1]);
         return Render(pv.ok) + " " + std::to_string(pv.prefix.size()) + " " + pv.prefix +
                pv.path_major;
       }},
      {"module.MatchPathMajor",
       [](const Call& c) { return Render(module::MatchPathMajor(c[1], c[2])); }},
      {"module.PathMajorPrefix", [](const Call& c) { return module::PathMajorPrefix(c[1]); }},
      {"module.IsPseudoVersion",
       [](const Call& c) { return Render(module::IsPseudoVersion(c[1])); }},
  };
  return ops;
}

bool Agree(const Call& call, const std::string& theirs, const std::string& ours) {
  if (call[0] == "module.PathMajorPrefix" && theirs.rfind("panic:", 0) == 0) return ours.empty();
  return theirs == ours;
}

// ---------------------------------------------------------------------------------------
// Input generation. SplitMix64: tiny, and its sequence is fixed by its definition, so
// the inputs are the same on every machine and standard library.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  bool Percent(unsigned p) { return Below(100) < p; }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

 private:
  std::uint64_t state_;
};

// Alphabets are lists of "characters", some multi-byte (UTF-8 letters and non-letters)
// and some deliberately invalid UTF-8.
const std::vector<std::string> kVersionAlphabet = {
    "v", "v", "0", "0", "1", "2", "9", ".", ".", "-", "-", "+", "a", "z",    "A",
    "Z", "i", "n", "c", "p", "r", "e", "!", "/", "~", " ", "_", "é", "\xff", "\n"};

const std::vector<std::string> kPathAlphabet = {"a",
                                                "b",
                                                "z",
                                                "x",
                                                "y",
                                                "v",
                                                "A",
                                                "Z",
                                                "G",
                                                "0",
                                                "1",
                                                "2",
                                                "9",
                                                ".",
                                                ".",
                                                ".",
                                                "/",
                                                "/",
                                                "/",
                                                "-",
                                                "_",
                                                "~",
                                                "+",
                                                "!",
                                                "!",
                                                "#",
                                                "$",
                                                "%",
                                                "&",
                                                "(",
                                                ")",
                                                ",",
                                                "=",
                                                "@",
                                                "[",
                                                "]",
                                                "^",
                                                "{",
                                                "}",
                                                " ",
                                                "\"",
                                                "'",
                                                "*",
                                                "<",
                                                ">",
                                                "?",
                                                "`",
                                                "|",
                                                "\\",
                                                ":",
                                                ";",
                                                "\t",
                                                "é",
                                                "ж",
                                                "日",
                                                "ǅ",
                                                "\u02B0",
                                                "\u0301",
                                                "\u0663",
                                                "\u2167",
                                                "😀",
                                                "\u00A0",
                                                "\u200B",
                                                "\u212A",
                                                "\u017F",
                                                "\U000E0001",
                                                "\xff",
                                                "\xc3",
                                                "\xed\xa0\x80",
                                                "\xf4\x90\x80\x80",
                                                "\xc0\xaf",
                                                std::string("\0", 1),
                                                "\x7f",
                                                "\x1b"};

// Token pools come in pairs: mostly well-formed tokens, so that deep rules are reached,
// and a minority of malformed ones, so that every early rule fires too.
const std::vector<std::string> kNumbers = {"0", "0",  "1",  "1",   "2",
                                           "3", "10", "17", "123", "99999999999999999999"};
const std::vector<std::string> kBadNumbers = {"01", "00", "007", "", "1a"};

const std::vector<std::string> kIdents = {"alpha",
                                          "beta",
                                          "rc",
                                          "0",
                                          "1",
                                          "11",
                                          "2",
                                          "a-b",
                                          "-",
                                          "--",
                                          "A",
                                          "x",
                                          "Z9",
                                          "pre",
                                          "20060102150405",
                                          "incompatible",
                                          "meta",
                                          "sha",
                                          "256a",
                                          "0a",
                                          "1-0"};
const std::vector<std::string> kBadIdents = {"01", "00", "", "é", "a_b", "a+b", " "};

const std::vector<std::string> kRevs = {"abcdef123456", "hash", "ABC", "0", "cbcb75029529", "X"};
const std::vector<std::string> kBadRevs = {"a-b", "", "a.b", "a_b"};

const std::string& PickMostly(Rng& rng, const std::vector<std::string>& good,
                              const std::vector<std::string>& bad, unsigned bad_percent) {
  return rng.Percent(bad_percent) ? rng.Pick(bad) : rng.Pick(good);
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string RandomString(Rng& rng, const std::vector<std::string>& alphabet, size_t max_len) {
  std::string s;
  for (size_t n = rng.Below(max_len + 1); n > 0; --n) s += rng.Pick(alphabet);
  return s;
}

// Inserts, deletes or replaces a few bytes or alphabet characters.
std::string Mutate(Rng& rng, std::string s, const std::vector<std::string>& alphabet) {
  for (size_t n = 1 + rng.Below(3); n > 0; --n) {
    size_t at = s.empty() ? 0 : rng.Below(s.size() + 1);
    switch (rng.Below(3)) {
      case 0:
        s.insert(at, rng.Pick(alphabet));
        break;
      case 1:
        if (at < s.size()) s.erase(at, 1);
        break;
      default:
        if (at < s.size()) s.replace(at, 1, rng.Pick(alphabet));
        break;
    }
  }
  return s;
}

std::string Identifiers(Rng& rng) {
  std::vector<std::string> ids;
  for (size_t n = 1 + rng.Below(rng.Percent(80) ? 2 : 4); n > 0; --n) {
    ids.push_back(PickMostly(rng, kIdents, kBadIdents, 6));
  }
  return Join(ids, ".");
}

std::string Number(Rng& rng) { return PickMostly(rng, kNumbers, kBadNumbers, 5); }

std::string Timestamp(Rng& rng) {
  size_t len = rng.Percent(85) ? 14 : 12 + rng.Below(5);
  std::string t;
  for (size_t i = 0; i < len; ++i) t += static_cast<char>('0' + rng.Below(10));
  return t;
}

// A pseudo-version of major version `major`, in one of x/mod's three forms or a near miss.
std::string PseudoVersion(Rng& rng, const std::string& major) {
  std::string v = "v" + major;
  std::string stamp_rev = Timestamp(rng) + "-" + PickMostly(rng, kRevs, kBadRevs, 10);
  switch (rng.Below(7)) {
    case 0:
    case 1:  // vX.0.0-yyyymmddhhmmss-rev
      v += ".0.0-" + stamp_rev;
      break;
    case 2:
    case 3:  // vX.Y.Z-0.yyyymmddhhmmss-rev
      v += "." + Number(rng) + "." + Number(rng) + "-0." + stamp_rev;
      break;
    case 4:
    case 5:  // vX.Y.Z-pre.0.yyyymmddhhmmss-rev
      v += "." + Number(rng) + "." + Number(rng) + "-" + Identifiers(rng) + ".0." + stamp_rev;
      break;
    default:  // near misses
      v += "." + Number(rng) + "." + Number(rng) + "-" +
           rng.Pick(std::vector<std::string>{"1.", "00.", "x0.", "0", ".0.", "a.0", "0.0-"}) +
           stamp_rev;
      break;
  }
  if (rng.Percent(30)) v += rng.Percent(60) ? "+incompatible" : "+" + Identifiers(rng);
  return v;
}

// A version of major version `major`: shorthand, release, prerelease, build suffixes.
std::string GrammarVersion(Rng& rng, const std::string& major) {
  std::string v = rng.Percent(97) ? "v" : rng.Pick(std::vector<std::string>{"", "V", "vv"});
  v += major;
  size_t parts = rng.Percent(75) ? 3 : rng.Below(4) + 1;
  for (size_t i = 1; i < parts; ++i) v += "." + Number(rng);
  if (rng.Percent(35)) v += "-" + Identifiers(rng);
  if (rng.Percent(30)) v += rng.Percent(40) ? "+incompatible" : "+" + Identifiers(rng);
  return v;
}

std::string VersionWithMajor(Rng& rng, const std::string& major) {
  return rng.Percent(70) ? GrammarVersion(rng, major) : PseudoVersion(rng, major);
}

std::string GenVersion(Rng& rng) {
  switch (rng.Below(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return GrammarVersion(rng, Number(rng));
    case 4:
    case 5:
      return PseudoVersion(rng, Number(rng));
    case 6:
    case 7:
      return Mutate(rng, VersionWithMajor(rng, Number(rng)), kVersionAlphabet);
    default:
      return RandomString(rng, kVersionAlphabet, 16);
  }
}

const std::vector<std::string> kFirstElems = {
    "example.com", "github.com", "gopkg.in", "golang.org", "x.y",    "rsc.io", "127.0.0.1",
    "a.b-c",       "x..y",       "a-.b",     "1.2",        "com0.x", "con1.io"};
const std::vector<std::string> kBadFirstElems = {
    "xy",     "Example.com", "-x.com",    "x_y.com", "x~y.com", "é.com", "com1.x", "con.com",
    ".x.com", "x.com.",      "localhost", "a+b.com", "a.b~1",   "",      "x.y!"};

// Elements valid in module paths, then the edge cases: other kinds of paths only, the
// Windows names, letters and non-letters beyond ASCII, invalid UTF-8, control bytes.
const std::vector<std::string> kElems = {"a",           "b",
                                         "z",           "Foo",
                                         "Azure",       "GoogleCloudPlatform",
                                         "v",           "v2",
                                         "v2",          "v3",
                                         "v10",         "V2",
                                         "yaml.v2",     "yaml.v0",
                                         "yaml.v1",     "x.v1-unstable",
                                         "yaml",        "calm1",
                                         "com0",        "prn2",
                                         "z09~09z",     "~",
                                         "a~",          "x-",
                                         "_x",          "vendor",
                                         "go.mod",      "LICENSE",
                                         "v2.0.0",      "v1.2.3",
                                         "a.b",         "x..y",
                                         "v2-unstable", "a~b"};
const std::vector<std::string> kBadElems = {"v1",
                                            "v0",
                                            "v02",
                                            "v2.1",
                                            "v2.",
                                            "yaml.v02",
                                            "yaml.v",
                                            "CON",
                                            "con.txt",
                                            "com1",
                                            "Com1.go",
                                            "COM9.a.b",
                                            "lpt9",
                                            "aux.foo",
                                            "nul.",
                                            "NuL",
                                            "a~1",
                                            "GOOGLE~12",
                                            "z09~09z~09",
                                            "~1",
                                            ".x",
                                            "x.",
                                            ".",
                                            "..",
                                            "...",
                                            "-x",
                                            "a+b",
                                            "g++",
                                            "a b",
                                            "a!b",
                                            "!a",
                                            "!123",
                                            "a#b",
                                            "a$",
                                            "a%20",
                                            "a&b",
                                            "(a)",
                                            "a,b",
                                            "a=b",
                                            "@v",
                                            "[x]",
                                            "a^",
                                            "a{}",
                                            "é",
                                            "испытание",
                                            "日本語",
                                            "ǅ",
                                            "\u02B0x",
                                            "a\u0301",
                                            "\u0663",
                                            "\u2167",
                                            "😀",
                                            "a\u00A0b",
                                            "a\u200Bb",
                                            "\u212Aelvin",
                                            "\u017Fs",
                                            "a\tb",
                                            "a\nb",
                                            "a\\b",
                                            "a:b",
                                            "a*b",
                                            "a?b",
                                            "a<b",
                                            "a|b",
                                            "a\"b",
                                            "a'b",
                                            "a`b",
                                            "\xff",
                                            "a\xc3",
                                            "\xed\xa0\x80",
                                            "\xf4\x90\x80\x80",
                                            "\xc0\xaf",
                                            std::string("x\0y", 3),
                                            ".gitignore",
                                            "\xef\xbf\xbd"};

std::string GenElem(Rng& rng) {
  if (rng.Percent(90)) return PickMostly(rng, kElems, kBadElems, 25);
  if (rng.Percent(50)) return Mutate(rng, PickMostly(rng, kElems, kBadElems, 25), kPathAlphabet);
  return RandomString(rng, kPathAlphabet, 8);
}

std::string GenPath(Rng& rng) {
  if (rng.Percent(8)) return RandomString(rng, kPathAlphabet, 20);
  std::vector<std::string> elems;
  elems.push_back(rng.Percent(90) ? PickMostly(rng, kFirstElems, kBadFirstElems, 15)
                                  : GenElem(rng));
  for (size_t n = rng.Below(4); n > 0; --n) elems.push_back(GenElem(rng));
  std::string path = Join(elems, "/");
  if (rng.Percent(10)) path = Mutate(rng, path, kPathAlphabet);
  if (rng.Percent(3)) path = "/" + path;
  if (rng.Percent(3)) path += "/";
  return path;
}

// Candidate escaped paths/versions: proper escapes of upper case, and broken ones.
std::string GenEscaped(Rng& rng) {
  std::string s = rng.Percent(70) ? GenPath(rng) : GenVersion(rng);
  std::string out;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z' && rng.Percent(85)) {
      out += '!';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  if (rng.Percent(20)) {
    size_t at = rng.Below(out.size() + 1);
    out.insert(at, rng.Pick(std::vector<std::string>{"!", "!!", "!a", "!A", "!0", "!_", "!é"}));
  }
  return out;
}

const std::vector<std::string> kPathMajors = {
    "",      "",    "/v2",      "/v3",  "/v10", "/v1",          "/v0",          "/v02",
    "/v2.1", ".v0", ".v1",      ".v2",  ".v00", ".v1-unstable", ".v2-unstable", "/v2-unstable",
    "v2",    "/",   ".",        "/x",   ".x",   "-unstable",    ".v-unstable",  "/V2",
    "/v",    ".v",  "v0 or v1", "/v2/", ".v2.0"};

std::string GenPathMajor(Rng& rng) {
  if (rng.Percent(80)) return rng.Pick(kPathMajors);
  return RandomString(rng,
                      std::vector<std::string>{"/", ".", "v", "V", "0", "1", "2", "-", "u", "n",
                                               "s", "t", "a", "b", "l", "e"},
                      8);
}

// Inputs that must always be covered, whatever the random ones do.
std::vector<std::string> EdgeStrings() {
  std::vector<std::string> edges = {"",
                                    "v",
                                    "v0",
                                    "v1",
                                    "v1.2",
                                    "v1.2.3",
                                    "v01",
                                    "v1.02",
                                    "v1.2.03",
                                    "v1.2.3-",
                                    "v1.2.3+",
                                    "v1.2.3-01",
                                    "v1.2.3-0",
                                    "v1.2.3+01",
                                    "v1.2.3-pre..1",
                                    "v1.2.3+incompatible",
                                    "v2.0.0+incompatible",
                                    "v0.0.0-20060102150405-abcdef123456",
                                    "v0.0.0-20060102150405-abcdef123456+incompatible",
                                    "v1.2.4-0.20060102150405-hash",
                                    "v1.2.3-pre.0.20060102150405-hash",
                                    "v0.0.0--.0.20060102150405-hash",
                                    "---",
                                    "example.com/a/v2",
                                    "example.com/a/v1",
                                    "gopkg.in/yaml.v2",
                                    "gopkg.in/yaml.v0",
                                    "gopkg.in/yaml.v2-unstable",
                                    "gopkg.in/yaml",
                                    "gopkg.in/yaml.v02",
                                    "gopkg.in/",
                                    "gopkg.in/.v1",
                                    "x.y/z~09",
                                    "x.y/CON",
                                    "x.y/com1.txt",
                                    "x.y/é",
                                    "x.y/\xff",
                                    "github.com/!google!cloud!platform/omega",
                                    "github.com/GoogleCloudPlatform/omega",
                                    "github.com/!!x",
                                    "github.com/x!",
                                    "/",
                                    "//",
                                    ".",
                                    "..",
                                    "-",
                                    "-x",
                                    "x.y/.z",
                                    "x.y/z.",
                                    "\xef\xbf\xbd",
                                    "x.y/\xef\xbf\xbd"};
  edges.push_back(std::string(1, '\0'));
  std::vector<std::string> all_elems = kElems;
  all_elems.insert(all_elems.end(), kBadElems.begin(), kBadElems.end());
  for (const auto& e : all_elems) {
    edges.push_back(e);
    edges.push_back("x.y/" + e);
    edges.push_back("gopkg.in/" + e);
  }
  for (const auto& e : kFirstElems) edges.push_back(e + "/z");
  for (const auto& e : kBadFirstElems) edges.push_back(e + "/z");
  for (const auto& pm : kPathMajors) edges.push_back("example.com/m" + pm);
  return edges;
}

// The major version a path suffix asks for ("/v2" -> "2", ".v1-unstable" -> "1"), or a
// small number when it asks for none, so versions can be made to (mostly) match it.
std::string MajorFor(Rng& rng, std::string_view path_major) {
  std::string_view m = path_major;
  if (!m.empty() && (m[0] == '/' || m[0] == '.')) m.remove_prefix(1);
  if (m.size() >= 9 && m.substr(m.size() - 9) == "-unstable") m.remove_suffix(9);
  if (!m.empty() && m[0] == 'v') m.remove_prefix(1);
  if (m.empty()) return rng.Pick(std::vector<std::string>{"0", "1", "2"});
  return std::string(m);
}

// ---------------------------------------------------------------------------------------

std::vector<Call> GenerateCalls() {
  Rng rng(20240601);
  std::vector<Call> calls;
  auto one_arg_ops = [&](const std::string& s, std::initializer_list<const char*> ops) {
    for (const char* op : ops) calls.push_back({op, s});
  };
  const auto version_ops = {
      "semver.IsValid",         "semver.Canonical",     "semver.Major",
      "semver.MajorMinor",      "semver.Prerelease",    "semver.Build",
      "module.IsPseudoVersion", "module.EscapeVersion", "module.UnescapeVersion"};
  const auto path_ops = {"module.CheckPath",  "module.CheckImportPath", "module.CheckFilePath",
                         "module.EscapePath", "module.UnescapePath",    "module.SplitPathVersion"};

  for (const std::string& s : EdgeStrings()) {
    one_arg_ops(s, version_ops);
    one_arg_ops(s, path_ops);
    one_arg_ops(s, {"module.PathMajorPrefix"});
  }

  // Versions, alone and in pairs and lists. Pairs are drawn mostly from valid versions
  // (comparing two invalid ones is always 0) and half of them are near each other. Our
  // own IsValid and SplitPathVersion only steer which inputs are made; every answer is
  // still compared with x/mod's.
  std::vector<std::string> versions;
  std::vector<std::string> valid_versions;
  for (int i = 0; i < 10000; ++i) {
    versions.push_back(GenVersion(rng));
    if (semver::IsValid(versions.back())) valid_versions.push_back(versions.back());
    one_arg_ops(versions.back(), version_ops);
  }
  auto some_version = [&] {
    return rng.Percent(80) ? rng.Pick(valid_versions) : rng.Pick(versions);
  };
  for (int i = 0; i < 10000; ++i) {
    std::string a = some_version();
    std::string b = rng.Percent(50) ? some_version() : Mutate(rng, a, kVersionAlphabet);
    calls.push_back({"semver.Compare", a, b});
    calls.push_back({"semver.Max", a, b});
  }
  for (int i = 0; i < 1500; ++i) {
    Call call = {"semver.Sort"};
    for (size_t n = rng.Below(12); n > 0; --n) {
      std::string v = some_version();
      if (v.find('\n') == std::string::npos) call.push_back(v);  // "\n" joins the result
    }
    calls.push_back(call);
  }

  // Paths and escaped paths.
  for (int i = 0; i < 12000; ++i) one_arg_ops(GenPath(rng), path_ops);
  for (int i = 0; i < 4000; ++i) {
    one_arg_ops(GenEscaped(rng), {"module.UnescapePath", "module.UnescapeVersion"});
  }

  // Major-version suffixes, with versions of the major they ask for most of the time.
  for (int i = 0; i < 4000; ++i) one_arg_ops(GenPathMajor(rng), {"module.PathMajorPrefix"});
  for (int i = 0; i < 15000; ++i) {
    std::string pm = GenPathMajor(rng);
    std::string v = rng.Percent(60) ? VersionWithMajor(rng, MajorFor(rng, pm)) : some_version();
    calls.push_back({"module.CheckPathMajor", v, pm});
    calls.push_back({"module.MatchPathMajor", v, pm});
  }
  for (int i = 0; i < 15000; ++i) {
    // Mostly well-formed module paths, so that the version rules are reached.
    std::string path = GenPath(rng);
    if (rng.Percent(70)) {
      path = rng.Pick(std::vector<std::string>{"example.com/m", "gopkg.in/yaml", "rsc.io/q",
                                               "github.com/A/b"}) +
             GenPathMajor(rng);
    }
    std::string v =
        rng.Percent(60)
            ? VersionWithMajor(rng, MajorFor(rng, module::SplitPathVersion(path).path_major))
            : some_version();
    calls.push_back({"module.Check", path, v});
  }
  return calls;
}

TEST(DomainDiffTest, SemverAndModuleAgreeWithXMod) {
  const std::vector<Call> calls = GenerateCalls();
  ASSERT_GE(calls.size(), 100000u);
  const std::vector<std::string> theirs = oracle::RunOracle(calls);
  ASSERT_EQ(theirs.size(), calls.size());

  std::map<std::string, size_t> per_op;
  size_t disagreements = 0;
  std::string report;
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& call = calls[i];
    ++per_op[call[0]];
    auto op = OurOps().find(call[0]);
    ASSERT_NE(op, OurOps().end()) << call[0];
    const std::string ours = op->second(call);
    if (Agree(call, theirs[i], ours)) continue;
    if (++disagreements <= 20) {
      report += call[0] + "(";
      for (size_t a = 1; a < call.size(); ++a) {
        report += (a > 1 ? ", " : "") + oracle::Printable(call[a]);
      }
      report += ")\n    x/mod:  " + oracle::Printable(theirs[i]) +
                "\n    modpub: " + oracle::Printable(ours) + "\n";
    }
  }
  std::string summary;
  for (const auto& [name, n] : per_op) summary += "  " + name + ": " + std::to_string(n) + "\n";
  EXPECT_EQ(disagreements, 0u) << "first disagreements (of " << disagreements << "):\n" << report;
  std::printf("compared %zu calls with x/mod:\n%s", calls.size(), summary.c_str());
}

}  // namespace
}  // namespace modpub
