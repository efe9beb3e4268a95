// Differential test: modpub::gomod and modpub::zipcheck against golang.org/x/mod itself.
//
// Generates a fixed, seeded set of go.mod texts (grammar-built statements in every form
// modfile knows, mutated at random with the characters its lexer treats specially, plus
// hand-picked edge cases) and of file lists (paths built from components that hit every
// rule of x/mod's zip checks: vendor directories, nested go.mod files in any case, case
// folding beyond ASCII, unclean paths, symbolic links, sizes at the limits), asks the
// xmod-oracle (tests/oracle/ops_gomod.go) for x/mod's answers in one batch, and requires
// ours to be identical:
//  * ModulePath and AutoQuote: the same string;
//  * ParseModule: ParseLax's verdict and its error message byte for byte (positions
//    included), the module path, the deprecation text and the line; for modpub's own two
//    rules (no module directive; ModulePath disagrees) the same verdict;
//  * CheckFiles: the same valid, omitted and invalid lists (in order, with x/mod's
//    reasons) and the same size error; with a root go.mod to read (checkfilesgo), under the
//    vendor rule its go line selects (current x/mod; 0.7.0 has only the old rule).
// Against x/mod 0.7.0 (go 1.19) two differences are expected and allowed, nothing else
// (docs/go-versions.md): modpub refuses a go.mod with a malformed ignore directive, which
// 0.7.0 skips, and 0.7.0 words a bad go version "must match format 1.23", not "1.23.0";
// it also cuts "1.21.0" in a go line to "1.21", so the go version is not compared.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "modpub/gomod/gomod.hpp"
#include "modpub/gomod/goversion.hpp"
#include "modpub/zipcheck/zipcheck.hpp"
#include "oracle.hpp"

namespace modpub {
namespace {

using Call = std::vector<std::string>;
using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------
// Our side of the oracle ops (see ops_gomod.go for the result formats).

std::string RenderParse(const std::string& data, const std::string& file) {
  auto r = gomod::ParseModule(data, file);
  if (r.ok()) {
    return "ok:" + r->path + std::string(1, '\0') + r->deprecated + std::string(1, '\0') +
           std::to_string(r->line) + std::string(1, '\0') + r->go_version;
  }
  const std::string& msg = r.message();
  if (msg == file + ": no module directive") return "nomodule";
  if (msg.find(": module directive: the go command's quick scan of go.mod") != std::string::npos) {
    return "mismatch:" + gomod::ModulePath(data);
  }
  return "err:" + msg;
}

std::string LengthPrefixed(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

// "<kind> <size> <path>" as ops_gomod.go reads it.
std::string FileArg(const zipcheck::File& f) {
  const char* kind = f.kind == zipcheck::FileKind::kRegular   ? "r"
                     : f.kind == zipcheck::FileKind::kSymlink ? "l"
                                                              : "o";
  return std::string(kind) + " " + std::to_string(f.size) + " " + f.path;
}

zipcheck::File ParseFileArg(const std::string& arg) {
  std::size_t sp1 = arg.find(' ');
  std::size_t sp2 = arg.find(' ', sp1 + 1);
  zipcheck::File f;
  f.kind = arg[0] == 'r'   ? zipcheck::FileKind::kRegular
           : arg[0] == 'l' ? zipcheck::FileKind::kSymlink
                           : zipcheck::FileKind::kOther;
  f.size = std::stoull(arg.substr(sp1 + 1, sp2 - sp1 - 1));
  f.path = arg.substr(sp2 + 1);
  return f;
}

// checkfiles, or checkfilesgo (whose first argument is the root go.mod's text): the vendor
// rule follows the go line as modzip applies it, except against x/mod 0.7.0.
std::string RenderCheckFiles(const Call& call) {
  const bool with_gomod = call[0] == "checkfilesgo";
  std::vector<zipcheck::File> files;
  for (std::size_t i = with_gomod ? 2 : 1; i < call.size(); ++i) {
    files.push_back(ParseFileArg(call[i]));
  }
  auto rule = zipcheck::VendorRule::kBeforeGo124;
  if (with_gomod && oracle::Flavor() != "0.7.0" &&
      std::any_of(files.begin(), files.end(), [](const auto& f) { return f.path == "go.mod"; }) &&
      gomod::LanguageAtLeast(gomod::GoVersion(call[1]), 24)) {
    rule = zipcheck::VendorRule::kGo124;
  }
  zipcheck::CheckedFiles cf = zipcheck::CheckFiles(files, rule);
  std::string out = "V";
  for (const std::string& p : cf.valid) out += LengthPrefixed(p);
  out += "O";
  for (const auto& e : cf.omitted) out += LengthPrefixed(e.path) + LengthPrefixed(e.reason);
  out += "I";
  for (const auto& e : cf.invalid) out += LengthPrefixed(e.path) + LengthPrefixed(e.reason);
  out += "S";
  if (cf.size_error) out += *cf.size_error;
  return out;
}

std::string Ours(const Call& c) {
  if (c[0] == "modulepath") return gomod::ModulePath(c[1]);
  if (c[0] == "autoquote") return gomod::AutoQuote(c[1]);
  if (c[0] == "parsemodule") return RenderParse(c[1], c[2]);
  if (c[0] == "checkfiles" || c[0] == "checkfilesgo") return RenderCheckFiles(c);
  return "unknown-op:" + c[0];
}

// ---------------------------------------------------------------------------------------
// Input generation. SplitMix64: its sequence is fixed by its definition, so the inputs
// are the same on every machine and standard library.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t Below(std::size_t n) { return static_cast<std::size_t>(Next() % n); }
  bool Percent(unsigned p) { return Below(100) < p; }
  const std::string& Pick(const Strings& v) { return v[Below(v.size())]; }

 private:
  std::uint64_t state_;
};

// Characters the go.mod lexer treats specially, and some it rejects.
// clang-format off
const Strings kSyntaxAlphabet = {
    " ", "\t", "\r", "\n", "\n", "(", ")", "[", "]", "{", "}", ",", "\"", "\"", "`", "'",
    "\\", "/", "/", "//", "/*", "*", "a", "m", "v", "1", ".", "0", "x", "=>", "module", "go",
    "require", "Deprecated: ", "é", "\v", "\f", "\x7f", "\x1b", std::string("\0", 1),
    "\xff", "\xc2\xa0", "\xc2\x85", "\xe2\x80\xa8", "\xe3\x80\x80", "\xef\xbf\xbd",
    "\xed\xa0\x80", "\xef\xbb\xbf"};
// clang-format on

const Strings kSep = {" ", " ", " ", "\t", "  ", " \t "};
const Strings kEol = {"\n", "\n", "\n", "\n", "\r\n", " \n", "\t\n"};

// clang-format off
const Strings kModulePaths = {
    "example.com/m", "example.com/m", "x", "example.com/m/v2", "gopkg.in/yaml.v2", "é",
    "a.b/c-d_e~f", "\"example.com/m\"", "\"example.com/m\"", "\"a b\"", "\"a\\tb\"",
    "\"\\x41\\u00e9\\U0001F600\"", "\"\\377\"", "\"\\q\"", "\"a\\'\"", "\"\\uD800\"",
    "\"\\U00110000\"", "\"\\x4\"", "\"\\08\"", "\"\\a\\b\\f\\n\\r\\v\\\\\\\"\"",
    "`example.com/m`", "'x'", "a\"b", "\"\"", "(", "\"(\"", "\"a//b\"", "\"a/*b\"", "a,b",
    "\xff", "\"\xff\"", "\"\\xff\"", "a b", "\"é\"", "\"\xc3\"", "example.com/m)", "[x]",
    "x{", "\"a\\\nb\"", "\"a\r\"", "`a\rb`"};
// clang-format on

// clang-format off
const Strings kGoVersions = {
    "1.19", "1.19", "1.0", "1.19.2", "v1.19rc1", "1.x", "01.2", "1.02", "1", "1.", "1.19 1.20",
    "\"1.19\"", "1.18beta1", "v1.2", "2.0", "1.19\xff", "1.19-pre", "10.10", "1.26.0",
    "1.24.0", "1.21rc1", "1.21.0rc1", "1.2.03", "1.21.", "1.21rc", "1.24", "1.99", "1.26.9",
    "1.21.0-x"};
// clang-format on

const Strings kRequirePaths = {"b",      "b",     "e/v2", "gopkg.in/yaml.v2", "d/v1", "\"\"",
                               "x/v3",   "\"q\"", "'q'",  "gopkg.in/x",       "a/v0", "b.c/v2",
                               "\"\\q\""};
// clang-format off
const Strings kVersions = {
    "v1.0.0", "v1.0.0", "v1.2", "v1", "v2.0.0", "v2.0.0+incompatible", "v1.0.0-pre",
    "v0.0.0-20200101000000-abcdefabcdef", "v1.x", "latest", "\"v1.0.0\"", "'v1'", "v3.1.0",
    "v1.0.0+meta", "v0.1.0", "V1.0.0", "\"v1\\x\""};
// clang-format on

const Strings kCommentTexts = {"// Deprecated: use example.com/n",
                               "// Deprecated:use x",
                               "//Deprecated: tight",
                               "// Deprecated:   spaced",
                               "// deprecated: lower",
                               "//",
                               "// plain text",
                               "// indirect",
                               "// Deprecated: two\\n words",
                               "// Deprecated:",
                               "// x // y",
                               "// Deprecated: é \xff"};

std::string Comment(Rng& rng) { return rng.Pick(kCommentTexts); }

std::string MaybeSuffixComment(Rng& rng) {
  return rng.Percent(20) ? rng.Pick(kSep) + Comment(rng) : "";
}

std::string ModuleStatement(Rng& rng) {
  std::string s;
  if (rng.Percent(25)) s += Comment(rng) + rng.Pick(kEol);
  if (rng.Percent(10)) s += Comment(rng) + rng.Pick(kEol);
  if (rng.Percent(5)) s += rng.Pick(kEol);  // a blank line detaches the comments
  if (rng.Percent(15)) {
    // Block form.
    s += "module" + rng.Pick(kSep) + "(" + MaybeSuffixComment(rng) + rng.Pick(kEol);
    if (rng.Percent(20)) s += "\t" + Comment(rng) + rng.Pick(kEol);
    if (rng.Percent(10)) s += rng.Pick(kEol);
    std::size_t n = rng.Percent(80) ? 1 : rng.Below(3);
    for (std::size_t i = 0; i < n; ++i) {
      s += "\t" + rng.Pick(kModulePaths) + MaybeSuffixComment(rng) + rng.Pick(kEol);
    }
    s += ")" + MaybeSuffixComment(rng) + rng.Pick(kEol);
    return s;
  }
  if (rng.Percent(5)) s += rng.Pick(kSep);  // indented
  s += "module";
  std::size_t args = rng.Percent(90) ? 1 : rng.Below(3);
  for (std::size_t i = 0; i < args; ++i) s += rng.Pick(kSep) + rng.Pick(kModulePaths);
  s += MaybeSuffixComment(rng) + rng.Pick(kEol);
  return s;
}

std::string RequireLine(Rng& rng) {
  std::string s = rng.Pick(kRequirePaths);
  if (rng.Percent(95)) s += rng.Pick(kSep) + rng.Pick(kVersions);
  if (rng.Percent(3)) s += rng.Pick(kSep) + rng.Pick(kVersions);
  return s + MaybeSuffixComment(rng);
}

std::string OtherStatement(Rng& rng) {
  switch (rng.Below(14)) {
    case 0:
    case 1:
      return "go" + rng.Pick(kSep) + rng.Pick(kGoVersions) + MaybeSuffixComment(rng) +
             rng.Pick(kEol);
    case 2:
    case 3:
      return "require" + rng.Pick(kSep) + RequireLine(rng) + rng.Pick(kEol);
    case 4: {
      std::string s = "require (" + rng.Pick(kEol);
      for (std::size_t n = rng.Below(4); n > 0; --n) {
        if (rng.Percent(15)) s += "\t" + Comment(rng) + rng.Pick(kEol);
        s += "\t" + RequireLine(rng) + rng.Pick(kEol);
      }
      return s + ")" + rng.Pick(kEol);
    }
    case 5:
      return rng.Pick(Strings{"retract v1.0.0",
                              "retract [v1.0.0, v1.1.0]",
                              "retract [v1",
                              "retract (\n\tv1.0.0 // why\n)",
                              "retract \"x\\q\"",
                              "exclude x v1",
                              "replace x => y",
                              "replace x v1.0.0 => ../y",
                              "replace (\n\tx => y\n)",
                              "toolchain go1.21",
                              "toolchain go1.26.0 // pinned",
                              "toolchain",
                              "godebug default=go1.21",
                              "godebug (\n\tpanicnil=1\n\tasynctimerchan=0 // why\n)",
                              "godebug x",
                              "tool example.com/cmd/gen",
                              "tool (\n\texample.com/a\n\tb c\n)",
                              "ignore ./node_modules",
                              "ignore \"./a b\"",
                              "ignore a b",
                              "ignore",
                              "ignore \"\\q\"",
                              "ignore (\n\t./x\n\ty z\n)",
                              "ignore (\n\t\"./docs\" // rationale\n)",
                              "retract v1.0.0 // published by mistake",
                              "retract (\n\tv1.0.1 // bad\n\t[v1.1.0, v1.2.0] // worse\n)",
                              "foo bar",
                              "foo (\n x\n)",
                              "go (\n 1.19\n)",
                              "module x (\n y\n)",
                              "\"module\" x",
                              ")",
                              "( x",
                              "[ ]",
                              "require x y (\n z\n)",
                              "module ()",
                              "module ( )",
                              "module ( x )"}) +
             rng.Pick(kEol);
    case 6:
    case 7:
      return Comment(rng) + rng.Pick(kEol);
    case 8:
    case 9:
    case 10:
      return rng.Pick(kEol);
    case 11:
    case 12:
      return "require example.com/b v1.2.3" + MaybeSuffixComment(rng) + rng.Pick(kEol);
    default: {
      std::string s;
      for (std::size_t n = 1 + rng.Below(6); n > 0; --n) s += rng.Pick(kSyntaxAlphabet);
      return s + rng.Pick(kEol);
    }
  }
}

std::string Mutate(Rng& rng, std::string s) {
  for (std::size_t n = 1 + rng.Below(3); n > 0; --n) {
    std::size_t at = s.empty() ? 0 : rng.Below(s.size() + 1);
    switch (rng.Below(3)) {
      case 0:
        s.insert(at, rng.Pick(kSyntaxAlphabet));
        break;
      case 1:
        if (at < s.size()) s.erase(at, 1 + rng.Below(3));
        break;
      default:
        if (at < s.size()) s.replace(at, 1, rng.Pick(kSyntaxAlphabet));
        break;
    }
  }
  return s;
}

std::string GenGoMod(Rng& rng) {
  std::string s;
  const std::size_t stmts = rng.Below(6);
  const std::size_t module_at = rng.Percent(92) ? rng.Below(stmts + 1) : stmts + 1;
  for (std::size_t i = 0; i <= stmts; ++i) {
    if (i == module_at || (rng.Percent(4))) s += ModuleStatement(rng);
    if (i < stmts) s += OtherStatement(rng);
  }
  if (rng.Percent(15) && !s.empty() && s.back() == '\n') s.pop_back();  // no final newline
  if (rng.Percent(20)) s = Mutate(rng, s);
  return s;
}

// Hand-picked go.mod texts: the unit tests' cases and lexer corner cases.
const Strings kEdgeGoMods = {
    "",
    "module",
    "module ",
    "module x",
    "module x\n",
    "module\tx\n",
    "module\x0bx\n",
    "module\xc2\xa0x\n",
    "modulex y\nmodule z\n",
    "module \"a\nmodule b\n",
    "module \"a\" b\nmodule c\n",
    "module `a` b\n",
    "module ( )\n",
    "module ()\nmodule a\n",
    "module (\n\texample.com/m\n)\n",
    "// Deprecated: block\nmodule (\n\t\"(\"\n)\n",
    "// Deprecated: block\nmodule (\n\t\"(\" // own\n)\n",
    "module ( // Deprecated: on the paren\n\t\"(\"\n)\n",
    "module (\n\t// Deprecated: inner\n\t\"(\"\n)\n",
    "// Deprecated: outer\nmodule (\n\t// Deprecated: inner\n\n\t\"(\"\n)\n",
    "module (\n a\n",
    "module (\n a\n) x\n",
    "module (\n a\n)\v\n",
    "module (\n a\n)\n\x00",
    "module a\n)\n",
    "require (\n",
    "module a\n  require (\n",
    "module a/*b\n",
    "module a\n/* c */\n",
    "module a//b\n",
    "module a// b\n",
    "module \"a//b\"\n",
    "module \"a\\\nb\"\n",
    "module \"a\\",
    "module \"a",
    "module `a\nb`\n",
    "module é \"x\n",
    "\xef\xbb\xbfmodule x\n",
    "module x // Deprecated: a\n// Deprecated: b\n",
    "// Some text.\n//\n// Deprecated: use n\n// and more.\n//\n// Other.\nmodule m\n",
    "//\n//\n// Deprecated: x\nmodule m\n",
    "// Deprecated: a\n//\n//\n// Deprecated: b\nmodule m\n",
    "// x\n//\n//\n//\n// Deprecated: y\nmodule m\n",
    "module m\ngo 1.19 // Deprecated: not the module's\n",
    "module m // a\n // b\n",
    "module m\r\n// Deprecated: x\r\n",
    "// Deprecated: x\r\nmodule m\r\n",
    "module a\nrequire (\n\tb v1.0.0\n\tc v2.0.0\n\td/v1 v1.0.0\n)\n",
    "module a\nrequire \"\" v1.x\n",
    "module a\ngo 1.x\ngo 1.19\ngo 1.20\n",
    "module a\ngo 1.19\n\n\ngo 1.20\n",
    "module a\ngo \"1.19\\\n\"\n",
    "module a\ngo 1.19x\\\n\"\n",
    "module a\ngo 1.2\xff\n",
    "require (\n module v1.0.0\n)\nmodule a\n",
    "module m\n\n)",
    "module m\n(\n",
    "module m\n( )\n",
    "x (\n) y\n",
    "x ( ) y\nmodule m\n",
    "module m ( ) \n",
    "\t\n\r\n  module m  \r\n",
};

// ---------------------------------------------------------------------------------------
// File lists.

// clang-format off
const Strings kComponents = {
    "a", "b", "A", "B", "x.go", "X.go", "k", "K", "\u212A", "s", "S", "\u017F", "é", "É",
    "ǅ", "Ǆ", "ǆ", "Σ", "σ", "ς", "ß", "ẞ", "İ", "ı", "i", "I", "vendor", "vendor", "Vendor",
    "go.mod", "go.mod", "GO.MOD", "Go.mod", "go.MOD", "LICENSE", "license", "License",
    ".hg_archival.txt", "sub", "sub", ".", "..", "", "con", "con.go", "a b", "a'b", "\xff",
    ".git", ".hg", ".svn", ".bzr", "modules.txt", "x~1", "-x", "ver\u0301"};
// clang-format on

const std::vector<std::uint64_t> kSizes = {0,
                                           1,
                                           100,
                                           zipcheck::kMaxGoMod,
                                           zipcheck::kMaxGoMod + 1,
                                           zipcheck::kMaxLICENSE - 1,
                                           zipcheck::kMaxLICENSE + 1,
                                           100ull << 20,
                                           250ull << 20,
                                           zipcheck::kMaxZipFile / 2,
                                           zipcheck::kMaxZipFile - 1,
                                           zipcheck::kMaxZipFile,
                                           zipcheck::kMaxZipFile + 1};

// ASCII case changes of a path, to provoke collisions with earlier ones.
std::string Recase(Rng& rng, std::string p) {
  for (char& c : p) {
    if (rng.Percent(40)) {
      if (c >= 'a' && c <= 'z') {
        c = static_cast<char>(c - 'a' + 'A');
      } else if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
  }
  return p;
}

std::string GenPath(Rng& rng) {
  std::string p;
  std::size_t n = 1 + rng.Below(rng.Percent(70) ? 3 : 5);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) p += rng.Percent(97) ? "/" : "//";
    p += rng.Pick(kComponents);
  }
  if (rng.Percent(3)) p = "/" + p;
  if (rng.Percent(3)) p += "/";
  if (rng.Percent(2)) p = "./" + p;
  return p;
}

Call GenFileList(Rng& rng) {
  Call call = {"checkfiles"};
  std::vector<zipcheck::File> files;
  const std::size_t n = rng.Below(rng.Percent(80) ? 8 : 20);
  for (std::size_t i = 0; i < n; ++i) {
    zipcheck::File f;
    if (!files.empty() && rng.Percent(20)) {
      const zipcheck::File& earlier = files[rng.Below(files.size())];
      f.path = rng.Percent(50) ? earlier.path : Recase(rng, earlier.path);
    } else if (!files.empty() && rng.Percent(15)) {
      // Something under or beside an earlier path.
      const zipcheck::File& earlier = files[rng.Below(files.size())];
      f.path = earlier.path + "/" + rng.Pick(kComponents);
    } else {
      f.path = GenPath(rng);
    }
    f.kind = rng.Percent(85)   ? zipcheck::FileKind::kRegular
             : rng.Percent(65) ? zipcheck::FileKind::kSymlink
                               : zipcheck::FileKind::kOther;
    f.size = rng.Percent(75) ? rng.Below(5000) : kSizes[rng.Below(kSizes.size())];
    files.push_back(f);
  }
  for (const auto& f : files) call.push_back(FileArg(f));
  return call;
}

// A file list with a root go.mod whose go line picks x/mod's vendor rule, and files in
// and around vendor directories, where the two rules differ.
Call GenFileListWithGoMod(Rng& rng) {
  static const Strings kGoMods = {"module m\ngo 1.24\n",
                                  "module m\ngo 1.23\n",
                                  "module m\ngo 1.24rc1\n",
                                  "module m\n\ngo 1.26.0\n",
                                  "module m\n",
                                  "module m\ngo 1.24\nignore a b\n",
                                  "go 1.25\n",
                                  "module m\ngo 2.0\n",
                                  "module m\ngo 1.24 // c\n",
                                  "",
                                  "module m\r\ngo 1.24.1\r\n",
                                  "module m\ngo v1.24.2\n",
                                  "module m\ngo 1.x\n"};
  static const Strings kVendorish = {
      "vendor/modules.txt", "vendor/a.go", "vendor/x/y.go", "pkg/vendor/v.go", "pkg/vendor/s/w.go",
      "a/b/vendor/R",       "vendor",      "pkg/vendor",    "vendorx/a.go"};
  Call call = GenFileList(rng);
  call[0] = "checkfilesgo";
  call.insert(call.begin() + 1, rng.Pick(kGoMods));
  for (std::size_t n = 1 + rng.Below(4); n > 0; --n) {
    call.push_back(FileArg({rng.Pick(kVendorish), zipcheck::FileKind::kRegular, 1}));
  }
  if (rng.Percent(90)) call.push_back(FileArg({"go.mod", zipcheck::FileKind::kRegular, 10}));
  return call;
}

// Hand-picked file lists: the unit tests' cases.
std::vector<Call> EdgeFileLists() {
  using zipcheck::File;
  using zipcheck::FileKind;
  auto reg = [](std::string p, std::uint64_t size = 0) {
    return File{std::move(p), FileKind::kRegular, size};
  };
  auto lnk = [](std::string p) { return File{std::move(p), FileKind::kSymlink, 0}; };
  const std::uint64_t half = zipcheck::kMaxZipFile / 2;
  const std::vector<std::vector<File>> lists = {
      {},
      {reg("valid.go"), reg("not/../clean"), reg("GO.MOD"), reg("invalid.go'"), reg("vendor/x/y"),
       reg("sub/go.mod"), reg(".hg_archival.txt"), reg("valid.go", 9), reg("valid.go", 17)},
      {reg("./a"), reg("a/"), reg("a//b"), reg("a/./b"), reg("a/.."), reg(""), reg("/a"),
       reg("/a/../b"), reg(".."), reg("../x")},
      {reg("vendor/modules.txt"), reg("vendor/x/y.go"), reg("a/vendor/b.go"), reg("/vendor/x"),
       reg("abc/vendor/modules.txt"), reg("a/vendorx/b.go")},
      {reg("go.mod"), reg("a.go"), reg("sub/go.mod"), reg("sub/a.go"), reg("sub/deep/b.go"),
       reg("subx/c.go"), reg("other/GO.MOD"), reg("other/d.go"), lnk("lnk/go.mod"),
       reg("lnk/e.go")},
      {reg("vendor/x/go.mod"), reg("vendor/x.go"), reg("m/go.mod"), reg("m/.hg_archival.txt")},
      {reg("Go.Mod"), reg("GO.mod"), reg("go.mod"), reg("go.modx")},
      {reg("a.go"), reg("A.go"), reg("dir/x"), reg("DIR/y"), reg("f"), reg("f/g")},
      {reg("d/x"), reg("d")},
      {reg("k.go"), reg("\u212A.go"), reg("\u017F"), reg("S"), reg("\u00C9t\u00E9"),
       reg("\u00E9T\u00C9")},
      {lnk("A"), reg("a"), File{"p", FileKind::kOther, 0}, lnk("q")},
      {reg("go.mod", zipcheck::kMaxGoMod), reg("LICENSE", zipcheck::kMaxLICENSE)},
      {reg("go.mod", zipcheck::kMaxGoMod + 1), reg("LICENSE", zipcheck::kMaxLICENSE + 1),
       reg("sub/LICENSE", zipcheck::kMaxLICENSE + 1), reg("license", 1)},
      {reg("a", half), reg("b", half), reg("c", 0)},
      {reg("a", half), reg("b", half), reg("c", 1), reg("d", 1)},
      {reg("vendor/a/b", zipcheck::kMaxZipFile), reg("a", zipcheck::kMaxZipFile)},
      {reg("go.mod", zipcheck::kMaxGoMod + 1), reg("a", zipcheck::kMaxZipFile)},
      {reg("a", zipcheck::kMaxZipFile + 1), reg("A"), reg("vendor/x/y")},
      {reg(".git/config"), reg(".hg/store"), reg(".svn/x"), reg(".bzr/y"), reg("a/.git/z")},
      {reg("Σ"), reg("σ"), reg("ς"), reg("ß"), reg("ẞ"), reg("İ"), reg("ı"), reg("i"), reg("I")},
      {reg("ǅ/a"), reg("Ǆ/b"), reg("ǆ")},
      {reg("sub/Go.Mod"), reg("sub/x"), reg("SUB/y")},
  };
  std::vector<Call> calls;
  for (const auto& list : lists) {
    Call c = {"checkfiles"};
    for (const File& f : list) c.push_back(FileArg(f));
    calls.push_back(std::move(c));
  }
  return calls;
}

// clang-format off
const Strings kQuoteAlphabet = {
    "a", "z", "/", ".", " ", "\"", "'", "`", "(", ")", "[", "]", "{", "}", ",", "//", "/*",
    "\t", "\n", "\\", "é", "\xff", "\xc2\xa0", "\x7f", std::string("\0", 1), "\u2028", "😀"};
// clang-format on

std::string RandomString(Rng& rng, const Strings& alphabet, std::size_t max_len) {
  std::string s;
  for (std::size_t n = rng.Below(max_len + 1); n > 0; --n) s += rng.Pick(alphabet);
  return s;
}

// ---------------------------------------------------------------------------------------

struct Counts {
  std::map<std::string, std::size_t> calls, disagreements;
  std::map<std::string, std::size_t> allowed;   // the known differences with x/mod 0.7.0
  std::map<std::string, std::size_t> verdicts;  // x/mod's answers, by kind
};

// What kind of answer x/mod gave, for the coverage summary: the verdict, and for errors
// each problem's wording without its position and quoted parts.
void CountVerdicts(const Call& call, const std::string& theirs, Counts& counts) {
  auto kind_of = [](std::string line) {
    // Drop "<file>:<line>[:<col>]: ", a "require <path>: " directive prefix, and
    // everything from the first quote, parenthesis or colon on.
    for (const char* file : {"go.mod:", "sub/v2/go.mod:"}) {
      if (line.rfind(file, 0) == 0) {
        std::size_t c = line.find(": ");
        if (c != std::string::npos) line = line.substr(c + 2);
      }
    }
    if (line.rfind("require", 0) == 0) {
      std::size_t c = line.find(" invalid: ");
      line = "require: " + (c == std::string::npos ? line : line.substr(c + 10));
      return line.substr(0, std::min(line.find_first_of("\"'(,", 9), std::size_t{50}));
    }
    return line.substr(0, std::min(line.find_first_of("\"'(:"), std::size_t{50}));
  };
  if (call[0] == "parsemodule") {
    std::string verdict = theirs.substr(0, theirs.find(':'));
    if (verdict == "ok") {
      std::size_t a = theirs.find('\0');
      bool deprecated = a + 1 < theirs.size() && theirs[a + 1] != '\0';
      ++counts.verdicts[deprecated ? "parsemodule ok, deprecated" : "parsemodule ok"];
    } else if (verdict == "err") {
      std::string rest = theirs.substr(4);
      for (std::size_t start = 0; start <= rest.size();) {
        std::size_t nl = rest.find('\n', start);
        if (nl == std::string::npos) nl = rest.size();
        ++counts.verdicts["parsemodule err: " + kind_of(rest.substr(start, nl - start))];
        start = nl + 1;
      }
    } else {
      ++counts.verdicts["parsemodule " + verdict];
    }
  } else if (call[0].rfind("checkfiles", 0) == 0) {
    // Reasons appear as "<n>:<reason>" after each path in the O and I sections.
    for (const char* reason :
         {"file is in vendor directory", "file is in another module", "hg archive",
          "file is a symbolic link", "not a regular file", "file path is not clean",
          "file path is not relative", "malformed file path", "lowercase names",
          "case-insensitive file name collision", "is both a file and a directory",
          "multiple entries for file", "go.mod file too large", "LICENSE file too large",
          "module source tree too large"}) {
      if (theirs.find(reason) != std::string::npos) {
        ++counts.verdicts[std::string("checkfiles ") + reason];
      }
    }
  }
}

// Every line of `part` is a line of `whole`.
bool LinesWithin(const std::string& part, const std::string& whole) {
  std::istringstream in(part);
  for (std::string line; std::getline(in, line);) {
    if (("\n" + whole + "\n").find("\n" + line + "\n") == std::string::npos) return false;
  }
  return true;
}

// Whether modpub's answer agrees with x/mod's: identical, except for the differences with
// x/mod 0.7.0 listed at the top of this file.
bool Agree(const Call& call, const std::string& ours, std::string theirs) {
  if (ours == theirs) return true;
  if (oracle::Flavor() != "0.7.0" || call[0] != "parsemodule") return false;
  for (std::size_t at = 0; (at = theirs.find("must match format 1.23", at)) != std::string::npos;) {
    at += std::string_view("must match format 1.23").size();
    if (at == theirs.size() || theirs[at] == '\n') theirs.insert(at, ".0");
  }
  auto without_go = [](const std::string& r) {
    return r.rfind("ok:", 0) == 0 ? r.substr(0, r.rfind('\0')) : r;
  };
  if (without_go(ours) == without_go(theirs)) return true;
  // A malformed ignore directive: modpub refuses, 0.7.0 skips it (and may find less).
  const bool has_ignore = call[1].find("ignore") != std::string::npos;
  return has_ignore && ours.rfind("err:", 0) == 0 &&
         (theirs.rfind("ok:", 0) == 0 || theirs.rfind("nomodule", 0) == 0 ||
          theirs.rfind("mismatch:", 0) == 0 ||
          (theirs.rfind("err:", 0) == 0 && LinesWithin(theirs.substr(4), ours.substr(4))));
}

TEST(GomodDiff, AgreesWithXMod) {
  Rng rng(20240601);
  std::vector<Call> calls;
  auto add_gomod = [&](const std::string& data) {
    calls.push_back({"modulepath", data});
    calls.push_back({"parsemodule", data, rng.Percent(90) ? "go.mod" : "sub/v2/go.mod"});
  };
  for (const std::string& s : kEdgeGoMods) add_gomod(s);
  for (int i = 0; i < 30000; ++i) add_gomod(GenGoMod(rng));
  for (const std::string& s : kModulePaths) calls.push_back({"autoquote", s});
  for (int i = 0; i < 5000; ++i)
    calls.push_back({"autoquote", RandomString(rng, kQuoteAlphabet, 6)});
  for (Call& c : EdgeFileLists()) calls.push_back(std::move(c));
  for (int i = 0; i < 8000; ++i) calls.push_back(GenFileList(rng));
  for (int i = 0; i < 3000; ++i) calls.push_back(GenFileListWithGoMod(rng));

  const std::vector<std::string> theirs = oracle::RunOracle(calls);
  ASSERT_EQ(theirs.size(), calls.size());

  Counts counts;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const Call& call = calls[i];
    const std::string ours = Ours(call);
    ++counts.calls[call[0]];
    CountVerdicts(call, theirs[i], counts);
    if (ours != theirs[i] && Agree(call, ours, theirs[i])) ++counts.allowed[call[0]];
    if (Agree(call, ours, theirs[i])) continue;
    ++counts.disagreements[call[0]];
    if (shown++ < 30) {
      std::string args;
      for (std::size_t k = 1; k < call.size(); ++k) args += " " + oracle::Printable(call[k]);
      ADD_FAILURE() << call[0] << args << "\n  x/mod:  " << oracle::Printable(theirs[i])
                    << "\n  modpub: " << oracle::Printable(ours);
    }
  }
  for (const auto& [op, n] : counts.calls) {
    std::printf("  %-12s %6zu calls, %zu disagreements, %zu known differences (x/mod %s)\n",
                op.c_str(), n, counts.disagreements[op], counts.allowed[op],
                oracle::Flavor().c_str());
  }
  for (const auto& [verdict, n] : counts.verdicts) {
    std::printf("  %6zu  %s\n", n, verdict.c_str());
  }
  EXPECT_EQ(shown, 0u);
}

}  // namespace
}  // namespace modpub
