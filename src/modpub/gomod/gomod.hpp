// Package gomod: what modpub needs to know about a go.mod file.
//
// Two readers, for two questions the go command asks:
//  * ModulePath(data) answers "which module path does this go.mod claim?" exactly as
//    x/mod's modfile.ModulePath does (lenient: first `module` line, quoted or not, "" when
//    there is none). The go command uses this when choosing which directory a tag
//    serves, so modpub must use it there too.
//  * ParseModule(data, file) is the strict reading used to refuse a tag at push time: it
//    tokenizes the file like modfile (comments, quoted and back-quoted strings, blocks)
//    and reports every problem with its line number, e.g.
//    "go.mod:3: module directive: invalid quoted string". It also picks up a
//    "// Deprecated:" comment attached to the module directive.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modpub/base/result.hpp"

namespace modpub::gomod {

// modfile.ModulePath: the module path named on the first module line, or "".
std::string ModulePath(std::string_view data);

struct ModuleDirective {
  std::string path;         // the module path, unquoted
  int line = 0;             // 1-based line of the module directive
  std::string deprecated;   // text after "Deprecated:" in the attached comment, or ""
};

// ParseModule: the module directive of a go.mod, or an error listing every problem
// found (one per line, each "<file>:<line>: <what>"). Missing module directive, more than
// one, a malformed path token, or a syntax error elsewhere in the file are errors.
Result<ModuleDirective> ParseModule(std::string_view data, std::string_view file = "go.mod");

// modfile.AutoQuote: the path quoted as a Go string if it needs quoting, else as is.
std::string AutoQuote(std::string_view s);

// The go.mod the go command synthesizes for a module without one:
// "module " + AutoQuote(path) + "\n".
std::string LegacyGoMod(std::string_view module_path);

}  // namespace modpub::gomod
