// Command xmod-oracle answers questions about Go's module rules by asking the real
// golang.org/x/mod (and, through other files of this package, other Go code), so that
// modpub's C++ reimplementation can be compared with it on many generated inputs.
//
// Two builds of the same sources, one per x/mod (tests/oracle/oracle.hpp makes both):
//
//	current: module mode, the x/mod version pinned in go.mod/go.sum, fetched from the Go
//	         module proxy, built by a go at least as new as go.mod's go line:
//	         cd tests/oracle && GOFLAGS=-mod=readonly go build -o <out> ./*.go
//	0.7.0:   GOPATH mode, no network, x/mod from Debian's golang-golang-x-mod-dev:
//	         cd tests/oracle && GO111MODULE=off GOPATH=/usr/share/gocode go build -o <out> ./*.go
//
// The files are listed because `go build .` refuses a directory that also holds C++
// files (the differential tests live here too). So every .go file in this directory must
// belong to this program. The op "xmod.version" answers which x/mod a build holds.
//
// Protocol: each input line is "<op>\t<hexarg>\t<hexarg>...", arguments hex-encoded so
// that any bytes (NUL, newlines, invalid UTF-8) survive. For each input line one output
// line is written: the hex encoding of the op's result string. Conventions for results:
//   - checks: "ok" or "err:<message>";
//   - functions returning (value, error): "ok:<value>" or "err:<message>";
//   - other functions: the value itself (bools as "true"/"false", ints in decimal);
//   - a panic inside an op: "panic:<message>"; an unknown op: "unknown-op:<op>";
//     a malformed line: "bad-line:<reason>".
//
// Ops are registered in the package-level map ops; other files of this package add their
// own from init().
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

func init() { register("xmod.version", func([][]byte) string { return xmodVersion() }) }

// xmodVersion: the golang.org/x/mod version this binary was built with, from its build
// information; "GOPATH" when built in GOPATH mode (which records no module versions).
func xmodVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "golang.org/x/mod" {
				return dep.Version
			}
		}
	}
	return "GOPATH"
}

// ops maps an op name to its implementation. Each op receives the decoded arguments.
var ops = map[string]func(args [][]byte) string{}

// register adds an op; a duplicate name is a programming error in the oracle.
func register(name string, fn func(args [][]byte) string) {
	if _, dup := ops[name]; dup {
		panic("oracle: op registered twice: " + name)
	}
	ops[name] = fn
}

// errResult renders a Go error with the "ok"/"err:" convention.
func errResult(err error) string {
	if err != nil {
		return "err:" + err.Error()
	}
	return "ok"
}

// valueResult renders a (value, error) pair with the "ok:"/"err:" convention.
func valueResult(v string, err error) string {
	if err != nil {
		return "err:" + err.Error()
	}
	return "ok:" + v
}

func boolResult(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// arg returns argument i as a string, or "" if absent.
func arg(args [][]byte, i int) string {
	if i < len(args) {
		return string(args[i])
	}
	return ""
}

// call runs one op, turning a panic into a result so one bad input cannot stop a batch.
func call(fn func(args [][]byte) string, args [][]byte) (result string) {
	defer func() {
		if r := recover(); r != nil {
			result = fmt.Sprint("panic:", r)
		}
	}()
	return fn(args)
}

func answer(line string) string {
	fields := strings.Split(line, "\t")
	fn, ok := ops[fields[0]]
	if !ok {
		return "unknown-op:" + fields[0]
	}
	args := make([][]byte, 0, len(fields)-1)
	for _, f := range fields[1:] {
		b, err := hex.DecodeString(f)
		if err != nil {
			return "bad-line:" + err.Error()
		}
		args = append(args, b)
	}
	return call(fn, args)
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for {
		line, err := in.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			out.WriteString(hex.EncodeToString([]byte(answer(line))))
			out.WriteByte('\n')
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "xmod-oracle:", err)
			os.Exit(1)
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "xmod-oracle:", err)
		os.Exit(1)
	}
}
