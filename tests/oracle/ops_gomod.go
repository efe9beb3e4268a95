// Ops for golang.org/x/mod/modfile and golang.org/x/mod/zip's file checks (see main.go
// for the protocol), compared with modpub::gomod and modpub::zipcheck by
// gomod_diff_test.cpp.
//
//	modulepath  <data>            modfile.ModulePath(data)
//	autoquote   <s>               modfile.AutoQuote(s)
//	parsemodule <data> <file>     modfile.ParseLax(file, data, nil), as the go command reads
//	                              a dependency's go.mod, plus modpub's two extra rules:
//	                                "err:<ParseLax's error>"
//	                                "nomodule"                 (parsed, no module directive)
//	                                "mismatch:<ModulePath(data)>" (ModulePath disagrees)
//	                                "ok:<path>\x00<deprecated>\x00<line>\x00<go version>"
//	checkfiles  <file>...         zip.CheckFiles over fake files; each argument is
//	                              "<kind> <size> <path>" with kind r (regular), l (symlink)
//	                              or o (other, a named pipe). The result is
//	                                "V" <n>:<path>...
//	                                "O" (<n>:<path> <n>:<reason>)...
//	                                "I" (<n>:<path> <n>:<reason>)...
//	                                "S" <size error or nothing>
//	                              with every string length-prefixed so that any bytes
//	                              survive.
//	checkfilesgo <go.mod> <file>... checkfiles, with the root "go.mod" entry (if any)
//	                              readable, holding <go.mod>: current x/mod decides what
//	                              is vendored by its go line (x/mod 0.7.0 never reads it).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/zip"
)

func init() {
	register("modulepath", func(a [][]byte) string { return modfile.ModulePath(a[0]) })
	register("autoquote", func(a [][]byte) string { return modfile.AutoQuote(arg(a, 0)) })
	register("parsemodule", opParseModule)
	register("checkfiles", func(a [][]byte) string { return checkFiles(nil, a) })
	register("checkfilesgo", func(a [][]byte) string { return checkFiles(a[0], a[1:]) })
}

func opParseModule(a [][]byte) string {
	data := a[0]
	f, err := modfile.ParseLax(arg(a, 1), data, nil)
	if err != nil {
		return "err:" + err.Error()
	}
	if f.Module == nil {
		return "nomodule"
	}
	if quick := modfile.ModulePath(data); quick != f.Module.Mod.Path {
		return "mismatch:" + quick
	}
	gover := ""
	if f.Go != nil {
		gover = f.Go.Version
	}
	return fmt.Sprintf("ok:%s\x00%s\x00%d\x00%s", f.Module.Mod.Path, f.Module.Deprecated,
		f.Module.Syntax.Start.Line, gover)
}

// fakeFile is a zip.File with a path, a size and a kind, and content only when data is
// set (the root go.mod of checkfilesgo).
type fakeFile struct {
	path string
	size int64
	mode fs.FileMode
	data []byte
}

func (f fakeFile) Path() string                { return f.path }
func (f fakeFile) Lstat() (fs.FileInfo, error) { return fakeInfo{f}, nil }
func (f fakeFile) Open() (io.ReadCloser, error) {
	if f.data == nil {
		return nil, errors.New("fake file")
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

type fakeInfo struct{ f fakeFile }

func (i fakeInfo) Name() string       { return i.f.path }
func (i fakeInfo) Size() int64        { return i.f.size }
func (i fakeInfo) Mode() fs.FileMode  { return i.f.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.f.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

func lp(s string) string { return strconv.Itoa(len(s)) + ":" + s }

func checkFiles(gomod []byte, a [][]byte) string {
	var files []zip.File
	for _, x := range a {
		parts := strings.SplitN(string(x), " ", 3)
		if len(parts) != 3 {
			panic("checkfiles: argument is not <kind> <size> <path>")
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			panic("checkfiles: bad size: " + err.Error())
		}
		mode := fs.FileMode(0o644)
		switch parts[0] {
		case "r":
		case "l":
			mode = fs.ModeSymlink | 0o777
		case "o":
			mode = fs.ModeNamedPipe | 0o644
		default:
			panic("checkfiles: bad kind " + parts[0])
		}
		f := fakeFile{path: parts[2], size: size, mode: mode}
		if f.path == "go.mod" && gomod != nil {
			f.data = gomod
		}
		files = append(files, f)
	}
	cf, _ := zip.CheckFiles(files)
	var b strings.Builder
	b.WriteString("V")
	for _, p := range cf.Valid {
		b.WriteString(lp(p))
	}
	b.WriteString("O")
	for _, e := range cf.Omitted {
		b.WriteString(lp(e.Path) + lp(e.Err.Error()))
	}
	b.WriteString("I")
	for _, e := range cf.Invalid {
		b.WriteString(lp(e.Path) + lp(e.Err.Error()))
	}
	b.WriteString("S")
	if cf.SizeError != nil {
		b.WriteString(cf.SizeError.Error())
	}
	return b.String()
}
