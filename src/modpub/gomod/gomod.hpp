// Package gomod: what modpub needs to know about a go.mod file.
//
// Two readers, for two questions the go command asks:
//  * ModulePath(data) answers "which module path does this go.mod claim?" exactly as
//    x/mod's modfile.ModulePath does (lenient: the first line starting with "module" and
//    a space, anything from "//" on cut off, quoted or not, "" when there is none). The go
//    command uses this when choosing which directory a tag serves (coderepo.go findDir),
//    so modpub must use it there too.
//  * ParseModule(data, file) is the strict reading used to refuse a tag at push time. It
//    reads the file as the go command reads a dependency's go.mod, with
//    modfile.ParseLax(file, data, nil) (go 1.19 modload/modfile.go rawGoModSummary), so
//    that every go.mod it accepts is one no build will choke on:
//      - syntax: the modfile lexer and parser (// comments only, "..." strings with Go
//        escapes, `...` strings, parenthesized blocks, no line continuation: a newline
//        ends a statement). The first syntax error ends the reading, as in modfile, and
//        is reported alone, with modfile's wording and position, e.g.
//        "go.mod:3:9: mod files must use // comments (not /* */ comments)";
//      - directives, every problem reported, one line each ("<file>:<line>: <what>"):
//        "module" (exactly one, with one argument, a well-formed quoted or unquoted
//        string), "go" (a version like 1.19, 1.26.0 or 1.21rc1, or the lax forms
//        ParseLax allows such as v1.19.2), "require" (path and canonicalisable version
//        whose major version matches the path), "ignore" (one quoted or unquoted
//        string). Other directives (toolchain, godebug, tool, exclude, replace, retract)
//        are ignored, as ParseLax ignores them, in lines and blocks alike.
//    Then two rules of modpub's own, checked only when the above found no problem:
//      - there must be a module directive: "<file>: no module directive";
//      - ModulePath(data) must find the same path, or the go command would locate the
//        module under a path its build then contradicts (the block form
//        "module (\n path\n)" reads as "(", "//" inside a quoted path cuts it, a line
//        "module x" inside another block is taken first): "<file>:<line>: module
//        directive: the go command's quick scan of go.mod reads the module path as ...".
//    The module path itself is NOT validated here (module::CheckPath is the caller's
//    job), nor compared with the path the tag publishes.
//    It also picks up the "Deprecated:" paragraph of the comments attached to the module
//    directive (modfile's parseDeprecation: the comment lines just above it and the one
//    after it on its line, or those of its block when it has none).
//
// The rules are those of current x/mod (the go command from 1.25 on). x/mod 0.7.0 (go
// 1.19) differs in two ways: it skips ignore directives, so it accepts some go.mod files
// rejected here (which go 1.26's `go get` rejects too), and it words a bad go version
// "must match format 1.23" rather than "1.23.0". Every go.mod accepted here is accepted
// by both, with the same module path (docs/go-versions.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::gomod {

// modfile.ModulePath: the module path named on the first module line, or "".
std::string ModulePath(std::string_view data);

struct ModuleDirective {
  std::string path;        // the module path, unquoted
  int line = 0;            // 1-based line of the module directive (of its path, in a block)
  std::string deprecated;  // text after "Deprecated:" in the attached comment, or ""
  // The go directive's version as ParseLax keeps it ("1.21", "1.26.0", "1.21rc1"; a lax
  // form such as "v1.19.2" cut to "1.19"), or "" without a go directive.
  std::string go_version;
};

// ParseModule: the module directive of a go.mod, or an error: the first syntax error, or
// every directive problem found (one per line, "<file>:<line>[:<column>]: <what>"), or
// one of modpub's own two refusals (see above). `file` names the file in messages.
Result<ModuleDirective> ParseModule(std::string_view data, std::string_view file = "go.mod");

// The go line's version as x/mod zip reads it to pick its vendor rule (parseGoVers: the
// version ParseLax keeps, see ModuleDirective::go_version), or "" when ParseLax fails or
// finds no go directive. Unlike ParseModule, modpub's own two rules play no part.
std::string GoVersion(std::string_view data);

// modfile.AutoQuote: `s` as is if it reads back as one go.mod token, else quoted as a Go
// string (strconv.Quote): empty, or holding a space, a quote, a non-printable rune, "//"
// or "/*", or punctuation ()[]{}, unless it is that one character.
std::string AutoQuote(std::string_view s);

// The go.mod the go command synthesizes for a module without one (coderepo.go
// LegacyGoMod): "module " + AutoQuote(path) + "\n".
std::string LegacyGoMod(std::string_view module_path);

}  // namespace modpub::gomod
