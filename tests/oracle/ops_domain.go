// Ops for golang.org/x/mod/semver and golang.org/x/mod/module (see main.go for the
// protocol). Names are "<package>.<Function>"; arguments are the function's arguments
// in order.
package main

import (
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

func init() {
	// semver: one-argument functions returning a string.
	for name, fn := range map[string]func(string) string{
		"semver.Canonical":  semver.Canonical,
		"semver.Major":      semver.Major,
		"semver.MajorMinor": semver.MajorMinor,
		"semver.Prerelease": semver.Prerelease,
		"semver.Build":      semver.Build,
	} {
		fn := fn
		register(name, func(a [][]byte) string { return fn(arg(a, 0)) })
	}
	register("semver.IsValid", func(a [][]byte) string { return boolResult(semver.IsValid(arg(a, 0))) })
	register("semver.Compare", func(a [][]byte) string {
		return strconv.Itoa(semver.Compare(arg(a, 0), arg(a, 1)))
	})
	register("semver.Max", func(a [][]byte) string { return semver.Max(arg(a, 0), arg(a, 1)) })
	// semver.Sort: every argument is a list element; the result is the sorted list
	// joined by "\n" (callers must not put "\n" in elements).
	register("semver.Sort", func(a [][]byte) string {
		list := make([]string, len(a))
		for i := range a {
			list[i] = string(a[i])
		}
		semver.Sort(list)
		return strings.Join(list, "\n")
	})

	// module: checks.
	register("module.CheckPath", func(a [][]byte) string { return errResult(module.CheckPath(arg(a, 0))) })
	register("module.CheckImportPath", func(a [][]byte) string {
		return errResult(module.CheckImportPath(arg(a, 0)))
	})
	register("module.CheckFilePath", func(a [][]byte) string {
		return errResult(module.CheckFilePath(arg(a, 0)))
	})
	register("module.Check", func(a [][]byte) string { return errResult(module.Check(arg(a, 0), arg(a, 1))) })
	register("module.CheckPathMajor", func(a [][]byte) string {
		return errResult(module.CheckPathMajor(arg(a, 0), arg(a, 1)))
	})

	// module: escaping.
	for name, fn := range map[string]func(string) (string, error){
		"module.EscapePath":      module.EscapePath,
		"module.UnescapePath":    module.UnescapePath,
		"module.EscapeVersion":   module.EscapeVersion,
		"module.UnescapeVersion": module.UnescapeVersion,
	} {
		fn := fn
		register(name, func(a [][]byte) string { return valueResult(fn(arg(a, 0))) })
	}

	// module: major versions. SplitPathVersion's result is "<ok> <len(prefix)> <prefix><pathMajor>",
	// which is unambiguous whatever bytes the path holds.
	register("module.SplitPathVersion", func(a [][]byte) string {
		prefix, pathMajor, ok := module.SplitPathVersion(arg(a, 0))
		return boolResult(ok) + " " + strconv.Itoa(len(prefix)) + " " + prefix + pathMajor
	})
	register("module.MatchPathMajor", func(a [][]byte) string {
		return boolResult(module.MatchPathMajor(arg(a, 0), arg(a, 1)))
	})
	// PathMajorPrefix panics on malformed input; call() reports that as "panic:...".
	register("module.PathMajorPrefix", func(a [][]byte) string { return module.PathMajorPrefix(arg(a, 0)) })
	register("module.IsPseudoVersion", func(a [][]byte) string {
		return boolResult(module.IsPseudoVersion(arg(a, 0)))
	})
}
