// Unit tests for modpub::gomod. Expected values (paths, deprecation texts, and error
// messages with their positions) were obtained from x/mod 0.7.0's modfile.ParseLax,
// modfile.ModulePath and modfile.AutoQuote on the same inputs; the differential test
// (tests/oracle/gomod_diff_test.cpp) compares the functions with x/mod on generated
// go.mod files.

#include "modpub/gomod/gomod.hpp"

#include <gtest/gtest.h>

#include <string>

namespace modpub::gomod {
namespace {

// "ok:<path>" or the error message.
std::string Parse(std::string_view data, std::string_view file = "go.mod") {
  auto r = ParseModule(data, file);
  return r.ok() ? "ok:" + r->path : r.message();
}

std::string Deprecated(std::string_view data) {
  auto r = ParseModule(data);
  return r.ok() ? r->deprecated : "error: " + r.message();
}

// --- ModulePath ------------------------------------------------------------------------

TEST(ModulePath, PlainAndQuoted) {
  EXPECT_EQ(ModulePath("module example.com/m\n"), "example.com/m");
  EXPECT_EQ(ModulePath("module \"example.com/m\"\n"), "example.com/m");
  EXPECT_EQ(ModulePath("module `example.com/m`\n"), "example.com/m");
  EXPECT_EQ(ModulePath("module \"\\xff\"\n"), "\xff");
  EXPECT_EQ(ModulePath("\tmodule   x  \r\n"), "x");
  EXPECT_EQ(ModulePath("module x // comment\n"), "x");
}

TEST(ModulePath, FirstModuleLineWins) {
  EXPECT_EQ(ModulePath("// module c\ngo 1.19\nmodule a\nmodule b\n"), "a");
  // Lenient: it does not know blocks, so a "module" line inside one counts.
  EXPECT_EQ(ModulePath("require (\n module v1.0.0\n)\nmodule a\n"), "v1.0.0");
  EXPECT_EQ(ModulePath("module (\n\texample.com/m\n)\n"), "(");
}

TEST(ModulePath, SkipsLinesThatNameNothing) {
  EXPECT_EQ(ModulePath(""), "");
  EXPECT_EQ(ModulePath("go 1.19\n"), "");
  EXPECT_EQ(ModulePath("module\nmodulex y\nmodule z\n"), "z");
  EXPECT_EQ(ModulePath("module   \nmodule z"), "z");
}

TEST(ModulePath, MalformedQuotedPathEndsTheSearch) {
  EXPECT_EQ(ModulePath("module \"a\nmodule b\n"), "");
  EXPECT_EQ(ModulePath("module \"a//b\"\n"), "");  // cut at "//" first
  EXPECT_EQ(ModulePath("module \"a\" b\nmodule c\n"), "");
  EXPECT_EQ(ModulePath("module \"a\\q\"\n"), "");
  EXPECT_EQ(ModulePath("module `a` b\n"), "");
}

TEST(ModulePath, UnquotedTextIsTakenAsIs) {
  EXPECT_EQ(ModulePath("module a b\n"), "a b");
  EXPECT_EQ(ModulePath("module 'a'\n"), "'a'");
  EXPECT_EQ(ModulePath("module \xff\n"), "\xff");
  // Unicode spaces are trimmed too (bytes.TrimSpace).
  EXPECT_EQ(ModulePath("module\xc2\xa0x\xe3\x80\x80\n"), "x");
}

// --- ParseModule: the module directive -------------------------------------------------

TEST(ParseModule, Forms) {
  EXPECT_EQ(Parse("module example.com/m\n"), "ok:example.com/m");
  EXPECT_EQ(Parse("module \"example.com/m\"\n"), "ok:example.com/m");
  EXPECT_EQ(Parse("\tmodule   x  \n"), "ok:x");
  EXPECT_EQ(Parse("module x\r\n"), "ok:x");
  EXPECT_EQ(Parse("module x"), "ok:x");
  EXPECT_EQ(Parse("module é\n"), "ok:é");
  // Path validity is the caller's business (module::CheckPath).
  EXPECT_EQ(Parse("module \xff\n"), "ok:\xff");
  EXPECT_EQ(Parse("module \"\\xff\"\n"), "ok:\xff");
  EXPECT_EQ(Parse("module \"\"\n"), "ok:");
}

TEST(ParseModule, LineNumber) {
  auto r = ParseModule("// hello\n\ngo 1.19\nmodule a\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->line, 4);
}

TEST(ParseModule, MissingOrRepeated) {
  EXPECT_EQ(Parse(""), "go.mod: no module directive");
  EXPECT_EQ(Parse("go 1.19\n"), "go.mod: no module directive");
  EXPECT_EQ(Parse("module ( )\n"), "go.mod: no module directive");
  EXPECT_EQ(Parse("module a\nmodule b\n"), "go.mod:2: repeated module statement");
  EXPECT_EQ(Parse("module x\n\nmodule y\n"), "go.mod:3: repeated module statement");
}

TEST(ParseModule, MalformedModuleDirective) {
  EXPECT_EQ(Parse("module a b\n"), "go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("module\n"), "go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("module ( a )\n"), "go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("module [a]\n"), "go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("module a,b\n"), "go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("module \"a\\q\"\n"), "go.mod:1: invalid quoted string: invalid syntax");
  EXPECT_EQ(Parse("module `example.com/m`\n"),
            "go.mod:1: invalid quoted string: unquoted string cannot contain quote");
  EXPECT_EQ(Parse("module a\"b\n"),
            "go.mod:1: invalid quoted string: unquoted string cannot contain quote");
  EXPECT_EQ(Parse("module 'a'\n"),
            "go.mod:1: invalid quoted string: unquoted string cannot contain quote");
}

TEST(ParseModule, FileNameInMessages) {
  EXPECT_EQ(Parse("module a b\n", "sub/go.mod"), "sub/go.mod:1: usage: module module/path");
  EXPECT_EQ(Parse("", "v2/go.mod"), "v2/go.mod: no module directive");
}

TEST(ParseModule, FormsTheGoCommandMisreadsAreRefused) {
  // modfile accepts the block form, but the go command locates modules with ModulePath,
  // which reads "(" here.
  EXPECT_EQ(Parse("module (\n\texample.com/m\n)\n"),
            "go.mod:2: module directive: the go command's quick scan of go.mod reads the "
            "module path as \"(\", not \"example.com/m\"; write it on one line: module "
            "example.com/m");
  EXPECT_NE(Parse("module \"a//b\"\n").rfind("go.mod:1: module directive:", 0), std::string::npos);
  EXPECT_NE(Parse("require (\n module v1.0.0\n)\nmodule a\n").rfind("go.mod:4: module", 0),
            std::string::npos);
  // A second "module" line ModulePath stops at is fine when it agrees.
  EXPECT_EQ(Parse("module ()\nmodule a\n").rfind("go.mod:2: module directive", 0), 0u);
}

// --- ParseModule: the rest of the file, as ParseLax checks it ---------------------------

TEST(ParseModule, GoDirective) {
  EXPECT_EQ(Parse("module a\ngo 1.19\n"), "ok:a");
  EXPECT_EQ(Parse("module a\ngo v1.19rc1\n"), "ok:a");  // lax form
  EXPECT_EQ(Parse("module a\ngo 1.19.2\n"), "ok:a");
  EXPECT_EQ(Parse("module a\ngo 1.19 1.20\n"),
            "go.mod:2: go directive expects exactly one argument");
  EXPECT_EQ(Parse("module a\ngo 1.x\ngo 1.19\ngo 1.20\n"),
            "go.mod:2: invalid go version '1.x': must match format 1.23.0\n"
            "go.mod:4: repeated go statement");
  EXPECT_EQ(Parse("module a\ngo 01.19\n"),
            "go.mod:2: invalid go version '01.19': must match format 1.23.0");
  EXPECT_EQ(Parse("module a\ngo 1.019\n"),
            "go.mod:2: invalid go version '1.019': must match format 1.23.0");
}

TEST(ParseModule, GoVersionIsKeptAsParseLaxKeepsIt) {
  auto go = [](std::string_view data) {
    auto r = ParseModule(data);
    return r.ok() ? r->go_version : "error: " + r.message();
  };
  EXPECT_EQ(go("module a\ngo 1.26.0\n"), "1.26.0");
  EXPECT_EQ(go("module a\ngo 1.21rc1\n"), "1.21rc1");
  EXPECT_EQ(go("module a\ngo 1.21.0rc1\n"), "1.21.0rc1");
  EXPECT_EQ(go("module a\ngo v1.19.2\n"), "1.19");  // lax: cut to N.M
  EXPECT_EQ(go("module a\ngo 1.21-pre\n"), "1.21");
  EXPECT_EQ(go("module a\r\ngo 1.24 // c\r\n"), "1.24");
  EXPECT_EQ(go("module a\n"), "");
  EXPECT_EQ(GoVersion("go 1.24\n"), "1.24");  // no module directive: ParseLax is content
  EXPECT_EQ(GoVersion("go 1.24\nignore a b\n"), "");
  EXPECT_EQ(GoVersion("go 1.x\n"), "");
}

TEST(ParseModule, NewerDirectivesAsADependencyOfGo126) {
  // toolchain, godebug and tool are the main module's: ignored in lines and blocks.
  EXPECT_EQ(Parse("module a\ngo 1.26.0\ntoolchain go1.26.8\ngodebug default=go1.21\n"
                  "godebug (\n\tpanicnil=1\n\tx\n)\ntool example.com/gen\n"
                  "tool (\n\ta b c\n)\nretract v1.0.0 // published by mistake\n"),
            "ok:a");
  // ignore is read by current x/mod: one quoted or unquoted string.
  EXPECT_EQ(Parse("module a\nignore ./node_modules\nignore \"./a b\"\n"
                  "ignore (\n\t./x // why\n)\n"),
            "ok:a");
  EXPECT_EQ(Parse("module a\nignore a b\n"),
            "go.mod:2: ignore directive expects exactly one argument");
  EXPECT_EQ(Parse("module a\nignore (\n\tx\n\t\"\\q\"\n)\n"),
            "go.mod:4:2: invalid quoted string: invalid syntax");
}

TEST(ParseModule, RequireDirective) {
  EXPECT_EQ(Parse("module a\nrequire g v2.0.0+incompatible\nrequire h v1.0.0 // indirect\n"),
            "ok:a");
  EXPECT_EQ(Parse("module a\nrequire c v1.2\n"), "ok:a");  // canonicalised, fine
  EXPECT_EQ(Parse("module a\nrequire (\n\tb v1.0.0\n\tc v2.0.0\n\td/v1 v1.0.0\n)\n"),
            "go.mod:4:2: require c: version \"v2.0.0\" invalid: should be v0 or v1, not v2\n"
            "go.mod:5:2: invalid module path");
  EXPECT_EQ(Parse("module a\nrequire b\n"), "go.mod:2: usage: require module/path v1.2.3");
  EXPECT_EQ(Parse("module a\nrequire d v1.x\n"),
            "go.mod:2: require d: version \"v1.x\" invalid: must be of the form v1.2.3");
  EXPECT_EQ(Parse("module a\nrequire \"\" v1.x\n"),
            "go.mod:2: require: version \"v1.x\" invalid: must be of the form v1.2.3");
  EXPECT_EQ(Parse("module a\nrequire e/v2 v1.0.0\n"),
            "go.mod:2: require e/v2: version \"v1.0.0\" invalid: should be v2, not v1");
  EXPECT_EQ(Parse("module a\nrequire e 'v1'\n"),
            "go.mod:2: require e: version \"'v1'\" invalid: unquoted string cannot contain "
            "quote");
  EXPECT_EQ(Parse("module a\nrequire \"e\\z\" v1.0.0\n"),
            "go.mod:2: invalid quoted string: invalid syntax");
}

TEST(ParseModule, OtherDirectivesAreNotChecked) {
  EXPECT_EQ(Parse("module a\nreplace x => y\nexclude x v1\nretract [v1\nfoo bar\nfoo (\n x\n)\n"),
            "ok:a");
  EXPECT_EQ(Parse("module a\n)\n"), "ok:a");
  EXPECT_EQ(Parse("module a\ngo (\n\tnonsense\n)\nrequire x y (\n\tz\n)\n"), "ok:a");
}

// --- ParseModule: syntax errors -------------------------------------------------------

TEST(ParseModule, SyntaxErrors) {
  EXPECT_EQ(Parse("module a\n/* c */\n"),
            "go.mod:2: mod files must use // comments (not /* */ comments)");
  EXPECT_EQ(Parse("module a/*b\n"),
            "go.mod:1:9: mod files must use // comments (not /* */ comments)");
  EXPECT_EQ(Parse("module a\n\v"), "go.mod:2: unexpected input character '\\v'");
  EXPECT_EQ(Parse("module a\n\xc2\xa0"), "go.mod:2: unexpected input character '\\u00a0'");
  EXPECT_EQ(Parse(std::string("module a\n\0", 10)), "go.mod:2: unexpected input character '\\x00'");
  EXPECT_EQ(Parse("module \"a\n"), "go.mod:1:10: unexpected newline in string");
  EXPECT_EQ(Parse("module \"a"), "go.mod:1:8: unexpected EOF in string");
  EXPECT_EQ(Parse("module \"a\\"), "go.mod:1:8: unexpected EOF in string");
  EXPECT_EQ(Parse("module a\nrequire b v1.0.0\nrequire f \"v1\n"),
            "go.mod:3:14: unexpected newline in string");
}

TEST(ParseModule, BlockSyntaxErrors) {
  EXPECT_EQ(Parse("module (\n a\n"),
            "go.mod:3: syntax error (unterminated block started at go.mod:1:1)");
  EXPECT_EQ(Parse("module a\n  require (\n"),
            "go.mod:3: syntax error (unterminated block started at go.mod:2:3)");
  EXPECT_EQ(Parse("module (\n a\n) x\n"),
            "go.mod:3:4: syntax error (expected newline after closing paren)");
  // The lexer reads one token ahead, so a bad character right after ")" is found first.
  EXPECT_EQ(Parse("module (\n a\n)\v\n"), "go.mod:3:2: unexpected input character '\\v'");
}

TEST(ParseModule, ColumnsCountRunesNotBytes) {
  EXPECT_EQ(Parse("module é \"x\n"), "go.mod:1:12: unexpected newline in string");
}

TEST(ParseModule, BackslashNewlineInsideAString) {
  // The lexer takes the escaped newline; Unquote then rejects the string.
  EXPECT_EQ(Parse("module \"a\\\nb\"\n"), "go.mod:1: invalid quoted string: invalid syntax");
}

// --- Deprecation --------------------------------------------------------------------------

TEST(ParseModule, DeprecatedComment) {
  EXPECT_EQ(Deprecated("module example.com/m // Deprecated: use example.com/n\n"),
            "use example.com/n");
  EXPECT_EQ(Deprecated("// Deprecated: use example.com/n\nmodule example.com/m\n"),
            "use example.com/n");
  // A blank line detaches the comment.
  EXPECT_EQ(Deprecated("// Deprecated: use example.com/n\n\nmodule example.com/m\n"), "");
  // One paragraph, found anywhere in the comment.
  EXPECT_EQ(Deprecated("// Some text.\n//\n// Deprecated: use n\n// and more.\n//\n// Other.\n"
                       "module example.com/m\n"),
            "use n\nand more.");
  // Before and suffix comments together.
  EXPECT_EQ(Deprecated("// Deprecated:   a\nmodule example.com/m // b\n"), "a\nb");
  // Case and position matter.
  EXPECT_EQ(Deprecated("// deprecated: no\nmodule m\n"), "");
  EXPECT_EQ(Deprecated("// Not Deprecated: no\nmodule m\n"), "");
  EXPECT_EQ(Deprecated("module m\n"), "");
}

TEST(ParseModule, DeprecatedCommentOnABlock) {
  // The block's comment counts when the line in it has none. ParseModule refuses the
  // block form unless ModulePath happens to agree, which it does for the path "(":
  EXPECT_EQ(Deprecated("// Deprecated: block\nmodule (\n\t\"(\"\n)\n"), "block");
  EXPECT_EQ(Deprecated("// Deprecated: block\nmodule (\n\t\"(\" // own\n)\n"), "");
  EXPECT_EQ(Deprecated("module ( // Deprecated: on the paren\n\t\"(\"\n)\n"), "");
}

TEST(ParseModule, SuffixCommentGoesToTheLastSyntaxBeforeIt) {
  EXPECT_EQ(Deprecated("module m\ngo 1.19 // Deprecated: not the module's\n"), "");
  EXPECT_EQ(Deprecated("module m // Deprecated: x\n// y\n"), "x");
}

// --- AutoQuote / LegacyGoMod -----------------------------------------------------------

TEST(AutoQuote, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(AutoQuote("a"), "a");
  EXPECT_EQ(AutoQuote("example.com/m"), "example.com/m");
  EXPECT_EQ(AutoQuote("é"), "é");
  EXPECT_EQ(AutoQuote("\xff"), "\xff");  // U+FFFD counts as printable
  EXPECT_EQ(AutoQuote("("), "(");        // alone, punctuation is one token
  EXPECT_EQ(AutoQuote(""), "\"\"");
  EXPECT_EQ(AutoQuote("a b"), "\"a b\"");
  EXPECT_EQ(AutoQuote("()"), "\"()\"");
  EXPECT_EQ(AutoQuote("a("), "\"a(\"");
  EXPECT_EQ(AutoQuote("a//b"), "\"a//b\"");
  EXPECT_EQ(AutoQuote("a/*b"), "\"a/*b\"");
  EXPECT_EQ(AutoQuote("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(AutoQuote("a'b"), "\"a'b\"");
  EXPECT_EQ(AutoQuote("a`b"), "\"a`b\"");
  EXPECT_EQ(AutoQuote("\t"), "\"\\t\"");
  EXPECT_EQ(AutoQuote("\u00a0"), "\"\\u00a0\"");
  EXPECT_EQ(AutoQuote(std::string("a\0", 2)), "\"a\\x00\"");
}

TEST(LegacyGoMod, SynthesizedGoMod) {
  EXPECT_EQ(LegacyGoMod("example.com/m"), "module example.com/m\n");
  EXPECT_EQ(LegacyGoMod("example.com/a b"), "module \"example.com/a b\"\n");
  // It reads back as the same path.
  EXPECT_EQ(Parse(LegacyGoMod("example.com/a b")), "ok:example.com/a b");
}

}  // namespace
}  // namespace modpub::gomod
